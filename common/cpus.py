"""How many cores this process really has: its CPU affinity, capped by a cgroup CPU quota.

``os.cpu_count()`` counts the host's CPUs. In a container started with ``docker run --cpus=2``
or a Kubernetes CPU limit, the process may run on every CPU of a 64-core host but only for two
cores' worth of time: sizing torch threads or forward lanes by 64 would oversubscribe the quota
32 times over, and the kernel would throttle the whole process.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def usable_cpus() -> list[int]:
    """The CPUs this process may run on (a cpuset or ``taskset`` narrows them), in order."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def cpu_quota(root: Path = CGROUP_ROOT) -> float | None:
    """Cores' worth of CPU time the cgroup allows (2.5 for a quota of 250 ms per 100 ms), or
    None when no quota is set or none can be read. cgroup v2 first, then v1."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota == "max":
            return None
        return int(quota) / int(period) if int(period) > 0 else None
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def usable_cores(cpus: list[int] | None = None, root: Path = CGROUP_ROOT) -> int:
    """Cores to size threads by: the usable CPUs, or fewer when a quota allows less time."""
    count = len(cpus if cpus is not None else usable_cpus())
    quota = cpu_quota(root)
    if quota is not None:
        count = min(count, math.ceil(quota))
    return max(1, count)
