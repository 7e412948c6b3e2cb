#!/usr/bin/env bash
# `make demo`: the main job end to end on embedded defaults, offline.
# A gateway with one local prover starts on a fresh data directory (SQLite queue, local artifact
# store), registers the bundled digits model, serves one prediction with a proof, and the client
# verifies that proof against the commitment published at registration.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
data=${ZKGATE_DEMO_DIR:-demo-data}
port=${ZKGATE_DEMO_PORT:-18001}
target=127.0.0.1:$port
export ZKGATE_TARGET=$target

mkdir -p "$data"
"$bin/zkgate" serve --data-dir "$data" --port "$port" --rest-port "${ZKGATE_DEMO_REST_PORT:-18000}" --workers 1 >"$data/gateway.log" 2>&1 &
gateway=$!
trap 'kill "$gateway" 2>/dev/null; wait "$gateway" 2>/dev/null || true' EXIT

echo "== gateway starting on $target (log: $data/gateway.log)"
"$bin/python" - "$target" <<'PY'
import sys, time, grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(sys.argv[1]))
deadline = time.time() + 60
while True:
    try:
        if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
            break
    except grpc.RpcError:
        pass
    if time.time() > deadline:
        sys.exit("gateway did not become healthy in 60 s")
    time.sleep(0.2)
PY

if ! "$bin/zkgate" models show digits 2>/dev/null | grep -q '"commitment"'; then
  echo "== registering the bundled digits model (calibrate, compile, setup, fidelity; ~20 s)"
  "$bin/zkgate" models add digits examples/digits/model.onnx \
    --calibration examples/digits/calibration.npy
fi
commitment=$("$bin/python" -c 'import json,sys; print(json.load(sys.stdin)["commitment"])' \
  < <("$bin/zkgate" models show digits))
echo "== the provider publishes commitment $commitment; the client pins it"

"$bin/python" -c 'import numpy as np; np.save("'"$data"'/sample.npy", np.load("examples/digits/test_inputs.npy")[0]); print("== true label:", int(np.load("examples/digits/test_labels.npy")[0]))'
echo "== inference with a proof, then local verification"
"$bin/zkgate" infer digits --input "$data/sample.npy" --prove --verify \
  --commitment "$commitment" --allow-insecure-srs --save "$data/last-prediction"
echo "== offline re-check from the saved files"
"$bin/zkgate" verify --bundle "$data/last-prediction/bundle" \
  --prediction "$data/last-prediction/prediction.json" \
  --proof "$data/last-prediction/proof.json" \
  --commitment "$commitment" --gateway-key "@$data/last-prediction/gateway.key" \
  --allow-insecure-srs
