"""What a proof-of-learning may contain, and how large each file of it may be.

A proof arrives from someone else, so its size must follow from what it claims to be about,
not from what its files say they hold. The manifest is read first (it is small and bounded);
the architecture, optimizer, dataset size and checkpoint count it declares fix the list of files
the proof may hold and a byte budget for each: a checkpoint of an MLP with P parameters trained
with SGD is P float32 values and as many momentum values, plus a header. A file not on the list,
or larger than its budget, is refused before it is read, and again while it is streamed (the
sizes a zip declares are the sender's word).

The caps on the claims themselves (parameters, layers, checkpoints, examples, total bytes) are
what a verifier accepts at all: a gateway serves models whose circuits fit a few million rows,
so a proof-of-learning about a far larger network would be about no model it could serve.
No torch here: the gateway checks uploads with this, and provers and the CLI re-check.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from zkgate.core.documents import DocumentError, Fields, parse_object, quote

MANIFEST_NAME = "manifest.json"
DATASET_NAME = "dataset.safetensors"
MODEL_NAME = "model.onnx"
# Gateway timestamps gathered while training ran; outside the manifest, since the last ones
# (over the manifest itself) can only be obtained after it is signed.
TIMESTAMPS_NAME = "timestamps.json"
CHECKPOINT_DIRECTORY = "checkpoints"
_CHECKPOINT = re.compile(r"^checkpoints/(\d{6})\.safetensors$")

# A circuit a gateway can prove holds a few million weights (LeNet, the largest measured, has
# 431k; logrows 22 is past what a prover node sets up): a network above this is not a model
# any registration could serve.
MAX_PARAMETERS = 1 << 22
MAX_LAYERS = 64
MAX_CHECKPOINTS = 10_000
MAX_EXAMPLES = 1 << 20
# The most any proof may unpack to, whatever it claims; the claim usually sets a far lower cap.
MAX_EXPANSION_BYTES = 4 << 30
# Per checkpoint entry (step, file name, two digests, JSON punctuation) and the rest (intent,
# policy with its calibration record, signature).
_MANIFEST_ENTRY_BYTES = 400
_MANIFEST_FIXED_BYTES = 1 << 20
MAX_MANIFEST_BYTES = _MANIFEST_FIXED_BYTES + _MANIFEST_ENTRY_BYTES * MAX_CHECKPOINTS
# One signed timestamp statement is about 600 bytes of JSON.
_TIMESTAMP_BYTES = 2048
# Headers, graph structure and metadata beyond the raw tensor bytes.
_SLACK_BYTES = 64 << 10
_FLOAT_BYTES = 4
_LABEL_BYTES = 8
# Copies of the parameters a checkpoint holds: the parameters, and the optimizer's per-parameter
# state (SGD: a momentum buffer; Adam: two moments, and a step counter per tensor).
_STATE_COPIES = {"sgd": 2, "adam": 3}


class LayoutError(ValueError):
    """A proof whose claims exceed what a verifier accepts, or whose files are not the ones the
    manifest implies."""


def parameter_count(sizes: Iterable[int]) -> int:
    """Weights and biases of an MLP with these layer widths, input first."""
    return sum(a * b + b for a, b in itertools.pairwise(sizes))


def checkpoint_name(index: int) -> str:
    return f"{CHECKPOINT_DIRECTORY}/{index:06d}.safetensors"


@dataclass(frozen=True)
class ProofShape:
    """What a manifest claims about the run, as far as sizes go."""

    sizes: tuple[int, ...]
    optimizer: str
    dataset_size: int
    checkpoint_count: int

    @property
    def parameters(self) -> int:
        return parameter_count(self.sizes)

    def problems(self, *, max_parameters: int = MAX_PARAMETERS) -> list[str]:
        """Caps on the claims, checked with integer arithmetic before anything is allocated."""
        problems = []
        if not 2 <= len(self.sizes) <= MAX_LAYERS:
            problems.append(f"the architecture has {len(self.sizes)} widths; 2 to {MAX_LAYERS}")
        elif self.parameters > max_parameters:
            problems.append(
                f"the architecture {quote(list(self.sizes))} has {self.parameters:,} parameters; "
                f"the limit is {max_parameters:,}"
            )
        if self.optimizer not in _STATE_COPIES:
            problems.append(
                f"optimizer {quote(self.optimizer)} is not one of {sorted(_STATE_COPIES)}"
            )
        if not 1 <= self.dataset_size <= MAX_EXAMPLES:
            problems.append(
                f"the dataset has {self.dataset_size:,} examples; 1 to {MAX_EXAMPLES:,}"
            )
        if not 2 <= self.checkpoint_count <= MAX_CHECKPOINTS:
            problems.append(
                f"the run has {self.checkpoint_count:,} checkpoints; 2 to {MAX_CHECKPOINTS:,}"
            )
        if not problems and self.total_budget() > MAX_EXPANSION_BYTES:
            problems.append(
                f"the proof would unpack to {self.total_budget():,} bytes; the limit is "
                f"{MAX_EXPANSION_BYTES:,}"
            )
        return problems

    def budget(self, name: str) -> int | None:
        """Bytes `name` may hold, or None when the proof has no such file."""
        if name == MANIFEST_NAME:
            return _MANIFEST_FIXED_BYTES + _MANIFEST_ENTRY_BYTES * self.checkpoint_count
        if name == TIMESTAMPS_NAME:
            return _SLACK_BYTES + _TIMESTAMP_BYTES * (self.checkpoint_count + 1)
        if name == DATASET_NAME:
            row = self.sizes[0] * _FLOAT_BYTES + _LABEL_BYTES
            return _SLACK_BYTES + row * self.dataset_size
        if name == MODEL_NAME:
            return _SLACK_BYTES * len(self.sizes) + _FLOAT_BYTES * self.parameters
        match = _CHECKPOINT.match(name)
        if match and int(match.group(1)) < self.checkpoint_count:
            copies = _STATE_COPIES.get(self.optimizer, max(_STATE_COPIES.values()))
            return _SLACK_BYTES + copies * _FLOAT_BYTES * self.parameters
        return None

    def total_budget(self) -> int:
        names = [MANIFEST_NAME, TIMESTAMPS_NAME, DATASET_NAME, MODEL_NAME, checkpoint_name(0)]
        fixed = sum(self.budget(name) or 0 for name in names[:-1])
        return fixed + (self.budget(names[-1]) or 0) * self.checkpoint_count

    def check(self, *, max_parameters: int = MAX_PARAMETERS) -> ProofShape:
        problems = self.problems(max_parameters=max_parameters)
        if problems:
            raise LayoutError("; ".join(problems))
        return self

    def check_file(self, name: str, size: int) -> None:
        """Refuses a file the proof cannot hold, or one larger than its budget."""
        budget = self.budget(name)
        if budget is None:
            raise LayoutError(
                f"{quote(name)} is not a file of this proof (it holds {MANIFEST_NAME}, "
                f"{DATASET_NAME}, {MODEL_NAME}, {TIMESTAMPS_NAME} and "
                f"{checkpoint_name(0)} to {checkpoint_name(self.checkpoint_count - 1)})"
            )
        if size > budget:
            raise LayoutError(
                f"{name} holds more than the {budget:,} bytes a proof of this size needs "
                f"({self.parameters:,} parameters, {self.dataset_size:,} examples)"
            )


def manifest_shape(data: bytes) -> ProofShape:
    """The shape a manifest claims, read through the bounded document layer: the manifest is
    the first file read from a proof, so it alone is bounded by a fixed cap."""
    try:
        body = parse_object(data, what=MANIFEST_NAME, max_bytes=MAX_MANIFEST_BYTES).object("body")
        return _shape(body)
    except DocumentError as exc:
        raise LayoutError(str(exc)) from exc


def _shape(body: Fields) -> ProofShape:
    policy = body.object("policy")
    return ProofShape(
        sizes=tuple(policy.object("architecture").counts("sizes")),
        optimizer=policy.object("optimizer").text("kind"),
        dataset_size=policy.count("dataset_size"),
        checkpoint_count=len(body.array("checkpoints")),
    )
