"""``run_job`` in this process (no Celery) against a real Redis: the paths that need no worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from common.jobs import SCHEMA_VERSION, JobRecord, JobStore, new_job_id
from common.queue import lease_key
from common.settings import Settings
from models.training import run_files
from tests.support.processes import RedisServer
from tests.worker.conftest import TINY
from worker import shutdown
from worker.jobs import RequeueJob, describe_error, run_job, train_config_for


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    # As in the worker (GAN_TORCH_THREADS=1): tiny models run slower with more threads.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def submit(settings: Settings, server: RedisServer, model: str, **overrides: object) -> str:
    job_id = new_job_id()
    config = {**TINY, **overrides}
    JobStore(settings.jobs_dir).create(JobRecord(id=job_id, model=model, config=config))
    return job_id


def run(
    settings: Settings,
    server: RedisServer,
    job_id: str,
    hostname: str = "t@host",
    legacy_config: dict[str, object] | None = None,
) -> None:
    run_job(settings, job_id, hostname=hostname, redis_client=server.client(), legacy_config=legacy_config)


def test_trains_to_success_and_releases_its_lease(settings: Settings, redis_server: RedisServer) -> None:
    job_id = submit(settings, redis_server, "plain", steps=30, checkpoint_every=10)
    run(settings, redis_server, job_id)
    record = JobStore(settings.jobs_dir).get(job_id)
    assert record is not None
    assert (record.status, record.attempts, record.worker) == ("succeeded", 1, "t@host")
    assert record.progress.step == record.progress.total_steps == 30
    assert record.checkpoint_step == 30
    assert run_files.checkpoint_steps(settings.models_dir / "plain") == [10, 20, 30]
    client = redis_server.client()
    assert not client.exists(lease_key(job_id))


def test_a_message_of_an_earlier_version_without_record_makes_one_from_its_config(
    settings: Settings, redis_server: RedisServer
) -> None:
    # Earlier versions sent [job id, config] and could publish before writing the record.
    job_id = new_job_id()
    run(settings, redis_server, job_id, legacy_config={**TINY, "name": "from-message", "steps": 5})
    record = JobStore(settings.jobs_dir).get(job_id)
    assert record is not None
    assert (record.model, record.status, record.schema_version) == (
        "from-message",
        "succeeded",
        SCHEMA_VERSION,
    )


def test_a_message_whose_job_has_no_record_is_dropped(
    settings: Settings, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = new_job_id()
    run(settings, redis_server, job_id)  # id only, as this version sends: nothing to train from
    assert JobStore(settings.jobs_dir).get(job_id) is None
    assert "has no record in this worker's data folder; message dropped" in caplog.text
    assert not redis_server.client().exists(lease_key(job_id))


def test_a_finished_job_is_not_trained_again(settings: Settings, redis_server: RedisServer) -> None:
    job_id = submit(settings, redis_server, "twice", steps=5, checkpoint_every=5)
    run(settings, redis_server, job_id)
    run(settings, redis_server, job_id)
    record = JobStore(settings.jobs_dir).get(job_id)
    assert record is not None and (record.status, record.attempts) == ("succeeded", 1)


def test_a_job_leased_elsewhere_is_left_alone(settings: Settings, redis_server: RedisServer) -> None:
    job_id = submit(settings, redis_server, "held")
    redis_server.client().set(lease_key(job_id), "another-worker", px=10_000)
    run(settings, redis_server, job_id)
    record = JobStore(settings.jobs_dir).get(job_id)
    assert record is not None and (record.status, record.attempts) == ("queued", 0)
    assert not (settings.models_dir / "held").exists()
    assert redis_server.client().get(lease_key(job_id)) == b"another-worker"


def test_a_job_cancelled_while_queued_never_starts(settings: Settings, redis_server: RedisServer) -> None:
    job_id = submit(settings, redis_server, "never")
    JobStore(settings.jobs_dir).request_cancel(job_id)
    run(settings, redis_server, job_id)
    record = JobStore(settings.jobs_dir).get(job_id)
    assert record is not None and (record.status, record.attempts) == ("cancelled", 0)


def test_a_record_whose_config_is_not_a_training_spec_is_left_alone(
    settings: Settings, redis_server: RedisServer
) -> None:
    # Specs are judged where they enter (the API, the CLI); the worker trusts a record it can
    # read and never runs, rewrites or deletes one it cannot (a hand edit, a foreign version).
    job_id = submit(settings, redis_server, "bad")
    store = JobStore(settings.jobs_dir)
    text = store.path(job_id).read_text().replace('"eval_samples": 0', '"eval_samples": 0, "bogus": 1')
    assert "bogus" in text
    store.path(job_id).write_text(text)
    run(settings, redis_server, job_id)
    assert store.get(job_id) is None and store.path(job_id).read_text() == text
    assert not (settings.models_dir / "bad").exists()


def test_a_worker_shutdown_hands_the_job_back(settings: Settings, redis_server: RedisServer) -> None:
    job_id = submit(settings, redis_server, "handback")
    shutdown.announce(settings, "t@host")
    try:
        with pytest.raises(RequeueJob):
            run(settings, redis_server, job_id)
    finally:
        shutdown.clear(settings, "t@host")
    record = JobStore(settings.jobs_dir).get(job_id)
    assert record is not None and (record.status, record.attempts) == ("queued", 1)
    client = redis_server.client()
    # The lease is free for the next attempt (the caller hands the message back).
    assert not client.exists(lease_key(job_id))


def test_uploaded_dataset_names_map_to_their_folder(settings: Settings) -> None:
    def record(dataset: str) -> JobRecord:
        return JobRecord(id=new_job_id(), model="m", config={**TINY, "dataset": dataset})

    assert train_config_for(settings, record("digits")).dataset == "digits"
    mapped = train_config_for(settings, record("my-faces"))
    assert mapped.dataset == "folder"
    assert mapped.dataset_path == str(settings.datasets_dir / "my-faces")
    assert (mapped.name, mapped.device) == ("m", "cpu")
    for bad in ("../etc", ".hidden", "a/b"):
        with pytest.raises(ValueError, match="invalid dataset name"):
            train_config_for(settings, record(bad))


def test_describe_error_is_one_line_with_the_class() -> None:
    assert describe_error(ValueError("steps must be positive")) == ("ValueError: steps must be positive")
    denied = OSError(13, "Permission denied")
    assert describe_error(denied) == ("could not read or write files: [Errno 13] Permission denied")
    disk_full = OSError(28, "No space left on device")
    assert describe_error(disk_full) == (
        "could not write files: the data folder's disk is full (no space left on device)"
    )
    quota = OSError(122, "Disk quota exceeded")  # EDQUOT on Linux
    assert describe_error(quota) == (
        "could not write files: the data folder's disk quota is used up (disk quota exceeded)"
    )


def test_a_job_error_never_names_the_servers_data_folder(
    settings: Settings, redis_server: RedisServer
) -> None:
    # An uploaded dataset deleted after the job was accepted: the loader names the folder.
    job_id = submit(settings, redis_server, "ghostly", dataset="ghost")
    run(settings, redis_server, job_id)
    record = JobStore(settings.jobs_dir).get(job_id)
    assert record is not None and record.status == "failed" and record.error
    assert str(settings.data_dir) not in record.error
    assert "datasets/ghost" in record.error, record.error
