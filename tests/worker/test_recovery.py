"""Jobs survive the death of their worker, a graceful worker shutdown and a Redis restart."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from models.checkpoint import load_checkpoint, read_checkpoint_info
from models.training import TrainConfig, run_files, train
from tests.worker.conftest import Cluster, training_attempts


def generator_tensors(checkpoint: Path) -> dict[str, torch.Tensor]:
    _, tensors = load_checkpoint(checkpoint)
    return {k: v for k, v in tensors.items() if k.startswith(("generator.", "generator_ema."))}


def train_uninterrupted(config: dict[str, object], run_dir: Path) -> Path:
    """The same run in this process, single-threaded like the worker."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = train(TrainConfig.from_dict({**config, "device": "cpu"}), run_dir)
    finally:
        torch.set_num_threads(threads)
    assert result.checkpoint is not None
    return result.checkpoint


def checkpoint_files(run_dir: Path) -> dict[int, tuple[int, int]]:
    """step -> (inode, mtime) of every checkpoint file, to prove none was rewritten."""
    out = {}
    for step in run_files.checkpoint_steps(run_dir):
        stat = run_files.checkpoint_path(run_dir, step).stat()
        out[step] = (stat.st_ino, stat.st_mtime_ns)
    return out


def test_sigkilled_worker_job_resumes_on_a_new_worker_bitwise(cluster: Cluster, tmp_path: Path) -> None:
    cluster.start_worker("w1")
    job_id = cluster.submit("crash", steps=300, checkpoint_every=20)
    cluster.wait_record(job_id, lambda r: (r.checkpoint_step or 0) >= 40, 60, "two checkpoints")
    cluster.kill("w1", signal.SIGKILL)  # the whole group: main process and training child
    run_dir = cluster.run_dir("crash")
    before = checkpoint_files(run_dir)
    last_before = max(before)
    assert cluster.record(job_id).status == "running"  # nobody could say otherwise

    cluster.start_worker("w2", wait=False)
    record = cluster.wait_final(job_id, timeout=90)

    assert record.status == "succeeded", record.error
    assert record.attempts == 2
    assert record.worker is not None and record.worker.startswith("w2@")
    assert record.progress.step == 300
    # The second attempt continued from the last checkpoint instead of starting over: it
    # trained only the remaining steps, and the earlier checkpoint files were not rewritten.
    assert f"attempt 2 trained steps {last_before + 1}..300" in cluster.log("w2")
    after = checkpoint_files(run_dir)
    assert {step: after[step] for step in before} == before
    # ... and the result is exactly that of one uninterrupted run.
    assert_same_as_uninterrupted(cluster, job_id, tmp_path / "reference")


def assert_same_as_uninterrupted(cluster: Cluster, job_id: str, reference_dir: Path) -> None:
    """The job's final checkpoint equals that of the same config trained in one go."""
    record = cluster.record(job_id)
    steps = record.config.steps
    reference = train_uninterrupted({**record.config.model_dump(), "name": record.model}, reference_dir)
    ours = run_files.checkpoint_path(cluster.run_dir(record.model), steps)
    assert read_checkpoint_info(ours).content_sha256 == read_checkpoint_info(reference).content_sha256
    mine, theirs = generator_tensors(ours), generator_tensors(reference)
    assert mine.keys() == theirs.keys() and mine
    for name, tensor in theirs.items():
        assert torch.equal(mine[name], tensor), name


def test_a_job_stranded_by_a_redis_crash_resumes_after_restart_bitwise(
    cluster: Cluster, tmp_path: Path
) -> None:
    # The lost job of the fault report: Redis is SIGKILLed mid-training, then the worker is
    # stopped. It checkpoints and tries to hand the message back, which cannot reach Redis.
    cluster.start_worker("w1")
    job_id = cluster.submit("redis-crash", steps=600, checkpoint_every=50)
    cluster.wait_record(job_id, lambda r: r.status == "running" and r.progress.step >= 60, 60, "training")
    cluster.redis.kill()
    worker = cluster.workers["w1"]
    os.kill(worker.pid, signal.SIGTERM)
    worker.wait(60)
    stopped = re.findall(r"stopped at step (\d+) for shutdown", cluster.log("w1"))
    assert len(stopped) == 1, cluster.log("w1")
    stop_step = int(stopped[0])
    assert cluster.record(job_id).status == "queued"

    cluster.start_redis_again()
    # What the append-only file brought back: the message only in the unacknowledged hash.
    client = cluster.redis.client()
    assert client.llen(cluster.settings.queue_name) == 0 and client.hlen("unacked") == 1

    cluster.start_worker("w2", wait=False)
    record = cluster.wait_final(job_id, timeout=90)
    assert record.status == "succeeded", record.error
    assert (record.attempts, record.progress.step) == (2, 600)
    assert f"attempt 2 trained steps {stop_step + 1}..600" in cluster.log("w2")
    assert "its unacknowledged message restored" in cluster.log("w2")
    cluster.wait_until(cluster.queue_is_drained, 10, "an empty queue")
    assert_same_as_uninterrupted(cluster, job_id, tmp_path / "reference")


