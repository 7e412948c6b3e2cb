"""Checkpoints: the full training state at a step, in safetensors, and the hash chain over them.

A checkpoint holds parameters, buffers and optimizer state (momentum included): replaying a
segment needs all three, and comparing only parameters would let a spoofer fake the rest. The
file format is safetensors, a JSON header plus raw bytes, so loading a checkpoint never runs code;
the reference implementation's pickles run whatever their author put in them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import safetensors.torch
import torch
from torch import nn

from zkgate.core.canonical import framed_digest
from zkgate.core.documents import DocumentError, quote
from zkgate.core.learning.policy import Architecture, OptimizerSpec
from zkgate.pol.architecture import build_model
from zkgate.pol.safetensors_header import safetensors_metadata

CHECKPOINT_FORMAT = "zkgate.pol.checkpoint/1"
_CHAIN_DOMAIN = "zkgate.pol.chain/1"
_PARAM, _BUFFER, _OPTIM = "param/", "buffer/", "optim/"


class CheckpointError(ValueError):
    """A checkpoint file that is not a zkgate safetensors checkpoint of the expected step."""


@dataclass(frozen=True)
class TrainingState:
    step: int
    params: dict[str, torch.Tensor]
    buffers: dict[str, torch.Tensor]
    # Per-parameter optimizer state, keyed "<parameter name>/<state key>".
    optimizer: dict[str, torch.Tensor]

    def flat_params(self) -> torch.Tensor:
        """In sorted name order: a decoded file lists tensors sorted, a live model by module."""
        return torch.cat([self.params[name].reshape(-1).double() for name in sorted(self.params)])

    def flat_extra_state(self) -> dict[str, torch.Tensor]:
        return {**{_BUFFER + k: v for k, v in self.buffers.items()}, **self.optimizer}


def capture(model: nn.Module, optimizer: torch.optim.Optimizer, step: int) -> TrainingState:
    names = {id(p): name for name, p in model.named_parameters()}
    optim: dict[str, torch.Tensor] = {}
    for parameter, state in optimizer.state.items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                optim[f"{names[id(parameter)]}/{key}"] = value.detach().clone()
    return TrainingState(
        step=step,
        params={n: p.detach().clone() for n, p in model.named_parameters()},
        buffers={n: b.detach().clone() for n, b in model.named_buffers()},
        optimizer=optim,
    )


def restore(state: TrainingState, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Loads copies, never the stored tensors themselves: the optimizer updates its state in
    place, and an aliased momentum buffer would silently corrupt the checkpoint for the next
    replay of the same segment."""
    parameters = dict(model.named_parameters())
    with torch.no_grad():
        for name, tensor in state.params.items():
            parameters[name].copy_(tensor)
        buffers = dict(model.named_buffers())
        for name, tensor in state.buffers.items():
            buffers[name].copy_(tensor)
    optimizer.state.clear()
    for key, tensor in state.optimizer.items():
        name, state_key = key.rsplit("/", 1)
        optimizer.state[parameters[name]][state_key] = copy.deepcopy(tensor)


def encode(state: TrainingState) -> bytes:
    tensors = {
        **{_PARAM + k: v.contiguous() for k, v in state.params.items()},
        **{_BUFFER + k: v.contiguous() for k, v in state.buffers.items()},
        **{_OPTIM + k: v.contiguous() for k, v in state.optimizer.items()},
    }
    metadata = {"format": CHECKPOINT_FORMAT, "step": str(state.step)}
    return safetensors.torch.save(tensors, metadata=metadata)


def decode(data: bytes, *, expected_step: int, what: str) -> TrainingState:
    """Strict: a file that is not safetensors, or carries another format or step, is refused
    before any tensor is built."""
    metadata = _metadata(data, what)
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{what} has format {metadata.get('format')!r}, not a checkpoint")
    if metadata.get("step") != str(expected_step):
        raise CheckpointError(
            f"{what} says step {metadata.get('step')!r}; the manifest says {expected_step}"
        )
    try:
        tensors = safetensors.torch.load(data)
    except Exception as exc:  # safetensors' own error type is not exported for typing
        raise CheckpointError(f"{what} is not a readable safetensors file: {exc}") from exc
    groups: dict[str, dict[str, torch.Tensor]] = {_PARAM: {}, _BUFFER: {}, _OPTIM: {}}
    for key, tensor in tensors.items():
        prefix = next((p for p in groups if key.startswith(p)), None)
        if prefix is None:
            raise CheckpointError(f"{what} holds unexpected tensor {key!r}")
        groups[prefix][key[len(prefix) :]] = tensor
    return TrainingState(
        step=expected_step,
        params=groups[_PARAM],
        buffers=groups[_BUFFER],
        optimizer=groups[_OPTIM],
    )


def _metadata(data: bytes, what: str) -> dict[str, str]:
    """Reads the safetensors header by hand (8 bytes of little-endian length, then JSON),
    through the bounded document layer, before safetensors' own parser sees the file."""
    try:
        return safetensors_metadata(data, what)
    except DocumentError as exc:
        raise CheckpointError(str(exc)) from exc


StateLayout = dict[str, tuple[int, ...]]


def state_layout(architecture: Architecture, optimizer: OptimizerSpec) -> StateLayout:
    """Every tensor a checkpoint after step 0 holds, with its shape: the parameters, and the
    optimizer's state per parameter. Built on torch's meta device, so a claimed architecture
    costs nothing to describe."""
    with torch.device("meta"):
        model = build_model(architecture)
    layout: StateLayout = {}
    for name, parameter in model.named_parameters():
        shape = tuple(parameter.shape)
        layout[_PARAM + name] = shape
        if optimizer.kind == "adam":
            layout |= {f"{_OPTIM}{name}/{k}": shape for k in ("exp_avg", "exp_avg_sq")}
            layout[f"{_OPTIM}{name}/step"] = ()
        elif optimizer.momentum:
            layout[f"{_OPTIM}{name}/momentum_buffer"] = shape
    return layout


def check_layout(state: TrainingState, layout: StateLayout, what: str) -> None:
    """Every tensor accounted for: the names, shapes and dtype the policy implies, none
    missing and none extra. Checkpoint 0 holds the parameters alone."""
    found = {
        **{_PARAM + k: v for k, v in state.params.items()},
        **{_BUFFER + k: v for k, v in state.buffers.items()},
        **{_OPTIM + k: v for k, v in state.optimizer.items()},
    }
    expected = layout if state.step else {k: v for k, v in layout.items() if k.startswith(_PARAM)}
    extra, missing = sorted(found.keys() - expected.keys()), sorted(expected.keys() - found.keys())
    if extra or missing:
        raise CheckpointError(
            f"{what} does not hold the tensors the policy implies (missing {quote(missing)}, "
            f"unexpected {quote(extra)})"
        )
    for key, tensor in found.items():
        if tuple(tensor.shape) != expected[key] or tensor.dtype != torch.float32:
            raise CheckpointError(
                f"{what}: tensor {key} is {tensor.dtype} {tuple(tensor.shape)}; the policy "
                f"implies float32 {expected[key]}"
            )


def chain_link(previous: str, step: int, file_sha256: str) -> str:
    """Each link commits to every checkpoint before it: timestamping one link timestamps the
    whole prefix of the run."""
    return framed_digest(
        _CHAIN_DOMAIN, [previous.encode(), str(step).encode(), file_sha256.encode()]
    )
