"""A full disk, decided in one place: which errors are one, what clients and job records are
told about it, and which of the data folder's filesystems run low.

Every durable file of the service lives under the data folder, so "disk full" always means the
disk of that folder (or of one of its subfolders, where those are mounted apart). Messages name
the folder relative to the data folder, never where it sits on the server.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# ENOSPC: no block or inode left; EDQUOT: the user's quota on that filesystem is used up.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
MIB = 1024 * 1024


def disk_full_errno(error: BaseException) -> int | None:
    """The errno that makes ``error``, or an error it was raised from or while handling, a full
    disk; None if it is none."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in DISK_FULL_ERRNOS:
            return current.errno
        current = current.__cause__ or current.__context__
    return None


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` comes from a full disk or a used-up quota (see :func:`disk_full_errno`)."""
    return disk_full_errno(error) is not None


def disk_full_reason(code: int | None) -> str:
    """The sentence for clients and job records, e.g. "the data folder's disk is full (no
    space left on device)"; ``code`` is what :func:`disk_full_errno` returned."""
    if code == errno.EDQUOT:
        return "the data folder's disk quota is used up (disk quota exceeded)"
    return "the data folder's disk is full (no space left on device)"


@dataclass(frozen=True)
class LowDisk:
    """A filesystem of the data folder with less room than the floor."""

    folder: str  # the first folder found on it, relative to the data folder ("." for itself)
    free_bytes: int

    def describe(self, floor_bytes: int) -> str:
        """E.g. "models/ has 0.8 MiB free, below the floor of 100 MiB"."""
        name = "the data folder" if self.folder == "." else f"the data folder's {self.folder}/"
        return (
            f"{name} has {self.free_bytes / MIB:.1f} MiB free, below the floor of {floor_bytes / MIB:g} MiB"
        )


def free_bytes(folder: Path) -> int:
    """Bytes an unprivileged writer can still use on the filesystem holding ``folder``."""
    stat = os.statvfs(folder)
    return stat.f_bavail * stat.f_frsize


def low_disks(data_dir: Path, folders: Iterable[Path], floor_bytes: int) -> list[LowDisk]:
    """The filesystems holding ``data_dir`` or any of ``folders`` (its subfolders) that have
    fewer than ``floor_bytes`` free, each listed once; folders that do not exist are skipped."""
    low: list[LowDisk] = []
    seen_devices: set[int] = set()
    for folder in (data_dir, *folders):
        try:
            device = os.stat(folder).st_dev
            if device in seen_devices:
                continue
            seen_devices.add(device)
            free = free_bytes(folder)
        except OSError:
            continue
        if free < floor_bytes:
            relative = os.path.relpath(folder, data_dir)
            low.append(LowDisk(relative, free))
    return low
