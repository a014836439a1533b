"""Procedurally drawn coloured shapes: a labelled RGB dataset of any size, made offline.

Every image gets a shape class, a circumradius of 20-40% of the side, a position that
keeps the shape inside the frame, a rotation, a background colour and a foreground
colour whose BT.601 luma differs from the background's by at least `MIN_LUMA_CONTRAST`
(so the shape survives conversion to grayscale). All parameters are drawn up front
from one `numpy.random.Generator(seed)` in fractions of the side, so a seed gives the
same scenes at every image size and the same tensors on every run.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw

SHAPE_NAMES = ("circle", "square", "triangle", "cross", "star")
MIN_LUMA_CONTRAST = 80.0
_COLOUR_TRIES = 16  # candidates per image; all failing is ~1e-9 likely, then black/white
_LUMA = np.array([0.299, 0.587, 0.114])


def _outline(shape: str, radius: float, angle: float) -> list[tuple[float, float]]:
    """Polygon vertices around the origin (circumradius `radius`), rotated by `angle`."""
    if shape == "square":
        points = [(radius, k * math.pi / 2) for k in range(4)]
    elif shape == "triangle":
        points = [(radius, k * 2 * math.pi / 3) for k in range(3)]
    elif shape == "star":
        # Inner radius 0.45 keeps the points sharp enough to tell a star from a disc
        # even at 32x32.
        points = [(radius * (1.0 if k % 2 == 0 else 0.45), k * math.pi / 5) for k in range(10)]
    elif shape == "cross":
        arm = 0.32 * radius  # half the arm width
        corners = [(arm, radius), (arm, arm), (radius, arm)]
        xy: list[tuple[float, float]] = []
        for quarter in range(4):  # the same three corners, turned a quarter each time
            c, s = math.cos(quarter * math.pi / 2), math.sin(quarter * math.pi / 2)
            xy.extend((x * c + y * s, -x * s + y * c) for x, y in corners)
        points = [(math.hypot(x, y), math.atan2(y, x)) for x, y in xy]
    else:
        raise ValueError(f"no polygon for shape {shape!r}")
    return [(r * math.cos(a + angle), r * math.sin(a + angle)) for r, a in points]


def _colours(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    background = rng.integers(0, 256, size=(count, 3))
    candidates = rng.integers(0, 256, size=(count, _COLOUR_TRIES, 3))
    contrast = np.abs(candidates @ _LUMA - (background @ _LUMA)[:, None])
    good = contrast >= MIN_LUMA_CONTRAST
    first = good.argmax(axis=1)
    foreground = candidates[np.arange(count), first]
    # Fallback when no candidate contrasted enough: whichever of black/white is further.
    fallback = np.where((background @ _LUMA)[:, None] < 128, 255, 0).repeat(3, axis=1)
    foreground = np.where(good.any(axis=1)[:, None], foreground, fallback)
    return background.astype(np.uint8), foreground.astype(np.uint8)


def render_shapes(
    num_images: int, image_size: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """Draw `num_images` RGB images of side `image_size`; returns uint8 images and labels.

    Classes are balanced (each appears num_images // 5 or one more times) in shuffled order.
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(num_images) % len(SHAPE_NAMES))
    radius = rng.uniform(0.20, 0.40, size=num_images)
    margin = radius + 0.02
    centre_x = rng.uniform(margin, 1.0 - margin)
    centre_y = rng.uniform(margin, 1.0 - margin)
    angle = rng.uniform(0.0, 2 * math.pi, size=num_images)
    background, foreground = _colours(rng, num_images)

    # Drawing at 4x and box-filtering down gives anti-aliased edges; 2x is enough (and
    # 4x too slow) once images are large.
    scale = 4 if image_size <= 128 else 2
    canvas = image_size * scale
    out = np.empty((num_images, image_size, image_size, 3), dtype=np.uint8)
    for index in range(num_images):
        image = Image.new("RGB", (canvas, canvas), tuple(int(v) for v in background[index]))
        draw = ImageDraw.Draw(image)
        fill = tuple(int(v) for v in foreground[index])
        cx, cy, r = centre_x[index] * canvas, centre_y[index] * canvas, radius[index] * canvas
        shape = SHAPE_NAMES[labels[index]]
        if shape == "circle":
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
        else:
            points = [(cx + x, cy + y) for x, y in _outline(shape, r, angle[index])]
            draw.polygon(points, fill=fill)
        out[index] = np.asarray(image.resize((image_size, image_size), Image.Resampling.BOX))
    images = torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()
    return images, torch.from_numpy(labels.astype(np.int64)), SHAPE_NAMES