def pool_child(worker: subprocess.Popen[bytes]) -> int:
    """The prefork pool child of a worker started with --concurrency=1: the one that trains."""
    children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def test_a_job_whose_pool_child_is_sigkilled_resumes_within_seconds_under_a_production_lease(
    tmp_path: Path,
) -> None:
    # With the default 30 s lease the dead child's lease would keep the job idle for half a
    # minute; the worker sees that its holder died on this machine and takes it over.
    with contextlib.closing(Cluster(tmp_path, GAN_LEASE_SECONDS="30", GAN_REAPER_INTERVAL="3")) as cluster:
        cluster.start_worker("w1")
        job_id = cluster.submit("child-crash", steps=400, checkpoint_every=20)
        cluster.wait_record(job_id, lambda r: (r.checkpoint_step or 0) >= 40, 60, "two checkpoints")
        os.kill(pool_child(cluster.workers["w1"]), signal.SIGKILL)
        cluster.wait_for_log("w1", f"job {job_id}: training attempt 2", timeout=10)
        record = cluster.wait_final(job_id, timeout=90)
        assert record.status == "succeeded", record.error
        assert (record.attempts, record.progress.step) == (2, 400)
        assert "is dead; taken over" in cluster.log("w1")
        assert_same_as_uninterrupted(cluster, job_id, tmp_path / "reference")


@pytest.mark.parametrize("whole_group", [False, True], ids=["main-process", "process-group"])
def test_sigterm_saves_a_checkpoint_and_another_worker_resumes(cluster: Cluster, whole_group: bool) -> None:
    cluster.start_worker("w1")
    cluster.start_worker("w2")
    job_id = cluster.submit("handover", steps=400, checkpoint_every=50)
    running = cluster.wait_record(
        job_id, lambda r: r.status == "running" and r.progress.step >= 60, 60, "training"
    )
    first, second = ("w1", "w2") if running.worker.startswith("w1@") else ("w2", "w1")
    process = cluster.workers[first]
    if whole_group:
        os.killpg(process.pid, signal.SIGTERM)
    else:
        os.kill(process.pid, signal.SIGTERM)
    assert process.wait(30) == 0  # a warm shutdown that does not wait for the whole job

    stopped = re.findall(r"stopped at step (\d+) for shutdown", cluster.log(first))
    assert len(stopped) == 1, cluster.log(first)
    stop_step = int(stopped[0])
    assert 60 <= stop_step < 400
    # The stop saved the step it was at (not only the last every-50 checkpoint).
    assert stop_step in run_files.checkpoint_steps(cluster.run_dir("handover"))

    record = cluster.wait_final(job_id, timeout=90)
    assert record.status == "succeeded", record.error
    assert record.attempts == 2
    assert record.worker is not None and record.worker.startswith(f"{second}@")
    assert f"attempt 2 trained steps {stop_step + 1}..400" in cluster.log(second)
    cluster.wait_until(cluster.queue_is_drained, 10, "an empty queue")


@pytest.mark.parametrize("crash", [False, True], ids=["stopped", "sigkilled"])
def test_worker_keeps_consuming_across_a_redis_restart(cluster: Cluster, crash: bool) -> None:
    cluster.start_worker("w1")
    running_job = cluster.submit("during-outage", steps=500, checkpoint_every=50)
    queued_job = cluster.submit("after-outage", steps=60)
    cluster.wait_record(
        running_job, lambda r: r.status == "running" and r.progress.step >= 20, 60, "training"
    )
    assert cluster.record(queued_job).status == "queued"
    cluster.restart_redis(down_seconds=1.5, crash=crash)
    restarted = time.monotonic()

    first = cluster.wait_final(running_job, timeout=90)
    second = cluster.wait_final(queued_job, timeout=90)
    assert (first.status, second.status) == ("succeeded", "succeeded"), cluster.all_logs()
    assert first.progress.step == 500 and second.progress.step == 60
    assert (first.attempts, second.attempts) == (1, 1)
    log = cluster.log("w1")
    assert training_attempts(log, running_job) == training_attempts(log, queued_job) == 1
    assert time.monotonic() - restarted < 60
    cluster.wait_until(cluster.queue_is_drained, 10, "an empty queue")
