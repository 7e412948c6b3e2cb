"""Lanes: a prover runs one worker loop per lane, each with a proving child of its own, so that a
proof of a second does not wait behind a registration of minutes on the same prover.

A lane takes the job kinds it names. `--lanes register,prove` (the default) runs two loops:
registrations in one, proofs in the other. `--lanes register+prove` runs one loop that takes
both, one job at a time: a proof may wait behind a registration, but the two never share the
machine's memory. `--lanes prove` takes proofs only (a pool of large provers kept for them).

A lane that takes no proofs runs its child at a lower CPU priority, so that while a registration
and a proof share the cores the proof gets most of them (docs/scale-out.md#lanes has the
measurement).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from zkgate.prover.queue.jobs import JobKind

logger = logging.getLogger("zkgate.prover.worker.lanes")

DEFAULT_LANES = "register,prove"
_LANE_SEPARATOR = ","
_KIND_JOINER = "+"


@dataclass(frozen=True)
class Lane:
    kinds: frozenset[JobKind]

    @property
    def name(self) -> str:
        """The lane as --lanes spells it: "register", "prove", "register+prove"."""
        return _KIND_JOINER.join(kind.value for kind in JobKind if kind in self.kinds)

    @property
    def background(self) -> bool:
        """Takes no proofs, so it yields the CPU to the lane that does."""
        return JobKind.PROVE not in self.kinds


def parse_lanes(spec: str) -> tuple[Lane, ...]:
    """Lanes from "register,prove" (comma between lanes, plus between kinds in one lane); a
    kind may appear in one lane only, so two loops never compete for the same jobs."""
    lanes: list[Lane] = []
    seen: set[JobKind] = set()
    for part in spec.split(_LANE_SEPARATOR):
        names = [name.strip() for name in part.split(_KIND_JOINER)]
        kinds = {_kind(name, spec) for name in names}
        if kinds & seen or len(kinds) != len(names):
            raise ValueError(f"lanes {spec!r}: a job kind may appear in one lane only, once")
        seen |= kinds
        lanes.append(Lane(frozenset(kinds)))
    return tuple(lanes)


def lanes_spec(lanes: Sequence[Lane]) -> str:
    return _LANE_SEPARATOR.join(lane.name for lane in lanes)


def _kind(name: str, spec: str) -> JobKind:
    try:
        return JobKind(name)
    except ValueError:
        known = ", ".join(kind.value for kind in JobKind)
        raise ValueError(
            f"lanes {spec!r}: {name!r} is not a job kind ({known}); write lanes as "
            f"{DEFAULT_LANES!r} or 'register+prove'"
        ) from None


def run_lanes(
    lanes: Sequence[Lane], run_lane: Callable[[Lane], None], stop: threading.Event
) -> None:
    """Runs run_lane(lane) for every lane, each in a thread of its own, until they return (they
    watch stop). A lane that fails sets stop, so the others end after their job in hand, and its
    error is raised here: a prover with a dead lane exits to be restarted rather than carry on
    taking only some of its jobs."""
    errors: list[BaseException] = []

    def guarded(lane: Lane) -> None:
        try:
            run_lane(lane)
        except BaseException as exc:
            logger.exception("lane %s failed; stopping the prover", lane.name)
            errors.append(exc)
            stop.set()

    threads = [
        threading.Thread(target=guarded, args=(lane,), name=f"lane-{lane.name}") for lane in lanes
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        # A timed join leaves the main thread free to run the SIGTERM handler that sets stop.
        while thread.is_alive():
            thread.join(0.5)
    if errors:
        raise errors[0]
