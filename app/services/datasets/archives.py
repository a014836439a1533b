"""Safe extraction of uploaded dataset archives (.zip, .tar, .tar.gz), checked in one pass.

An upload is hostile until proven otherwise. The whole archive is rejected (never partly
trusted) when a member would land outside the destination (absolute path, ``..``), is a link
or a device, when there are too many members, when the declared size or the compression ratio
looks like a bomb, when more bytes come out while writing than the limit allows, or when it is
cut short (tarfile alone would take a cut tar for a shorter one). Only image files are written,
and each is checked as it lands (``writer.py``); nested archives are ordinary non-image files
and are skipped, not unpacked.

On ``ArchiveError`` the files and folders written so far are removed again; the caller still
deletes ``destination`` itself (it may have created it, and it owns the name).
"""

from __future__ import annotations

import functools
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Literal, Self

from app.services.datasets.inventory import ExtractionReport
from app.services.datasets.members import ArchiveError, Member, ignored, safe_parts
from app.services.datasets.writer import WriteFailed, Writer
from models.data.image_files import has_image_name

__all__ = ["ArchiveError", "ExtractionReport", "extract_archive"]

# Real image datasets are mostly PNG/JPEG, which barely compress further; a total ratio above
# this is a decompression bomb. Below the floor the ratio is ignored: a few flat-colour BMPs
# can legitimately reach it, and that little data is harmless anyway.
MAX_COMPRESSION_RATIO = 200
RATIO_FLOOR_BYTES = 8 * 1024 * 1024

# Corrupt data surfaces only while reading (bad CRC, truncated gzip, a zip member whose header
# sizes lie, an unsupported compression method).
_READ_ERRORS = (
    zipfile.BadZipFile,
    tarfile.TarError,
    EOFError,
    OSError,
    zlib.error,
    NotImplementedError,
)


def extract_archive(
    upload_path: Path, destination: Path, *, max_unpacked_bytes: int, max_members: int
) -> ExtractionReport:
    """Unpack the image files of the archive at ``upload_path`` into ``destination``.

    Args:
        upload_path: the uploaded file; its type is read from its first bytes, not its name.
        destination: folder to write into (created if missing); nothing is written outside it.
        max_unpacked_bytes: limit on the declared total size and on the bytes actually written.
        max_members: limit on the number of entries (folders included).

    Returns:
        How many readable images were written and what they are like (most common size,
        channels, count per class: the top-level folders holding images, the class names a
        labelled dataset gets), and how many files were left out, why, with a few examples
        (dotfiles and ``__MACOSX/`` are ignored, not counted).

    Raises:
        ArchiveError: the archive is unsafe, too big, corrupt, cut short or holds no readable
            image. What was written is removed again; the caller should still delete
            ``destination``.
    """
    kind = _detect(upload_path)
    archive_bytes = upload_path.stat().st_size
    writer = Writer(destination, max_unpacked_bytes)
    try:
        with _open_members(upload_path, kind) as members:
            planned = _plan(members, max_members, max_unpacked_bytes, archive_bytes)
            report = writer.write_all(planned)
    except WriteFailed as failure:
        # The server's disk, not the upload, is at fault: keep the original OSError.
        writer.undo()
        raise failure.error from None
    except _READ_ERRORS as error:
        writer.undo()
        raise ArchiveError(f"corrupt or unreadable archive: {error}") from error
    except BaseException:
        writer.undo()
        raise
    if report.images == 0:
        writer.undo()
        raise ArchiveError(f"archive contains no images{_why(report)}")
    return report


def _why(report: ExtractionReport) -> str:
    """What the files that were left out were, e.g. " (3 files left out: 2 not an image, ...)"."""
    if not report.skipped:
        return ""
    reasons = ", ".join(f"{count} {reason}" for reason, count in report.skipped_reasons.items())
    example = report.skipped_examples[0]
    return f" ({report.skipped} left out: {reasons}; e.g. {example['name']!r}: {example['reason']})"


def _detect(path: Path) -> str:
    with path.open("rb") as file:
        head = file.read(262)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "tar.gz"
    if head[257:262] == b"ustar":
        return "tar"
    raise ArchiveError("not an archive: expected .zip, .tar or .tar.gz")


