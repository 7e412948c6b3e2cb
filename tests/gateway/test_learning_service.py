"""zkgate.v1.LearningService on a real gateway: signed intents and timestamps, refused uploads,
and the client's own checks on what a gateway signs."""

from __future__ import annotations

import dataclasses
import io
import sys
import time
import zipfile
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.fixtures.gateway_fixtures import DIGITS, RegisteredModel, RunningGateway
from zkgate.client import Client
from zkgate.client.protocols.learning.calls import LearningReportMismatch
from zkgate.core.attestations import (
    AttestationError,
    CommitmentTimestamp,
    TrainingIntent,
    issue_training_intent,
    sign_timestamp_request,
)
from zkgate.core.canonical import sha256_hex
from zkgate.core.card import CardFormatError, LearningSummary, ModelCard
from zkgate.core.learning.archive import build_archive
from zkgate.core.learning.policy import (
    Architecture,
    CalibrationRecord,
    OptimizerSpec,
    ReplayPlan,
    Schedule,
    Thresholds,
    TrainingPolicy,
)
from zkgate.core.signing import raw_public_key
from zkgate.gateway.errors import FailedPrecondition
from zkgate.gateway.protocols.learning import LearningAttestor
from zkgate.prover.circuits.registration_checks import RegistrationError
from zkgate.prover.queue.database import Database
from zkgate.prover.queue.learning_ledger import LearningLedger
from zkgate.prover.worker.learning_check import LearningTerms, check_proof_of_learning
from zkgate.wire import zkgate_pb2 as pb
from zkgate.wire import zkgate_pb2_grpc


def admissible_policy(**threshold_changes: float) -> TrainingPolicy:
    """A policy whose thresholds are what its calibration record implies. Admission reads only
    the document, so the gateway's checks need no training run here."""
    noise = {"l1": 1e-6, "l2": 1e-6, "linf": 1e-6, "state_linf": 1e-6}
    thresholds = {
        **{name: 1e-5 for name in noise},
        "cosine": 1e-8,
        "update_ratio": 1e-5,
        "min_update_l2": 1e-3,
    }
    return TrainingPolicy(
        architecture=Architecture("mlp", (4, 3, 2)),
        optimizer=OptimizerSpec("sgd", lr=0.05, momentum=0.9),
        schedule=Schedule(),
        batch_size=4,
        epochs=1,
        checkpoint_interval=1,
        dataset_root="ab" * 32,
        dataset_size=8,
        thresholds=Thresholds(**{**thresholds, **threshold_changes}),
        calibration=CalibrationRecord(
            margin=10.0,
            seeds=1,
            thread_counts=(1, 2),
            honest_max={**noise, "cosine": 1e-9, "update_ratio": 1e-6},
            smallest_honest_update_l2=0.01,
            median_honest_update_l2=0.02,
        ),
    )


POLICY = admissible_policy()
POLICY_DIGEST = POLICY.digest()
COMMITMENT = sha256_hex(b"a checkpoint chain head")


@pytest.fixture(scope="module")
def channel(gateway: RunningGateway) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(gateway.target) as ch:
        yield ch


@pytest.fixture(scope="module")
def learning(channel: grpc.Channel) -> zkgate_pb2_grpc.LearningServiceStub:
    return zkgate_pb2_grpc.LearningServiceStub(channel)


@pytest.fixture(scope="module")
def gateway_key(channel: grpc.Channel) -> str:
    stub = zkgate_pb2_grpc.ModelServiceStub(channel)
    identity = stub.GetServerIdentity(pb.GetServerIdentityRequest(), timeout=10)
    return str(identity.receipt_public_key)


@pytest.fixture(scope="module")
def owner() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def hex_key(key: Ed25519PrivateKey) -> str:
    return raw_public_key(key).hex()


def intent_request(
    owner_public_key: str, policy: TrainingPolicy = POLICY, digest: str | None = None
) -> pb.IssueTrainingIntentRequest:
    return pb.IssueTrainingIntentRequest(
        owner_public_key=owner_public_key,
        policy_digest=policy.digest() if digest is None else digest,
        policy_json=policy.to_json(),
    )


