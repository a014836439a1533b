"""A directory of image files, optionally one subfolder per class.

Rules (also in `load_folder`'s docstring):
- Image files are recognised by extension (png, jpg, jpeg, webp, bmp, gif; any case); an
  image over `MAX_DECODE_PIXELS` is skipped undecoded. Both rules live in `image_files.py`,
  which the upload check uses too.
- If any top-level subfolder holds an image (at any depth), the dataset is labelled:
  each such subfolder is a class (sorted by name) and everything below it belongs to
  it; files lying directly in the root then have no class and are skipped.
- Hidden files and folders (name starting with ".") are ignored and not counted.
  Every other file that is not used counts in `skipped_files`: wrong extension,
  undecodable or truncated, or a symlink whose target lies outside the root.
  Symlinked folders are not entered at all, which also rules out cycles.
- Transparent images (RGBA, LA, palette with transparency) are composited onto WHITE,
  the background most viewers show; 16-bit images are scaled to 8 bits, not clipped.
- Animated GIFs contribute their first frame.
- Each image is resized so its shorter side is `image_size` (Lanczos), then centre
  cropped to a square.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from models.data.dataset import DatasetError
from models.data.image_files import IMAGE_EXTENSIONS, too_many_pixels


def _walk(top: Path) -> list[Path]:
    """Non-hidden regular files under `top` (symlinks included, folders not followed)."""
    found: list[Path] = []
    for current, dirs, files in os.walk(top, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(current) / name for name in sorted(files) if not name.startswith("."))
    return found


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root)


def _to_mode(image: Image.Image, channels: int) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grayscale (PNG opens as "I" or "I;16"): map 0..65535 onto 0..255.
        wide = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.rint(wide / 257.0).clip(0, 255).astype(np.uint8), "L")
    elif image.mode == "F":
        image = Image.fromarray(np.asarray(image).clip(0, 255).astype(np.uint8), "L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return image.convert("L" if channels == 1 else "RGB")


def _decode(path: Path, image_size: int, channels: int) -> np.ndarray | None:
    """(H, W, C) uint8 array, or None when the file cannot be decoded."""
    try:
        with Image.open(path) as image:
            # JPEG can decode straight to a smaller scale: much faster for photos.
            image.draft("RGB", (image_size, image_size))
            if too_many_pixels(*image.size):
                return None  # a small file can declare a huge canvas: skip it undecoded
            image.load()
            decoded = _to_mode(image, channels)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        # PIL signals unreadable/truncated files with OSError (UnidentifiedImageError
        # is one), and a few malformed headers with ValueError or SyntaxError.
        return None
    width, height = decoded.size
    scale = image_size / min(width, height)
    new_w, new_h = max(image_size, round(width * scale)), max(image_size, round(height * scale))
    resized = decoded.resize((new_w, new_h), Image.Resampling.LANCZOS)
    left, top = (new_w - image_size) // 2, (new_h - image_size) // 2
    cropped = resized.crop((left, top, left + image_size, top + image_size))
    array = np.asarray(cropped, dtype=np.uint8)
    return array[:, :, None] if array.ndim == 2 else array


def _checked_root(path: str | Path) -> Path:
    root = Path(path).expanduser()
    if not root.exists():
        raise DatasetError(f"image folder {str(root)!r} does not exist")
    if not root.is_dir():
        raise DatasetError(f"{str(root)!r} is not a directory")
    return root.resolve()


def _candidates(root: Path) -> tuple[list[tuple[Path, int]], tuple[str, ...], int]:
    """The image files by the folder rule, with their labels (-1: unlabelled), the class
    names, and how many files were left out."""

    def usable(file: Path) -> bool:
        return file.suffix.lower() in IMAGE_EXTENSIONS and _inside(file, root)

    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    class_dirs = [p for p in entries if p.is_dir() and not p.is_symlink()]
    class_files = {d.name: _walk(d) for d in class_dirs}
    class_names = tuple(name for name, files in class_files.items() if any(map(usable, files)))
    loose = [p for p in entries if not p.is_dir()]

    skipped = 0
    candidates: list[tuple[Path, int]] = []
    if class_names:
        skipped += len(loose)  # no class to give them
        for name, files in class_files.items():
            label = class_names.index(name) if name in class_names else -1
            for file in files:
                if label >= 0 and usable(file):
                    candidates.append((file, label))
                else:
                    skipped += 1
    else:
        for file in loose + [f for files in class_files.values() for f in files]:
            if usable(file):
                candidates.append((file, -1))
            else:
                skipped += 1
    return candidates, class_names, skipped


def classify_files(path: str | Path) -> tuple[list[Path], tuple[str, ...]]:
    """The image files ``load_folder`` would read from ``path`` and its class names.

    Raises:
        DatasetError: ``path`` is not a folder.
    """
    candidates, class_names, _ = _candidates(_checked_root(path))
    return [file for file, _ in candidates], class_names


def load_folder(
    path: str | Path,
    image_size: int,
    channels: int,
    num_images: int | None,
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor | None, tuple[str, ...], int]:
    """Decode a folder of images; returns (uint8 images, labels or None, class names, skipped).

    With `num_images`, a seeded random subset of the files is decoded (in that order,
    stopping once `num_images` decoded), so big folders do not have to be read whole.
    """
    root = _checked_root(path)
    candidates, class_names, skipped = _candidates(root)
    if num_images is not None:
        order = np.random.default_rng(seed).permutation(len(candidates))
        candidates = [candidates[i] for i in order]
    images: list[np.ndarray] = []
    labels: list[int] = []
    for file, label in candidates:
        if num_images is not None and len(images) >= num_images:
            break
        array = _decode(file, image_size, channels)
        if array is None:
            skipped += 1
            continue
        images.append(array)
        labels.append(label)
    if not images:
        raise DatasetError(f"no readable images in {str(root)!r} (skipped {skipped} files)")
    tensor = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    label_tensor = torch.tensor(labels, dtype=torch.int64) if class_names else None
    return tensor, label_tensor, class_names, skipped
