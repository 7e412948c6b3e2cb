"""Building the gateway's domain objects from its settings: the base service and the protocols
built on it.

The protocols call into the base service (proofs, jobs, ready models) and never the other way,
so they are made here, after it, rather than by it. Every statement the gateway signs, receipts
and protocol statements alike, is signed with its one identity key: the key clients pin.
"""

from __future__ import annotations

from dataclasses import dataclass

from zkgate.core.learning.policy import ReplayPlan
from zkgate.gateway.config import GatewayConfig
from zkgate.gateway.protocols.accuracy import AccuracyEvaluator
from zkgate.gateway.protocols.contest import ContestNotary
from zkgate.gateway.protocols.learning import LearningAttestor, LearningReports
from zkgate.gateway.protocols.retrieval import RetrievalResponder
from zkgate.gateway.receipt_signer import ReceiptSigner
from zkgate.gateway.service import GatewayService
from zkgate.prover.artifacts.store_settings import open_artifact_store
from zkgate.prover.data_directory import DataLayout
from zkgate.prover.queue.catalog import ModelCatalog
from zkgate.prover.queue.database_settings import open_database
from zkgate.prover.queue.learning_ledger import LearningLedger
from zkgate.prover.queue.sql_job_queue import SqlJobQueue


@dataclass(frozen=True)
class GatewayParts:
    service: GatewayService
    attestor: LearningAttestor
    learning_reports: LearningReports
    contest_notary: ContestNotary
    accuracy: AccuracyEvaluator
    retrieval: RetrievalResponder


def assemble(config: GatewayConfig) -> GatewayParts:
    layout = DataLayout(config.data_dir)
    database = open_database(config.database_url, config.data_dir)
    store = open_artifact_store(config.artifact_settings(), config.data_dir)
    signer = ReceiptSigner.load_or_create(layout.signing_key)
    attestor = LearningAttestor(
        signer.key,
        LearningLedger(database),
        minimum_replay=ReplayPlan(
            top_q=config.learning_top_q, random_segments=config.learning_random_segments
        ),
    )
    service = GatewayService(
        catalog=ModelCatalog(database),
        queue=SqlJobQueue(
            database,
            max_queued=config.max_queued_jobs,
            standby_memory_budget=config.standby_memory_budget(),
        ),
        store=store,
        signer=signer,
        max_logrows=config.max_logrows,
        default_policy=config.default_policy,
        srs_directory=layout.srs_cache,
        learning_terms=attestor.registration_terms,
    )
    return GatewayParts(
        service=service,
        attestor=attestor,
        learning_reports=LearningReports(service, store),
        contest_notary=ContestNotary(signer.key),
        accuracy=AccuracyEvaluator(service, signer.key, store),
        retrieval=RetrievalResponder(service, signer.key, store),
    )
