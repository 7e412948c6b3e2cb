"""Model construction and the specified initialization: W0 = init(seed), bit for bit.

Torch's own initializers draw from torch's generator, whose stream is an implementation detail;
the verifier must recompute the initial weights exactly, so they are drawn from
`randomness.uniform_stream` with the bounds torch's Linear uses (U(-1/sqrt(fan_in), +)).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from torch import nn

from zkgate.core.learning.policy import Architecture, PolicyError
from zkgate.pol.randomness import uniform_stream


def build_model(architecture: Architecture) -> nn.Sequential:
    if architecture.kind != "mlp":
        raise PolicyError(f"unsupported architecture {architecture.kind!r}")
    layers: list[nn.Module] = []
    widths = architecture.sizes
    for index, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
        if index:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(fan_in, fan_out))
    return nn.Sequential(*layers)


def initialize(model: nn.Module, seed: bytes) -> None:
    """Overwrites every parameter with its specified initial value. Each tensor draws from its
    own stream, keyed by its name, so adding a layer does not shift the others' values."""
    modules = dict(model.named_modules())
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            owner = modules[name.rsplit(".", 1)[0]]
            if not isinstance(owner, nn.Linear):
                raise PolicyError(f"no initialization rule for parameter {name}")
            bound = 1.0 / math.sqrt(owner.in_features)
            uniform = uniform_stream(seed, name).draw(parameter.numel())
            values = ((uniform * 2.0 - 1.0) * bound).astype(np.float32)
            parameter.copy_(torch.from_numpy(values.reshape(tuple(parameter.shape))))


def initial_model(architecture: Architecture, seed: bytes) -> nn.Sequential:
    model = build_model(architecture)
    initialize(model, seed)
    return model
