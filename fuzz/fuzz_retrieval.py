"""Fuzz target: dataset and retrieval statements, retrieval results, and verify_retrieval.

Run: python fuzz/fuzz_retrieval.py CORPUS_DIR [libFuzzer flags]; see fuzz/README.md.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz.harness import main
from fuzz.targets import TARGETS

if __name__ == "__main__":
    main(TARGETS["retrieval"])
