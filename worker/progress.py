"""Copying the trainer's progress into the job record, throttled, saved off the training thread."""

from __future__ import annotations

import contextlib
import threading
import time
from types import TracebackType

from common.jobs import JobProgress, JobRecord, JobStore
from models.training import Progress
from worker.events import JobEvents
from worker.lease import Lease


class ProgressReporter:
    """The trainer's ``on_progress``: updates ``record`` and saves it at most every ``interval``
    seconds, and always at checkpoints (so ``checkpoint_step`` on disk is never behind the files).

    Saving a record fsyncs it, which took milliseconds (7 ms here, more on a busy disk) that
    the training loop used to wait for every interval; a small writer thread does it instead.
    Ordinary saves hand it a copy of the record and return (a save not started yet is replaced
    by the newer one); a checkpoint's save waits until it is on disk. Use the reporter as a
    context manager (or call :meth:`close`) so every save is done before anyone else writes the
    record, e.g. its final status.

    Args:
        store: where the record lives.
        record: the attempt's record; mutated in place, so the final save carries the progress.
        interval: seconds between saves of ordinary steps.
        lease: once it is lost another attempt owns the record, and this one stops writing it.
        events: where each save is also announced as a live ``progress`` event (it queues the
            event and returns; Redis is never waited for here).
    """

    def __init__(
        self,
        store: JobStore,
        record: JobRecord,
        interval: float,
        lease: Lease,
        events: JobEvents | None = None,
    ) -> None:
        self.store = store
        self.record = record
        self.interval = interval
        self.lease = lease
        self.events = events
        self.first_step: int | None = None
        self._last_save = float("-inf")
        self._changed = threading.Condition()
        self._pending: JobRecord | None = None  # the next copy to write
        self._writing = False
        self._closed = False
        self._error: Exception | None = None  # a failed save, raised on the trainer's side
        self._writer = threading.Thread(target=self._write_loop, name="progress-writer", daemon=True)
        self._writer.start()

    def __call__(self, progress: Progress) -> None:
        """Take one report from the training loop; the record is saved at most every interval."""
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
            # A shallow copy is enough: the fields above are replaced on every call, never
            # changed in place, so the copy keeps what they were now.
            self._submit(record.model_copy())
            if self.events is not None:
                self.events.progress(record)
            self._last_save = now
            if at_checkpoint:
                self.flush()

    def _submit(self, snapshot: JobRecord) -> None:
        with self._changed:
            self._raise_error()
            if self._closed:
                raise RuntimeError("the progress reporter is closed")
            self._pending = snapshot
            self._changed.notify_all()

    def flush(self) -> None:
        """Return once every save handed over so far is on disk (raises a failed save's error)."""
        with self._changed:
            self._changed.wait_for(lambda: self._pending is None and not self._writing)
            self._raise_error()

    def close(self) -> None:
        """Finish the saves handed over and stop the writer; the record is the caller's again."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._writer.join()
        with self._changed:
            self._raise_error()

    def __enter__(self) -> ProgressReporter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if error is None:
            self.close()
            return
        with contextlib.suppress(Exception):  # the error already on its way is the one to report
            self.close()

    def _raise_error(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _write_loop(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._pending is not None or self._closed)
                snapshot, self._pending = self._pending, None
                if snapshot is None:
                    return  # closed, and nothing left to write
                self._writing = True
            try:
                if not self.lease.lost:  # lost meanwhile: another attempt owns the record now
                    self.store.save(snapshot)
            except Exception as error:  # e.g. a full disk: raised on the trainer's side
                with self._changed:
                    self._error = error
            finally:
                with self._changed:
                    self._writing = False
                    self._changed.notify_all()
