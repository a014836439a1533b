"""Where a run keeps its files. The trainer writes them; the service and the CLI read them.

A run folder is also a servable model::

    <run>/config.json                    training config (written when the run starts)
    <run>/checkpoints/step-00000500.safetensors
    <run>/samples/step-00000500.png      fixed-noise grid at that step
    <run>/metrics.jsonl                  one JSON object per checkpoint
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

from cachetools import LRUCache

from common.fs import write_atomic

CHECKPOINT_PATTERN = re.compile(r"step-([0-9]{8})\.safetensors")
SAMPLE_PATTERN = re.compile(r"step-([0-9]{8})\.png")


def checkpoint_dir(run_dir: Path) -> Path:
    """The run's ``checkpoints/`` folder of ``step-NNNNNNNN.safetensors`` files."""
    return run_dir / "checkpoints"


def samples_dir(run_dir: Path) -> Path:
    """The run's ``samples/`` folder of fixed-noise grids, one PNG per sampled step."""
    return run_dir / "samples"


def metrics_path(run_dir: Path) -> Path:
    """The run's ``metrics.jsonl``, one JSON record per checkpoint."""
    return run_dir / "metrics.jsonl"


def checkpoint_path(run_dir: Path, step: int) -> Path:
    """Where the checkpoint of ``step`` lives: ``checkpoints/step-{step:08d}.safetensors``."""
    return checkpoint_dir(run_dir) / f"step-{step:08d}.safetensors"


def sample_path(run_dir: Path, step: int) -> Path:
    """Where the fixed-noise grid of ``step`` lives: ``samples/step-{step:08d}.png``."""
    return samples_dir(run_dir) / f"step-{step:08d}.png"


# Listings by folder, with the folder's mtime when listed. Any file created, renamed or removed
# in a folder changes its mtime, so an unchanged mtime means an unchanged listing: the service
# lists every model's folders on every /models, /readyz and submission, and a `stat` is much
# cheaper than reading the folder. A folder changed within the last MTIME_TRUST_SECONDS is always
# read afresh, since on a file system with coarse timestamps (some NFS) two changes in one tick
# leave one mtime ("racy" timestamps, as git calls them).
MTIME_TRUST_SECONDS = 2.0
# Bounded: deleted models' folders would otherwise stay here for good.
_listings: LRUCache[tuple[str, str], tuple[int, list[int]]] = LRUCache(maxsize=65_536)
_listings_lock = threading.Lock()


def _steps(directory: Path, pattern: re.Pattern[str]) -> list[int]:
    path = os.fspath(directory)
    try:
        mtime = os.stat(path).st_mtime_ns
    except (FileNotFoundError, NotADirectoryError):
        return []
    key = (path, pattern.pattern)
    with _listings_lock:
        cached = _listings.get(key)
    if cached is not None and cached[0] == mtime and time.time_ns() - mtime > MTIME_TRUST_SECONDS * 1e9:
        return list(cached[1])
    # scandir: the file type comes with the listing, one system call per folder.
    try:
        entries = list(os.scandir(path))
    except (FileNotFoundError, NotADirectoryError):
        return []
    steps = sorted(
        int(match.group(1))
        for entry in entries
        if (match := pattern.fullmatch(entry.name)) and entry.is_file()
    )
    with _listings_lock:
        _listings[key] = (mtime, steps)
    return list(steps)


def checkpoint_steps(run_dir: Path) -> list[int]:
    """Steps that have a checkpoint file, ascending (validity is not checked here)."""
    return _steps(checkpoint_dir(run_dir), CHECKPOINT_PATTERN)


def sample_steps(run_dir: Path) -> list[int]:
    """Steps that have a fixed-noise grid PNG, ascending."""
    return _steps(samples_dir(run_dir), SAMPLE_PATTERN)


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """Metrics records in file order; a torn last line (crash mid-append) is ignored."""
    path = metrics_path(run_dir)
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def logged_times(run_dir: Path) -> dict[int, float]:
    """Step -> when its checkpoint was written, from the metrics log (the last record wins):
    the training time of checkpoints from before their header stored ``trained_at``."""
    times = {}
    for record in read_metrics(run_dir):
        step, when = record.get("step"), record.get("time")
        if isinstance(step, int) and isinstance(when, int | float) and not isinstance(when, bool):
            times[step] = float(when)
    return times


def append_metrics(run_dir: Path, record: dict[str, Any]) -> None:
    """Append ``record`` as one JSON line to ``metrics.jsonl`` and fsync it before returning."""
    with open(metrics_path(run_dir), "a") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def truncate_metrics(run_dir: Path, last_step: int) -> None:
    """Drop records after ``last_step`` (written after the checkpoint a resume starts from)."""
    kept = [r for r in read_metrics(run_dir) if int(r.get("step", 0)) <= last_step]
    write_atomic(metrics_path(run_dir), "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))
