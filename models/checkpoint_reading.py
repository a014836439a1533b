"""Opening checkpoint files: the header alone (cheap), every tensor (verified), or the generator.

Nothing here unpickles: safetensors stores raw bytes plus a JSON header.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import safe_open
from torch import nn

from models.architectures import build_generator
from models.checkpoint_header import (
    CheckpointError,
    CheckpointInfo,
    info_from_metadata,
    section,
    tensors_sha256,
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
    info = info_from_metadata(path, metadata, names)
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
            info = info_from_metadata(path, metadata, names)
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
