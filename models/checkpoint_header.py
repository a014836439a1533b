"""What a checkpoint file says about itself: the format tag, the header, the content hash and
how its tensor names are grouped (``generator.``, ``generator_ema.``, ...).

Files are opened in ``models.checkpoint_reading`` and made in ``models.checkpoint``; both describe a
file with :class:`CheckpointInfo` and check it with :func:`tensors_sha256`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from models.architectures import ModelConfig, model_config_from_dict, model_config_to_dict

FORMAT_TAG = "ganserve-checkpoint/1"
METADATA_KEY = "ganserve"
KIND_TRAINING = "training"
KIND_GENERATOR = "generator"


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, tampered with or not one of ours."""


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint says about itself (read from its header, without the weights)."""

    path: Path
    kind: str
    step: int
    model_config: ModelConfig
    train_config: dict[str, Any]
    metrics: dict[str, Any]
    content_sha256: str
    tensor_names: tuple[str, ...] = field(repr=False, default=())
    # The training data's class names in label order, so a model keeps them wherever the file
    # goes (None: unlabelled data, or a file written before names were stored).
    class_names: tuple[str, ...] | None = None
    # When the state was trained (Unix seconds); None for files written before it was stored,
    # whose time is in their run's metrics log (``models.training.run_files.trained_at``).
    trained_at: float | None = None

    @property
    def has_ema(self) -> bool:
        """Whether the file holds an EMA generator (``generator_ema.`` tensors), served by default."""
        return any(name.startswith("generator_ema.") for name in self.tensor_names)

    def to_dict(self) -> dict[str, Any]:
        """The header as a JSON-safe dict, plus ``has_ema`` and the file's size in bytes."""
        return {
            "path": str(self.path),
            "kind": self.kind,
            "step": self.step,
            "model_config": model_config_to_dict(self.model_config),
            "train_config": self.train_config,
            "metrics": self.metrics,
            "content_sha256": self.content_sha256,
            "class_names": None if self.class_names is None else list(self.class_names),
            "trained_at": self.trained_at,
            "has_ema": self.has_ema,
            "size_bytes": self.path.stat().st_size if self.path.exists() else None,
        }


def tensors_sha256(tensors: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over names, dtypes, shapes and raw bytes of ``tensors`` in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def info_from_metadata(path: Path, metadata: Mapping[str, str], names: tuple[str, ...]) -> CheckpointInfo:
    """Parse and check the header safetensors stored under ``METADATA_KEY``.

    Raises:
        CheckpointError: naming ``path``, if the header is missing, not ours or invalid.
    """
    try:
        header = json.loads(metadata.get(METADATA_KEY, "null"))
    except ValueError as error:
        raise CheckpointError(f"{path}: checkpoint metadata is not valid JSON") from error
    if not isinstance(header, dict) or header.get("format") != FORMAT_TAG:
        raise CheckpointError(f"{path}: not a ganserve checkpoint (format tag missing or wrong)")
    try:
        kind = str(header["kind"])
        step = int(header["step"])
        model_config = model_config_from_dict(header["model_config"])
        train_config = header["train_config"]
        metrics = header["metrics"]
        content_hash = str(header["content_sha256"])
        class_names = _class_names(header.get("class_names"))
        trained_at = None if header.get("trained_at") is None else float(header["trained_at"])
    except (KeyError, ValueError, TypeError) as error:
        raise CheckpointError(f"{path}: checkpoint metadata is invalid ({error})") from error
    if kind not in (KIND_TRAINING, KIND_GENERATOR):
        raise CheckpointError(f"{path}: unknown checkpoint kind {kind!r}")
    if not isinstance(train_config, dict) or not isinstance(metrics, dict):
        raise CheckpointError(f"{path}: checkpoint metadata is invalid (configs must be objects)")
    return CheckpointInfo(
        path, kind, step, model_config, train_config, metrics, content_hash, names, class_names, trained_at
    )


def _class_names(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ValueError("class_names must be a list of strings")
    return tuple(value)


def section(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors under ``prefix.`` with the prefix stripped (a module's state dict)."""
    start = prefix + "."
    return {name[len(start) :]: t for name, t in tensors.items() if name.startswith(start)}


def with_prefix(prefix: str, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Prefix every name in ``state`` with ``prefix.``."""
    return {f"{prefix}.{name}": t for name, t in state.items()}
