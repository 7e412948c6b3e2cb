"""Every parser and verification entry point of the client, with the errors each documents.

One table serves the property tests (tests/client/test_fuzz_client.py) and the atheris targets
(fuzz/fuzz_*.py); its rows live by area in fuzz/entries/. An entry point takes one untrusted
document (bytes) and the verification context of a real committed circuit (`Seeds`), and may
raise only its documented errors. Anything else (TypeError, IndexError, RecursionError,
OverflowError, ...) is a bug in the entry point.

Documented errors, read from the code (the format's own ValueError subclass for parsers; the
reasoned error of the protocol for checks):
- ModelCard.from_json: CardFormatError           - VerifierBundle.from_bytes: BundleError
- Prediction.from_json: PredictionFormatError    - Receipt.from_json: ReceiptError
- BatchEntry.from_json: BatchEntryFormatError    - verify / check_proof: VerificationError
- CircuitLayout.from_settings: InstanceLayoutError
- srs_identity: SrsFormatError
- AccuracyCertificate.from_json: AccuracyFormatError; verify_accuracy: AccuracyError
- signed statements (.from_json, .verify): AttestationError
- EvidenceBundle.from_json, check_evidence: EvidenceError
- RetrievalResult.from_json: RetrievalFormatError; verify_retrieval: RetrievalError
- learning archives (check_archive, extract_archive): ArchiveError
- pol Manifest.from_json: ManifestError (and the intent's AttestationError, the policy's
  PolicyError, which it re-raises as they are); TrainingPolicy.from_json: PolicyError
- NamedTensor.from_raw, decode_tensors: TensorError
- TestSet.from_npy: TestSetError; Dataset.from_npy / load_npy: RowsError
"""

from __future__ import annotations

from fuzz.entries.entry import EntryPoint
from fuzz.entries.formats import FORMAT_ENTRIES
from fuzz.entries.learning import LEARNING_ENTRIES
from fuzz.entries.proofs import PROOF_ENTRIES
from fuzz.entries.protocols import PROTOCOL_ENTRIES
from fuzz.entries.tensors import TENSOR_ENTRIES

__all__ = ["BY_NAME", "ENTRY_POINTS", "EntryPoint"]

ENTRY_POINTS: tuple[EntryPoint, ...] = (
    *FORMAT_ENTRIES,
    *TENSOR_ENTRIES,
    *PROOF_ENTRIES,
    *PROTOCOL_ENTRIES,
    *LEARNING_ENTRIES,
)
BY_NAME = {entry.name: entry for entry in ENTRY_POINTS}
