"""Writing files so that readers see the old content or the new, never half of either.

Every durable file of the service (checkpoints, a run's metrics log and config, job records)
is written here: the bytes go to a hidden temporary file beside the target, are flushed to
disk, and the temporary is renamed over the target (``os.replace`` is atomic on POSIX). On any
failure (a full disk, a read-only mount, an exception from the writer) the temporary is
removed and the target is left as it was.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEMPORARY_SUFFIX = ".tmp"


def temporary_path(target: Path) -> Path:
    """A hidden, unique name beside ``target`` (listings skip dot-files)."""
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMPORARY_SUFFIX}")


def is_temporary(name: str) -> bool:
    """Whether a file name is one of :func:`temporary_path`'s."""
    return name.startswith(".") and name.endswith(TEMPORARY_SUFFIX)


@contextmanager
def atomic_path(target: Path, *, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path to write ``target``'s new content to; it replaces ``target`` when
    the block ends without an exception.

    The caller (or a library it calls, such as safetensors) creates and fills the file. On
    success it is fsynced, given ``mode`` if set, renamed over ``target``, and the folder entry
    fsynced; on any failure it is removed and the exception propagates.
    """
    temporary = temporary_path(target)
    try:
        yield temporary
        if mode is not None:
            os.chmod(temporary, mode)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)


def write_atomic(target: Path, content: str | bytes) -> None:
    """Replace ``target`` with ``content`` atomically (text is written as UTF-8)."""
    data = content.encode() if isinstance(content, str) else content
    with atomic_path(target) as temporary:
        temporary.write_bytes(data)


def create_exclusive(target: Path, content: str | bytes) -> bool:
    """Write ``target`` only if it does not exist yet; returns whether this call created it.

    The content is complete on disk before the name appears (a hard link of a finished
    temporary), so no reader sees a half-written file, and of two concurrent creators exactly
    one wins, even on NFS.
    """
    data = content.encode() if isinstance(content, str) else content
    temporary = temporary_path(target)
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, target)
    except FileExistsError:
        return False
    finally:
        temporary.unlink(missing_ok=True)
    _fsync_directory(target.parent)
    return True


def remove_stale_temporaries(folder: Path, older_than: float = 3600.0) -> int:
    """Delete temporaries left in ``folder`` by writers killed mid-write; returns how many.

    A temporary lives for the milliseconds of one write, so an hour-old one belongs to a
    process that is gone.
    """
    cutoff = time.time() - older_than
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if not is_temporary(entry.name):
            continue
        try:
            if entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def _fsync_directory(directory: Path) -> None:
    # The rename is only durable once the directory entry is on disk. Some filesystems refuse
    # to open or fsync a directory; the file itself is already safe then.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