def refused(call: Any, request: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=30)
    return info.value.code(), info.value.details() or ""


# -- intents and timestamps ---------------------------------------------------------------


def test_intent_is_signed_by_the_gateway_identity_key(
    learning: zkgate_pb2_grpc.LearningServiceStub, gateway_key: str, owner: Ed25519PrivateKey
) -> None:
    before = int(time.time() * 1000)
    reply = learning.IssueTrainingIntent(
        intent_request(hex_key(owner)),
        timeout=10,
    )
    intent = TrainingIntent.from_json(reply.statement_json)
    intent.verify()
    assert intent.issuer_public_key == gateway_key
    assert not intent.self_issued
    assert (intent.owner_public_key, intent.policy_digest) == (hex_key(owner), POLICY_DIGEST)
    assert before <= intent.issued_at_ms <= int(time.time() * 1000)


def test_two_intents_differ_in_nonce_and_seed(
    gateway: RunningGateway, owner: Ed25519PrivateKey
) -> None:
    with gateway.client() as client:
        first = client.issue_training_intent(hex_key(owner), POLICY)
        second = client.issue_training_intent(hex_key(owner), POLICY)
    assert first.nonce != second.nonce
    assert first.seed() != second.seed()


def test_timestamp_with_the_owner_signature(
    gateway: RunningGateway, gateway_key: str, owner: Ed25519PrivateKey
) -> None:
    with gateway.client() as client:
        timestamp = client.timestamp_commitment(owner, COMMITMENT)
    again = CommitmentTimestamp.from_json(timestamp.to_json())
    again.verify()
    assert again.issuer_public_key == gateway_key
    assert (again.owner_public_key, again.commitment) == (hex_key(owner), COMMITMENT)


@pytest.fixture
def still_attests(
    learning: zkgate_pb2_grpc.LearningServiceStub, gateway_key: str
) -> Iterator[None]:
    """After each refused request, a good one is still signed."""
    yield
    reply = learning.IssueTrainingIntent(
        intent_request(hex_key(Ed25519PrivateKey.generate())),
        timeout=10,
    )
    assert TrainingIntent.from_json(reply.statement_json).issuer_public_key == gateway_key


