"""The provers the shared database knows of: each running prover advertises its memory budget
and the job kinds it takes, and renews the advert while it lives.

Memory, not time, sets the largest circuit a prover can take (a LeNet proof peaks near 11 GB),
so a prove job carries the memory its proof needs and only a prover whose budget holds it
claims it (leasing.py). A job that no live prover can hold would wait forever; it is refused
when it is enqueued instead, and a registration whose test proof needs more than any live
prover's budget is refused too, each naming the figure needed and the largest budget.

With no live prover taking the kind there is nothing to judge by (provers may be starting, or
scaled to zero until work arrives), so the job is accepted and waits, as every job did before.
Provers of a pool scaled to zero advertise nothing while other pools do, so the operator states
their budget (the standby budget): jobs up to it are accepted for the autoscaler to serve.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass

from zkgate.core.card import ModelCard
from zkgate.prover.memory_sizes import describe_size
from zkgate.prover.queue.database import Database
from zkgate.prover.queue.jobs import JobKind
from zkgate.prover.queue.sql_session import Session

# A prover renews its advert this often from a thread of its own (worker/presence.py) ...
ADVERT_INTERVAL_SECONDS = 10.0
# ... and counts as live while its last renewal is younger than this: three missed renewals.
LIVENESS_SECONDS = 3 * ADVERT_INTERVAL_SECONDS
# Adverts of provers that died without withdrawing are deleted after this (Kubernetes names
# every pod anew, so they would pile up otherwise).
FORGET_AFTER_SECONDS = 24 * 3600.0


class NoProverCanHold(RuntimeError):
    """No live prover's memory budget holds the job: the request is sound, the deployment lacks
    a prover large enough. Retrying does not help until an operator adds one."""

    def __init__(self, what: str, needed_bytes: int, largest_budget_bytes: int) -> None:
        super().__init__(
            f"{what} needs {describe_size(needed_bytes)} of memory, more than any live prover "
            f"can hold: the largest memory budget advertised is "
            f"{describe_size(largest_budget_bytes)}. Add a prover with a larger --memory-budget "
            "(a larger prover pool), or serve a smaller circuit"
        )
        self.needed_bytes = needed_bytes
        self.largest_budget_bytes = largest_budget_bytes


@dataclass(frozen=True)
class ProverAdvert:
    prover_id: str
    memory_budget_bytes: int
    kinds: frozenset[JobKind]


def advertise(session: Session, advert: ProverAdvert, *, now: float) -> None:
    """Inserts or renews the prover's row, and forgets provers long gone."""
    session.run(
        """INSERT INTO provers (id, memory_budget_bytes, kinds, started_at, heartbeat_at)
           VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET memory_budget_bytes = excluded.memory_budget_bytes,
               kinds = excluded.kinds, heartbeat_at = excluded.heartbeat_at""",
        (advert.prover_id, advert.memory_budget_bytes, _kinds_column(advert.kinds), now, now),
    )
    session.run("DELETE FROM provers WHERE heartbeat_at < ?", (now - FORGET_AFTER_SECONDS,))


def largest_live_budget(session: Session, kind: JobKind, *, now: float) -> int | None:
    """The largest memory budget among live provers that take kind; None if there are none."""
    row = session.one(
        """SELECT MAX(memory_budget_bytes) AS largest FROM provers
           WHERE heartbeat_at >= ? AND (',' || kinds || ',') LIKE ?""",
        (now - LIVENESS_SECONDS, f"%,{kind},%"),
    )
    return None if row is None or row["largest"] is None else int(row["largest"])


def check_can_hold(
    session: Session,
    kind: JobKind,
    needed_bytes: int,
    *,
    what: str,
    now: float,
    standby_budget: int | None,
) -> None:
    """Raises NoProverCanHold if live provers of kind exist and neither they nor the standby
    budget (provers scaled to zero) can hold needed_bytes."""
    live = largest_live_budget(session, kind, now=now)
    if live is None:
        return
    largest = max(live, standby_budget or 0)
    if needed_bytes > largest:
        raise NoProverCanHold(what, needed_bytes, largest)


def proof_memory_needs(card: ModelCard) -> Iterator[tuple[str, int]]:
    """(what, bytes) for each circuit of the card whose proof memory registration measured."""
    if card.prove_peak_rss_bytes is not None:
        yield f"a proof of model {card.name!r}", card.prove_peak_rss_bytes
    if card.batch is not None and card.batch.prove_peak_rss_bytes is not None:
        yield (
            f"a batch proof ({card.batch.size} entries) of model {card.name!r}",
            card.batch.prove_peak_rss_bytes,
        )


class ProverDirectory:
    """The provers table over the shared database, one transaction a call. standby_budget: the
    largest memory budget of provers scaled to zero (see check_can_hold)."""

    def __init__(self, database: Database, *, standby_budget: int | None = None) -> None:
        self._db = database
        self._standby_budget = standby_budget

    def advertise(self, advert: ProverAdvert, *, now: float) -> None:
        self._db.transaction(lambda s: advertise(s, advert, now=now))

    def withdraw(self, prover_id: str) -> None:
        """A prover stopping cleanly stops counting at once, not after LIVENESS_SECONDS."""
        self._db.transaction(lambda s: s.run("DELETE FROM provers WHERE id = ?", (prover_id,)))

    def largest_live_budget(self, kind: JobKind, *, now: float) -> int | None:
        return self._db.read(lambda s: largest_live_budget(s, kind, now=now))

    def check_card(self, card: ModelCard, *, now: float) -> None:
        """Raises NoProverCanHold if a proof of one of the card's circuits needs more memory
        than any live prover that proves can hold: registration refuses such a model."""

        def check(session: Session) -> None:
            for what, needed in proof_memory_needs(card):
                check_can_hold(
                    session,
                    JobKind.PROVE,
                    needed,
                    what=what,
                    now=now,
                    standby_budget=self._standby_budget,
                )

        self._db.read(check)


def _kinds_column(kinds: Collection[JobKind]) -> str:
    return ",".join(sorted(str(kind) for kind in kinds))
