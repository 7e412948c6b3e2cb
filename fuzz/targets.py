"""The fuzz targets (fuzz/fuzz_<name>.py), each a family of entry points of
fuzz/entry_points.py; an input's first byte selects the entry point within the family."""

TARGETS: dict[str, tuple[str, ...]] = {
    "documents": ("documents",),
    "card_and_bundle": (
        "card",
        "bundle_card",
        "bundle_settings",
        "bundle_srs",
        "settings_layout",
        "srs_identity",
    ),
    "proof_verification": (
        "verify_proof",
        "check_proof",
        "verify_card",
        "verify_settings",
        "verify_batch_proof",
        "verify_batch_entry",
        "verify_batch_card",
        "verify_batch_settings",
    ),
    "prediction_receipt": ("prediction", "receipt", "batch_entry", "verify_prediction"),
    "tensors": (
        "tensor_raw",
        "oip_decode",
        "test_set_examples_npy",
        "test_set_labels_npy",
        "dataset_npy",
        "load_npy",
    ),
    "evidence": ("contest_statement", "evidence", "check_evidence"),
    "accuracy": ("accuracy_statement", "certificate", "verify_accuracy", "verify_accuracy_card"),
    "retrieval": (
        "dataset_statement",
        "retrieval_statement",
        "retrieval_result",
        "verify_retrieval",
        "verify_retrieval_dataset",
    ),
    "learning": (
        "learning_archive",
        "pol_manifest",
        "pol_policy",
        "training_intent",
        "commitment_timestamp",
    ),
}
