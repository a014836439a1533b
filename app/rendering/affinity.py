"""Which CPUs the forward lanes may use, and pinning a lane's thread to its share of them.

Unpinned, two one-thread lanes and the event loop on two cores left a core idle about 12% of the
time under load (DCGAN 64x64, 32 clients, docs/benchmarks.md): when a lane blocked for a moment,
the scheduler would not move the loop, runnable on the other core, over to the idle one (a
thread that ran a moment ago counts as cache-hot). With each lane pinned to a core of its own,
idle time fell to about 8% and throughput rose 3-7%. The loop stays free to run anywhere.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence

logger = logging.getLogger(__name__)

CpuSet = frozenset[int]


def lane_cpu_sets(cpus: Sequence[int], lanes: int, threads_per_lane: int) -> list[CpuSet] | None:
    """A disjoint block of ``threads_per_lane`` CPUs for each lane, or None when pinning cannot
    give every lane its own (one lane, or fewer CPUs than the lanes' threads)."""
    if lanes < 2 or threads_per_lane < 1 or len(cpus) < lanes * threads_per_lane:
        return None
    return [frozenset(cpus[lane * threads_per_lane : (lane + 1) * threads_per_lane]) for lane in range(lanes)]


class LanePinner:
    """A thread-pool initializer: each new lane thread pins itself to the next CPU set.

    torch's intra-op (OpenMP) threads are created by the lane thread, after this runs, so they
    inherit its CPU set.
    """

    def __init__(self, cpu_sets: Sequence[CpuSet]) -> None:
        self.cpu_sets = list(cpu_sets)
        self._next = 0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        """Pin the calling thread to the next CPU set, round robin; on failure it warns and runs unpinned."""
        with self._lock:
            cpus = self.cpu_sets[self._next % len(self.cpu_sets)]
            self._next += 1
        try:
            os.sched_setaffinity(0, cpus)  # 0: the calling thread, on Linux
        except (OSError, AttributeError) as error:
            # Not fatal: the lane runs unpinned, as it would with GAN_PIN_LANES=false.
            logger.warning("could not pin a forward lane to CPUs %s: %s", sorted(cpus), error)
