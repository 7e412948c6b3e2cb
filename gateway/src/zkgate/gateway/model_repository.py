"""A model repository: models declared as folders, registered by the gateway at start and on
`zkgate models sync`.

    DIR/
      digits/               the folder's name is the model's
        model.onnx          exactly one .onnx file
        calibration.npy     float32 samples stacked on axis 0 (calibration.npz for several
                            inputs: one array per input name)
        model.toml          optional: how to register it (FolderConfig)

A sync registers each folder as it is now. Registration is idempotent by content: the catalogue
refuses a registration whose ONNX, calibration, policy and settings equal a live version's
(ModelExists), and the sync reports that folder unchanged; a folder whose content changed
becomes a new version. A version that failed to register is not retried until its folder
changes (or it is removed), so a bad model does not rebuild at every start. Models without a
folder are left alone: removing a model is `zkgate models remove`, never a missing folder.

A bad folder (no ONNX, an unreadable config) is reported with what to fix, and the others are
synced all the same.

The config is TOML, read with the standard library's tomllib (Python 3.11+): a format made for
small hand-written files, with types (a batch size is an integer, not the string "8"), and no
dependency to add.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path

from zkgate.core.documents import quote
from zkgate.core.fidelity_target import (
    FidelityTargetError,
    parse_fidelity_target,
    parse_tuning_effort,
)
from zkgate.gateway.access_control import ANONYMOUS, PermissionDenied, Tenant
from zkgate.gateway.errors import InvalidRequest
from zkgate.gateway.service import GatewayService, Registration
from zkgate.prover.queue.catalog import ModelExists, ProofPolicy
from zkgate.prover.queue.jobs import QueueFull

CONFIG_FILE = "model.toml"
# One of these: .npy for a model of one input, .npz for several (see core/npz_arrays.py).
CALIBRATION_FILES = ("calibration.npy", "calibration.npz")


class RepositoryError(ValueError):
    """A folder that cannot be registered as it is; the message says what to change."""


@dataclass(frozen=True)
class FolderConfig:
    """model.toml; every key optional, each meaning what the same `zkgate models add` option
    means. Unset (empty, 0), the gateway's defaults apply."""

    policy: str = ""
    batch_size: int = 0
    fidelity: str = ""
    tuning: str = ""
    max_logrows: int = 0
    param_visibility: str = ""
    srs_path: str = ""
    srs_sha256: str = ""


@dataclass(frozen=True)
class ModelFolder:
    name: str
    onnx: bytes
    calibration: bytes
    config: FolderConfig


class SyncAction(StrEnum):
    REGISTERED = "registered"
    UNCHANGED = "unchanged"
    ERROR = "error"


@dataclass(frozen=True)
class SyncEntry:
    name: str
    action: SyncAction
    version: int = 0
    job_id: str = ""
    error: str = ""


