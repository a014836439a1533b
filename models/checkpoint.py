"""Checkpoint files: safetensors weights with their own JSON description, written atomically.

One file holds everything needed to rebuild and verify a model:

* tensors, grouped by prefix (``generator.``, ``generator_ema.``, ``discriminator.``,
  ``optimizer_g.``, ``optimizer_d.``, ``rng.``); a generator-only export keeps just the first two;
* safetensors string metadata: the format tag, the model config, the training config, the step,
  metrics and a SHA-256 over the tensor contents, so tampering with weights is detected on load.

Nothing here unpickles: safetensors stores raw bytes plus a JSON header.

This module writes files (``save_checkpoint``, ``export_generator``) and is where callers import
every checkpoint name from; what a file says about itself is ``models.checkpoint_header``, and
opening one is ``models.checkpoint_reading``. (``worker.jobs.describe_error`` recognises a
failed write by ``save_checkpoint``'s frame in a file named ``checkpoint.py``: keep it here.)
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from common.fs import atomic_path
from models.architectures import ModelConfig, model_config_to_dict
from models.checkpoint_header import (
    FORMAT_TAG,
    KIND_GENERATOR,
    KIND_TRAINING,
    METADATA_KEY,
    CheckpointError,
    CheckpointInfo,
    section,
    tensors_sha256,
    with_prefix,
)
from models.checkpoint_reading import load_checkpoint, load_generator, read_checkpoint_info

__all__ = [
    "FORMAT_TAG",
    "KIND_GENERATOR",
    "KIND_TRAINING",
    "METADATA_KEY",
    "CheckpointError",
    "CheckpointInfo",
    "export_generator",
    "load_checkpoint",
    "load_generator",
    "read_checkpoint_info",
    "save_checkpoint",
    "section",
    "tensors_sha256",
    "with_prefix",
]

# How safetensors' own error names the OS error under it (Rust's io::Error, debug or display).
_OS_ERROR_CODE = re.compile(r"(?:code: |os error )([0-9]+)")


def save_checkpoint(
    path: str | Path,
    tensors: Mapping[str, torch.Tensor],
    *,
    kind: str,
    step: int,
    model_config: ModelConfig,
    train_config: Mapping[str, Any],
    metrics: Mapping[str, Any] | None = None,
    class_names: Sequence[str] | None = None,
    trained_at: float | None = None,
) -> CheckpointInfo:
    """Write a checkpoint atomically: a crash leaves either the old file or the new one.

    Args:
        path: destination ``.safetensors`` file; its folder must exist.
        tensors: name -> tensor (any device; stored on the CPU).
        kind: ``"training"`` (full state for resuming) or ``"generator"`` (serving only).
        step: training step the state belongs to.
        model_config: the architecture config that rebuilds the networks.
        train_config: the training config as a JSON-safe dict.
        metrics: JSON-safe figures to keep with the weights.
        class_names: the training data's class names in label order (None: unlabelled).
        trained_at: when the state was trained (Unix seconds; default now). A copy keeps its
            source's. It is the one header field two runs of the same spec differ in.

    Returns:
        The :class:`CheckpointInfo` of the written file.

    Raises:
        OSError: the file could not be written (disk full, read-only); any earlier file at
            ``path`` is left untouched.
    """
    path = Path(path)
    # Copies: safetensors refuses tensors that share storage (e.g. an EMA built from weights).
    cpu_tensors = {name: t.detach().cpu().clone() for name, t in tensors.items()}
    content_hash = tensors_sha256(cpu_tensors)
    written_at = time.time() if trained_at is None else float(trained_at)
    header = {
        "format": FORMAT_TAG,
        "kind": kind,
        "step": step,
        "model_config": model_config_to_dict(model_config),
        "train_config": dict(train_config),
        "metrics": dict(metrics or {}),
        "content_sha256": content_hash,
        "trained_at": written_at,
    }
    if class_names is not None:
        # Absent rather than null when unknown, so files without names keep their old bytes.
        header["class_names"] = list(class_names)
    # One metadata entry: safetensors writes its metadata map in no fixed order, and the same
    # run must give the same bytes.
    metadata = {METADATA_KEY: json.dumps(header, sort_keys=True)}
    # safetensors creates the file private; the API may run as another user than the worker.
    with atomic_path(path, mode=0o644) as temporary:
        try:
            save_file(cpu_tensors, str(temporary), metadata=metadata)
        except OSError:
            raise
        except Exception as error:  # safetensors reports I/O failures as its own error type
            failure = OSError(f"could not write {path.name}: {error}")
            # Keep the errno it names, so that callers can tell a full disk from other failures.
            code = _OS_ERROR_CODE.search(str(error))
            failure.errno = int(code.group(1)) if code else None
            raise failure from error
    return CheckpointInfo(
        path=path,
        kind=kind,
        step=step,
        model_config=model_config,
        train_config=dict(train_config),
        metrics=dict(metrics or {}),
        content_sha256=content_hash,
        tensor_names=tuple(sorted(cpu_tensors)),
        class_names=None if class_names is None else tuple(class_names),
        trained_at=written_at,
    )


def export_generator(source: str | Path, destination: str | Path) -> CheckpointInfo:
    """Write a serving-only copy of a checkpoint: the EMA generator if it has one, else the raw one.

    The copy is a fraction of a training checkpoint (no discriminator, optimizer or RNG state),
    small enough to ship in a repository.
    """
    info, tensors = load_checkpoint(source)
    prefix = "generator_ema." if info.has_ema else "generator."
    kept = {name: t for name, t in tensors.items() if name.startswith(prefix)}
    return save_checkpoint(
        destination,
        kept,
        kind=KIND_GENERATOR,
        step=info.step,
        model_config=info.model_config,
        train_config=info.train_config,
        metrics=info.metrics,
        class_names=info.class_names,
        trained_at=info.trained_at,
    )
