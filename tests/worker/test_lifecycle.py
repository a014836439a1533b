"""A real worker process runs jobs to success, cancellation and failure.

One worker serves every test in this module (they use different models), which keeps the
module to one worker start-up.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from models.checkpoint import load_checkpoint
from models.training import run_files
from tests.worker.conftest import Cluster


@pytest.fixture(scope="module")
def worker_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("lifecycle"))
    try:
        cluster.start_worker("w1")
        yield cluster
    finally:
        cluster.close()


def test_job_goes_from_queued_to_running_to_succeeded(worker_cluster: Cluster) -> None:
    cluster = worker_cluster
    job_id = cluster.submit("lifecycle", steps=150, checkpoint_every=25)
    seen: list[tuple[str, int]] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        record = cluster.record(job_id)
        if not seen or seen[-1] != (record.status, record.progress.step):
            seen.append((record.status, record.progress.step))
        if record.status not in ("queued", "running"):
            break
        time.sleep(0.02)

    statuses = [status for status, _ in seen]
    # An idle worker can start the job before the first poll, so "queued" may never be seen.
    assert statuses[0] in ("queued", "running")
    assert "running" in statuses
    assert statuses[-1] == "succeeded", cluster.all_logs()
    # Progress was reported while training, not only at the end.
    assert any(status == "running" and 0 < step < 150 for status, step in seen)

    record = cluster.record(job_id)
    assert record.progress.step == record.progress.total_steps == 150
    assert record.checkpoint_step == 150
    assert record.attempts == 1
    assert record.worker is not None and record.worker.startswith("w1@")
    assert record.error is None
    assert record.started_at is not None and record.finished_at is not None
    assert record.created_at <= record.started_at <= record.finished_at
    assert set(record.losses) == {"loss_d", "loss_g"}
    run_dir = cluster.run_dir("lifecycle")
    assert run_files.checkpoint_steps(run_dir) == [25, 50, 75, 100, 125, 150]
    cluster.wait_lease_released(job_id)


def test_cancel_stops_a_running_job_and_keeps_its_last_checkpoint(
    worker_cluster: Cluster,
) -> None:
    cluster = worker_cluster
    job_id = cluster.submit("cancel-me", steps=100_000, checkpoint_every=20)
    cluster.wait_record(
        job_id,
        lambda r: r.status == "running" and (r.checkpoint_step or 0) >= 20,
        60,
        "first checkpoint",
    )
    cluster.store.request_cancel(job_id)
    asked = time.monotonic()
    record = cluster.wait_final(job_id, timeout=30)
    assert time.monotonic() - asked < 10

    assert record.status == "cancelled"
    assert 20 <= record.progress.step < 100_000
    # The trainer saved the step it stopped at, and the record points at that file.
    steps = run_files.checkpoint_steps(cluster.run_dir("cancel-me"))
    assert record.checkpoint_step == record.progress.step == steps[-1]
    cluster.wait_lease_released(job_id)
    assert cluster.record(job_id).attempts == 1


def test_uploaded_dataset_without_images_fails_with_a_clear_error(
    worker_cluster: Cluster,
) -> None:
    cluster = worker_cluster
    empty = cluster.settings.datasets_dir / "no-images"
    empty.mkdir(parents=True)
    (empty / "readme.txt").write_text("not an image")
    job_id = cluster.submit("empty-data", dataset="no-images")
    record = cluster.wait_final(job_id, timeout=60)

    assert record.status == "failed"
    assert record.error is not None
    assert record.error.startswith("DatasetError: no readable images in")
    assert "no-images" in record.error
    assert "Traceback" not in record.error
    assert "Traceback" in cluster.log("w1")  # the details go to the log instead
    cluster.wait_lease_released(job_id)


def test_checkpoint_write_failure_fails_the_job_with_a_clear_error(
    worker_cluster: Cluster,
) -> None:
    cluster = worker_cluster
    job_id = cluster.submit("no-room", steps=100_000, checkpoint_every=20)
    cluster.wait_record(job_id, lambda r: (r.checkpoint_step or 0) >= 20, 60, "first checkpoint")
    # Root ignores permissions, so break the folder instead: a file where it should be.
    checkpoints = run_files.checkpoint_dir(cluster.run_dir("no-room"))
    moved = checkpoints.with_name("checkpoints.moved")
    checkpoints.rename(moved)
    checkpoints.write_text("in the way")
    record = cluster.wait_final(job_id, timeout=30)

    assert record.status == "failed"
    assert record.error is not None
    assert record.error.startswith("could not write checkpoint: "), record.error
    assert "Not a directory" in record.error or "not a directory" in record.error
    # The checkpoints written before the failure are untouched and still load.
    saved = sorted(moved.glob("step-*.safetensors"))
    assert saved and saved[0].name == "step-00000020.safetensors"
    info, _ = load_checkpoint(saved[-1])
    assert info.step == int(saved[-1].stem.split("-")[1])
