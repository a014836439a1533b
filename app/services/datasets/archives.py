"""Safe extraction of uploaded dataset archives (.zip, .tar, .tar.gz).

An upload is hostile until proven otherwise. The whole archive is rejected (never partly
trusted) when a member would land outside the destination (absolute path, ``..``), is a link
or a device, when there are too many members, when the declared size or the compression ratio
looks like a bomb, or when more bytes come out while writing than the limit allows. Only image
files are written; nested archives are ordinary non-image files and are skipped, not unpacked.

On ``ArchiveError`` the files and folders written so far are removed again; the caller still
deletes ``destination`` itself (it may have created it, and it owns the name).
"""

from __future__ import annotations

import functools
import re
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO

from common.names import is_valid_class_name

# The set `models.data.folder` reads (tests keep the two equal); copied so that handling an
# upload does not import torch.
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"})

# Real image datasets are mostly PNG/JPEG, which barely compress further; a total ratio above
# this is a decompression bomb. Below the floor the ratio is ignored: a few flat-colour BMPs
# can legitimately reach it, and that little data is harmless anyway.
MAX_COMPRESSION_RATIO = 200
RATIO_FLOOR_BYTES = 8 * 1024 * 1024

_CHUNK = 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


class ArchiveError(ValueError):
    """The upload is not an acceptable dataset archive; the message says why."""


class _WriteFailed(Exception):
    """Carries an OSError from writing out, so it is not mistaken for a corrupt archive."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


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


@dataclass
class ExtractionReport:
    images: int
    skipped: int
    classes: list[str] = field(default_factory=list)


@dataclass
class _Member:
    """One archive entry, reduced to what the extraction rules need."""

    name: str
    size: int
    is_dir: bool
    open: Callable[[], IO[bytes]]


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
        How many images were written, how many other files were skipped (dotfiles and
        ``__MACOSX/`` are ignored, not counted), and the top-level folders holding images,
        sorted: the class names a labelled dataset gets.

    Raises:
        ArchiveError: the archive is unsafe, too big, corrupt or holds no images. What was
            written is removed again; the caller should still delete ``destination``.
    """
    kind = _detect(upload_path)
    archive_bytes = upload_path.stat().st_size
    writer = _Writer(destination, max_unpacked_bytes)
    try:
        with _open_members(upload_path, kind) as members:
            planned = _plan(members, max_members, max_unpacked_bytes, archive_bytes)
            report = writer.write_all(planned)
    except _WriteFailed as failure:
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
        raise ArchiveError("archive contains no images")
    return report


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
def _open_members(path: Path, kind: str) -> Iterator[Iterator[_Member]]:
    if kind == "zip":
        with zipfile.ZipFile(path) as archive:
            yield _zip_members(archive)
    else:
        with tarfile.open(path, mode="r:gz" if kind == "tar.gz" else "r:") as archive:
            yield _tar_members(archive)


def _zip_members(archive: zipfile.ZipFile) -> Iterator[_Member]:
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
        yield _Member(
            name=info.filename,
            size=info.file_size,
            is_dir=info.is_dir(),
            open=functools.partial(archive.open, info),
        )


def _tar_members(archive: tarfile.TarFile) -> Iterator[_Member]:
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

        yield _Member(name=info.name, size=info.size, is_dir=info.isdir(), open=opener)


def _safe_parts(name: str) -> list[str]:
    """The path components of a member name; raises for absolute or escaping paths."""
    # Backslashes count as separators too: a Windows unpacker would honour them.
    unified = name.replace("\\", "/")
    if unified.startswith("/") or _DRIVE.match(unified):
        raise ArchiveError(f"archive member {name!r} has an absolute path; not allowed")
    parts = [part for part in unified.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"archive member {name!r} points outside the archive; not allowed")
    if any("\x00" in part for part in parts):
        raise ArchiveError(f"archive member {name!r} has a NUL byte in its name")
    # Folder names become class names: any printable text, but no control characters.
    if not all(is_valid_class_name(part) for part in parts):
        raise ArchiveError(f"archive member {name!r} has a control character in its name; not allowed")
    return parts


