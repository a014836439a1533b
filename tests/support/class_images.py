"""Small labelled image sets in class folders, drawn for tests: discs and squares."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def draw_class_image(kind: str, side: int, rng: np.random.Generator) -> Image.Image:
    """A white disc or square of random size and place on a black ground (grayscale)."""
    image = Image.new("L", (side, side), 0)
    radius = rng.uniform(0.2, 0.35) * side
    x, y = rng.uniform(radius, side - radius, size=2)
    box = (x - radius, y - radius, x + radius, y + radius)
    draw = ImageDraw.Draw(image)
    if kind == "circles":
        draw.ellipse(box, fill=int(rng.integers(160, 256)))
    else:
        draw.rectangle(box, fill=int(rng.integers(160, 256)))
    return image


def write_class_folders(root: Path, counts: dict[str, int], side: int = 32, seed: int = 0) -> Path:
    """``root/<class>/<i>.png`` for each class ('circles' or 'squares' draw those shapes)."""
    rng = np.random.default_rng(seed)
    for name, count in counts.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        kind = "circles" if name == "circles" else "squares"
        for index in range(count):
            draw_class_image(kind, side, rng).save(folder / f"{index}.png")
    return root


def class_zip(counts: dict[str, int], side: int = 32, seed: int = 0) -> bytes:
    """The same images as ``write_class_folders``, as a zip archive of class folders."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, count in counts.items():
            kind = "circles" if name == "circles" else "squares"
            for index in range(count):
                png = io.BytesIO()
                draw_class_image(kind, side, rng).save(png, format="PNG")
                archive.writestr(f"{name}/{index}.png", png.getvalue())
    return buffer.getvalue()
