"""Names of the files in a proof-of-learning directory."""

from __future__ import annotations

from zkgate.client.learning_archive import MANIFEST_NAME

MANIFEST = MANIFEST_NAME
DATASET = "dataset.safetensors"
MODEL = "model.onnx"
# Gateway timestamps gathered while training ran; outside the manifest, since the last ones
# (over the manifest itself) can only be obtained after it is signed.
TIMESTAMPS = "timestamps.json"


def checkpoint_file(index: int) -> str:
    return f"checkpoints/{index:06d}.safetensors"
