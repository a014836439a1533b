"""Seeded sampling: seeds to latent vectors, interpolation, and images out of a generator.

The contract the service exposes is fixed here:

* a seed ``s`` (``0 <= s < 2**63``) maps to exactly one latent vector, drawn from a CPU
  ``torch.Generator`` seeded with ``s``, so the vector is the same on every device and does not
  depend on which other seeds share its batch;
* tile ``i`` of a grid with base seed ``s`` is the image of seed ``s + i``;
* truncation ``psi`` re-draws (from the same per-seed stream) every component with ``|z| > psi``;
* interpolation frames include both ends, so frame 0 is the start seed's image and the last frame
  is the end seed's image, exactly.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from PIL import Image
from torch import nn

from models.pass_sizes import pass_sizes, run_padded

MAX_SEED = 2**63 - 1
MIN_TRUNCATION = 0.05
# A truncated normal with psi >= 0.05 keeps ~4% of draws; 200 rounds leave a component
# unresolved with probability ~0.96**200 ≈ 3e-4, and those are clamped (deterministically).
_TRUNCATION_ROUNDS = 200

InterpolationMode = Literal["slerp", "lerp"]


def check_seed(seed: int) -> int:
    """Return ``seed`` if it is a valid sampling seed, else raise ``ValueError``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be an integer in 0..{MAX_SEED}, got {seed!r}")
    return seed


def check_truncation(truncation: float | None) -> float | None:
    """Validate a truncation value (``None`` means no truncation)."""
    if truncation is None:
        return None
    if not math.isfinite(truncation) or truncation < MIN_TRUNCATION:
        raise ValueError(f"truncation must be a finite number >= {MIN_TRUNCATION}, got {truncation}")
    return float(truncation)


def latent_for_seed(seed: int, latent_dim: int, truncation: float | None = None) -> torch.Tensor:
    """The latent vector of one seed.

    Args:
        seed: integer in ``0..2**63-1``.
        latent_dim: length of the vector.
        truncation: optional ``psi``; components with ``|z| > psi`` are re-drawn.

    Returns:
        A float32 CPU tensor of shape ``(latent_dim,)``.
    """
    check_seed(seed)
    truncation = check_truncation(truncation)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    z = torch.randn(latent_dim, generator=generator)
    if truncation is not None:
        # A psi beyond float32's range bounds nothing, and torch refuses to compare a float32
        # tensor with it (RuntimeError: overflow); the largest float32 is the same no-op bound.
        truncation = min(truncation, torch.finfo(z.dtype).max)
        for _ in range(_TRUNCATION_ROUNDS):
            outside = z.abs() > truncation
            if not outside.any():
                break
            # Draw a full vector each round so the stream consumed does not depend on how many
            # components happened to be outside: the result stays a pure function of the seed.
            redraw = torch.randn(latent_dim, generator=generator)
            z = torch.where(outside, redraw, z)
        z = z.clamp(-truncation, truncation)
    return z


def latents_for_seeds(seeds: Sequence[int], latent_dim: int, truncation: float | None = None) -> torch.Tensor:
    """Stack the latent vectors of ``seeds`` into a ``(len(seeds), latent_dim)`` tensor."""
    if len(seeds) == 0:
        raise ValueError("at least one seed is required")
    if truncation is not None:
        return torch.stack([latent_for_seed(s, latent_dim, truncation) for s in seeds])
    # The draws of latent_for_seed, made cheaper (this runs for every image served): one
    # generator, re-seeded per row (manual_seed resets all of its state, so each row is the
    # fresh generator's draw), and every row drawn straight into the result, with no tensor
    # per seed and no stack. torch's normal draw depends on the number of values and on
    # contiguity, not on the shape, so a row of the result gets the same values as a vector.
    generator = torch.Generator(device="cpu")
    if len(seeds) == 1:
        generator.manual_seed(check_seed(seeds[0]))
        return torch.randn(1, latent_dim, generator=generator)
    latents = torch.empty(len(seeds), latent_dim)
    for row, seed in enumerate(seeds):
        generator.manual_seed(check_seed(seed))
        torch.randn(latent_dim, generator=generator, out=latents[row])
    return latents


def grid_seeds(seed: int, count: int) -> list[int]:
    """Seeds of a grid: tile ``i`` is seed ``seed + i``; the whole range must be valid."""
    check_seed(seed)
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if seed + count - 1 > MAX_SEED:
        raise ValueError(f"seed + count - 1 must not exceed {MAX_SEED}")
    return list(range(seed, seed + count))


def interpolate_latents(
    start: torch.Tensor, end: torch.Tensor, steps: int, mode: InterpolationMode = "slerp"
) -> torch.Tensor:
    """Frames between two latent vectors, both ends included.

    Args:
        start, end: vectors of the same shape ``(latent_dim,)``.
        steps: number of frames, at least 2.
        mode: ``"slerp"`` (spherical, the default: Gaussian latents live near a sphere, so a
            straight line would pass through improbably short vectors) or ``"lerp"``.

    Returns:
        ``(steps, latent_dim)``; row 0 equals ``start`` and the last row equals ``end`` exactly.
    """
    if start.shape != end.shape or start.dim() != 1:
        raise ValueError("start and end must be vectors of the same length")
    if steps < 2:
        raise ValueError(f"steps must be at least 2, got {steps}")
    if mode not in ("slerp", "lerp"):
        raise ValueError(f"unknown interpolation mode {mode!r}; expected slerp or lerp")
    a, b = start.double(), end.double()
    t = torch.linspace(0.0, 1.0, steps, dtype=torch.float64).unsqueeze(1)
    frames = a + t * (b - a)
    if mode == "slerp":
        cos_omega = torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-12)
        omega = torch.arccos(cos_omega.clamp(-1.0, 1.0))
        # Nearly parallel vectors: slerp degenerates to lerp, and dividing by sin(omega) would
        # amplify rounding, so keep the linear frames.
        if omega.abs() > 1e-6:
            sin_omega = torch.sin(omega)
            frames = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / sin_omega
    frames = frames.to(start.dtype)
    # The ends are pinned to the inputs so they match the seed images bit for bit.
    frames[0], frames[-1] = start, end
    return frames


