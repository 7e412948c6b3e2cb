"""What a trustless retrieval costs, and what the omission checks add to it.

A requester asks for the digits that are a 7, from a dataset of the bundled test inputs, with a
predicate of its own: a logistic regression on the 64 pixels, trained here in a second. The
predicate is keyed the way a RegisterPredicate job keys it, then side by side in one run:

- the responder's prove time per record, for a matching and a left-out record, interleaved;
- the requester's one-off rebuild of the predicate's verifying key against its verify time per
  record;
- from those, the whole retrieval at the default omission sample (k = 59 of the L left-out
  records: one omission caught with probability exactly k / L) against returning the matches
  alone.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench import batching
from zkgate.client.protocols.retrieval.predicate_circuit import rebuild_verifying_key
from zkgate.core.card import ModelCard
from zkgate.core.protocols.limits import DEFAULT_OMISSION_SAMPLE
from zkgate.core.sampling import chance_to_draw_any
from zkgate.core.tensors import NamedTensor
from zkgate.pol.onnx_binding import export_onnx
from zkgate.prover.artifacts.store import ArtifactStore
from zkgate.prover.circuits.registration import register_model
from zkgate.prover.circuits.srs_source import SrsSource
from zkgate.prover.circuits.witness_input import witness_input_json

DIGITS = batching.DIGITS
TARGET_DIGIT = 7
ROUNDS = 3


def _train_predicate(inputs: np.ndarray, labels: np.ndarray, path: Path) -> None:
    torch.manual_seed(0)
    layer = torch.nn.Linear(64, 2)
    x = torch.from_numpy(inputs.reshape(len(inputs), 64))
    y = torch.from_numpy((labels == TARGET_DIGIT).astype(np.int64))
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.05)
    loss = torch.nn.CrossEntropyLoss()
    for _ in range(300):
        optimizer.zero_grad()
        loss(layer(x), y).backward()
        optimizer.step()
    export_onnx(layer, 64, path)


@dataclass(frozen=True)
class Predicate:
    """The predicate registered and keyed, and which records it matches."""

    onnx_path: Path
    store: ArtifactStore
    card: ModelCard
    keying_s: float
    matches: np.ndarray
    left_out: int


def run() -> dict[str, Any]:
    inputs = np.load(DIGITS / "test_inputs.npy").astype(np.float32)
    labels = np.load(DIGITS / "test_labels.npy")
    with tempfile.TemporaryDirectory() as tmp:
        predicate = key_predicate(Path(tmp), inputs, labels)
        timings, rebuilds = time_rounds(predicate, inputs, Path(tmp) / "work")
    figures = retrieval_figures(predicate, len(inputs), timings, rebuilds)
    print_figures(figures)
    return figures


def key_predicate(root: Path, inputs: np.ndarray, labels: np.ndarray) -> Predicate:
    """Trains the predicate, runs it over every record, and keys it as registration does."""
    import onnxruntime as ort

    onnx_path = root / "is_seven.onnx"
    _train_predicate(inputs, labels, onnx_path)
    session = ort.InferenceSession(str(onnx_path))
    logits = np.stack([session.run(None, {"input": record})[0][0] for record in inputs])
    store = ArtifactStore(root / "artifacts")
    scratch = root / "scratch"
    scratch.mkdir()
    started = time.perf_counter()
    card = register_model(
        "is-seven",
        onnx_path=onnx_path,
        calibration=inputs[:32],
        store=store,
        srs_source=SrsSource(root / "srs"),
        scratch=scratch,
    )
    return Predicate(
        onnx_path=onnx_path,
        store=store,
        card=card,
        keying_s=time.perf_counter() - started,
        matches=np.flatnonzero(logits.argmax(axis=1) == 1),
        left_out=int(np.flatnonzero(logits.argmax(axis=1) == 0)[0]),
    )


def time_rounds(
    predicate: Predicate, inputs: np.ndarray, work: Path
) -> tuple[list[tuple[float, float]], list[float]]:
    """Per round: (prove, verify) seconds of a matching and a left-out record, interleaved,
    and the seconds of one rebuild of the verifying key."""
    store, card, matches = predicate.store, predicate.card, predicate.matches
    work.mkdir()
    timings: list[tuple[float, float]] = []
    rebuilds: list[float] = []
    for round_ in range(ROUNDS):
        for index in (int(matches[round_ % len(matches)]), predicate.left_out):
            witness_input = witness_input_json([NamedTensor.of("input", inputs[index])])
            timings.append(
                batching.prove_and_verify_seconds(store, card.artifacts, witness_input, work)
            )
        started = time.perf_counter()
        rebuild_verifying_key(
            predicate.onnx_path.read_bytes(),
            store.read_bytes(card.artifacts["settings"]),
            store.path(card.artifacts["srs"]),
        )
        rebuilds.append(time.perf_counter() - started)
    return timings, rebuilds


def retrieval_figures(
    predicate: Predicate,
    records: int,
    timings: list[tuple[float, float]],
    rebuilds: list[float],
) -> dict[str, Any]:
    """The medians, and the whole retrieval's cost at the default omission sample."""
    prove_s = statistics.median(t[0] for t in timings)
    verify_s = statistics.median(t[1] for t in timings)
    rebuild_s = statistics.median(rebuilds)
    m = len(predicate.matches)
    k = min(DEFAULT_OMISSION_SAMPLE, records - m)
    return {
        "records": records,
        "matches": m,
        "sample": k,
        "one_omission_caught": chance_to_draw_any(records - m, 1, k),
        "logrows": predicate.card.logrows,
        "keying_s": predicate.keying_s,
        "prove_s": prove_s,
        "verify_s": verify_s,
        "rebuild_s": rebuild_s,
        "retrieval_prove_s": (m + k) * prove_s,
        "matches_only_prove_s": m * prove_s,
        "sampling_ratio": (m + k) / m,
        "requester_s": rebuild_s + (m + k) * verify_s,
        "rebuild_share": rebuild_s / (rebuild_s + (m + k) * verify_s),
        # The sample is k proofs whatever the answer's size: a large answer hardly notices it.
        "sampling_ratio_1000_matches": (1000 + k) / 1000,
    }


def print_figures(figures: dict[str, Any]) -> None:
    m, k, records = figures["matches"], figures["sample"], figures["records"]
    print(
        f"retrieval: digits that are a {TARGET_DIGIT} from {records} records "
        f"({m} match), predicate logrows {figures['logrows']}, median of {ROUNDS} rounds; k = {k} "
        f"of {records - m} left out catches one omission with probability "
        f"{figures['one_omission_caught']:.3f}"
    )
    print(
        f"  responder: keying {figures['keying_s']:.2f} s once, "
        f"prove {figures['prove_s']:.3f} s per record"
    )
    print(
        f"  requester: rebuild the verifying key {figures['rebuild_s']:.3f} s once, verify "
        f"{figures['verify_s'] * 1000:.1f} ms per record"
    )
    print(
        f"  whole retrieval, k = {k}: {m + k} proofs, {figures['retrieval_prove_s']:.1f} s "
        f"proving vs {figures['matches_only_prove_s']:.1f} s for the matches alone "
        f"({figures['sampling_ratio']:.2f}x; {figures['sampling_ratio_1000_matches']:.2f}x for an "
        f"answer of 1,000 records); requester {figures['requester_s']:.2f} s, "
        f"{figures['rebuild_share']:.0%} of it the rebuild"
    )


if __name__ == "__main__":
    run()
