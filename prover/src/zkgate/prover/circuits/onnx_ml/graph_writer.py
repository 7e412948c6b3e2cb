"""The standard-ONNX nodes and constants that replace one ONNX-ML node.

Each operator's rewrite emits nodes that compute the replaced node's outputs under their own
names, so the rest of the graph (and the graph's outputs) keep referring to the same values.
Intermediate names are prefixed with the replaced node's name and numbered, so that rewrites of
several nodes never collide with each other or with the original graph's names.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import helper, numpy_helper

from zkgate.prover.circuits.registration_checks import RegistrationError


class ConversionError(RegistrationError):
    """An ONNX-ML graph that zkgate cannot rewrite; the message names the operator (or the
    attribute) and what to do instead. Deterministic, like every RegistrationError."""


class GraphWriter:
    """Collects the rewrite of one ONNX-ML node: standard nodes and their constant tables."""

    def __init__(self, prefix: str, taken: set[str], opset: int) -> None:
        self._prefix = prefix
        self.opset = opset
        self._taken = taken
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def fresh(self, hint: str) -> str:
        """A value name no other value in the graph has."""
        base = f"{self._prefix}/{hint}"
        name, count = base, 0
        while name in self._taken:
            count += 1
            name = f"{base}_{count}"
        self._taken.add(name)
        return name

    def constant(self, hint: str, values: npt.ArrayLike, dtype: Any = np.float32) -> str:
        """An initializer holding values (float32 unless said otherwise)."""
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(values, dtype=dtype), name))
        return name

    def node(
        self, op_type: str, inputs: list[str], output: str | None = None, **attributes: Any
    ) -> str:
        """A standard-domain node with one output, named `output` or a fresh name."""
        name = output if output is not None else self.fresh(op_type.lower())
        self.nodes.append(
            helper.make_node(op_type, inputs, [name], name=self.fresh(op_type), **attributes)
        )
        return name

    def reduce(self, op_type: str, x: str, axis: int) -> str:
        """A reduction over one axis, keeping it; opset 18 moved `axes` from an attribute to
        an input."""
        if self.opset >= 18:
            axes = self.constant("axes", [axis], dtype=np.int64)
            return self.node(op_type, [x, axes], keepdims=1)
        return self.node(op_type, [x], axes=[axis], keepdims=1)


def attributes(node: onnx.NodeProto) -> dict[str, Any]:
    """The node's attributes as Python values (strings decoded, tensors as numpy arrays)."""
    values: dict[str, Any] = {}
    for attribute in node.attribute:
        value = helper.get_attribute_value(attribute)
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [item.decode("utf-8") for item in value]
        elif isinstance(value, onnx.TensorProto):
            value = numpy_helper.to_array(value)
        values[attribute.name] = value
    return values


def float_list(attrs: dict[str, Any], name: str) -> npt.NDArray[np.float64] | None:
    """A float attribute, or its `_as_tensor` (double) twin; None when neither is set."""
    for key in (name, f"{name}_as_tensor"):
        if key in attrs:
            return np.asarray(attrs[key], dtype=np.float64).ravel()
    return None
