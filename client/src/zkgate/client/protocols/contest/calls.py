"""The Client's calls for contests: having the gateway sign a contest's terms, and running a
contest through `session.run_contest`."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import asdict

from zkgate.client.predictions import PredictionCalls
from zkgate.client.proof_jobs import ProofCalls
from zkgate.client.protocols.contest.session import (
    ContestOptions,
    ContestResult,
    ProofSource,
    run_contest,
)
from zkgate.core.prediction import Prediction
from zkgate.core.protocols.contest import ContestRequest, ContestStatement
from zkgate.wire import zkgate_pb2 as pb


class ContestCalls(ProofCalls, PredictionCalls):
    def open_contest(self, request: ContestRequest) -> ContestStatement:
        """The gateway's signed acceptance of a contest. Raises AttestationError unless the
        gateway's identity key signed it for exactly what was asked."""
        response: pb.SignedStatement = self._proofs.OpenContest(
            pb.OpenContestRequest(**asdict(request)), timeout=self._timeout
        )
        statement = ContestStatement.from_json(response.statement_json)
        self._check_statement(statement, **asdict(request))
        return statement

    def contest(
        self,
        contested: Sequence[Prediction],
        k: int,
        *,
        pinned_commitment: str,
        deadline_seconds: float,
        tamper_rate: float = 0.01,
        allow_insecure_srs: bool = False,
        trusted_srs_identities: Collection[str] = (),
        pinned_batch_commitment: str | None = None,
        proofs: ProofSource | None = None,
    ) -> ContestResult:
        """Contests k of the saved predictions, drawn so that neither side chose them, and
        verifies their proofs; see docs/protocols.md. `proofs`: where proofs come from, this
        client by default."""
        options = ContestOptions(
            pinned_commitment=pinned_commitment,
            allow_insecure_srs=allow_insecure_srs,
            trusted_srs_identities=trusted_srs_identities,
            pinned_batch_commitment=pinned_batch_commitment,
        )
        return run_contest(
            self,
            contested,
            k,
            options=options,
            deadline_seconds=deadline_seconds,
            tamper_rate=tamper_rate,
            proofs=proofs,
        )
