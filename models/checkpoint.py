"""Checkpoint files: safetensors weights with their own JSON description, written atomically.

One file holds everything needed to rebuild and verify a model:

* tensors, grouped by prefix (``generator.``, ``generator_ema.``, ``discriminator.``,
  ``optimizer_g.``, ``optimizer_d.``, ``rng.``); a generator-only export keeps just the first two;
* safetensors string metadata: the format tag, the model config, the training config, the step,
  metrics and a SHA-256 over the tensor contents, so tampering with weights is detected on load.

Nothing here unpickles: safetensors stores raw bytes plus a JSON header.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from common.fs import atomic_path
from models.architectures import (
    ModelConfig,
    build_generator,
    model_config_from_dict,
    model_config_to_dict,
)

FORMAT_TAG = "ganserve-checkpoint/1"
METADATA_KEY = "ganserve"
# How safetensors' own error names the OS error under it (Rust's io::Error, debug or display).
_OS_ERROR_CODE = re.compile(r"(?:code: |os error )([0-9]+)")
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


def save_checkpoint(
    path: str | Path,
    tensors: Mapping[str, torch.Tensor],
    *,
    kind: str,
    step: int,
    model_config: ModelConfig,
    train_config: Mapping[str, Any],
    metrics: Mapping[str, Any] | None = None,
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
    header = {
        "format": FORMAT_TAG,
        "kind": kind,
        "step": step,
        "model_config": model_config_to_dict(model_config),
        "train_config": dict(train_config),
        "metrics": dict(metrics or {}),
        "content_sha256": content_hash,
    }
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
    )


def read_checkpoint_info(path: str | Path) -> CheckpointInfo:
    """Read a checkpoint's header (cheap: no weights are loaded or verified).

    The safetensors header also gives every tensor's shape, so a file whose generator could not
    be built from its own recorded config is reported here, before anyone samples from it.

    Raises:
        CheckpointError: naming the file, if it is missing, not safetensors, not ours, or its
            generator's shapes do not fit its recorded config.
    """
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            names = tuple(sorted(handle.keys()))
            shapes = {
                name: tuple(handle.get_slice(name).get_shape())
                for name in names
                if name.startswith(("generator.", "generator_ema."))
            }
    except FileNotFoundError as error:
        raise CheckpointError(f"{path}: checkpoint not found") from error
    except Exception as error:  # safetensors raises its own error types for bad headers
        raise CheckpointError(f"{path}: not a readable safetensors file ({error})") from error
    info = _info_from_metadata(path, metadata, names)
    _check_generator_shapes(info, shapes)
    return info


def _check_generator_shapes(info: CheckpointInfo, shapes: Mapping[str, tuple[int, ...]]) -> None:
    # Built on the meta device: shapes only, no memory and no arithmetic.
    with torch.device("meta"):
        expected = {
            name: tuple(t.shape) for name, t in build_generator(info.model_config).state_dict().items()
        }
    for prefix in ("generator.", "generator_ema."):
        found = {name[len(prefix) :]: shape for name, shape in shapes.items() if name.startswith(prefix)}
        if found and found != expected:
            wrong = sorted(set(found) ^ set(expected)) or sorted(k for k in found if found[k] != expected[k])
            raise CheckpointError(
                f"{info.path}: weights do not match the recorded config ({prefix}{wrong[0]} and "
                f"{len(wrong) - 1} more)"
            )


def _info_from_metadata(path: Path, metadata: Mapping[str, str], names: tuple[str, ...]) -> CheckpointInfo:
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
    except (KeyError, ValueError, TypeError) as error:
        raise CheckpointError(f"{path}: checkpoint metadata is invalid ({error})") from error
    if kind not in (KIND_TRAINING, KIND_GENERATOR):
        raise CheckpointError(f"{path}: unknown checkpoint kind {kind!r}")
    if not isinstance(train_config, dict) or not isinstance(metrics, dict):
        raise CheckpointError(f"{path}: checkpoint metadata is invalid (configs must be objects)")
    return CheckpointInfo(path, kind, step, model_config, train_config, metrics, content_hash, names)


def load_checkpoint(
    path: str | Path, *, verify: bool = True
) -> tuple[CheckpointInfo, dict[str, torch.Tensor]]:
    """Load a checkpoint's header and all its tensors (on the CPU).

    Args:
        path: the ``.safetensors`` file.
        verify: recompute the content hash and compare it with the recorded one.

    Raises:
        CheckpointError: naming the file, if it is corrupt, truncated or tampered with.
    """
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            names = tuple(sorted(handle.keys()))
            info = _info_from_metadata(path, metadata, names)
            tensors = {name: handle.get_tensor(name) for name in names}
    except CheckpointError:
        raise
    except FileNotFoundError as error:
        raise CheckpointError(f"{path}: checkpoint not found") from error
    except Exception as error:
        raise CheckpointError(f"{path}: not a readable safetensors file ({error})") from error
    if verify and tensors_sha256(tensors) != info.content_sha256:
        raise CheckpointError(f"{path}: content hash mismatch (file corrupt or tampered with)")
    return info, tensors


def section(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors under ``prefix.`` with the prefix stripped (a module's state dict)."""
    start = prefix + "."
    return {name[len(start) :]: t for name, t in tensors.items() if name.startswith(start)}


def with_prefix(prefix: str, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Prefix every name in ``state`` with ``prefix.``."""
    return {f"{prefix}.{name}": t for name, t in state.items()}


def load_generator(
    path: str | Path,
    *,
    device: str | torch.device = "cpu",
    prefer_ema: bool = True,
) -> tuple[nn.Module, CheckpointInfo]:
    """Rebuild the generator stored in a checkpoint, in eval mode, as torch builds it.

    Sampling surfaces load through ``models.inference.prepare_for_serving``, which adds the
    serving kernels and probes the pass sizes.

    Args:
        path: the checkpoint file.
        device: where to put the generator.
        prefer_ema: use the exponential-moving-average weights when the file has them.

    Returns:
        ``(generator, info)``.

    Raises:
        CheckpointError: if the file is bad or its weights do not fit its own config.
    """
    info, tensors = load_checkpoint(path)
    prefix = "generator_ema" if prefer_ema and info.has_ema else "generator"
    # An exported file may hold only the EMA weights; use them rather than fail.
    state = section(tensors, prefix) or section(tensors, "generator_ema")
    if not state:
        raise CheckpointError(f"{info.path}: checkpoint holds no generator weights")
    generator = build_generator(info.model_config)
    try:
        generator.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"{info.path}: weights do not match the recorded config") from error
    generator.to(device).eval()
    return generator, info


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
    )
