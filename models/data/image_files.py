"""What counts as a readable image file: one rule for the folder loader and the upload check.

The check is cheap on purpose (an upload may hold 100,000 files) and never decodes pixels: the
header gives format, size and mode; the size is held against the limit the loader decodes up to,
so a small file that declares a huge canvas is refused before anything is allocated; then
Pillow's ``verify()`` walks the file's structure without decompressing it (for PNG every
chunk's CRC up to IEND, which finds a cut or damaged file). JPEG has no ``verify()``; a cut JPEG
lacks the end-of-image marker after its first scan, which is looked for instead. Uncompressed
pixels (BMP) must fit in the file. A file damaged in ways only a full decode shows (a cut GIF,
say) still passes; the loader skips it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path, PurePath

from PIL import Image, ImageFile, UnidentifiedImageError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"})

# Far above any photo a GAN is trained from here (a 50-megapixel RGB image decodes to 150 MB),
# far below what an upload of a few bytes per megapixel could otherwise make a worker allocate.
MAX_DECODE_PIXELS = 50_000_000

# Modes the loader turns into one channel by default (alpha is composited away).
GRAYSCALE_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F"})

# The reasons a file is left out, as a dataset record shows them.
NOT_AN_IMAGE = "not an image"
DAMAGED = "truncated or corrupt"
TOO_LARGE = f"larger than {MAX_DECODE_PIXELS} pixels"

_JPEG_START_OF_SCAN = b"\xff\xda"
_JPEG_END_OF_IMAGE = b"\xff\xd9"


class UnreadableImage(Exception):
    """A file the loader would skip; ``reason`` is one of the constants above."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ImageFacts:
    """What the header of a readable image says."""

    width: int
    height: int
    channels: int  # 1 for grayscale modes, else 3


def has_image_name(name: str) -> bool:
    """Whether ``name`` has one of the extensions the loader reads (any case)."""
    return PurePath(name).suffix.lower() in IMAGE_EXTENSIONS


def too_many_pixels(width: int, height: int) -> bool:
    """Whether an image of this size is over the decoding limit."""
    return width * height > MAX_DECODE_PIXELS


def check_image(path: Path) -> ImageFacts:
    """Check the image file at ``path`` cheaply (header, size, structure; no pixel decoding).

    Returns:
        Its width, height and channel count.

    Raises:
        UnreadableImage: not an image, truncated or corrupt, or over ``MAX_DECODE_PIXELS``.
    """
    try:
        with Image.open(path) as image:
            width, height = image.size
            if too_many_pixels(width, height):
                raise UnreadableImage(TOO_LARGE)
            facts = ImageFacts(width, height, 1 if image.mode in GRAYSCALE_MODES else 3)
            is_jpeg = image.format == "JPEG"
            raw_bytes = _raw_pixel_bytes(image)
            image.verify()
    except UnreadableImage:
        raise
    except Image.DecompressionBombError:  # Pillow's own, far larger limit, met while opening
        raise UnreadableImage(TOO_LARGE) from None
    except UnidentifiedImageError:
        raise UnreadableImage(NOT_AN_IMAGE) from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error) as error:
        # What Pillow raises for cut files and malformed headers or chunks.
        raise UnreadableImage(DAMAGED) from error
    if is_jpeg and not _jpeg_is_complete(path):
        raise UnreadableImage(DAMAGED)
    if raw_bytes is not None and path.stat().st_size < raw_bytes:
        raise UnreadableImage(DAMAGED)
    return facts


def _raw_pixel_bytes(image: ImageFile.ImageFile) -> int | None:
    """Where uncompressed pixels with a known row stride end in the file (BMP), else None."""
    if len(image.tile) != 1 or image.tile[0].codec_name != "raw":
        return None
    tile = image.tile[0]
    args = tile.args
    if not (isinstance(args, tuple) and len(args) >= 2 and isinstance(args[1], int) and args[1] > 0):
        return None
    rows = tile.extents[3] - tile.extents[1] if tile.extents else 0
    stride: int = args[1]
    return tile.offset + stride * rows


def _jpeg_is_complete(path: Path) -> bool:
    # Entropy-coded data cannot hold FF D9 (a data FF is always followed by 00), and the markers
    # between progressive scans never are EOI, so a complete file has one after its first scan.
    data = path.read_bytes()
    first_scan = data.find(_JPEG_START_OF_SCAN)
    return first_scan >= 0 and data.find(_JPEG_END_OF_IMAGE, first_scan) >= 0
