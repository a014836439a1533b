"""Core counts honour a cgroup CPU quota, as in a container started with ``--cpus``."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.cpus import cpu_quota, usable_cores


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("200000 100000", 2.0), ("150000 100000", 1.5), ("max 100000", None), ("garbage", None)],
)
def test_cgroup_v2_quota(tmp_path: Path, cpu_max: str, expected: float | None) -> None:
    write(tmp_path / "cpu.max", cpu_max)
    assert cpu_quota(tmp_path) == expected


def test_cgroup_v1_quota(tmp_path: Path) -> None:
    write(tmp_path / "cpu" / "cpu.cfs_quota_us", "250000")
    write(tmp_path / "cpu" / "cpu.cfs_period_us", "100000")
    assert cpu_quota(tmp_path) == 2.5
    write(tmp_path / "cpu" / "cpu.cfs_quota_us", "-1")  # v1's "no quota"
    assert cpu_quota(tmp_path) is None


def test_no_cgroup_files_means_no_quota(tmp_path: Path) -> None:
    assert cpu_quota(tmp_path) is None


def test_usable_cores_are_the_cpus_capped_by_the_quota(tmp_path: Path) -> None:
    sixty_four = list(range(64))
    assert usable_cores(sixty_four, tmp_path) == 64
    write(tmp_path / "cpu.max", "150000 100000")  # --cpus=1.5: two threads, not 64
    assert usable_cores(sixty_four, tmp_path) == 2
    assert usable_cores([3], tmp_path) == 1  # a quota never adds CPUs
    write(tmp_path / "cpu.max", "10000 100000")  # a tenth of a core still runs one thread
    assert usable_cores(sixty_four, tmp_path) == 1
