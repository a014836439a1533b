"""common.fs: the one atomic write behind checkpoints, run files and job records."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from common.fs import atomic_path, create_exclusive, is_temporary, remove_stale_temporaries, write_atomic


def leftovers(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if is_temporary(name))


def test_write_atomic_replaces_the_content_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "record.json"
    write_atomic(target, "old")
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert leftovers(tmp_path) == []


def test_a_failing_writer_keeps_the_old_file_and_removes_its_temporary(tmp_path: Path) -> None:
    target = tmp_path / "step.safetensors"
    write_atomic(target, "good")
    with pytest.raises(RuntimeError, match="writer broke"), atomic_path(target) as temporary:
        temporary.write_text("half of the new conte")
        raise RuntimeError("writer broke")
    assert target.read_text() == "good"
    assert leftovers(tmp_path) == []


def test_a_failing_rename_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    (target / "inside").write_text("a folder cannot be replaced by a file")
    with pytest.raises(OSError):
        write_atomic(target, "x")
    assert leftovers(tmp_path) == []


def test_mode_is_applied_before_the_file_appears(tmp_path: Path) -> None:
    target = tmp_path / "public"
    with atomic_path(target, mode=0o640) as temporary:
        temporary.write_text("x")
        os.chmod(temporary, 0o600)  # as safetensors creates its files
    assert target.stat().st_mode & 0o777 == 0o640


def test_create_exclusive_has_one_winner(tmp_path: Path) -> None:
    target = tmp_path / "job.json"
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def create(index: int) -> None:
        barrier.wait()
        results.append(create_exclusive(target, f"writer {index}"))

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
    assert target.read_text().startswith("writer ")
    assert leftovers(tmp_path) == []


def test_only_stale_temporaries_are_removed(tmp_path: Path) -> None:
    stale, fresh, kept = tmp_path / ".a.json.1.ab.tmp", tmp_path / ".b.json.2.cd.tmp", tmp_path / "c.tmp"
    for path in (stale, fresh, kept):
        path.write_text("x")
    hours_ago = time.time() - 7200
    os.utime(stale, (hours_ago, hours_ago))
    os.utime(kept, (hours_ago, hours_ago))  # not hidden: not one of ours
    assert remove_stale_temporaries(tmp_path) == 1
    assert not stale.exists() and fresh.exists() and kept.exists()
    assert remove_stale_temporaries(tmp_path / "missing") == 0
