"""Differentiable augmentation of everything the discriminator sees (Zhao et al. 2020).

With a few thousand training images the discriminator memorises them and its feedback to the
generator turns to noise. DiffAugment applies the same random, differentiable transforms to
real and generated images on every discriminator call, in both the discriminator's and the
generator's updates: the generator still learns the un-augmented distribution (the transforms
are applied on both sides), while the discriminator can no longer fit individual images.

Policies as in the paper: ``translation`` (shift by up to 1/8 of the size, zero fill),
``cutout`` (zero a random square of half the size) and ``color`` (random brightness,
saturation and contrast). Zero is mid-grey in the [-1, 1] image range, as in the paper.

All draws come from one CPU ``torch.Generator``: a run stays reproducible on any device, and
its state is saved in checkpoints so a resumed run draws what it would have drawn.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

TRANSLATION_RATIO = 1 / 8
CUTOUT_RATIO = 1 / 2


def _uniform(count: int, low: float, high: float, rng: torch.Generator, like: Tensor) -> Tensor:
    values = torch.rand(count, 1, 1, 1, generator=rng) * (high - low) + low
    return values.to(device=like.device, dtype=like.dtype)


def color(x: Tensor, rng: torch.Generator) -> Tensor:
    """Random per-image brightness, saturation and contrast changes of ``(N, C, H, W)`` images."""
    n = x.shape[0]
    x = x + _uniform(n, -0.5, 0.5, rng, x)  # brightness
    channel_mean = x.mean(dim=1, keepdim=True)
    x = channel_mean + (x - channel_mean) * _uniform(n, 0.0, 2.0, rng, x)  # saturation
    image_mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return image_mean + (x - image_mean) * _uniform(n, 0.5, 1.5, rng, x)  # contrast


def translation(x: Tensor, rng: torch.Generator) -> Tensor:
    """Shift each image by up to 1/8 of its size along each axis, filling with zero (mid-grey)."""
    n, _, h, w = x.shape
    pad_y, pad_x = max(1, round(h * TRANSLATION_RATIO)), max(1, round(w * TRANSLATION_RATIO))
    shift_y = torch.randint(-pad_y, pad_y + 1, (n, 1, 1), generator=rng)
    shift_x = torch.randint(-pad_x, pad_x + 1, (n, 1, 1), generator=rng)
    rows = (torch.arange(h).view(1, h, 1) + shift_y + pad_y).to(x.device)
    cols = (torch.arange(w).view(1, 1, w) + shift_x + pad_x).to(x.device)
    padded = F.pad(x, (pad_x, pad_x, pad_y, pad_y))
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    # Indexing dims 0, 2 and 3 around a slice puts the indexed dims first: (N, H, W, C).
    return padded[batch, :, rows, cols].permute(0, 3, 1, 2).contiguous()


def cutout(x: Tensor, rng: torch.Generator) -> Tensor:
    """Zero (mid-grey) a random square of half the size in each image; it may hang over an edge."""
    n, _, h, w = x.shape
    size_y, size_x = max(1, round(h * CUTOUT_RATIO)), max(1, round(w * CUTOUT_RATIO))
    # Centres range over the image so that the square may hang over any edge.
    centre_y = torch.randint(0, h + (1 - size_y % 2), (n, 1, 1), generator=rng)
    centre_x = torch.randint(0, w + (1 - size_x % 2), (n, 1, 1), generator=rng)
    top, left = centre_y - size_y // 2, centre_x - size_x // 2
    rows, cols = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
    inside = (rows >= top) & (rows < top + size_y) & (cols >= left) & (cols < left + size_x)
    keep = (~inside).unsqueeze(1).to(device=x.device, dtype=x.dtype)
    return x * keep


AUGMENTATIONS: dict[str, Callable[[Tensor, torch.Generator], Tensor]] = {
    "color": color,
    "translation": translation,
    "cutout": cutout,
}


def parse_policy(policy: str) -> tuple[str, ...]:
    """``"translation,cutout"`` -> ``("translation", "cutout")``; ``""`` -> no augmentation.

    Raises:
        ValueError: an unknown or repeated transform.
    """
    names = tuple(part.strip() for part in policy.split(",") if part.strip())
    unknown = [name for name in names if name not in AUGMENTATIONS]
    if unknown:
        raise ValueError(
            f"unknown augmentation {unknown[0]!r}; expected a comma-separated list of "
            + ", ".join(AUGMENTATIONS)
        )
    if len(set(names)) != len(names):
        raise ValueError(f"augmentation {policy!r} names a transform twice")
    return names


class DiffAugment:
    """Applies a policy's transforms in the paper's order (color, translation, cutout)."""

    def __init__(self, policy: str, seed: int) -> None:
        names = set(parse_policy(policy))
        self.transforms = [AUGMENTATIONS[name] for name in AUGMENTATIONS if name in names]
        self.rng = torch.Generator(device="cpu").manual_seed(seed)

    def __bool__(self) -> bool:
        return bool(self.transforms)

    def __call__(self, x: Tensor) -> Tensor:
        """Apply the policy's transforms to ``x`` ``(N, C, H, W)``, drawing from ``self.rng``; same shape."""
        for transform in self.transforms:
            x = transform(x, self.rng)
        return x
