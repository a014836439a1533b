"""What a dataset is like, as far as choosing how to train on it goes: format, count, classes.

Known without loading a builtin dataset (``native_facts``), read from an uploaded dataset's
record, or measured from a folder's file headers without decoding a pixel (``folder_facts``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from models.data import NATIVE_COUNTS, native_format
from models.data.builtin import DIGIT_NAMES
from models.data.download import CLASS_NAMES as REMOTE_CLASS_NAMES
from models.data.folder import classify_files
from models.data.shapes import SHAPE_NAMES

NATIVE_CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "digits": DIGIT_NAMES,
    "mnist5k": DIGIT_NAMES,
    "shapes": SHAPE_NAMES,
    **REMOTE_CLASS_NAMES,
}
GRAYSCALE_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"})


@dataclass(frozen=True)
class DataFacts:
    """What a recipe (models.training.recipes) needs to know about a dataset."""

    image_size: int | None  # the images' own side (the shorter, if not square); None: unknown
    channels: int | None  # 1 or 3; None: unknown (the loader's default applies)
    num_images: int | None
    num_classes: int  # 0: unlabelled


def native_facts(name: str) -> DataFacts:
    """The facts of a builtin or downloadable dataset, known without loading it.

    Raises:
        DatasetError: ``name`` is neither.
    """
    size, channels = native_format(name)
    return DataFacts(size, channels, NATIVE_COUNTS[name], len(NATIVE_CLASS_NAMES.get(name, ())))


def folder_facts(root: Path) -> DataFacts:
    """The facts of an image folder, from each file's header (the loader's class rule).

    The side is that of the most common image size; channels are 1 only when every image is
    grayscale. Files PIL cannot identify are left out, as the loader leaves them out.
    """
    files, class_names = classify_files(root)
    sizes: Counter[tuple[int, int]] = Counter()
    grayscale = True
    for path in files:
        try:
            with Image.open(path) as image:
                sizes[image.size] += 1
                grayscale = grayscale and image.mode in GRAYSCALE_MODES
        except (OSError, UnidentifiedImageError, ValueError):
            continue
    if not sizes:
        return DataFacts(None, None, 0, len(class_names))
    (width, height), _ = sizes.most_common(1)[0]
    return DataFacts(min(width, height), 1 if grayscale else 3, sum(sizes.values()), len(class_names))
