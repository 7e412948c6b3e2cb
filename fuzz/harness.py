"""The atheris driver every fuzz/fuzz_*.py target runs: coverage-guided fuzzing of a family of
entry points (fuzz/entry_points.py), each allowed only its documented errors.

An input's first byte picks the entry point of the family, the rest is the document. A custom
mutator edits JSON documents structurally (fuzz/hostile.py) half of the time and leaves the
other half to libFuzzer's byte-level mutations.

A failure (an undocumented exception) is recorded, not fatal, so that one run finds more than
its first bug: each distinct failure (entry point, exception type, innermost zkgate frame) is
written once to the artifact directory as `<entry>-<Exception>-<digest>.input` (the document,
without the selector byte) and `.txt` (the traceback), and counted in the log. Set
ZKGATE_FUZZ_STRICT=1 to re-raise instead, as libFuzzer's own crash handling expects (for
reproducing a single input: `python fuzz/fuzz_x.py crash-file`).
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path

import atheris

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

with atheris.instrument_imports(include=["zkgate"]):
    import zkgate.core.documents  # noqa: F401  (instrumented before anything imports it)
    from fuzz.entry_points import BY_NAME, EntryPoint

from fuzz.hostile import mutate_document  # noqa: E402
from fuzz.seeds import Seeds, build_world  # noqa: E402

ARTIFACTS = Path(os.environ.get("ZKGATE_FUZZ_ARTIFACTS", "fuzz-artifacts"))
STRICT = os.environ.get("ZKGATE_FUZZ_STRICT") == "1"


def _signature(entry: EntryPoint, exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/zkgate/" in f.filename]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    return f"{entry.name}|{type(exc).__name__}|{where}"


class Target:
    def __init__(self, entries: Sequence[str], seeds: Seeds) -> None:
        self.entries = [BY_NAME[name] for name in entries]
        self.seeds = seeds
        self.seen: set[str] = set()

    def __call__(self, data: bytes) -> None:
        if not data:
            return
        entry = self.entries[data[0] % len(self.entries)]
        document = data[1:]
        try:
            entry.call(document, self.seeds)
        except entry.documented:
            pass
        except Exception as exc:
            if STRICT:
                raise
            self._record(entry, document, exc)

    def _record(self, entry: EntryPoint, document: bytes, exc: BaseException) -> None:
        signature = _signature(entry, exc)
        if signature in self.seen:
            return
        self.seen.add(signature)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(document).hexdigest()[:12]
        stem = ARTIFACTS / f"{entry.name}-{type(exc).__name__}-{digest}"
        stem.with_suffix(".input").write_bytes(document)
        text = "".join(traceback.format_exception(exc))
        stem.with_suffix(".txt").write_text(
            f"entry point: {entry.name} (owner: {entry.owner})\n"
            f"documented: {[e.__name__ for e in entry.documented]}\n"
            f"signature: {signature}\n\n{text}"
        )
        print(
            f"\n=== UNDOCUMENTED {signature}: {str(exc)[:200]!r} -> {stem}.input",
            file=sys.stderr,
            flush=True,
        )

    def mutate(self, data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if len(data) > 1 and rng.random() < 0.5:
            try:
                edited = mutate_document(data[1:], rng)
            except Exception as exc:  # a bug in the mutator must not end the run
                print(f"mutator: {type(exc).__name__}: {exc}"[:200], file=sys.stderr)
                edited = None
            if edited is not None and len(edited) < max_size:
                return data[:1] + edited
        if data and rng.random() < 0.05:
            # Move the document to another entry point of the family.
            return bytes([rng.randrange(256)]) + data[1:]
        return atheris.Mutate(data, max_size)

    def write_corpus(self, directory: Path) -> int:
        """One file per (entry point, seed document), selector byte first."""
        directory.mkdir(parents=True, exist_ok=True)
        written = 0
        for selector, entry in enumerate(self.entries):
            for name in entry.seeds:
                (directory / f"{entry.name}-{name}").write_bytes(
                    bytes([selector]) + self.seeds.documents[name]
                )
                written += 1
        return written


def main(entries: Sequence[str]) -> None:
    """Builds the world (a real circuit, a few seconds), seeds the corpus directory given on the
    command line if it is empty, and fuzzes."""
    world = Path(tempfile.mkdtemp(prefix="zkgate-fuzz-world-"))
    target = Target(entries, build_world(world))
    corpora = [Path(a) for a in sys.argv[1:] if not a.startswith("-") and Path(a).is_dir()]
    for corpus in corpora[:1]:
        if not any(corpus.iterdir()):
            target.write_corpus(corpus)
    atheris.Setup(sys.argv, target, custom_mutator=target.mutate)
    atheris.Fuzz()
