"""The progress reporter: throttled saves off the training thread, checkpoints saved at once,
nothing written after it is closed or once the lease is lost, and a failed save not lost."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from common.jobs import JobRecord, JobStore, new_job_id
from models.training import Progress
from worker.progress import ProgressReporter


@dataclass
class HeldLease:
    """The one thing the reporter asks of a lease (the Redis side is tested in test_lease)."""

    lost: bool = False


class GatedStore(JobStore):
    """Saves wait for ``gate``: shows whether the trainer's thread waits for a save."""

    def __init__(self, jobs_dir: Path) -> None:
        super().__init__(jobs_dir)
        self.gate = threading.Event()
        self.gate.set()
        self.saves = 0

    def save(self, record: JobRecord) -> None:
        assert self.gate.wait(30), "test gate never opened"
        super().save(record)
        self.saves += 1


def step(number: int, **fields: Any) -> Progress:
    return Progress(number, 100, 50.0, 2.0, {"loss_d": 0.5, "loss_g": 1.5}, **fields)


@pytest.fixture
def store(tmp_path: Path) -> GatedStore:
    return GatedStore(tmp_path / "jobs")


@pytest.fixture
def record(store: GatedStore) -> JobRecord:
    record = JobRecord(id=new_job_id(), model="m", config={"steps": 100}, status="running")
    assert store.create(record)
    return record


def saved(store: JobStore, record: JobRecord) -> JobRecord:
    found = store.get(record.id)
    assert found is not None
    return found


def test_an_ordinary_save_does_not_hold_up_training(store: GatedStore, record: JobRecord) -> None:
    with ProgressReporter(store, record, 0.0, HeldLease()) as reporter:  # type: ignore[arg-type]
        store.gate.clear()
        reporter(step(1))  # returns although the save cannot finish yet
        assert saved(store, record).progress.step == 0
        store.gate.set()
        reporter.flush()
        assert saved(store, record).progress.step == 1
        assert saved(store, record).losses == {"loss_d": 0.5, "loss_g": 1.5}


def test_saves_are_throttled_and_a_checkpoint_is_on_disk_at_once(
    store: GatedStore, record: JobRecord
) -> None:
    with ProgressReporter(store, record, 3600.0, HeldLease()) as reporter:  # type: ignore[arg-type]
        reporter(step(1))
        reporter.flush()
        for number in range(2, 6):
            reporter(step(number))
        reporter.flush()
        assert store.saves == 1 and saved(store, record).progress.step == 1
        reporter(step(5, event="checkpoint", checkpoint_step=5, metrics={"quality": {"fd": 12.5}}))
        on_disk = saved(store, record)  # no flush: the call itself waited
        assert on_disk.checkpoint_step == 5 and on_disk.quality == {"fd": 12.5}


def test_closing_writes_what_was_handed_over_and_nothing_after(store: GatedStore, record: JobRecord) -> None:
    reporter = ProgressReporter(store, record, 0.0, HeldLease())  # type: ignore[arg-type]
    store.gate.clear()
    reporter(step(1))
    reporter(step(2))  # replaces the save of step 1 if that has not started
    store.gate.set()
    reporter.close()
    assert saved(store, record).progress.step == 2
    record.status = "succeeded"
    store.save(record)  # the final save, as worker.jobs makes it
    assert saved(store, record).status == "succeeded"
    with pytest.raises(RuntimeError, match="closed"):
        reporter(step(3))


def test_nothing_is_written_once_the_lease_is_lost(store: GatedStore, record: JobRecord) -> None:
    lease = HeldLease()
    with ProgressReporter(store, record, 0.0, lease) as reporter:  # type: ignore[arg-type]
        store.gate.clear()
        reporter(step(1))
        lease.lost = True  # another attempt owns the record before the save starts
        store.gate.set()
        reporter(step(2))
        reporter.flush()
    assert saved(store, record).progress.step in (0, 1)  # step 1 only if it was already saving
    assert store.saves <= 1


def test_a_failed_save_is_raised_on_the_training_side(tmp_path: Path, record: JobRecord) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    broken = JobStore(blocked / "jobs")
    reporter = ProgressReporter(broken, record, 0.0, HeldLease())  # type: ignore[arg-type]
    reporter(step(1))
    with pytest.raises(OSError):
        reporter.flush()
    reporter(step(2))
    with pytest.raises(OSError):
        reporter.close()
