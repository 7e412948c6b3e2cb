"""Building the gateway's domain objects from its settings: the base service and the protocols
built on it.

The protocols call into the base service (proofs, jobs, ready models) and never the other way,
so they are made here, after it, rather than by it. Every statement the gateway signs, receipts
and protocol statements alike, is signed with its one identity key: the key clients pin.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zkgate.core.learning.policy import ReplayPlan
from zkgate.gateway.config import GatewayConfig
from zkgate.gateway.job_desk import JobDesk
from zkgate.gateway.model_repository import ModelRepository
from zkgate.gateway.model_repository_source import ObjectStoreMirror, object_store_location
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
    jobs: JobDesk
    accuracy: AccuracyEvaluator
    retrieval: RetrievalResponder
    # None without --model-repository.
    repository: ModelRepository | None


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
    catalog = ModelCatalog(database)
    queue = SqlJobQueue(
        database,
        max_queued=config.max_queued_jobs,
        standby_memory_budget=config.standby_memory_budget(),
    )
    service = GatewayService(
        catalog=catalog,
        queue=queue,
        store=store,
        signer=signer,
        max_logrows=config.max_logrows,
        default_policy=config.default_policy,
        srs_directory=layout.srs_cache,
        learning_terms=attestor.registration_terms,
        max_batch_rows=config.max_batch_rows,
    )
    return GatewayParts(
        service=service,
        attestor=attestor,
        learning_reports=LearningReports(service, store),
        contest_notary=ContestNotary(signer.key),
        jobs=JobDesk(queue, catalog, service.job_status),
        accuracy=AccuracyEvaluator(service, signer.key, store),
        retrieval=RetrievalResponder(service, signer.key, store),
        repository=model_repository(config, service, layout),
    )


def model_repository(
    config: GatewayConfig, service: GatewayService, layout: DataLayout
) -> ModelRepository | None:
    """The configured repository: a directory read in place, or an object-store prefix
    mirrored into the data directory before each sync; None without one."""
    if not config.model_repository:
        return None
    configs = Path(config.model_configs) if config.model_configs else None
    location = object_store_location(config.model_repository)
    if location is None:
        return ModelRepository(Path(config.model_repository), service, configs=configs)
    # Imported here: boto3 costs a few hundred milliseconds at start-up, for S3 users only.
    from zkgate.prover.artifacts.s3_backend import s3_client

    mirror = ObjectStoreMirror(
        client=s3_client(endpoint_url=config.s3_endpoint_url, region=config.s3_region),
        location=location,
        target=layout.root / "model-repository",
    )
    return ModelRepository(mirror.target, service, refresh=mirror.refresh, configs=configs)
