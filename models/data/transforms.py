"""Resizing and channel conversion shared by the dataset loaders and the evaluator."""

from __future__ import annotations

import torch
import torch.nn.functional as F

# ITU-R BT.601 luma weights: the same ones PIL uses for RGB -> "L", so folder images
# converted by PIL and tensors converted here agree.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

# Resizing happens in float; chunking bounds the temporary float copy of a uint8 dataset.
_CHUNK = 1024


def resize_float(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize float (N, C, H, W) images to (size, size).

    Shrinking uses area averaging for whole-number factors and antialiased bilinear
    otherwise (plain bilinear would alias thin strokes away); enlarging uses bicubic,
    which keeps edges sharper than bilinear. Bicubic can overshoot, so callers clamp.
    """
    height, width = images.shape[-2:]
    if height == size and width == size:
        return images
    if size < height or size < width:
        if height % size == 0 and width % size == 0:
            return F.interpolate(images, size=(size, size), mode="area")
        return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return F.interpolate(images, size=(size, size), mode="bicubic", align_corners=False)


def convert_channels_float(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Gray -> RGB by repeating the plane; RGB -> gray by BT.601 luma."""
    have = images.shape[1]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    if have == 3 and channels == 1:
        weights = torch.tensor(LUMA_WEIGHTS, dtype=images.dtype, device=images.device)
        return (images * weights.view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
    raise ValueError(f"cannot convert {have}-channel images to {channels} channels; use 1 or 3")


def resize_uint8(images: torch.Tensor, size: int, channels: int) -> torch.Tensor:
    """Resize and convert uint8 (N, C, H, W) images, returning uint8 again."""
    if images.shape[-1] == size and images.shape[-2] == size and images.shape[1] == channels:
        return images
    out = torch.empty((len(images), channels, size, size), dtype=torch.uint8)
    for start in range(0, len(images), _CHUNK):
        chunk = images[start : start + _CHUNK].to(torch.float32)
        # Convert to fewer channels before resizing and to more after: less work either way.
        if channels < chunk.shape[1]:
            chunk = resize_float(convert_channels_float(chunk, channels), size)
        else:
            chunk = convert_channels_float(resize_float(chunk, size), channels)
        out[start : start + _CHUNK] = chunk.round_().clamp_(0, 255).to(torch.uint8)
    return out
