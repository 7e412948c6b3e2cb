"""The served graph is bound exactly to the proven checkpoint (issue 13 §3): the exported graph
is bound, and every addition to it or rewrite of it is rejected with the first difference from
the canonical graph. The trojan graph these checks stop is in the attack suite, test_pol_attacks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from tests.fixtures.pol_fixtures import each_verifier_nonce
from zkgate.pol.onnx_binding import probes


@each_verifier_nonce
def test_honest_exported_onnx_is_bound(pol_world, victim, nonce):
    report = pol_world.verify(victim.proof_dir, verifier_nonce=nonce)
    assert report.accepted, report.reasons


def _extra_float_initializer(model: onnx.ModelProto) -> None:
    spare = numpy_helper.to_array(model.graph.initializer[0]).copy()
    model.graph.initializer.append(numpy_helper.from_array(spare, name="spare"))


def _int64_initializer(model: onnx.ModelProto) -> None:
    value = np.arange(4, dtype=np.int64)
    model.graph.initializer.append(numpy_helper.from_array(value, name="steps"))


def _int64_parameter(model: onnx.ModelProto) -> None:
    bias = model.graph.initializer[1]
    value = numpy_helper.to_array(bias).astype(np.int64)
    bias.CopyFrom(numpy_helper.from_array(value, name=bias.name))


def _constant_node(model: onnx.ModelProto) -> None:
    value = numpy_helper.from_array(np.zeros((1,), np.float32), name="c")
    constant = onnx.helper.make_node("Constant", [], ["unused"], value=value)
    model.graph.node.insert(0, constant)


def _reordered_nodes(model: onnx.ModelProto) -> None:
    first, second = (onnx.NodeProto(), onnx.NodeProto())
    first.CopyFrom(model.graph.node[0])
    second.CopyFrom(model.graph.node[1])
    model.graph.node[0].CopyFrom(second)
    model.graph.node[1].CopyFrom(first)


def _renamed_node(model: onnx.ModelProto) -> None:
    model.graph.node[0].name = "/0/Linear"


def _renamed_tensor(model: onnx.ModelProto) -> None:
    old = model.graph.node[0].output[0]
    for node in model.graph.node:
        node.input[:] = ["hidden" if name == old else name for name in node.input]
        node.output[:] = ["hidden" if name == old else name for name in node.output]


def _changed_attribute(model: onnx.ModelProto) -> None:
    alpha = next(a for a in model.graph.node[0].attribute if a.name == "alpha")
    alpha.f = 1.0000001


EDITS: dict[str, tuple[Callable[[onnx.ModelProto], None], str]] = {
    "extra-float-initializer": (
        _extra_float_initializer,
        "ONNX initializer spare is not a parameter of the final checkpoint",
    ),
    "int64-initializer": (
        _int64_initializer,
        "ONNX initializer steps is not a parameter of the final checkpoint",
    ),
    "int64-parameter": (_int64_parameter, "is INT64; checkpoint parameters are FLOAT"),
    "constant-node": (_constant_node, "model.onnx uses operators an MLP does not: Constant"),
    "reordered-nodes": (_reordered_nodes, "model.onnx node 0 is '/1/Relu' Relu("),
    "renamed-node": (_renamed_node, "model.onnx node 0 is '/0/Linear' Gemm("),
    "renamed-tensor": (_renamed_tensor, "model.onnx node 0 is '/0/Gemm' Gemm(input, 0.weight"),
    "changed-attribute": (_changed_attribute, "alpha=1.0000001"),
}


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_any_change_to_the_exported_graph_is_rejected(pol_world, rewrite_proof, edit):
    change, reason = edit
    report = pol_world.verify(rewrite_proof(change))
    assert not report.accepted
    assert reason in "\n".join(report.reasons)


def test_probes_come_from_the_verifiers_randomness(pol_world):
    """Training examples and synthetic inputs the prover cannot predict, the same for the same
    nonce, so a verification can be repeated."""
    features = pol_world.dataset.features
    drawn = [probes(features, key, 16) for key in (b"a" * 32, b"a" * 32, b"b" * 32)]
    assert drawn[0].shape == (32, features.shape[1]) and drawn[0].dtype == np.float32
    assert np.array_equal(drawn[0], drawn[1]) and not np.array_equal(drawn[0], drawn[2])
    assert not np.array_equal(drawn[0][:16], features[:16])
    assert features.min() <= drawn[0].min() and drawn[0].max() <= features.max()
