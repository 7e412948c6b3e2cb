"""The connection every group of the Client's calls shares: the channel, one stub per service,
and the gateway's identity key that its signed statements are checked against.

Inference goes through `channel.unary_unary` on the Open Inference Protocol's method path, so
zkgate-client never registers the `inference.*` protobuf package and imports fine beside
tritonclient or MLServer. Nothing the gateway returns is trusted here: `verify` is where trust is
established, against a commitment the caller pinned.
"""

from __future__ import annotations

from typing import Self

import grpc

from zkgate.client.channel import TlsSettings, open_channel
from zkgate.core.attestations import AttestationError, SignedStatement
from zkgate.core.signing import parse_public_key_hex
from zkgate.wire import open_inference_pb2 as oip
from zkgate.wire import zkgate_pb2 as pb
from zkgate.wire import zkgate_pb2_grpc

OIP_PATH = "/inference.GRPCInferenceService/"
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# Calls that store or prove (a test set's reveal, a dataset's commitment, a predicate's
# registration) are given at least this long, whatever the client's own timeout.
_STORING_CALL_SECONDS = 300.0


class GatewayConnection:
    def __init__(
        self,
        target: str,
        *,
        timeout: float = 30.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        channel: grpc.Channel | None = None,
        tls: TlsSettings | None = None,
        api_key: str | None = None,
        retries: bool = False,
    ) -> None:
        """`tls`: connect over TLS (with a client certificate for mTLS). `api_key`: the tenant's
        key, sent on every call; read it from a file or the environment, not a command line.
        `retries`: retry UNAVAILABLE and RESOURCE_EXHAUSTED as `channel.RETRY_SERVICE_CONFIG`
        says, honouring the gateway's retry hint."""
        self._channel = channel or open_channel(
            target,
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", max_message_bytes),
            ],
            tls=tls,
            api_key=api_key,
            retries=retries,
        )
        self._timeout = timeout
        self._infer = self._channel.unary_unary(
            OIP_PATH + "ModelInfer",
            request_serializer=oip.ModelInferRequest.SerializeToString,
            response_deserializer=oip.ModelInferResponse.FromString,
        )
        self._models = zkgate_pb2_grpc.ModelServiceStub(self._channel)
        self._proofs = zkgate_pb2_grpc.ProofServiceStub(self._channel)
        self._learning = zkgate_pb2_grpc.LearningServiceStub(self._channel)
        self._accuracy = zkgate_pb2_grpc.AccuracyServiceStub(self._channel)
        self._retrieval = zkgate_pb2_grpc.RetrievalServiceStub(self._channel)
        self._gateway_key: bytes | None = None

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def _storing_call_timeout(self) -> float:
        return max(self._timeout, _STORING_CALL_SECONDS)

    def gateway_key(self) -> bytes:
        """The identity key the gateway announces, which signs receipts, training intents and
        timestamps (trust on first use; pin it if you can)."""
        if self._gateway_key is None:
            identity: pb.ServerIdentity = self._models.GetServerIdentity(
                pb.GetServerIdentityRequest(), timeout=self._timeout
            )
            self._gateway_key = parse_public_key_hex(
                identity.receipt_public_key, "the gateway's announced receipt key"
            )
        return self._gateway_key

    def _check_statement(
        self,
        statement: SignedStatement,
        **expected: object,
    ) -> None:
        """The gateway signed it (not merely someone), and it says what was asked for."""
        statement.verify_issued_by(self.gateway_key())
        for name, want in expected.items():
            got = getattr(statement, name)
            if got != want:
                raise AttestationError(
                    f"{type(statement).__name__} has {name} {got!r}, but {want!r} was asked for"
                )
