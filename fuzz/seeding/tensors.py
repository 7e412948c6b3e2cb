"""Seed documents of the tensor readers: .npy files (the bundled example's, a test set's, a
dataset's, an .npz where .npy was expected), a raw tensor, and Open Inference requests."""

from __future__ import annotations

import io
import zipfile

import numpy as np

from fuzz.seeding.shared import DIGITS
from zkgate.core.dataset import Dataset
from zkgate.core.held_out_set import TestSet
from zkgate.core.oip_codec import encode_input
from zkgate.core.prediction import Prediction
from zkgate.wire import open_inference_pb2 as oip


def npy_documents(test_set: TestSet, dataset: Dataset, examples: np.ndarray) -> dict[str, bytes]:
    documents = {
        f"npy_{name}": (DIGITS / f"{name}.npy").read_bytes()
        for name in ("calibration", "test_inputs", "test_labels")
    }
    documents["npy_examples"], documents["npy_labels"] = test_set.to_npy()
    documents["npy_records"] = dataset.to_npy()
    documents["npy_zip"] = _npz_of(examples)
    return documents


def wire_documents(prediction: Prediction) -> dict[str, bytes]:
    """The prediction's first input as fuzz/entries/tensors.tensor_from_raw reads it: FP32
    (selector 10 | 0x40 for small dimensions), rank 2, dimensions (1, 4), then its bytes; and
    the prediction's inputs as ModelInferRequests on the wire: raw contents, and typed."""
    first = prediction.inputs[0]
    dims = b"".join(int(d).to_bytes(8, "little", signed=True) for d in first.shape)
    raw = oip.ModelInferRequest(model_name=prediction.model)
    typed = oip.ModelInferRequest(model_name=prediction.model)
    for tensor in prediction.inputs:
        encode_input(raw, tensor)
        message = typed.inputs.add(
            name=tensor.name, datatype=tensor.datatype, shape=list(tensor.shape)
        )
        message.contents.fp32_contents.extend(float(v) for v in tensor.array.ravel())
    return {
        "tensor_raw": bytes([10, 2]) + dims + first.raw_bytes(),
        "oip_request": raw.SerializeToString(),
        "oip_request_typed": typed.SerializeToString(),
    }


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _npz_of(array: np.ndarray) -> bytes:
    """An .npz archive (a zip): what numpy.load opens when .npy bytes were expected."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("arr_0.npy", _npy(array))
    return buffer.getvalue()
