"""The model's batch circuit (hashed inputs and outputs, one entry), compiled and proven with
ezkl: what batched predictions and accuracy certificates are verified under."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from zkgate.core.bundle import VerifierBundle
from zkgate.core.card import BatchCircuit as CardBatch
from zkgate.core.card import KeySizes, ModelCard, SrsInfo
from zkgate.core.srs import file_sha256, srs_identity, verifier_slice_of_file


@dataclass(frozen=True)
class BatchCircuit:
    bundle: VerifierBundle
    proof: bytes
    # The quantized outputs (felts) the proof hashes, one list per output tensor.
    outputs: list[list[str]]


def build_batch_circuit(directory: Path, net: Any, x: np.ndarray, card: ModelCard) -> BatchCircuit:
    """`net` compiled again with hashed inputs and outputs: a batch circuit of one entry,
    keyed on its own development SRS, proven on `x`. Its card is `card` (the model's) with a
    `batch` section describing it."""
    directory.mkdir(parents=True)
    logrows = _compile_hashed(directory, net, x, card)
    _prove(directory, x)
    outputs: list[list[str]] = json.loads((directory / "witness.json").read_text())["outputs"]
    return BatchCircuit(
        bundle=_batch_bundle(directory, logrows, card),
        proof=(directory / "proof.json").read_bytes(),
        outputs=outputs,
    )


def _compile_hashed(directory: Path, net: Any, x: np.ndarray, card: ModelCard) -> int:
    """Exports, calibrates, compiles and keys `net` in `directory`; returns its logrows."""
    import ezkl
    import torch

    onnx_path, settings = directory / "model.onnx", directory / "settings.json"
    torch.onnx.export(
        net,
        (torch.zeros(*x.shape),),
        str(onnx_path),
        input_names=[card.inputs[0].name],
        output_names=[card.outputs[0].name],
        dynamo=False,
        opset_version=17,
    )
    run_args = ezkl.PyRunArgs()
    run_args.input_visibility = "hashed"
    run_args.output_visibility = "hashed"
    run_args.param_visibility = "fixed"
    ezkl.gen_settings(str(onnx_path), str(settings), py_run_args=run_args)
    calibration = directory / "calibration.json"
    samples = np.random.default_rng(3).random((20, x.size), dtype=np.float32)
    calibration.write_text(json.dumps({"input_data": [samples.ravel().tolist()]}))
    ezkl.calibrate_settings(
        str(calibration), str(onnx_path), str(settings), "resources", max_logrows=12
    )
    logrows: int = json.loads(settings.read_text())["run_args"]["logrows"]
    srs, compiled = directory / "kzg.srs", directory / "model.compiled"
    vk, pk = directory / "vk.key", directory / "pk.key"
    ezkl.gen_srs(str(srs), logrows)
    ezkl.compile_circuit(str(onnx_path), str(compiled), str(settings))
    ezkl.setup(str(compiled), str(vk), str(pk), srs_path=str(srs))
    return logrows


def _prove(directory: Path, x: np.ndarray) -> None:
    import ezkl

    compiled, srs = directory / "model.compiled", directory / "kzg.srs"
    data, witness, proof = (directory / n for n in ("input.json", "witness.json", "proof.json"))
    data.write_text(json.dumps({"input_data": [x.ravel().tolist()]}))
    ezkl.gen_witness(str(data), str(compiled), str(witness))
    ezkl.prove(
        str(witness), str(compiled), str(directory / "pk.key"), str(proof), srs_path=str(srs)
    )


def _batch_bundle(directory: Path, logrows: int, card: ModelCard) -> VerifierBundle:
    """The bundle of the compiled batch circuit, under the model's card with a `batch` section."""
    srs, vk, pk = directory / "kzg.srs", directory / "vk.key", directory / "pk.key"
    settings_bytes = (directory / "settings.json").read_bytes()
    parsed = json.loads(settings_bytes)
    srs_slice = verifier_slice_of_file(srs)
    identity = srs_identity(srs_slice)
    # Whatever the commitment covers, the bundle computes it: the batch circuit's parts under
    # the model's card.
    commitment = VerifierBundle.from_bytes(
        card_json=card.to_json(),
        verifying_key=vk.read_bytes(),
        settings=settings_bytes,
        srs_slice=srs_slice,
    ).commitment()
    batch = CardBatch(
        size=1,
        commitment=commitment,
        logrows=logrows,
        input_scale=parsed["model_input_scales"][0],
        output_scale=parsed["model_output_scales"][0],
        keys=KeySizes(proving_key_bytes=pk.stat().st_size, verifying_key_bytes=vk.stat().st_size),
        prove_seconds=1.0,
        srs=SrsInfo(
            origin=card.srs.origin, logrows=logrows, file_sha256=file_sha256(srs), identity=identity
        ),
        artifacts={},
    )
    return VerifierBundle.from_bytes(
        card_json=replace(card, batch=batch).to_json(),
        verifying_key=vk.read_bytes(),
        settings=settings_bytes,
        srs_slice=srs_slice,
    )
