"""Archives for upload tests, friendly and hostile, built in memory."""

from __future__ import annotations

import io
import stat
import struct
import tarfile
import zipfile
import zlib

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


def png_claiming(width: int, height: int) -> bytes:
    """A well-formed 1-bit PNG of a few hundred bytes whose header declares ``width`` x ``height``:
    a decompression bomb for anything that decodes it. Its IDAT holds the first rows only, which
    the structure check (CRCs) cannot tell; only decoding would."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grayscale
    rows = zlib.compress(bytes(16 * (1 + (width + 7) // 8)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def member_offsets(tar: bytes) -> list[int]:
    """Where each member's header starts in an uncompressed tar."""
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        return [member.offset for member in archive.getmembers()]
