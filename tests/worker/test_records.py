"""``worker.records``: a record save on a real full disk waits for space while the attempt may
write the record, and gives up only to whoever writes it next."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.fs import is_temporary
from common.jobs import JobRecord, JobStore, new_job_id
from common.settings import Settings
from tests.support.disks import fill, make_room, tmpfs
from tests.support.processes import RedisServer, wait_until
from worker.jobs import describe_error
from worker.lease import Lease
from worker.records import RecordWriter

QUICK = (0.05,)


@pytest.fixture
def full_store(settings: Settings) -> Iterator[JobStore]:
    """A job store on a 1 MiB tmpfs, with room for the records made before it is filled."""
    with tmpfs(settings.jobs_dir, "1m"):
        yield JobStore(settings.jobs_dir)


def queued_job(store: JobStore) -> JobRecord:
    record = JobRecord(id=new_job_id(), model="no-room", config={})
    assert store.create(record)
    return record


def leased(redis_server: RedisServer, record: JobRecord, seconds: float = 3) -> Lease:
    lease = Lease(redis_server.client(), record.id, seconds)
    assert lease.acquire()
    return lease


def temporaries(folder: Path) -> list[str]:
    return [name for name in os.listdir(folder) if is_temporary(name)]


def test_a_save_on_a_full_disk_waits_for_space_then_writes_the_truth(
    full_store: JobStore, redis_server: RedisServer
) -> None:
    record = queued_job(full_store)
    lease = leased(redis_server, record)
    filler = fill(full_store.jobs_dir)
    record.status, record.error = "failed", "could not write checkpoint: disk full"
    writer = RecordWriter(full_store, lease, lambda: False, QUICK)
    saved: list[bool] = []
    thread = threading.Thread(target=lambda: saved.append(writer.save(record)))
    thread.start()
    time.sleep(0.5)  # several tries
    assert thread.is_alive() and not saved
    on_disk = full_store.get(record.id)
    assert on_disk is not None and on_disk.status == "queued"
    assert temporaries(full_store.jobs_dir) == []  # every failed try cleaned up after itself

    filler.unlink()
    thread.join(5)
    assert saved == [True]
    on_disk = full_store.get(record.id)
    assert on_disk is not None and (on_disk.status, on_disk.error) == ("failed", record.error)
    assert temporaries(full_store.jobs_dir) == []
    lease.release()


def test_a_worker_that_stops_gives_up_at_once(full_store: JobStore, redis_server: RedisServer) -> None:
    record = queued_job(full_store)
    lease = leased(redis_server, record)
    fill(full_store.jobs_dir)
    record.status = "running"
    started = time.monotonic()
    assert RecordWriter(full_store, lease, lambda: True, QUICK).save(record) is False
    assert time.monotonic() - started < 1
    assert full_store.get(record.id).status == "queued"  # type: ignore[union-attr]
    lease.release()


def test_an_attempt_that_loses_its_lease_stops_retrying(
    full_store: JobStore, redis_server: RedisServer
) -> None:
    record = queued_job(full_store)
    lease = leased(redis_server, record, seconds=0.3)
    fill(full_store.jobs_dir)
    record.status = "failed"
    saved: list[bool] = []
    thread = threading.Thread(
        target=lambda: saved.append(RecordWriter(full_store, lease, lambda: False, QUICK).save(record))
    )
    thread.start()
    redis_server.client().set(lease.key, "another-attempt")  # the heartbeat finds it taken
    wait_until(lambda: saved, 5, "the writer to give up")
    assert saved == [False] and lease.lost
    make_room(full_store.jobs_dir)
    assert full_store.get(record.id).status == "queued"  # type: ignore[union-attr]


def test_errors_other_than_a_full_disk_are_raised(tmp_path: Path, redis_server: RedisServer) -> None:
    (tmp_path / "jobs").write_text("a file where the folder should be")
    store = JobStore(tmp_path / "jobs")
    record = JobRecord(id=new_job_id(), model="m", config={})
    lease = leased(redis_server, record)
    with pytest.raises(NotADirectoryError):
        RecordWriter(store, lease, lambda: False, QUICK).save(record)
    lease.release()


def test_a_progress_save_that_hits_a_full_disk_is_described_as_such(full_store: JobStore) -> None:
    record = queued_job(full_store)
    fill(full_store.jobs_dir)
    with pytest.raises(OSError) as raised:
        full_store.save(record)
    assert describe_error(raised.value) == (
        "could not write job record: the data folder's disk is full (no space left on device)"
    )
