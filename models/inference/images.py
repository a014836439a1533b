"""Latents to images: the batch-invariant forward pass, uint8 pixels, grids, encoded bytes."""

from __future__ import annotations

import io
import math
import time
import zlib

import numpy as np
import torch
from PIL import Image
from torch import nn

from models.inference.passes import pass_sizes, run_padded


@torch.inference_mode()
def generate(generator: nn.Module, latents: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Run ``generator`` (in eval mode) on ``latents``; float images ``(N, C, H, W)`` in [-1, 1].

    The result for each latent does not depend on what else is in the batch, bit for bit:
    BatchNorm uses running statistics in eval mode, and the rows run only in passes of sizes a
    probe found to give every row its bytes alone (``models.inference.passes``), under whatever kernels
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


# zlib's run-length strategy: matches are runs of the previous byte only, which PNG's row
# filters make common in generated images. Against the default strategy at the same level, on
# the shipped models (bench/png_encoding.py, docs/benchmarks.md): files 0.85-0.96x the size
# (64x64 colour 0.87x, their 8x8 grids 0.85x, 28x28 grayscale 0.96x, its grids 0.87x) and no
# slower (0.65-0.90x the time over two runs, within this machine's noise for the smallest).
# Lossless either way: the decoded pixels are the same.
PNG_STRATEGY = zlib.Z_RLE


def encode_image(
    image: np.ndarray,
    image_format: str = "png",
    compress_level: int = 1,
    png_strategy: int = PNG_STRATEGY,
) -> bytes:
    """Encode one ``(H, W, C)`` uint8 image; the same array always gives the same bytes.

    PNG carries no timestamp here, so bytes are a pure function of the pixels. Level 1 is chosen
    because the images are small and encoding time, not size, dominates serving cost; the zlib
    strategy is ``png_strategy`` (:data:`PNG_STRATEGY` unless a benchmark compares others).
    """
    channels = image.shape[2]
    pil = Image.fromarray(image[:, :, 0] if channels == 1 else image, "L" if channels == 1 else "RGB")
    buffer = io.BytesIO()
    if image_format == "png":
        pil.save(buffer, format="PNG", compress_level=compress_level, compress_type=png_strategy)
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
