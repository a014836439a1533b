"""Writing an archive's planned members to disk, checking each image as it lands, and undoing it all.

Each image is written through a byte budget (headers can lie about sizes), then checked the
cheap way (``models.data.image_files.check_image``: header, pixel limit, structure; nothing is
decoded) and removed again with its reason when it would not load. Nothing kept is anything the
folder loader would skip, so the counts the record keeps are the ones training sees.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import IO, BinaryIO

from app.services.datasets.inventory import ExtractionReport, Inventory
from app.services.datasets.members import ArchiveError, Member
from models.data.image_files import UnreadableImage, check_image

_CHUNK = 1024 * 1024


class WriteFailed(Exception):
    """Carries an OSError from writing out, so it is not mistaken for a corrupt archive."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class Writer:
    """Writes planned members under ``root``, counting every byte, and can undo its writes."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.budget = max_bytes
        # Files and folders, in creation order (a dict: removing one is not a scan of them all).
        self.created: dict[Path, None] = {}
        self.written: set[Path] = set()  # every file written, kept or not

    def write_all(self, planned: list[tuple[list[str], Member | None]]) -> ExtractionReport:
        """Write every planned image (None: a file to skip), keeping those that would load."""
        self._mkdir(self.root)
        resolved_root = self.root.resolve()
        inventory = Inventory()
        for parts, member in planned:
            if member is None:
                inventory.skip(parts)
                continue
            target = self.root.joinpath(*parts)
            self._mkdir(target.parent)
            # Names were checked already; this catches a folder inside a pre-existing
            # destination that is a symlink to somewhere else.
            if not target.parent.resolve().is_relative_to(resolved_root):
                raise ArchiveError(f"archive member {member.name!r} escapes the destination")
            self._write(target, member)
            try:
                facts = check_image(target)
            except UnreadableImage as unreadable:
                self._remove(target)
                inventory.skip(parts, unreadable.reason)
                continue
            inventory.add(parts, facts)
        for parts in inventory.unclassed():
            self._remove(self.root.joinpath(*parts))
        self._remove_empty_folders()
        return inventory.report()

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
            self.created[candidate] = None

    def _write(self, target: Path, member: Member) -> None:
        if target in self.written:  # the first copy may have been removed as unreadable
            raise ArchiveError(f"archive member {member.name!r} appears twice")
        self.written.add(target)
        try:
            # "x": a name used twice in the archive, or a planted symlink, is never overwritten.
            output = target.open("xb")
        except FileExistsError as error:
            raise ArchiveError(f"archive member {member.name!r} appears twice") from error
        except OSError as error:
            raise ArchiveError(f"cannot write archive member {member.name!r}: {error}") from error
        self.created[target] = None
        with output, member.open() as source:
            copy_limited(source, output, self)

    def _remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self.created.pop(path, None)

    def _remove_empty_folders(self) -> None:
        """Folders left empty by removed files: the loader would show them as empty classes."""
        for path in reversed(list(self.created)):
            if path != self.root and path.is_dir() and not any(path.iterdir()):
                path.rmdir()
                del self.created[path]

    def undo(self) -> None:
        """Remove everything written so far, newest first."""
        for path in reversed(list(self.created)):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        self.created.clear()


def copy_limited(source: IO[bytes], output: BinaryIO, writer: Writer) -> None:
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
            raise WriteFailed(error) from error