@pytest.mark.usefixtures("still_attests")
class TestRefusedStatements:
    def test_timestamp_signed_by_someone_else(
        self, learning: zkgate_pb2_grpc.LearningServiceStub, owner: Ed25519PrivateKey
    ) -> None:
        impostor = Ed25519PrivateKey.generate()
        code, message = refused(
            learning.TimestampCommitment,
            pb.TimestampCommitmentRequest(
                owner_public_key=hex_key(owner),
                commitment=COMMITMENT,
                request_signature=sign_timestamp_request(impostor, COMMITMENT),
            ),
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "signature does not verify" in message
        assert "sign_timestamp_request" in message

    def test_timestamp_signature_for_another_commitment(
        self, learning: zkgate_pb2_grpc.LearningServiceStub, owner: Ed25519PrivateKey
    ) -> None:
        code, message = refused(
            learning.TimestampCommitment,
            pb.TimestampCommitmentRequest(
                owner_public_key=hex_key(owner),
                commitment=COMMITMENT,
                request_signature=sign_timestamp_request(owner, sha256_hex(b"other")),
            ),
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "signature does not verify" in message

    @pytest.mark.parametrize(
        ("owner_key", "digest", "expected"),
        [
            ("not-hex", POLICY_DIGEST, "not hex"),
            ("ab" * 31, POLICY_DIGEST, "has 31 bytes"),
            (None, POLICY_DIGEST[:40], "not the policy_digest"),
            (None, "zz" * 32, "not the policy_digest"),
        ],
    )
    def test_malformed_intent_request(
        self,
        learning: zkgate_pb2_grpc.LearningServiceStub,
        owner: Ed25519PrivateKey,
        owner_key: str | None,
        digest: str,
        expected: str,
    ) -> None:
        code, message = refused(
            learning.IssueTrainingIntent,
            intent_request(owner_key or hex_key(owner), digest=digest),
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "training intent refused" in message and expected in message

    @pytest.mark.parametrize(
        ("policy", "expected"),
        [
            # The thief's edit (issue 13): only state_linf loosened, under an honest record.
            (
                admissible_policy(state_linf=1e3),
                "state_linf threshold 1e+03 is looser than its calibration record implies",
            ),
            (admissible_policy(cosine=0.5), "cosine threshold 0.5 is looser"),
            (
                dataclasses.replace(POLICY, calibration=None),
                "never calibrated against honest replay",
            ),
            (
                dataclasses.replace(POLICY, replay=ReplayPlan(top_q=1, random_segments=2)),
                "replays 2 random segments; this verifier requires at least 8",
            ),
        ],
        ids=["loose-state-linf", "loose-cosine", "uncalibrated", "little-replay"],
    )
    def test_an_inadmissible_policy_gets_no_intent(
        self,
        learning: zkgate_pb2_grpc.LearningServiceStub,
        owner: Ed25519PrivateKey,
        policy: TrainingPolicy,
        expected: str,
    ) -> None:
        code, message = refused(
            learning.IssueTrainingIntent, intent_request(hex_key(owner), policy)
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "training intent refused" in message and expected in message

    @pytest.mark.parametrize(
        ("policy_json", "expected"), [("", "not a training policy"), ("{}", "not a training")]
    )
    def test_an_intent_request_without_a_readable_policy(
        self,
        learning: zkgate_pb2_grpc.LearningServiceStub,
        owner: Ed25519PrivateKey,
        policy_json: str,
        expected: str,
    ) -> None:
        request = pb.IssueTrainingIntentRequest(
            owner_public_key=hex_key(owner), policy_digest=POLICY_DIGEST, policy_json=policy_json
        )
        code, message = refused(learning.IssueTrainingIntent, request)
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert expected in message and "zkgate pol calibrate" in message

    @pytest.mark.parametrize(
        ("owner_key", "commitment", "expected"),
        [("xyz", COMMITMENT, "not hex"), (None, COMMITMENT[:10], "64 hex digits")],
    )
    def test_malformed_timestamp_request(
        self,
        learning: zkgate_pb2_grpc.LearningServiceStub,
        owner: Ed25519PrivateKey,
        owner_key: str | None,
        commitment: str,
        expected: str,
    ) -> None:
        code, message = refused(
            learning.TimestampCommitment,
            pb.TimestampCommitmentRequest(
                owner_public_key=owner_key or hex_key(owner),
                commitment=commitment,
                request_signature=sign_timestamp_request(owner, commitment),
            ),
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "timestamp refused" in message and expected in message


# -- registration with a proof-of-learning --------------------------------------------------


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("archive", "expected"),
    [
        (b"this is not a zip file", "not a zip archive"),
        (zip_of({"manifest.json": b"{}", "../evil": b"x"}), "'../evil' is not a plain relative"),
        (zip_of({"checkpoints/0.bin": b"x"}), "no manifest.json"),
    ],
    ids=["garbage", "path-escape", "no-manifest"],
)
def test_unusable_proof_of_learning_is_refused_at_once(
    channel: grpc.Channel, archive: bytes, expected: str
) -> None:
    models = zkgate_pb2_grpc.ModelServiceStub(channel)
    name = "pol-refused"
    code, message = refused(
        models.RegisterModel,
        pb.RegisterModelRequest(
            name=name,
            onnx=(DIGITS / "model.onnx").read_bytes(),
            calibration=(DIGITS / "calibration.npy").read_bytes(),
            proof_of_learning=archive,
        ),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "proof_of_learning refused" in message and expected in message
    # Refused before anything was stored in the catalogue or queued.
    code, _ = refused(models.GetModel, pb.GetModelRequest(name=name))
    assert code == grpc.StatusCode.NOT_FOUND


def test_a_zip_bomb_is_refused_at_once(channel: grpc.Channel, victim: Any) -> None:
    """A checkpoint entry declaring 64 MiB where the proof's size allows 75 KB, in a 700 KB
    upload: refused by the gateway before a job is queued, with only the manifest unpacked."""
    entries = {
        path.relative_to(victim.proof_dir).as_posix(): path.read_bytes()
        for path in victim.proof_dir.rglob("*")
        if path.is_file()
    }
    entries["checkpoints/000005.safetensors"] = bytes(64 << 20)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    models = zkgate_pb2_grpc.ModelServiceStub(channel)
    code, message = refused(
        models.RegisterModel,
        pb.RegisterModelRequest(
            name="pol-bomb",
            onnx=(DIGITS / "model.onnx").read_bytes(),
            calibration=(DIGITS / "calibration.npy").read_bytes(),
            proof_of_learning=buffer.getvalue(),
        ),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "checkpoints/000005.safetensors holds more than the 75,216 bytes" in message


# -- the kept policy ------------------------------------------------------------------------


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[LearningLedger]:
    database = Database(tmp_path / "zkgate.db")
    yield LearningLedger(database)
    database.close()


def test_registration_verifies_against_the_policy_kept_with_the_intent(
    pol_world: Any, victim: Any, ledger: LearningLedger
) -> None:
    """The victim's intent was signed by pol_world's gateway key: that gateway must hold the
    policy it signed for, or it refuses the upload; once it does, the job gets that copy."""
    attestor = LearningAttestor(
        pol_world.gateway, ledger, minimum_replay=ReplayPlan(top_q=1, random_segments=8)
    )
    archive = build_archive(victim.proof_dir)
    with pytest.raises(FailedPrecondition, match="keeps no policy with digest"):
        attestor.registration_terms(archive)
    attestor.issue_intent(
        hex_key(Ed25519PrivateKey.generate()),
        pol_world.policy.digest(),
        pol_world.policy.to_json(),
    )
    terms = attestor.registration_terms(archive)
    assert terms["trusted_intent_issuers"] == [hex_key(pol_world.gateway)]
    assert terms["learning_replay"] == {"top_q": 1, "random_segments": 8}
    assert TrainingPolicy.from_json(str(terms["learning_policy_json"])) == pol_world.policy


def test_an_intent_from_another_gateway_carries_no_kept_policy(
    victim: Any, ledger: LearningLedger
) -> None:
    attestor = LearningAttestor(Ed25519PrivateKey.generate(), ledger, minimum_replay=ReplayPlan())
    terms = attestor.registration_terms(build_archive(victim.proof_dir))
    assert "learning_policy_json" not in terms


def test_learning_report_of_an_unknown_model(
    learning: zkgate_pb2_grpc.LearningServiceStub,
) -> None:
    code, message = refused(learning.GetLearningReport, pb.GetLearningReportRequest(name="nope"))
    assert code == grpc.StatusCode.NOT_FOUND
    assert "nope" in message


def test_learning_report_of_a_model_registered_without_one(
    learning: zkgate_pb2_grpc.LearningServiceStub, digits: RegisteredModel
) -> None:
    code, message = refused(
        learning.GetLearningReport, pb.GetLearningReportRequest(name=digits.name)
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "without a proof-of-learning" in message and "--proof-of-learning" in message


def test_prover_without_the_verifier_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on a prover installed without the `learning` extra: the import fails.
    monkeypatch.setitem(sys.modules, "zkgate.pol.verification", None)
    with pytest.raises(RegistrationError, match=r"pip install 'zkgate-prover\[learning\]'"):
        check_proof_of_learning(
            b"",
            onnx=b"",
            terms=LearningTerms(
                trusted_issuers=[], registered_policy=None, minimum_replay=ReplayPlan()
            ),
            scratch=tmp_path,
        )


# -- the card section ---------------------------------------------------------------------


def test_cards_without_the_section_keep_their_bytes(
    gateway: RunningGateway, digits: RegisteredModel
) -> None:
    with gateway.client() as client:
        card_json = client.model(digits.name).card_json
    card = ModelCard.from_json(card_json)
    assert card.proof_of_learning is None
    assert "proof_of_learning" not in card_json
    assert card.to_json() == card_json


def test_card_with_a_learning_summary_round_trips(
    gateway: RunningGateway, digits: RegisteredModel
) -> None:
    with gateway.client() as client:
        card = ModelCard.from_json(client.model(digits.name).card_json)
    summary = LearningSummary(
        decision="rejected",
        reasons=["intent issuer is not trusted"],
        report_digest=sha256_hex(b"report"),
        manifest_digest=sha256_hex(b"manifest"),
        owner_public_key="ab" * 32,
        intent_issuer_public_key="cd" * 32,
        earliest_timestamp_ms=None,
    )
    with_summary = dataclasses.replace(card, proof_of_learning=summary)
    parsed = ModelCard.from_json(with_summary.to_json())
    assert parsed == with_summary
    assert parsed.proof_of_learning is not None and not parsed.proof_of_learning.accepted
    forged = with_summary.to_json().replace('"rejected"', '"maybe"')
    with pytest.raises(CardFormatError, match="decision"):
        ModelCard.from_json(forged)


# -- surface ------------------------------------------------------------------------------


def test_learning_service_is_healthy_and_described(channel: grpc.Channel) -> None:
    health: Any = health_pb2_grpc.HealthStub(channel)
    reply = health.Check(
        health_pb2.HealthCheckRequest(service="zkgate.v1.LearningService"), timeout=10
    )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (listing,) = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
    assert "zkgate.v1.LearningService" in {s.name for s in listing.list_services_response.service}


# -- the client's checks, against a gateway that signs with the wrong key -------------------


class _LyingGateway(zkgate_pb2_grpc.ModelServiceServicer, zkgate_pb2_grpc.LearningServiceServicer):
    """Announces one identity key and signs proof-of-learning statements with another."""

    def __init__(self) -> None:
        self.identity = Ed25519PrivateKey.generate()
        self.signer = self.identity
        self.owner_override: str | None = None

    def GetServerIdentity(self, request: Any, context: Any) -> pb.ServerIdentity:
        return pb.ServerIdentity(receipt_public_key=hex_key(self.identity))

    def IssueTrainingIntent(self, request: Any, context: Any) -> pb.SignedStatement:
        intent = issue_training_intent(
            self.signer,
            owner_public_key=self.owner_override or request.owner_public_key,
            policy_digest=request.policy_digest,
            now_ms=0,
        )
        return pb.SignedStatement(statement_json=intent.to_json())

    def GetLearningReport(self, request: Any, context: Any) -> pb.LearningReport:
        return pb.LearningReport(report_json='{"accepted":true}', report_digest=sha256_hex(b"{}"))


@pytest.fixture
def lying() -> Iterator[tuple[_LyingGateway, Client]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = _LyingGateway()
    zkgate_pb2_grpc.add_ModelServiceServicer_to_server(servicer, server)
    zkgate_pb2_grpc.add_LearningServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with Client(f"127.0.0.1:{port}", timeout=10) as client:
            yield servicer, client
    finally:
        server.stop(None)


def test_client_accepts_what_the_announced_key_signed(
    lying: tuple[_LyingGateway, Client], owner: Ed25519PrivateKey
) -> None:
    servicer, client = lying
    intent = client.issue_training_intent(hex_key(owner), POLICY)
    assert intent.issuer_public_key == hex_key(servicer.identity)


def test_client_refuses_an_intent_signed_by_another_key(
    lying: tuple[_LyingGateway, Client], owner: Ed25519PrivateKey
) -> None:
    servicer, client = lying
    servicer.signer = Ed25519PrivateKey.generate()
    with pytest.raises(AttestationError, match="not by the gateway key"):
        client.issue_training_intent(hex_key(owner), POLICY)


def test_client_refuses_an_intent_for_another_owner(
    lying: tuple[_LyingGateway, Client], owner: Ed25519PrivateKey
) -> None:
    servicer, client = lying
    servicer.owner_override = hex_key(Ed25519PrivateKey.generate())
    with pytest.raises(AttestationError, match="owner_public_key"):
        client.issue_training_intent(hex_key(owner), POLICY)


def test_client_refuses_a_report_that_does_not_hash_to_its_digest(
    lying: tuple[_LyingGateway, Client],
) -> None:
    _, client = lying
    with pytest.raises(LearningReportMismatch):
        client.learning_report("digits")