def _ignored(parts: list[str]) -> bool:
    """macOS resource forks and hidden files: not data, not worth counting as skipped."""
    return not parts or parts[0] == "__MACOSX" or any(part.startswith(".") for part in parts)


def _plan(
    members: Iterator[_Member], max_members: int, max_unpacked_bytes: int, archive_bytes: int
) -> list[tuple[list[str], _Member | None]]:
    """Check every header before writing anything; returns (parts, member or None to skip)."""
    planned: list[tuple[list[str], _Member | None]] = []
    declared = 0
    for count, member in enumerate(members, start=1):
        if count > max_members:
            raise ArchiveError(f"archive has more than {max_members} members")
        parts = _safe_parts(member.name)
        if member.is_dir or _ignored(parts):
            continue
        declared += member.size
        if declared > max_unpacked_bytes:
            raise ArchiveError(f"archive unpacks to more than {max_unpacked_bytes} bytes")
        is_image = Path(parts[-1]).suffix.lower() in IMAGE_EXTENSIONS
        planned.append((parts, member if is_image else None))
    if declared > RATIO_FLOOR_BYTES and declared > MAX_COMPRESSION_RATIO * max(archive_bytes, 1):
        raise ArchiveError(
            f"archive compression ratio is above {MAX_COMPRESSION_RATIO}:1; refusing a likely"
            " decompression bomb"
        )
    return planned


class _Writer:
    """Writes planned members under ``root``, counting every byte, and can undo its writes."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.budget = max_bytes
        self.created: list[Path] = []  # files and folders, in creation order

    def write_all(self, planned: list[tuple[list[str], _Member | None]]) -> ExtractionReport:
        self._mkdir(self.root)
        resolved_root = self.root.resolve()
        images, skipped, classes = 0, 0, set()
        for parts, member in planned:
            if member is None:
                skipped += 1
                continue
            target = self.root.joinpath(*parts)
            self._mkdir(target.parent)
            # Names were checked already; this catches a folder inside a pre-existing
            # destination that is a symlink to somewhere else.
            if not target.parent.resolve().is_relative_to(resolved_root):
                raise ArchiveError(f"archive member {member.name!r} escapes the destination")
            self._write(target, member)
            images += 1
            if len(parts) > 1:
                classes.add(parts[0])
        return ExtractionReport(images=images, skipped=skipped, classes=sorted(classes))

    def _mkdir(self, folder: Path) -> None:
        """Create ``folder`` and its missing parents, remembering each one for ``undo``."""
        missing = []
        for candidate in (folder, *folder.parents):
            if candidate.exists() or candidate.is_symlink():
                break
            missing.append(candidate)
        for candidate in reversed(missing):
            try:
                candidate.mkdir()
            except OSError as error:
                raise ArchiveError(f"cannot create folder {candidate.name!r}: {error}") from error
            self.created.append(candidate)

    def _write(self, target: Path, member: _Member) -> None:
        try:
            # "x": a name used twice in the archive, or a planted symlink, is never overwritten.
            output = target.open("xb")
        except FileExistsError as error:
            raise ArchiveError(f"archive member {member.name!r} appears twice") from error
        except OSError as error:
            raise ArchiveError(f"cannot write archive member {member.name!r}: {error}") from error
        self.created.append(target)
        with output, member.open() as source:
            _copy_limited(source, output, self)

    def undo(self) -> None:
        for path in reversed(self.created):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        self.created.clear()


def _copy_limited(source: IO[bytes], output: BinaryIO, writer: _Writer) -> None:
    """Stream ``source`` into ``output`` while the writer's byte budget lasts.

    Headers can lie about sizes, so the limit is enforced on the bytes that actually come out
    of the decompressor, not only on what the archive declares.
    """
    while chunk := source.read(min(_CHUNK, writer.budget + 1)):
        writer.budget -= len(chunk)
        if writer.budget < 0:
            raise ArchiveError("archive unpacks to more bytes than the limit allows")
        try:
            output.write(chunk)
        except OSError as error:
            raise _WriteFailed(error) from error
