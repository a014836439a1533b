"""common.disk (what counts as a full disk, low-disk checks) and common.fs on a real full disk."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.disk import MIB, LowDisk, disk_full_errno, free_bytes, is_disk_full, low_disks
from common.fs import create_exclusive, is_temporary, write_atomic
from tests.support.disks import fill, make_room, tmpfs


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "disk", "1m") as folder:
        yield folder


def test_full_disks_are_told_apart_from_other_errors_even_when_wrapped() -> None:
    assert disk_full_errno(OSError(errno.ENOSPC, "No space left on device")) == errno.ENOSPC
    assert disk_full_errno(OSError(errno.EDQUOT, "Disk quota exceeded")) == errno.EDQUOT
    assert disk_full_errno(OSError(errno.EACCES, "Permission denied")) is None
    assert disk_full_errno(RuntimeError("no errno at all")) is None
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("could not save") from inner
    except RuntimeError as outer:
        assert is_disk_full(outer)


def test_an_atomic_write_on_a_full_disk_keeps_the_old_file_and_leaves_no_temporary(small_disk: Path) -> None:
    target = small_disk / "record.json"
    write_atomic(target, "old")
    fill(small_disk)
    with pytest.raises(OSError) as raised:
        write_atomic(target, "new" * 10_000)
    assert raised.value.errno == errno.ENOSPC
    assert target.read_text() == "old"
    assert not [name for name in os.listdir(small_disk) if is_temporary(name)]


def test_an_exclusive_create_on_a_full_disk_creates_nothing(small_disk: Path) -> None:
    fill(small_disk)
    with pytest.raises(OSError) as raised:
        create_exclusive(small_disk / "job.json", "x" * 10_000)
    assert raised.value.errno == errno.ENOSPC
    assert sorted(os.listdir(small_disk)) == [".filler"]
    make_room(small_disk)
    assert create_exclusive(small_disk / "job.json", "x")


def test_low_disks_lists_each_filesystem_once_by_its_first_folder(tmp_path: Path, small_disk: Path) -> None:
    data_dir = tmp_path
    (data_dir / "jobs").mkdir()
    folders = [data_dir / "jobs", small_disk, data_dir / "missing"]
    assert low_disks(data_dir, folders, 1) == []
    fill(small_disk)
    assert low_disks(data_dir, folders, MIB) == [LowDisk("disk", free_bytes(small_disk))]
    everything = free_bytes(data_dir) + 1024 * MIB
    assert [disk.folder for disk in low_disks(data_dir, folders, everything)] == [".", "disk"]
    assert LowDisk(".", MIB // 2).describe(100 * MIB) == (
        "the data folder has 0.5 MiB free, below the floor of 100 MiB"
    )
