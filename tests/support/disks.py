"""Real full disks for tests: a small tmpfs mounted over a folder, filled to the last byte.

Mounting needs CAP_SYS_ADMIN (root in CI and here); elsewhere the test skips with the reason.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

FILLER = ".filler"


@contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A real small filesystem of ``size`` (e.g. ``"4m"``) at ``folder``, unmounted after."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Use up every free byte of the filesystem holding ``folder``; returns the filler file
    (delete it to give the space back)."""
    filler = folder / FILLER
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        chunk = 1 << 20
        while chunk:
            try:
                os.write(fd, bytes(chunk))
            except OSError:
                chunk //= 2  # the last pages: down to single bytes, until not one fits
    finally:
        os.close(fd)
    return filler


def make_room(folder: Path) -> None:
    """Give back the space :func:`fill` took."""
    (folder / FILLER).unlink(missing_ok=True)
