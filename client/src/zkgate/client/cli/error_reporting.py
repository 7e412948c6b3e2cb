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


def run_guarded(command: Callable[[], int], name: str) -> int:
    """Runs a command, turning whatever it raises into one line on stderr and an exit code."""
    try:
        return command()
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except grpc.RpcError as exc:
        print(f"{name}: the gateway answered {exc.code().name}: {exc.details()}", file=sys.stderr)
        return EXIT_REJECTED
    except ReasonedError as exc:
        print(f"{name}: REJECTED ({exc.reason}): {exc.detail}", file=sys.stderr)
        return EXIT_REJECTED
    except (AttestationError, ProofJobFailed, LearningReportMismatch) as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    except Exception as exc:
        print(f"{name}: {_describe(exc)}", file=sys.stderr)
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
