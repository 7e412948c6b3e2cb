"""Turning whatever a command raises into one line on stderr and an exit code: a rejection is
1, unreadable input 2, and a defect in zkgate is named as one (with its traceback only on
request)."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable

import grpc

from zkgate.client.cli.exit_codes import (
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    EXIT_REJECTED,
    InputError,
)
from zkgate.client.proof_jobs import ProofJobFailed
from zkgate.client.protocols.learning.calls import LearningReportMismatch
from zkgate.core.attestations import AttestationError
from zkgate.core.documents import quote
from zkgate.core.reasoned_error import ReasonedError

# Set to 1 for the traceback of an unexpected error, which the command otherwise reports in one
# line.
DEBUG_ENVIRONMENT_VARIABLE = "ZKGATE_DEBUG"


def _to_stderr(text: str) -> None:
    print(text, file=sys.stderr)  # sys.stderr as it is now: a test may have replaced it


def run_guarded(
    command: Callable[[], int], name: str, report: Callable[[str], None] = _to_stderr
) -> int:
    """Runs a command, turning whatever it raises into one line for `report` (stderr; the
    command's output, which also puts it in the --json document) and an exit code."""
    try:
        return command()
    except KeyboardInterrupt:
        report(f"{name}: interrupted")
        return EXIT_INTERRUPTED
    except grpc.RpcError as exc:
        report(f"{name}: the gateway answered {exc.code().name}: {exc.details()}")
        return EXIT_REJECTED
    except ReasonedError as exc:
        report(f"{name}: REJECTED ({exc.reason}): {exc.detail}")
        return EXIT_REJECTED
    except (AttestationError, ProofJobFailed, LearningReportMismatch) as exc:
        report(f"{name}: {exc}")
        return EXIT_REJECTED
    except Exception as exc:
        report(f"{name}: {_describe(exc)}")
        if os.environ.get(DEBUG_ENVIRONMENT_VARIABLE) == "1":
            traceback.print_exc()
        return EXIT_BAD_INPUT


def _describe(exc: Exception) -> str:
    """zkgate's format errors are ValueError subclasses whose message is written for the user,
    as are file errors; anything else is a defect, named as one."""
    if isinstance(exc, InputError) or (
        isinstance(exc, ValueError) and type(exc).__module__.startswith("zkgate.")
    ):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")
    return (
        f"unexpected {type(exc).__name__}: {quote(str(exc), 200)} (a zkgate bug: set "
        f"{DEBUG_ENVIRONMENT_VARIABLE}=1 for the traceback and report it)"
    )
