"""Fuzz target: the shared bounded JSON reader (zkgate.core.documents) and its typed accessors.

Run: python fuzz/fuzz_documents.py CORPUS_DIR [libFuzzer flags]; see fuzz/README.md.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz.harness import main
from fuzz.targets import TARGETS

if __name__ == "__main__":
    main(TARGETS["documents"])
