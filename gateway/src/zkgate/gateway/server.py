"""Assembling and running the gateway: gRPC services, health, reflection, embedded provers."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from zkgate.gateway.access_control import AccessControl, TenantDirectory
from zkgate.gateway.assembly import GatewayParts, assemble
from zkgate.gateway.certificate_metrics import certificate_collectors
from zkgate.gateway.config import GatewayConfig
from zkgate.gateway.metrics import GatewayMetrics
from zkgate.gateway.model_upkeep import ModelUpkeep
from zkgate.gateway.prover_pool import ProverPool
from zkgate.gateway.rest.routes import rest_app
from zkgate.gateway.rest.server import RestServer
from zkgate.gateway.servicers.access_interceptor import AccessInterceptor
from zkgate.gateway.servicers.accuracy import AccuracyServicer
from zkgate.gateway.servicers.inference import (
    OIP_SERVICE,
    InferenceServicer,
    inference_handler,
)
from zkgate.gateway.servicers.learning import LearningServicer
from zkgate.gateway.servicers.models import ModelServicer
from zkgate.gateway.servicers.proofs import ProofServicer
from zkgate.gateway.servicers.reflection_pool import reflection_pool
from zkgate.gateway.servicers.request_decoding import RequestDecodingInterceptor
from zkgate.gateway.servicers.retrieval import RetrievalServicer
from zkgate.gateway.servicers.service_registry import ServiceRegistry
from zkgate.wire import zkgate_pb2_grpc

log = logging.getLogger("zkgate.gateway")


def access_control(config: GatewayConfig) -> AccessControl:
    if not config.api_keys_file:
        return AccessControl(directory=None)
    return AccessControl(directory=TenantDirectory.load(Path(config.api_keys_file)))


def server_credentials(config: GatewayConfig) -> grpc.ServerCredentials | None:
    """TLS from PEM files, read once at start; with a client CA, clients must present a
    certificate it signed."""
    if not config.tls_cert_file:
        return None
    client_ca = Path(config.tls_client_ca_file).read_bytes() if config.tls_client_ca_file else None
    return grpc.ssl_server_credentials(
        [(Path(config.tls_key_file).read_bytes(), Path(config.tls_cert_file).read_bytes())],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


def bind(server: grpc.aio.Server, config: GatewayConfig) -> int:
    """The port bound, with TLS when configured; config.port 0 lets the system choose one."""
    address = f"{config.host}:{config.port}"
    credentials = server_credentials(config)
    if credentials is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, credentials)
    if port == 0:
        raise OSError(f"cannot bind {config.host}:{config.port}")
    return port


def add_servicers(server: grpc.aio.Server, parts: GatewayParts) -> None:
    """Every zkgate service, each a thin adapter over the part that does its work."""
    service = parts.service
    inference = InferenceServicer(service)
    server.add_generic_rpc_handlers((inference_handler(inference),))
    zkgate_pb2_grpc.add_ModelServiceServicer_to_server(
        ModelServicer(service, parts.repository), server
    )
    zkgate_pb2_grpc.add_ProofServiceServicer_to_server(
        ProofServicer(parts.jobs, service, parts.contest_notary), server
    )
    zkgate_pb2_grpc.add_LearningServiceServicer_to_server(
        LearningServicer(parts.attestor, parts.learning_reports), server
    )
    zkgate_pb2_grpc.add_AccuracyServiceServicer_to_server(AccuracyServicer(parts.accuracy), server)
    zkgate_pb2_grpc.add_RetrievalServiceServicer_to_server(
        RetrievalServicer(parts.retrieval), server
    )


def embedded_provers(config: GatewayConfig, metrics: GatewayMetrics | None) -> ProverPool:
    """The `--workers` local provers, recording their metrics where the gateway serves them."""
    return ProverPool(
        data_dir=config.data_dir,
        metrics_dir=None if metrics is None else metrics.prover_dir,
        workers=config.workers,
        lease_seconds=config.lease_seconds,
        nice=config.prover_nice,
        lanes=config.prover_lanes,
        memory_budget=config.prover_memory_budget,
        batch_window_seconds=config.batch_window_seconds,
        srs_path=config.srs_path,
        srs_sha256=config.srs_sha256,
        artifacts=config.artifact_settings(),
        database_url=config.database_url,
    )


class Gateway:
    """A running gateway; `start` binds the port, `stop` drains and stops the provers."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        parts = assemble(config)
        self._metrics = (
            GatewayMetrics(
                parts.service,
                host=config.host,
                port=config.metrics_port,
                extra_collectors=certificate_collectors(config.tls_cert_file),
            )
            if config.metrics_port
            else None
        )
        # One access control for both halves of the OIP: a tenant's rate is one budget.
        access = access_control(config)
        self._serving = False
        self._rest = (
            RestServer(
                rest_app(
                    parts.service,
                    access,
                    config.max_message_bytes,
                    serving=lambda: self._serving,
                    observers=[] if self._metrics is None else [self._metrics.rest_middleware],
                ),
                config,
            )
            if config.rest_port
            else None
        )
        # Metrics first, so that they count the calls the access check refuses.
        metrics_interceptors = [] if self._metrics is None else [self._metrics.interceptor]
        options = [
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.max_send_message_length", config.max_message_bytes),
        ]
        self._server = grpc.aio.server(
            options=options,
            # Decoding first: the other interceptors see requests as the handlers do.
            interceptors=[
                RequestDecodingInterceptor(),
                *metrics_interceptors,
                AccessInterceptor(access),
            ],
        )
        self._health = health.aio.HealthServicer()
        services = ServiceRegistry(self._server)
        add_servicers(services.as_server(), parts)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, services.as_server())
        self._services = services.names
        described = (*services.described(), reflection.SERVICE_NAME)
        reflection.enable_server_reflection(
            (*described, OIP_SERVICE), self._server, pool=reflection_pool(described)
        )
        self.port = bind(self._server, config)
        self._upkeep = ModelUpkeep(
            parts.service, parts.repository, sweep_seconds=config.artifact_sweep_seconds
        )
        self._provers = embedded_provers(config, self._metrics)

    async def _set_health(self, status: int) -> None:
        self._serving = status == health_pb2.HealthCheckResponse.SERVING
        for name in ("", *self._services):
            await self._health.set(name, status)

    async def start(self) -> None:
        await self._server.start()
        if self._metrics is not None:
            self._metrics.start()
        await self._provers.start()
        await self._upkeep.start()
        if self._rest is not None:
            rest_port = await self._rest.start()
            log.info("OIP REST listening on %s:%d", self.config.host, rest_port)
        await self._set_health(health_pb2.HealthCheckResponse.SERVING)
        log.info("zkgate gateway listening on %s:%d", self.config.host, self.port)

    async def stop(self) -> None:
        # Report NOT_SERVING first so load balancers stop routing, then drain in-flight calls.
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        await self._server.stop(self.config.shutdown_grace_seconds)
        if self._rest is not None:
            await self._rest.stop()
        await self._upkeep.stop()
        await self._provers.stop()
        if self._metrics is not None:
            self._metrics.close()

    async def wait(self) -> None:
        await self._server.wait_for_termination()


async def serve(config: GatewayConfig) -> None:
    gateway = Gateway(config)
    await gateway.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    await gateway.stop()
