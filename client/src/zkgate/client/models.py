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

    def model(self, name: str, version: str = "") -> pb.Model:
        """One version (a number or commitment; empty: the default) with all the model's in
        `versions`."""
        result: pb.Model = self._models.GetModel(
            pb.GetModelRequest(name=name, version=version), timeout=self._timeout
        )
        return result

    def remove_model(self, name: str, version: str = "") -> pb.RemoveModelResponse:
        """Admin only: removes one version, or with version empty the whole model."""
        response: pb.RemoveModelResponse = self._models.RemoveModel(
            pb.RemoveModelRequest(name=name, version=version), timeout=self._timeout
        )
        return response

    def set_default_version(self, name: str, version: str) -> pb.Model:
        """Admin only: the version served to requests that name none."""
        result: pb.Model = self._models.SetDefaultVersion(
            pb.SetDefaultVersionRequest(name=name, version=version), timeout=self._timeout
        )
        return result

    def sync_models(self) -> list[pb.RepositoryEntry]:
        """Admin only: registers what is new or changed in the gateway's model repository."""
        response: pb.SyncModelRepositoryResponse = self._models.SyncModelRepository(
            pb.SyncModelRepositoryRequest(), timeout=self._timeout
        )
        return list(response.entries)

    def models(self) -> list[pb.Model]:
        response: pb.ListModelsResponse = self._models.ListModels(
            pb.ListModelsRequest(), timeout=self._timeout
        )
        return list(response.models)

    def bundle(self, model: str, *, batch: bool = False, version: str = "") -> VerifierBundle:
        """The verifier's artifacts as the gateway serves them (with batch, those of the
        model's batch circuit; with version, a number or commitment, those of that version);
        `verify` checks them."""
        response: pb.VerifierBundle = self._models.GetVerifierBundle(
            pb.GetVerifierBundleRequest(name=model, batch=batch, version=version),
            timeout=self._timeout,
        )
        return VerifierBundle(
            card=ModelCard.from_json(response.card_json),
            card_json=response.card_json,
            verifying_key=response.verifying_key,
            settings=response.settings,
            srs_slice=response.srs_slice,
        )
