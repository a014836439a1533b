"""Copying the trainer's progress into the job record, throttled."""

from __future__ import annotations

import time

from common.jobs import JobProgress, JobRecord, JobStore
from models.training import Progress
from worker.lease import Lease


class ProgressReporter:
    """The trainer's ``on_progress``: updates ``record`` and saves it at most every ``interval``
    seconds, and always at checkpoints (so ``checkpoint_step`` on disk is never behind the files).

    Args:
        store: where the record lives.
        record: the attempt's record; mutated in place, so the final save carries the progress.
        interval: seconds between saves of ordinary steps.
        lease: once it is lost another attempt owns the record, and this one stops writing it.
    """

    def __init__(self, store: JobStore, record: JobRecord, interval: float, lease: Lease) -> None:
        self.store = store
        self.record = record
        self.interval = interval
        self.lease = lease
        self.first_step: int | None = None
        self._last_save = float("-inf")

    def __call__(self, progress: Progress) -> None:
        if self.first_step is None:
            self.first_step = progress.step
        record = self.record
        record.progress = JobProgress(
            step=progress.step,
            total_steps=progress.total_steps,
            images_per_second=progress.images_per_second,
            eta_seconds=progress.eta_seconds,
        )
        record.losses = dict(progress.losses)
        at_checkpoint = progress.event == "checkpoint"
        if at_checkpoint:
            record.checkpoint_step = progress.checkpoint_step
            quality = progress.metrics.get("quality")
            if isinstance(quality, dict):
                record.quality = quality
        now = time.monotonic()
        if (at_checkpoint or now - self._last_save >= self.interval) and not self.lease.lost:
            self.store.save(record)
            self._last_save = now
