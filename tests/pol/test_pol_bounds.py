"""Verification is bounded: zip bombs, unknown files, deep JSON, absurd architectures and replay
plans are refused with a reason, before the work they would cost, and a refusal is reported as
"not verified" (CLI exit 2), never as a traceback or a rejection."""

from __future__ import annotations

import io
import json
import resource
import struct
import time
import tracemalloc
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from zkgate.client.cli.main import main
from zkgate.core.learning.archive import (
    ArchiveError,
    build_archive,
    check_archive,
    extract_archive,
)
from zkgate.core.learning.layout import ProofShape, manifest_shape
from zkgate.core.signing import sign_body
from zkgate.pol import known_attacks, proof_files
from zkgate.pol.checkpoints import decode, encode
from zkgate.pol.verification import verify_archive
from zkgate.prover.worker.learning_check import LearningTerms, check_proof_of_learning

BOMB_BYTES = 64 << 20
DEEP = 100_000


def _zip(entries: dict[str, bytes], bomb: tuple[str, int] | None = None) -> bytes:
    """A deflated zip of `entries`, plus optionally an entry of that many zero bytes, written
    in chunks so the test itself never holds it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        if bomb is not None:
            info = zipfile.ZipInfo(bomb[0])
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as sink:
                for _ in range(bomb[1] >> 20):
                    sink.write(bytes(1 << 20))
    return buffer.getvalue()


def _proof_entries(proof_dir: Path) -> dict[str, bytes]:
    return {
        path.relative_to(proof_dir).as_posix(): path.read_bytes()
        for path in sorted(proof_dir.rglob("*"))
        if path.is_file()
    }


def _understate(archive: bytes, name: str, size: int) -> bytes:
    """Rewrites the central directory so `name` declares `size` uncompressed bytes."""
    data = bytearray(archive)
    record = data.find(b"PK\x01\x02")
    while record != -1:
        name_length = struct.unpack_from("<H", data, record + 28)[0]
        if data[record + 46 : record + 46 + name_length] == name.encode():
            struct.pack_into("<I", data, record + 24, size)
            return bytes(data)
        record = data.find(b"PK\x01\x02", record + 4)
    raise AssertionError(f"{name} not in the archive")


@pytest.fixture(scope="module")
def victim_entries(victim) -> dict[str, bytes]:
    return _proof_entries(victim.proof_dir)


@pytest.fixture(scope="module")
def victim_shape(victim_entries) -> ProofShape:
    return manifest_shape(victim_entries[proof_files.MANIFEST])


# -- A: zip bombs and unknown files --------------------------------------------------------


def test_the_budget_follows_from_the_manifest(victim_shape, victim_entries):
    assert victim_shape.parameters == 64 * 16 + 16 + 16 * 10 + 10
    for name, data in victim_entries.items():
        budget = victim_shape.budget(name)
        assert budget is not None and len(data) <= budget, name
    # An honest proof of this size unpacks to about 700 KB; the whole budget is a few MB.
    assert victim_shape.total_budget() < 8 << 20


def test_a_bomb_declaring_its_size_is_refused_before_any_decompression(victim_entries):
    checkpoint = proof_files.checkpoint_file(5)
    entries = {k: v for k, v in victim_entries.items() if k != checkpoint}
    bomb = _zip(entries, bomb=(checkpoint, BOMB_BYTES))
    assert len(bomb) < 2 << 20, "64 MiB of the bomb entry compress to about 64 KB"
    started = time.perf_counter()
    with pytest.raises(ArchiveError, match=r"checkpoints/000005.safetensors holds more than"):
        check_archive(bomb)
    assert time.perf_counter() - started < 1.0


def test_a_bomb_understating_its_size_is_cut_off_while_streaming(victim_entries, tmp_path):
    checkpoint = proof_files.checkpoint_file(5)
    entries = {k: v for k, v in victim_entries.items() if k != checkpoint}
    bomb = _understate(_zip(entries, bomb=(checkpoint, BOMB_BYTES)), checkpoint, 1000)
    check_archive(bomb)  # the declared sizes are all within budget: only streaming tells
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveError, match=r"000005\.safetensors"):
            extract_archive(bomb, tmp_path / "out")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"extraction held {peak:,} bytes"
    written = sum(p.stat().st_size for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written < 4 << 20


def test_unknown_and_duplicate_entries_are_refused(victim_entries):
    junk = _zip(victim_entries, bomb=("junk.bin", 4 << 20))
    with pytest.raises(ArchiveError, match=r"'junk\.bin' is not a file of this proof"):
        check_archive(junk)
    beyond = _zip({**victim_entries, proof_files.checkpoint_file(58): b"x"})
    with pytest.raises(ArchiveError, match=r"000058\.safetensors' is not a file of this proof"):
        check_archive(beyond)
    twice = io.BytesIO()
    with zipfile.ZipFile(twice, "w") as archive, pytest.warns(UserWarning, match="Duplicate"):
        for name, data in victim_entries.items():
            archive.writestr(name, data)
        archive.writestr(proof_files.MODEL, b"another")
    with pytest.raises(ArchiveError, match="twice"):
        check_archive(twice.getvalue())


def test_the_registered_onnx_bounds_the_claimed_network(pol_world, victim, tmp_path):
    """The ONNX holds every parameter as float32: a proof claiming a network that cannot fit in
    it is refused by the registration job before it is unpacked."""
    proof = victim.copy(tmp_path / "proof")
    bigger = replace(
        pol_world.policy, architecture=replace(pol_world.policy.architecture, sizes=(64, 4096, 10))
    )
    known_attacks.claim_policy(proof, victim.owner, bigger)
    report = verify_archive(
        build_archive(proof),
        onnx=victim.onnx(),
        trusted_issuers=[pol_world.gateway_key],
        verifier_nonce=b"\x00" * 32,
        scratch=tmp_path / "scratch",
    )
    assert report.unverifiable and not report.accepted
    assert "307,210 parameters; the limit is" in report.reasons[0]
    assert not (tmp_path / "scratch" / "proof-of-learning" / "checkpoints").exists()


def test_the_registration_job_reports_a_bomb_as_a_failed_verification(
    pol_world, victim, victim_entries, tmp_path
):
    checkpoint = proof_files.checkpoint_file(5)
    entries = {k: v for k, v in victim_entries.items() if k != checkpoint}
    bomb = _understate(_zip(entries, bomb=(checkpoint, BOMB_BYTES)), checkpoint, 1000)
    terms = LearningTerms.from_payload({"trusted_intent_issuers": [pol_world.gateway_key]})
    verdict = check_proof_of_learning(bomb, onnx=victim.onnx(), terms=terms, scratch=tmp_path)
    assert verdict.summary.decision == "rejected"
    (reason,) = verdict.summary.reasons
    assert reason.startswith("not verified: proof-of-learning archive refused")
    assert "000005.safetensors" in reason


# -- B: deep documents, absurd claims, crashes ---------------------------------------------


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _resigned_manifest(victim, proof: Path, edit) -> None:
    """Edits the manifest's JSON as a forger with the owner key would, and re-signs it: the
    values need not make a policy this package can even construct."""
    raw = json.loads((proof / proof_files.MANIFEST).read_text())
    edit(raw["body"])
    raw["signature"] = sign_body(victim.owner, raw["body"]).hex()
    (proof / proof_files.MANIFEST).write_text(json.dumps(raw))


def test_deep_json_anywhere_is_refused_with_a_reason(pol_world, victim, tmp_path):
    manifest = victim.copy(tmp_path / "manifest")
    (manifest / proof_files.MANIFEST).write_bytes(_nested(DEEP))
    report = pol_world.verify(manifest)
    assert report.unverifiable and "manifest unreadable" in report.reasons[0]
    assert "nests 100000 levels deep" in report.reasons[0]

    stamps = victim.copy(tmp_path / "stamps")
    # 50,000 levels fit the file's budget (a deeper one is refused for its size alone).
    (stamps / proof_files.TIMESTAMPS).write_bytes(_nested(50_000))
    reasons = "\n".join(pol_world.verify(stamps).reasons)
    assert "timestamps.json unreadable" in reasons and "nests 50000 levels" in reasons

    header = victim.copy(tmp_path / "header")
    deep_header = b'{"a":' + _nested(30_000) + b"}"  # within a checkpoint's 75 KB budget
    path = header / proof_files.checkpoint_file(3)
    path.write_bytes(len(deep_header).to_bytes(8, "little") + deep_header)
    known_attacks.resign(header, victim.owner)
    reasons = "\n".join(pol_world.verify(header).reasons)
    assert "checkpoint 3" in reasons and "nests 30001 levels" in reasons


def test_a_huge_architecture_is_refused_before_allocation(pol_world, victim, tmp_path):
    proof = victim.copy(tmp_path / "proof")
    _resigned_manifest(
        victim, proof, lambda body: body["policy"]["architecture"].update(sizes=[64, 1 << 28, 10])
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = pol_world.verify(proof)
    assert report.unverifiable
    assert "20,132,659,210 parameters" in report.reasons[0]
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 200_000


def test_a_run_too_long_to_replay_is_refused_before_replay(pol_world, victim, tmp_path):
    """One example, ten million epochs: 24 minutes of replay before; refused at once now."""
    proof = victim.copy(tmp_path / "proof")
    long_run = replace(
        pol_world.policy,
        dataset_size=1,
        batch_size=1,
        epochs=10_000_000,
        checkpoint_interval=1_000_000,
    )
    known_attacks.claim_policy(proof, victim.owner, long_run)
    started = time.perf_counter()
    report = pol_world.verify(proof)
    assert time.perf_counter() - started < 2.0
    assert report.unverifiable and not report.segments
    assert "covers up to 10,000,000 training steps" in "\n".join(report.reasons)


def test_checkpoint_tensors_must_be_the_ones_the_policy_implies(pol_world, victim, tmp_path):
    proof = victim.copy(tmp_path / "proof")
    path = proof / proof_files.checkpoint_file(2)
    state = decode(path.read_bytes(), expected_step=16, what="checkpoint")
    params = {**state.params, "0.weight": state.params["0.weight"][:, :32].contiguous()}
    path.write_bytes(encode(replace(state, params=params)))
    known_attacks.resign(proof, victim.owner)
    report = pol_world.verify(proof)
    assert not report.accepted and not report.unverifiable, "a defective proof is rejected"
    reasons = "\n".join(report.reasons)
    assert "0.weight is torch.float32 (16, 32); the policy implies float32 (16, 64)" in reasons


def test_unknown_files_in_a_proof_directory_are_refused(pol_world, victim, tmp_path):
    proof = victim.copy(tmp_path / "proof")
    (proof / "notes.txt").write_text("hello")
    report = pol_world.verify(proof)
    assert report.unverifiable and "'notes.txt' is not a file of this proof" in report.reasons[0]


def test_the_cli_exits_2_with_a_reason_never_a_traceback(victim, tmp_path, capsys):
    proof = victim.copy(tmp_path / "proof")
    (proof / proof_files.MANIFEST).write_bytes(_nested(DEEP))
    assert main(["pol", "verify", str(proof), "--trust-issuer", "00" * 32]) == 2
    out, err = capsys.readouterr()
    assert "NOT VERIFIED" in out and "nests 100000 levels deep" in out
    assert "Traceback" not in out + err
    bomb = _zip(_proof_entries(victim.proof_dir), bomb=("junk.bin", 4 << 20))
    (tmp_path / "bomb.zip").write_bytes(bomb)
    assert main(["pol", "verify", str(tmp_path / "bomb.zip")]) == 2
    assert "'junk.bin' is not a file of this proof" in capsys.readouterr().err