@torch.inference_mode()
def generate(generator: nn.Module, latents: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Run ``generator`` (in eval mode) on ``latents``; float images ``(N, C, H, W)`` in [-1, 1].

    The result for each latent does not depend on what else is in the batch, bit for bit:
    BatchNorm uses running statistics in eval mode, and the rows run only in passes of sizes a
    probe found to give every row its bytes alone (``models.pass_sizes``), under whatever kernels
    are in force (oneDNN or PyTorch's native ones, any thread count). Serving can then batch
    requests freely.
    """
    if generator.training:
        raise ValueError("generator must be in eval mode for sampling")
    device = next(generator.parameters()).device
    latents = latents.to(device=device, dtype=torch.float32)
    if labels is not None:
        labels = labels.to(device)
    sizes = pass_sizes(generator, device)
    sizes.ensure(latents.shape[0])  # one pass of exactly these rows, if it agrees
    passes = sizes.split(latents.shape[0])
    if not passes:
        return run_padded(generator, latents, labels, 0)
    images, start = [], 0
    for rows, physical in passes:
        part = None if labels is None else labels[start : start + rows]
        # CPU time of this thread, not wall time: a pass descheduled on a busy machine would look
        # dear, and the split would avoid its size for good (a size not chosen is not re-timed).
        began = time.thread_time()
        images.append(run_padded(generator, latents[start : start + rows], part, physical))
        sizes.record(physical, time.thread_time() - began)
        start += rows
    return images[0] if len(images) == 1 else torch.cat(images)


def generate_images(
    generator: nn.Module, latents: torch.Tensor, labels: torch.Tensor | None = None
) -> np.ndarray:
    """:func:`generate`, as uint8 images ``(N, H, W, C)``."""
    return to_uint8(generate(generator, latents, labels))


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Map float images in [-1, 1], ``(N, C, H, W)``, to uint8 ``(N, H, W, C)``."""
    scaled = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round()
    return scaled.to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def make_grid(images: np.ndarray, columns: int | None = None, padding: int = 0) -> np.ndarray:
    """Tile ``(N, H, W, C)`` uint8 images row-major into one ``(H', W', C)`` image.

    Args:
        images: the tiles; tile ``i`` goes to row ``i // columns``, column ``i % columns``.
        columns: tiles per row; default is the smallest square that fits all tiles.
        padding: pixels of black between tiles (0 keeps tiles easy to cut on a frontend).
    """
    count, height, width, channels = images.shape
    if columns is None:
        columns = math.ceil(math.sqrt(count))
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    out = np.zeros(
        (rows * height + (rows - 1) * padding, columns * width + (columns - 1) * padding, channels),
        dtype=np.uint8,
    )
    for index in range(count):
        row, column = divmod(index, columns)
        top, left = row * (height + padding), column * (width + padding)
        out[top : top + height, left : left + width] = images[index]
    return out


def encode_image(image: np.ndarray, image_format: str = "png", compress_level: int = 1) -> bytes:
    """Encode one ``(H, W, C)`` uint8 image; the same array always gives the same bytes.

    PNG carries no timestamp here, so bytes are a pure function of the pixels. Level 1 is chosen
    because the images are small and encoding time, not size, dominates serving cost.
    """
    channels = image.shape[2]
    pil = Image.fromarray(image[:, :, 0] if channels == 1 else image, "L" if channels == 1 else "RGB")
    buffer = io.BytesIO()
    if image_format == "png":
        pil.save(buffer, format="PNG", compress_level=compress_level)
    elif image_format == "webp":
        pil.save(buffer, format="WEBP", lossless=True, quality=0, method=0)
    elif image_format == "jpeg":
        pil.save(buffer, format="JPEG", quality=90)
    else:
        raise ValueError(f"unknown image format {image_format!r}; expected png, webp or jpeg")
    return buffer.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    """Decode PNG bytes to an ``(H, W, C)`` uint8 array (used by tests and the client)."""
    with Image.open(io.BytesIO(data)) as pil:
        array = np.asarray(pil)
    return array[:, :, None] if array.ndim == 2 else array


def labels_for_seeds(seeds: Sequence[int], num_classes: int, label: int | None = None) -> torch.Tensor | None:
    """Class labels for a conditional model; ``None`` for an unconditional one.

    With no label asked for, seed ``s`` gets class ``s % num_classes``: a grid then shows every
    class, and tile ``i`` of a grid is still exactly the image of seed ``s + i`` asked for alone.
    """
    if num_classes == 0:
        if label is not None:
            raise ValueError("this model is not class-conditional; omit label")
        return None
    if label is None:
        return torch.tensor([s % num_classes for s in seeds], dtype=torch.int64)
    if not 0 <= label < num_classes:
        raise ValueError(f"label must be in 0..{num_classes - 1}, got {label}")
    return torch.full((len(seeds),), label, dtype=torch.int64)
