"""Fuzz target: verify/check_proof over mutated proofs, cards, settings and batch entries,
against a real circuit and its batch circuit.

Run: python fuzz/fuzz_proof_verification.py CORPUS_DIR [libFuzzer flags]; see fuzz/README.md.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz.harness import main
from fuzz.targets import TARGETS

if __name__ == "__main__":
    main(TARGETS["proof_verification"])
