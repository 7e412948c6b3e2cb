"""Gateway ModelInfer latency and throughput, over the OIP's gRPC half and its REST half (JSON,
one kept-alive HTTP connection), against in-process onnxruntime on the same model."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import grpc
import onnxruntime as ort

from bench.harness import BenchSession, percentile_ms
from zkgate.client.connection import OIP_PATH
from zkgate.core.oip_codec import encode_input
from zkgate.core.tensors import NamedTensor
from zkgate.wire import open_inference_pb2 as oip

REQUESTS = 2000
CONCURRENCY = 8


def _measure(call: Callable[[], object], requests: int) -> tuple[list[float], float]:
    for _ in range(50):
        call()
    latencies: list[float] = []
    start = time.perf_counter()
    for _ in range(requests):
        t0 = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - t0)
    return latencies, requests / (time.perf_counter() - start)


def _concurrent_throughput(call: Callable[[], object], requests: int, workers: int) -> float:
    with ThreadPoolExecutor(workers) as pool:
        start = time.perf_counter()
        list(pool.map(lambda _: call(), range(requests)))
        return requests / (time.perf_counter() - start)


def run(session: BenchSession) -> dict[str, float]:
    sample = session.inputs[0]
    request = oip.ModelInferRequest(model_name=session.model.name)
    encode_input(request, NamedTensor.of("input", sample))
    channel = grpc.insecure_channel(session.gateway.target)
    infer = channel.unary_unary(
        OIP_PATH + "ModelInfer",
        request_serializer=oip.ModelInferRequest.SerializeToString,
        response_deserializer=oip.ModelInferResponse.FromString,
    )
    ort_session = ort.InferenceSession(str(session.onnx_path), providers=["CPUExecutionProvider"])

    def gateway_call() -> object:
        return infer(request, timeout=10)

    def local_call() -> object:
        return ort_session.run(None, {"input": sample})

    rest = http.client.HTTPConnection("127.0.0.1", session.gateway.rest_port, timeout=10)
    rest_path = f"/v2/models/{session.model.name}/infer"
    rest_body = json.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "datatype": "FP32",
                    "shape": list(sample.shape),
                    "data": sample.ravel().tolist(),
                }
            ]
        }
    ).encode()

    def rest_call() -> object:
        rest.request("POST", rest_path, body=rest_body)
        response = rest.getresponse()
        body = response.read()
        assert response.status == 200, body
        return body

    gw_lat, gw_rps = _measure(gateway_call, REQUESTS)
    rest_lat, rest_rps = _measure(rest_call, REQUESTS)
    local_lat, local_rps = _measure(local_call, REQUESTS)
    gw_conc = _concurrent_throughput(gateway_call, REQUESTS, CONCURRENCY)
    channel.close()
    rest.close()
    figures = {
        "gateway_p50_ms": percentile_ms(gw_lat, 50),
        "gateway_p99_ms": percentile_ms(gw_lat, 99),
        "gateway_rps_sequential": gw_rps,
        f"gateway_rps_{CONCURRENCY}_clients": gw_conc,
        "rest_p50_ms": percentile_ms(rest_lat, 50),
        "rest_p99_ms": percentile_ms(rest_lat, 99),
        "rest_rps_sequential": rest_rps,
        "onnxruntime_p50_ms": percentile_ms(local_lat, 50),
        "onnxruntime_p99_ms": percentile_ms(local_lat, 99),
        "onnxruntime_rps": local_rps,
    }
    figures["p50_ratio_gateway_over_onnxruntime"] = (
        figures["gateway_p50_ms"] / figures["onnxruntime_p50_ms"]
    )
    figures["p50_ratio_rest_over_grpc"] = figures["rest_p50_ms"] / figures["gateway_p50_ms"]
    print(f"inference ({REQUESTS} requests each, one sample, same model)")
    print(
        f"  gateway ModelInfer  p50 {figures['gateway_p50_ms']:.3f} ms  "
        f"p99 {figures['gateway_p99_ms']:.3f} ms  {gw_rps:,.0f} req/s sequential, "
        f"{gw_conc:,.0f} req/s with {CONCURRENCY} client threads"
    )
    print(
        f"  gateway REST infer  p50 {figures['rest_p50_ms']:.3f} ms  "
        f"p99 {figures['rest_p99_ms']:.3f} ms  {rest_rps:,.0f} req/s sequential "
        f"(p50 {figures['p50_ratio_rest_over_grpc']:.2f}x gRPC's)"
    )
    print(
        f"  onnxruntime local   p50 {figures['onnxruntime_p50_ms']:.3f} ms  "
        f"p99 {figures['onnxruntime_p99_ms']:.3f} ms  {local_rps:,.0f} req/s"
    )
    print(
        f"  ratio p50 gateway / in-process: {figures['p50_ratio_gateway_over_onnxruntime']:.1f}x"
        f"  (the gap is gRPC, receipt signing and input checks; the model itself is µs)"
    )
    return figures


if __name__ == "__main__":
    from bench.harness import bench_session

    with bench_session() as s:
        run(s)
