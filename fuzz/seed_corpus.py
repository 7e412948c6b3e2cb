"""Writes a seed corpus for every fuzz target from real documents.

    python fuzz/seed_corpus.py OUT_DIR

builds the tiny circuit of tests/fixtures/client_fixtures.py and its batch circuit (a few
seconds), proves once with each, derives every format from them (fuzz/seeds.py: bundle, proof,
prediction, receipt, batch entry, statements, certificate, evidence, retrieval result,
proof-of-learning archive, the bundled digits example's .npy files) and writes
OUT_DIR/<target>/<entry>-<document>, each file being the entry point's selector byte followed by
the document. Nothing is committed: the corpus is a few hundred KB and is generated at fuzz time.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz.entry_points import BY_NAME
from fuzz.seeds import build_world
from fuzz.targets import TARGETS


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = Path(sys.argv[1])
    seeds = build_world(Path(tempfile.mkdtemp(prefix="zkgate-fuzz-seeds-")))
    for target in TARGETS:
        directory = out / target
        directory.mkdir(parents=True, exist_ok=True)
        count = 0
        for selector, name in enumerate(TARGETS[target]):
            for document in BY_NAME[name].seeds:
                path = directory / f"{name}-{document}"
                path.write_bytes(bytes([selector]) + seeds.documents[document])
                count += 1
        print(f"{directory}: {count} seeds")


if __name__ == "__main__":
    main()
