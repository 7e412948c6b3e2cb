"""`zkgate jobs list|show|watch|cancel`: the caller's registration and proof jobs, as the
gateway's ListJobs, GetJob, WatchJob and CancelJob give them. Under --json, one document on
stdout (a job as job_document shows it); progress and messages go to stderr."""

from __future__ import annotations

import argparse
import time
from typing import Any

from zkgate.client.cli.gateway_options import connect
from zkgate.client.cli.job_progress import follow_job, job_line, kind_name, state_name
from zkgate.client.cli.output import output_of
from zkgate.client.proof_jobs import ProofJobFailed
from zkgate.wire import zkgate_pb2 as pb


def job_document(job: pb.Job) -> dict[str, Any]:
    """A job as --json shows it; the proof by its size (`zkgate infer --save` keeps proofs)."""
    return {
        "job_id": job.job_id,
        "kind": kind_name(job),
        "state": state_name(job),
        "model": job.model_name,
        "commitment": job.commitment or None,
        "input_digest": job.input_digest or None,
        "attempts": job.attempts,
        "error": job.error or None,
        "stage": job.stage or None,
        "queue_position": job.queue_position or None,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "started_at": job.started_at or None,
        "stage_started_at": job.stage_started_at or None,
        "estimated_seconds_remaining": (
            job.estimated_seconds_remaining if job.HasField("estimated_seconds_remaining") else None
        ),
        "proof_bytes": len(job.proof),
    }


def cmd_jobs_list(args: argparse.Namespace) -> int:
    output = output_of(args)
    with connect(args.target, args) as client:
        page = client.list_jobs(
            states=[pb.JobState.Value(f"JOB_STATE_{state.upper()}") for state in args.state or ()],
            model_name=args.model,
            kind=pb.JobKind.Value(f"JOB_KIND_{args.kind.upper()}")
            if args.kind
            else pb.JOB_KIND_UNSPECIFIED,
            page_size=args.limit,
            page_token=args.page_token,
        )
    now = time.time()
    for job in page.jobs:
        output.say(job_line(job, now))
    if page.next_page_token:
        output.say(f"more: --page-token {page.next_page_token}")
    output.set(
        jobs=[job_document(job) for job in page.jobs],
        next_page_token=page.next_page_token or None,
    )
    return 0


def cmd_jobs_show(args: argparse.Namespace) -> int:
    output = output_of(args)
    with connect(args.target, args) as client:
        job = client.job(args.job_id)
    for name, value in job_document(job).items():
        if value is not None:
            output.say(f"{name:<28}{value}")
    output.set(job=job_document(job))
    return 0


def cmd_jobs_watch(args: argparse.Namespace) -> int:
    """Exit 0 once the job succeeded, 1 if it failed or was cancelled."""
    output = output_of(args)
    with connect(args.target, args) as client:
        try:
            job = follow_job(client, args.job_id, timeout=args.timeout, quiet=args.quiet)
        except ProofJobFailed as exc:
            output.set(job=job_document(exc.job))
            raise
    output.set(job=job_document(job))
    return 0


def cmd_jobs_cancel(args: argparse.Namespace) -> int:
    output = output_of(args)
    with connect(args.target, args) as client:
        job = client.cancel_job(args.job_id)
    if job.state == pb.JOB_STATE_CANCELLED:
        output.say(f"cancelled   job {job.job_id}")
    else:
        output.say(f"job {job.job_id} had already ended: {state_name(job)}")
    output.set(job=job_document(job))
    return 0