@contextmanager
def _open_members(path: Path, kind: str) -> Iterator[Iterator[Member]]:
    if kind == "zip":
        with zipfile.ZipFile(path) as archive:
            yield _zip_members(archive)
    else:
        mode: Literal["r:gz", "r:"] = "r:gz" if kind == "tar.gz" else "r:"
        with tarfile.open(path, mode=mode, tarinfo=_StrictTarInfo) as archive:
            yield _tar_members(archive)


# tarfile's kinds of header error (typeshed knows only their base, HeaderError). A block of
# zeros, EOFHeaderError, is the end of the archive and not among them.
_CUT_HEADER = (
    tarfile.EmptyHeaderError,  # type: ignore[attr-defined]
    tarfile.TruncatedHeaderError,  # type: ignore[attr-defined]
)
_BAD_HEADER = tarfile.InvalidHeaderError  # type: ignore[attr-defined]


class _StrictTarInfo(tarfile.TarInfo):
    """Tar headers read strictly.

    Past the first member, tarfile takes a header cut short, a missing one or a garbled one
    for the end of the archive and returns the members read so far: a cut upload would become
    a smaller dataset. A complete archive ends with a block of zeros (EOFHeaderError), which
    stays the one accepted end.
    """

    @classmethod
    def fromtarfile(cls, archive: tarfile.TarFile) -> Self:
        try:
            return super().fromtarfile(archive)
        except _CUT_HEADER:
            raise ArchiveError("truncated archive: it ends inside or before a member header") from None
        except _BAD_HEADER as error:
            raise ArchiveError(f"corrupt or unreadable archive: {error}") from None


def _zip_members(archive: zipfile.ZipFile) -> Iterator[Member]:
    for info in archive.infolist():
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        # Zips made on Unix carry the file mode; anything but a file or folder (a symlink
        # above all) is refused. Zips from elsewhere have no mode (0) and are plain files.
        if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
            what = "symlink" if kind == stat.S_IFLNK else "special file"
            raise ArchiveError(f"archive member {info.filename!r} is a {what}; not allowed")
        if info.flag_bits & 0x1:
            raise ArchiveError(f"archive member {info.filename!r} is encrypted; not supported")
        yield Member(
            name=info.filename,
            size=info.file_size,
            is_dir=info.is_dir(),
            open=functools.partial(archive.open, info),
        )


def _tar_members(archive: tarfile.TarFile) -> Iterator[Member]:
    # Iterating reads headers one at a time, so a flood of members is stopped by the count
    # limit before the rest of the (possibly huge) stream is decompressed.
    for info in archive:
        if info.issym() or info.islnk():
            raise ArchiveError(f"archive member {info.name!r} is a link; not allowed")
        if not (info.isfile() or info.isdir()):
            raise ArchiveError(f"archive member {info.name!r} is a special file; not allowed")

        def opener(info: tarfile.TarInfo = info) -> IO[bytes]:
            stream = archive.extractfile(info)
            if stream is None:  # only for non-files, which were refused above
                raise ArchiveError(f"cannot read archive member {info.name!r}")
            return stream

        yield Member(name=info.name, size=info.size, is_dir=info.isdir(), open=opener)


def _plan(
    members: Iterator[Member], max_members: int, max_unpacked_bytes: int, archive_bytes: int
) -> list[tuple[list[str], Member | None]]:
    """Check every header before writing anything; returns (parts, member or None to skip)."""
    planned: list[tuple[list[str], Member | None]] = []
    declared = 0
    for count, member in enumerate(members, start=1):
        if count > max_members:
            raise ArchiveError(f"archive has more than {max_members} members")
        parts = safe_parts(member.name)
        if member.is_dir or ignored(parts):
            continue
        declared += member.size
        if declared > max_unpacked_bytes:
            raise ArchiveError(f"archive unpacks to more than {max_unpacked_bytes} bytes")
        planned.append((parts, member if has_image_name(parts[-1]) else None))
    if declared > RATIO_FLOOR_BYTES and declared > MAX_COMPRESSION_RATIO * max(archive_bytes, 1):
        raise ArchiveError(
            f"archive compression ratio is above {MAX_COMPRESSION_RATIO}:1; refusing a likely"
            " decompression bomb"
        )
    return planned
