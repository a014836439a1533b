"""Jobs whose disk fills, on a real tmpfs: a running one under a real worker, and an attempt
that cannot even record that it started (``run_job`` in this process)."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.fs import is_temporary
from common.jobs import JobRecord, JobStore, new_job_id
from common.queue import lease_key
from common.settings import Settings
from models.training import run_files
from tests.support.disks import fill, make_room, tmpfs
from tests.support.processes import RedisServer, wait_until
from tests.worker.conftest import TINY, Cluster, training_attempts
from worker import shutdown
from worker.jobs import RequeueJob, run_job


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


@pytest.fixture
def full_jobs_dir(settings: Settings) -> Iterator[JobStore]:
    """``jobs/`` on a 1 MiB tmpfs holding one queued job's record, then filled."""
    with tmpfs(settings.jobs_dir, "1m"):
        yield JobStore(settings.jobs_dir)


def queued(store: JobStore, steps: int) -> str:
    job_id = new_job_id()
    assert store.create(JobRecord(id=job_id, model="late", config={**TINY, "steps": steps}))
    fill(store.jobs_dir)
    return job_id


def start_attempt(
    settings: Settings, server: RedisServer, job_id: str, errors: list[BaseException]
) -> threading.Thread:
    def attempt() -> None:
        try:
            run_job(settings, job_id, hostname="t@host", redis_client=server.client())
        except BaseException as error:  # handed to the test
            errors.append(error)

    thread = threading.Thread(target=attempt)
    thread.start()
    return thread


def test_an_attempt_that_cannot_record_its_start_waits_queued_then_runs(
    settings: Settings, redis_server: RedisServer, full_jobs_dir: JobStore
) -> None:
    job_id = queued(full_jobs_dir, steps=10)
    errors: list[BaseException] = []
    thread = start_attempt(settings, redis_server, job_id, errors)
    time.sleep(1.0)
    # Not started, and the record says so; the attempt holds the job until it can write that.
    assert thread.is_alive() and not errors
    assert full_jobs_dir.get(job_id).status == "queued"  # type: ignore[union-attr]
    assert redis_server.client().exists(lease_key(job_id))

    make_room(full_jobs_dir.jobs_dir)
    thread.join(60)
    assert not errors and not thread.is_alive()
    record = full_jobs_dir.get(job_id)
    assert record is not None and (record.status, record.attempts) == ("succeeded", 1)


def test_a_worker_stopping_meanwhile_hands_the_waiting_job_back_queued(
    settings: Settings, redis_server: RedisServer, full_jobs_dir: JobStore
) -> None:
    job_id = queued(full_jobs_dir, steps=10)
    errors: list[BaseException] = []
    thread = start_attempt(settings, redis_server, job_id, errors)
    try:
        time.sleep(0.5)
        shutdown.announce(settings, "t@host")  # the flag lives in run/, which has room
        thread.join(10)
    finally:
        shutdown.clear(settings, "t@host")
    assert [type(error) for error in errors] == [RequeueJob]
    assert full_jobs_dir.get(job_id).status == "queued"  # type: ignore[union-attr]
    wait_until(lambda: not redis_server.client().exists(lease_key(job_id)), 5, "the lease to be released")
