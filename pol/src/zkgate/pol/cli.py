"""`zkgate pol`: calibrate a training policy, record a run, verify it, settle a dispute.

Added to the `zkgate` command through the `zkgate.cli` entry-point group (zkgate.pol.command),
so only machines with zkgate-pol (and so torch) installed have it; this module is imported only
when `pol` is the command. Exit codes follow `zkgate verify`: 0 accepted,
1 rejected, 2 unreadable input.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from zkgate.client.cli.arguments import positive_int
from zkgate.client.cli.exit_codes import (
    EXIT_BAD_INPUT,
    EXIT_REJECTED,
    EXIT_VERIFIED,
    InputError,
    read_input,
)
from zkgate.client.cli.gateway_options import add_connection_arguments, connect
from zkgate.client.cli.output import add_json_option, output_of
from zkgate.core.attestations import AttestationError, TrainingIntent, issue_training_intent
from zkgate.core.keys import KeyFileError, load_or_create_private_key, load_private_key
from zkgate.core.learning.admission import MINIMUM_REPLAY
from zkgate.core.learning.archive import ArchiveError, build_archive, extract_archive
from zkgate.core.learning.policy import PolicyError, ReplayPlan, TrainingPolicy
from zkgate.core.signing import raw_public_key
from zkgate.pol.bundled_example_policy import digits_policy
from zkgate.pol.calibration import DEFAULT_MARGIN, DEFAULT_SEEDS, calibrate
from zkgate.pol.dataset import digits_dataset
from zkgate.pol.dispute import Claim, Verdict, VerdictError, check_verdict, resolve_dispute
from zkgate.pol.recorder import RecordingError, Timestamper, record_training
from zkgate.pol.report import LearningReport
from zkgate.pol.verification import verify_proof

# The exit codes of `zkgate verify`: 0 accepted, 1 rejected, 2 unreadable input.
EXIT_ACCEPTED = EXIT_VERIFIED


def _now_ms() -> int:
    return int(time.time() * 1000)


def _policy(path: Path) -> TrainingPolicy:
    try:
        return TrainingPolicy.from_json(path.read_bytes())
    except (OSError, PolicyError) as exc:
        raise InputError(f"policy {path}: {exc}") from exc


def _trusted_issuers(args: argparse.Namespace) -> list[str]:
    """Explicit --trust-issuer keys, plus the identity key of --gateway when given."""
    trusted = [key.lower() for key in args.trust_issuer]
    if args.gateway:
        with connect(args.gateway, args) as client:
            trusted.append(client.gateway_key().hex())
    return trusted


@contextmanager
def _proof_directory(path: Path) -> Iterator[Path]:
    """A proof directory as given, or an archive unpacked into a temporary one."""
    if path.is_dir():
        yield path
        return
    data = read_input(path, "proof archive")
    with tempfile.TemporaryDirectory(prefix="zkgate-pol-") as tmp:
        try:
            yield extract_archive(data, Path(tmp) / "proof")
        except ArchiveError as exc:
            raise InputError(f"{path}: {exc}") from exc


def cmd_calibrate(args: argparse.Namespace) -> int:
    dataset = digits_dataset()
    base = (
        _policy(args.policy)
        if args.policy
        else digits_policy(
            dataset, epochs=args.epochs, checkpoint_interval=args.checkpoint_interval
        )
    )
    threads = tuple(int(t) for t in args.threads.split(","))
    policy = calibrate(base, dataset, seeds=args.seeds, thread_counts=threads, margin=args.margin)
    args.out.write_text(policy.to_json())
    assert policy.calibration is not None
    output = output_of(args)
    output.say(f"honest noise (max over {args.seeds} seeds x threads {list(threads)}):")
    for metric, value in sorted(policy.calibration.honest_max.items()):
        output.say(f"  {metric:13s} {value:.3g}")
    output.say(f"thresholds (margin {args.margin:g}x over noise, floors relative to update size):")
    for metric, value in sorted(vars(policy.thresholds).items()):
        output.say(f"  {metric:13s} {value:.3g}")
    output.say(f"policy written to {args.out} (digest {policy.digest()})")
    output.set(
        honest_max=dict(policy.calibration.honest_max),
        thresholds=dict(vars(policy.thresholds)),
        policy=str(args.out),
        digest=policy.digest(),
    )
    return EXIT_ACCEPTED


def cmd_record(args: argparse.Namespace) -> int:
    policy = _policy(args.policy)
    try:
        owner = load_or_create_private_key(args.key)
    except KeyFileError as exc:
        raise InputError(str(exc)) from exc
    owner_hex = raw_public_key(owner).hex()
    dataset = digits_dataset()
    with ExitStack() as stack:
        timestamper: Timestamper | None = None
        if args.gateway:
            client = stack.enter_context(connect(args.gateway, args))
            intent: TrainingIntent = client.issue_training_intent(owner_hex, policy)
            timestamper = partial(client.timestamp_commitment, owner)
        else:
            intent = issue_training_intent(
                owner, owner_public_key=owner_hex, policy_digest=policy.digest(), now_ms=_now_ms()
            )
        try:
            manifest = record_training(
                policy=policy,
                dataset=dataset,
                intent=intent,
                owner=owner,
                out_dir=args.out,
                timestamper=timestamper,
                timestamp_every=args.timestamp_every,
            )
        except RecordingError as exc:
            raise InputError(str(exc)) from exc
    output = output_of(args)
    output.say(f"owner     {owner_hex}")
    output.say(
        f"intent    {'self-issued (offline)' if intent.self_issued else 'gateway ' + args.gateway}"
    )
    output.say(f"steps     {policy.total_steps} in {len(manifest.checkpoints)} checkpoints")
    output.say(f"manifest  {manifest.digest()}")
    output.say(f"proof     {args.out}")
    output.set(
        owner=owner_hex,
        self_issued=intent.self_issued,
        steps=policy.total_steps,
        checkpoints=len(manifest.checkpoints),
        manifest=manifest.digest(),
        proof=str(args.out),
    )
    if args.archive:
        args.archive.write_bytes(build_archive(args.out))
        output.say(f"archive   {args.archive}")
        output.set(archive=str(args.archive))
    return EXIT_ACCEPTED


def cmd_verify(args: argparse.Namespace) -> int:
    registered = _policy(args.policy) if args.policy else None
    onnx = read_input(args.onnx, "ONNX model") if args.onnx else None
    with _proof_directory(args.proof) as proof_dir:
        report = verify_proof(
            proof_dir,
            trusted_issuers=_trusted_issuers(args),
            verifier_nonce=os.urandom(32),
            onnx=onnx,
            registered_policy=registered,
            threads=args.threads,
            minimum_replay=_replay_plan(args),
        )
    output = output_of(args)
    output.say(report.summary())
    output.set(report=report.to_json_obj(), digest=report.digest())
    if args.report:
        args.report.write_text(json.dumps(report.to_json_obj(), indent=1) + "\n")
        output.say(f"report:   {args.report} (digest {report.digest()})")
    return _exit_code(report)


def _exit_code(report: LearningReport) -> int:
    if report.accepted:
        return EXIT_ACCEPTED
    return EXIT_BAD_INPUT if report.unverifiable else EXIT_REJECTED


def cmd_dispute(args: argparse.Namespace) -> int:
    try:
        arbiter = load_private_key(args.arbiter_key)
    except KeyFileError as exc:
        raise InputError(str(exc)) from exc
    onnx = read_input(args.onnx, "ONNX model")
    trusted = _trusted_issuers(args)
    with ExitStack() as stack:
        claims = []
        for spec in args.claim:
            label, sep, path = spec.partition("=")
            if not sep or not label:
                raise InputError(f"--claim {spec!r}: write LABEL=PROOF")
            claims.append(Claim(label, stack.enter_context(_proof_directory(Path(path)))))
        try:
            verdict = resolve_dispute(
                claims,
                onnx=onnx,
                trusted_issuers=trusted,
                arbiter=arbiter,
                verifier_nonce=os.urandom(32),
                now_ms=_now_ms(),
                first_public_ms=args.first_public_ms,
                minimum_replay=_replay_plan(args),
            )
        except ValueError as exc:
            raise InputError(str(exc)) from exc
    args.out.write_text(verdict.to_json() + "\n")
    output = output_of(args)
    output.set(verdict=verdict.body, winner=verdict.winner, out=str(args.out))
    for item in verdict.body["claims"]:
        report = item["report"]
        decision = "valid" if report["accepted"] else "invalid"
        stamp = report["precedence_timestamp_ms"]
        over = report["precedence_commitment"] or "its final state"
        output.say(f"claim {item['label']}: {decision}, timestamp over {over}: {stamp}")
        for reason in report["reasons"]:
            output.say(f"    {reason}")
    output.say(f"winner:  {verdict.winner or 'none'}: {verdict.body['explanation']}")
    output.say(f"verdict: {args.out} (signed by {verdict.body['arbiter_public_key']})")
    return EXIT_ACCEPTED if verdict.winner else EXIT_REJECTED


def cmd_check_verdict(args: argparse.Namespace) -> int:
    output = output_of(args)
    try:
        verdict = Verdict.from_json(read_input(args.verdict, "verdict"))
        check_verdict(
            verdict, arbiter_public_key=args.arbiter, trusted_issuers=_trusted_issuers(args)
        )
    except VerdictError as exc:
        output.say(f"REJECTED: {exc}")
        output.set(holds=False, reason=str(exc))
        return EXIT_REJECTED
    output.say(f"verdict holds: winner {verdict.winner or 'none'}: {verdict.body['explanation']}")
    output.set(holds=True, winner=verdict.winner, explanation=verdict.body["explanation"])
    return EXIT_ACCEPTED


def _replay_plan(args: argparse.Namespace) -> ReplayPlan:
    return ReplayPlan(top_q=args.top_q, random_segments=args.random_segments)


def _add_replay_plan(parser: argparse.ArgumentParser) -> None:
    """The verifier's own minimum plan: the policy's plan is raised to it, never lowered."""
    parser.add_argument(
        "--random-segments",
        type=positive_int,
        default=MINIMUM_REPLAY.random_segments,
        metavar="N",
        help="replay at least N segments drawn from this verifier's nonce (never fewer than "
        f"{MINIMUM_REPLAY.random_segments}); more catches a partial spoof more often, see "
        "docs/proof-of-learning.md",
    )
    parser.add_argument(
        "--top-q",
        type=positive_int,
        default=MINIMUM_REPLAY.top_q,
        metavar="Q",
        help="replay at least the Q largest updates of each epoch (never fewer than "
        f"{MINIMUM_REPLAY.top_q})",
    )


def _add_trust(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trust-issuer",
        action="append",
        default=[],
        metavar="HEX",
        help="a gateway identity key (hex) whose intents and timestamps to believe; repeatable",
    )
    parser.add_argument(
        "--gateway", metavar="TARGET", help="also trust this gateway's identity key (fetched)"
    )
    add_connection_arguments(parser)


def add_pol_commands(parser: argparse.ArgumentParser) -> None:
    """The subcommands of `zkgate pol` (zkgate.pol.command registers `pol` itself)."""
    pol = parser.add_subparsers(dest="pol_command", required=True)
    _add_calibrate_command(pol)
    _add_record_command(pol)
    _add_checking_commands(pol)


def _add_calibrate_command(pol: Any) -> None:
    cal = pol.add_parser("calibrate", help="measure honest replay noise and set thresholds")
    cal.add_argument("--out", type=Path, required=True, help="policy JSON to write")
    cal.add_argument("--policy", type=Path, help="policy to calibrate (default: digits example)")
    cal.add_argument("--epochs", type=int, default=8, help="epochs of the digits example policy")
    cal.add_argument(
        "--checkpoint-interval",
        type=int,
        default=8,
        help="training steps between checkpoints of the digits example policy",
    )
    cal.add_argument(
        "--seeds",
        type=int,
        default=DEFAULT_SEEDS,
        help="honest runs whose replay noise is measured",
    )
    cal.add_argument("--threads", default="1,2", help="replay thread counts, comma-separated")
    cal.add_argument(
        "--margin",
        type=float,
        default=DEFAULT_MARGIN,
        help="thresholds are this many times the largest honest noise",
    )
    add_json_option(cal)
    cal.set_defaults(func=_guarded(cmd_calibrate))


def _add_record_command(pol: Any) -> None:
    rec = pol.add_parser("record", help="train the digits example and write its proof")
    rec.add_argument("--policy", type=Path, required=True, help="calibrated policy JSON")
    rec.add_argument("--key", type=Path, required=True, help="owner key file (created if absent)")
    rec.add_argument("--out", type=Path, required=True, help="proof directory to write")
    rec.add_argument("--archive", type=Path, help="also pack the proof into this zip")
    rec.add_argument(
        "--gateway", metavar="TARGET", help="take the intent and timestamps from this gateway"
    )
    rec.add_argument("--timestamp-every", type=int, default=8, help="checkpoints per timestamp")
    add_connection_arguments(rec)
    add_json_option(rec)
    rec.set_defaults(func=_guarded(cmd_record))


def _add_checking_commands(pol: Any) -> None:
    """verify, dispute and check-verdict."""
    ver = pol.add_parser("verify", help="verify a proof (directory or archive)")
    ver.add_argument("proof", type=Path, help="the proof directory or its archive (zip)")
    ver.add_argument("--onnx", type=Path, help="the served model the proof must be about")
    ver.add_argument("--policy", type=Path, help="the registered policy (default: the intent's)")
    ver.add_argument("--threads", type=int, help="replay thread count (default: the policy's)")
    ver.add_argument("--report", type=Path, help="write the full report here")
    _add_replay_plan(ver)
    _add_trust(ver)
    add_json_option(ver)
    ver.set_defaults(func=_guarded(cmd_verify))

    dis = pol.add_parser("dispute", help="decide which proof for one model came first")
    dis.add_argument("--onnx", type=Path, required=True, help="the disputed model")
    dis.add_argument(
        "--claim",
        action="append",
        required=True,
        metavar="LABEL=PROOF",
        help="a claimant's label and proof (directory or archive); repeat for each claimant",
    )
    dis.add_argument("--arbiter-key", type=Path, required=True, help="key that signs the verdict")
    dis.add_argument("--out", type=Path, required=True, help="verdict JSON to write")
    dis.add_argument(
        "--first-public-ms",
        type=int,
        help="when the model first became public (its registration): evidence older than this "
        "outranks a claim without timestamps",
    )
    _add_replay_plan(dis)
    _add_trust(dis)
    add_json_option(dis)
    dis.set_defaults(func=_guarded(cmd_dispute))

    chk = pol.add_parser("check-verdict", help="check a verdict's signature and evidence")
    chk.add_argument("verdict", type=Path, help="the verdict JSON `zkgate pol dispute` wrote")
    chk.add_argument("--arbiter", required=True, metavar="HEX", help="the arbiter's public key")
    _add_trust(chk)
    add_json_option(chk)
    chk.set_defaults(func=_guarded(cmd_check_verdict))


def _guarded(command: Any) -> Any:
    """Turns input errors into one line on stderr and exit code 2, as `zkgate verify` does."""

    def run(args: argparse.Namespace) -> int:
        try:
            result: int = command(args)
        except (InputError, AttestationError) as exc:
            output_of(args).error(f"error: {exc}")
            return EXIT_BAD_INPUT
        return result

    return run
