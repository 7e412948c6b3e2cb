"""Errors that carry a machine-readable reason next to the text a person reads."""

from __future__ import annotations

from enum import StrEnum


class ReasonedError(Exception):
    """A rejection callers can branch on (`reason`) and print (`detail`)."""

    def __init__(self, reason: StrEnum, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"