def read_config(path: Path) -> FolderConfig:
    """The folder's config; RepositoryError for unknown keys, wrong types or bad values."""
    if not path.exists():
        return FolderConfig()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RepositoryError(f"{path} is not valid TOML: {exc}") from None
    known = {f.name: f for f in fields(FolderConfig)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise RepositoryError(
            f"{path}: unknown key(s) {', '.join(map(quote, unknown))}; "
            f"the keys are {', '.join(known)}"
        )
    for key, value in raw.items():
        want = int if known[key].type == "int" else str
        # bool is an int to Python, not to a reader of the file.
        if not isinstance(value, want) or isinstance(value, bool):
            raise RepositoryError(
                f"{path}: {key} must be {'an integer' if want is int else 'a string'}, "
                f"got {quote(value)}"
            )
        if isinstance(value, int) and value < 0:
            raise RepositoryError(f"{path}: {key} must not be negative, got {value}")
    config = FolderConfig(**raw)
    _check_values(path, config)
    return config


def _check_values(path: Path, config: FolderConfig) -> None:
    """The values a registration would refuse, refused here with the file's name."""
    if config.policy and config.policy not in {p.value for p in ProofPolicy}:
        raise RepositoryError(
            f"{path}: policy must be one of {', '.join(p.value for p in ProofPolicy)}, "
            f"got {quote(config.policy)}"
        )
    try:
        parse_fidelity_target(config.fidelity)
        parse_tuning_effort(config.tuning)
    except FidelityTargetError as exc:
        raise RepositoryError(f"{path}: {exc}") from None


def read_folder(folder: Path, config: Path | None = None) -> ModelFolder:
    """config: the file to read instead of the folder's own model.toml."""
    onnx = sorted(folder.glob("*.onnx"))
    if len(onnx) != 1:
        found = "none" if not onnx else ", ".join(p.name for p in onnx)
        raise RepositoryError(f"{folder} must hold exactly one .onnx file (found {found})")
    calibrations = [folder / name for name in CALIBRATION_FILES if (folder / name).is_file()]
    if len(calibrations) != 1:
        raise RepositoryError(
            f"{folder} must hold one of {' or '.join(CALIBRATION_FILES)} (found "
            f"{len(calibrations)}): samples stacked on axis 0, an .npz of one array per input "
            "for a model of several inputs"
        )
    return ModelFolder(
        name=folder.name,
        onnx=onnx[0].read_bytes(),
        calibration=calibrations[0].read_bytes(),
        config=read_config(config or folder / CONFIG_FILE),
    )


class ModelRepository:
    def __init__(
        self,
        root: Path,
        service: GatewayService,
        *,
        refresh: Callable[[], None] | None = None,
        configs: Path | None = None,
    ) -> None:
        """refresh: brings root up to date before each sync (a mirror of an object-store
        prefix, model_repository_source.py). configs: a directory of NAME.toml files, each of
        which replaces folder NAME's model.toml (how the Helm chart declares configs in its
        values)."""
        self.root = root
        self._service = service
        self._refresh = refresh
        self._configs = configs

    def sync(self, tenant: Tenant = ANONYMOUS) -> list[SyncEntry]:
        """One entry per folder (hidden ones skipped), by name. Only an admin may sync: it
        registers models that serve everyone."""
        if not tenant.admin:
            raise PermissionDenied(
                f"tenant {tenant.name!r} may not sync the model repository: that takes an admin key"
            )
        if self._refresh is not None:
            self._refresh()
        if not self.root.is_dir():
            raise RepositoryError(f"the model repository {self.root} is not a directory")
        folders = sorted(
            p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")
        )
        return [self._sync_folder(folder, tenant) for folder in folders]

    def _sync_folder(self, folder: Path, tenant: Tenant) -> SyncEntry:
        override = None if self._configs is None else self._configs / f"{folder.name}.toml"
        try:
            model = read_folder(folder, override if override and override.is_file() else None)
            registration = self._register(model, tenant)
        except ModelExists as exc:
            return SyncEntry(folder.name, SyncAction.UNCHANGED, version=exc.version)
        except (RepositoryError, InvalidRequest, ValueError, QueueFull) as exc:
            return SyncEntry(folder.name, SyncAction.ERROR, error=str(exc))
        return SyncEntry(
            folder.name,
            SyncAction.REGISTERED,
            version=registration.model.version,
            job_id=registration.job.id,
        )

    def _register(self, model: ModelFolder, tenant: Tenant) -> Registration:
        config = model.config
        return self._service.register_model(
            model.name,
            onnx=model.onnx,
            calibration=model.calibration,
            policy=ProofPolicy(config.policy) if config.policy else None,
            max_logrows=config.max_logrows or None,
            param_visibility=config.param_visibility,
            srs_path=config.srs_path,
            srs_sha256=config.srs_sha256,
            tenant=tenant,
            batch_size=config.batch_size,
            fidelity=config.fidelity,
            tuning=config.tuning,
            retry_failed=False,
        )
