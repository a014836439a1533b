"""What the model registry knows: model folders, their checkpoints, and loaded generators."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from common.names import parse_model_ref as parse_name_ref
from models.checkpoint import CheckpointInfo

FileKey = tuple[Path, int, int]  # (path, mtime_ns, size): changes whenever the file is replaced


class InvalidModelRef(ValueError):
    """A ``model`` parameter that is neither ``name`` nor ``name@step``."""


class UnknownModel(LookupError):
    """No model (or no such checkpoint of a model) by that name."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ModelUnavailable(RuntimeError):
    """The model exists but none of the requested checkpoints can be loaded."""


@dataclass(frozen=True)
class CheckpointEntry:
    """One checkpoint file as the scan saw it."""

    step: int
    path: Path
    file_key: FileKey
    info: CheckpointInfo | None
    error: str | None

    @property
    def trained_at(self) -> float:
        """When this checkpoint was trained, or its file's modification time if unknown."""
        if self.info is not None and self.info.trained_at is not None:
            return self.info.trained_at
        return self.file_key[1] / 1e9


@dataclass(frozen=True)
class ModelEntry:
    """One model folder and its checkpoints, oldest first."""

    name: str
    source: str  # "trained" | "pretrained"
    directory: Path
    checkpoints: tuple[CheckpointEntry, ...]

    @property
    def latest(self) -> CheckpointEntry:
        """The newest checkpoint (the one ``name`` serves when it loads)."""
        return self.checkpoints[-1]

    def checkpoint(self, step: int) -> CheckpointEntry | None:
        """The checkpoint at ``step``, if the model has one."""
        return next((c for c in self.checkpoints if c.step == step), None)

    @property
    def error(self) -> str | None:
        """Why the newest checkpoint cannot be served, if it cannot."""
        return self.latest.error

    @property
    def created_at(self) -> float:
        """When the oldest checkpoint was trained (its file's time where nothing says, so a
        copied or cloned model keeps the day it was trained, not the day it was copied)."""
        return min(c.trained_at for c in self.checkpoints)


@dataclass(frozen=True)
class LoadedModel:
    """A generator ready for sampling, with what it was loaded from."""

    name: str
    step: int
    pinned: bool
    info: CheckpointInfo
    generator: nn.Module
    parameter_bytes: int

    @property
    def ref(self) -> str:
        """``name@step``: the exact checkpoint this is."""
        return f"{self.name}@{self.step}"


def parse_model_ref(ref: str) -> tuple[str, int | None]:
    """Split ``name`` or ``name@step``; raises :class:`InvalidModelRef` on anything else."""
    parsed = parse_name_ref(ref)
    if parsed is None:
        raise InvalidModelRef(f"invalid model {ref!r}; expected a model name or name@step")
    return parsed
