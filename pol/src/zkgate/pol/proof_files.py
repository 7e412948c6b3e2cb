"""Names of the files in a proof-of-learning directory (the layout is the light client's, so a
gateway can check an upload against it without torch)."""

from __future__ import annotations

from zkgate.core.learning.layout import (
    DATASET_NAME,
    MANIFEST_NAME,
    MODEL_NAME,
    TIMESTAMPS_NAME,
    checkpoint_name,
)

MANIFEST = MANIFEST_NAME
DATASET = DATASET_NAME
MODEL = MODEL_NAME
TIMESTAMPS = TIMESTAMPS_NAME
checkpoint_file = checkpoint_name
