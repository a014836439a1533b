"""A running job whose disk fills, with a real worker and the data folder on a real tmpfs."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.fs import is_temporary
from common.queue import lease_key
from models.training import run_files
from tests.support.disks import fill, make_room, tmpfs
from tests.worker.conftest import Cluster, training_attempts


@pytest.fixture
def small_cluster(tmp_path: Path) -> Iterator[Cluster]:
    """The data folder on a 4 MiB tmpfs. Progress is saved only at checkpoints (a long
    interval), so a full disk always hits a checkpoint write first."""
    with (
        tmpfs(tmp_path / "data", "4m"),
        contextlib.closing(Cluster(tmp_path, GAN_PROGRESS_INTERVAL="1000")) as cluster,
    ):
        yield cluster  # workers are killed before the unmount


def test_a_job_whose_disk_fills_stays_held_then_ends_failed_once_space_returns(
    small_cluster: Cluster,
) -> None:
    cluster = small_cluster
    cluster.start_worker("w1")
    job_id = cluster.submit("no-room", steps=100_000, checkpoint_every=20)
    cluster.wait_record(job_id, lambda r: (r.checkpoint_step or 0) >= 20, 60, "the first checkpoint")
    data_dir = cluster.settings.data_dir
    fill(data_dir)
    cluster.wait_for_log("w1", f"job {job_id} failed", timeout=30)  # the checkpoint write

    # Neither the failure nor anything else can be written. The attempt stays alive and keeps
    # the lease (a lease period and two reaper sweeps later), so no second attempt starts and
    # the record's `running` is still true: somebody is working on the job.
    time.sleep(cluster.settings.lease_seconds + 2 * cluster.settings.reaper_interval)
    record = cluster.record(job_id)
    assert record.status == "running", cluster.all_logs()
    assert cluster.redis.client().exists(lease_key(job_id)), "the attempt let go of its job"

    make_room(data_dir)
    final = cluster.wait_final(job_id, timeout=20)
    assert final.status == "failed"
    assert (
        final.error == "could not write checkpoint: the data folder's disk is full (no space left on device)"
    )
    assert final.attempts == 1 and training_attempts(cluster.log("w1"), job_id) == 1
    assert final.checkpoint_step == run_files.checkpoint_steps(cluster.run_dir("no-room"))[-1]
    cluster.wait_lease_released(job_id)
    # Nothing half-written beside the records or the checkpoints.
    assert not [name for name in os.listdir(cluster.settings.jobs_dir) if is_temporary(name)]
    checkpoints = run_files.checkpoint_dir(cluster.run_dir("no-room"))
    assert not [name for name in os.listdir(checkpoints) if name.startswith(".")]
