"""The Client's calls about models: registering one, reading its state and card, and fetching
the verifier bundle that every proof of it is checked under."""

from __future__ import annotations

from pathlib import Path

from zkgate.client.connection import GatewayConnection
from zkgate.core.bundle import VerifierBundle
from zkgate.core.card import ModelCard
from zkgate.wire import zkgate_pb2 as pb

_PROOF_POLICIES = {
    "": pb.PROOF_POLICY_UNSPECIFIED,
    "on_request": pb.PROOF_POLICY_ON_REQUEST,
    "always": pb.PROOF_POLICY_ALWAYS,
    "never": pb.PROOF_POLICY_NEVER,
}


class ModelCalls(GatewayConnection):
    def register_model(
        self,
        name: str,
        onnx_path: Path,
        calibration_path: Path,
        *,
        policy: str = "",
        max_logrows: int = 0,
        srs_path: str = "",
        srs_sha256: str = "",
        proof_of_learning: bytes | None = None,
        batch_size: int = 0,
        fidelity: str = "",
        tuning: str = "",
    ) -> pb.RegisterModelResponse:
        """`proof_of_learning`: an archive (`zkgate pol record`) the prover verifies against
        this ONNX; its verdict appears in the model card. `batch_size` above 1: proofs of up to
        that many requests are made together (cross-request batching). `fidelity` and `tuning`
        (empty: the gateway's defaults) steer the search for the fastest circuit."""
        response: pb.RegisterModelResponse = self._models.RegisterModel(
            pb.RegisterModelRequest(
                name=name,
                onnx=onnx_path.read_bytes(),
                calibration=calibration_path.read_bytes(),
                policy=_PROOF_POLICIES[policy],
                max_logrows=max_logrows,
                srs_path=srs_path,
                srs_sha256=srs_sha256,
                proof_of_learning=proof_of_learning or b"",
                batch_size=batch_size,
                fidelity=fidelity,
                tuning=tuning,
            ),
            timeout=self._timeout,
        )
        return response

    def model(self, name: str) -> pb.Model:
        result: pb.Model = self._models.GetModel(
            pb.GetModelRequest(name=name), timeout=self._timeout
        )
        return result

    def models(self) -> list[pb.Model]:
        response: pb.ListModelsResponse = self._models.ListModels(
            pb.ListModelsRequest(), timeout=self._timeout
        )
        return list(response.models)

    def bundle(self, model: str, *, batch: bool = False) -> VerifierBundle:
        """The verifier's artifacts as the gateway serves them (with batch, those of the
        model's batch circuit); `verify` checks them."""
        response: pb.VerifierBundle = self._models.GetVerifierBundle(
            pb.GetVerifierBundleRequest(name=model, batch=batch), timeout=self._timeout
        )
        return VerifierBundle(
            card=ModelCard.from_json(response.card_json),
            card_json=response.card_json,
            verifying_key=response.verifying_key,
            settings=response.settings,
            srs_slice=response.srs_slice,
        )
