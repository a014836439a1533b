"""Archives for upload tests, friendly and hostile, built in memory."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile

from PIL import Image


def png(seed: int = 0, size: int = 8) -> bytes:
    """A small valid PNG whose pixels depend on ``seed``."""
    image = Image.new("L", (size, size), color=seed % 256)
    image.putpixel((0, 0), (seed * 37) % 256)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def encoded_image(image_format: str, seed: int = 0, size: int = 8) -> bytes:
    image = Image.new("RGB", (size, size), color=(seed % 256, (seed * 7) % 256, 99))
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()


def zip_of(members: dict[str, bytes], *, symlinks: dict[str, str] | None = None) -> bytes:
    """A zip with ``members`` (name -> bytes) and Unix symlink entries (name -> target)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def tar_of(members: dict[str, bytes], *, links: dict[str, str] | None = None, gzip: bool = False) -> bytes:
    """A tar (gzipped if asked) with regular ``members`` and symlinks (name -> target)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gzip else "w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return buffer.getvalue()


def zip_bomb(unpacked_bytes: int) -> bytes:
    """One member of zeros: a ratio around 1000:1, the shape of a decompression bomb."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("a/zeros.png", "w", force_zip64=True) as member,
    ):
        chunk = bytes(1024 * 1024)
        for _ in range(unpacked_bytes // len(chunk)):
            member.write(chunk)
    return buffer.getvalue()


def labelled_images(count: int = 4) -> dict[str, bytes]:
    return {f"{'ab'[i % 2]}/{i}.png": png(i) for i in range(count)}
