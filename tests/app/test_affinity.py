"""Forward lanes get disjoint CPUs of their own, or none when the CPUs cannot go round."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.rendering.affinity import lane_cpu_sets
from app.rendering.batcher import Batcher
from app.rendering.pool import SamplingPool
from app.wiring import build_renderer, build_runtime
from common.cpus import usable_cores, usable_cpus
from tests.app.conftest import make_settings


@pytest.mark.parametrize(
    ("cpus", "lanes", "threads", "expected"),
    [
        ([0, 1], 2, 1, [{0}, {1}]),
        (list(range(8)), 4, 2, [{0, 1}, {2, 3}, {4, 5}, {6, 7}]),
        ([2, 5, 7, 9, 11], 2, 2, [{2, 5}, {7, 9}]),  # a cpuset's CPUs, one left over
        ([0, 1], 1, 2, None),  # one lane: nothing to keep apart
        ([0, 1, 2], 2, 2, None),  # too few CPUs for two lanes of two threads
    ],
)
def test_lane_cpu_sets(cpus: list[int], lanes: int, threads: int, expected: list[set[int]] | None) -> None:
    assert lane_cpu_sets(cpus, lanes, threads) == expected


def test_the_service_pins_its_lanes_unless_told_not_to(data_dir: Path) -> None:
    cpus = usable_cpus()
    pinned = build_runtime(make_settings(data_dir, torch_threads=1)).renderer
    unpinned = build_runtime(make_settings(data_dir, torch_threads=1, pin_lanes=False)).renderer
    assert isinstance(pinned, Batcher) and isinstance(unpinned, Batcher)
    assert pinned.lanes == unpinned.lanes == usable_cores(cpus)
    if len(cpus) >= 2 and usable_cores(cpus) == len(cpus):
        assert pinned.lane_cpus == [{cpu} for cpu in cpus]
    assert unpinned.lane_cpus is None


def test_a_cpu_quota_sets_the_lanes_and_leaves_them_unpinned(data_dir: Path) -> None:
    settings = make_settings(data_dir, torch_threads=1)
    pool = SamplingPool(2, 8)
    sixty_four = list(range(64))
    # --cpus=2 on a 64-core host: two lanes, free to run on any of the 64 CPUs.
    limited = build_renderer(settings, pool, sixty_four, cores=2)
    assert isinstance(limited, Batcher)
    assert (limited.lanes, limited.lane_cpus) == (2, None)
    whole = build_renderer(settings, pool, sixty_four, cores=64)
    assert isinstance(whole, Batcher)
    assert whole.lanes == 64 and whole.lane_cpus == [{cpu} for cpu in sixty_four]
