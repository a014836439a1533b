"""Saving an attempt's job record on a disk that may be full.

A record that cannot be written leaves the job in whatever state its file last showed, usually
``running`` with nobody training it. So a save that fails because the disk is full is retried,
at growing then steady intervals, for as long as this attempt holds the job's lease and the
worker is not stopping. Meanwhile the attempt is alive and holds the lease, so no second attempt
starts and the reaper leaves the job alone; once space returns, the state that is true (say
``failed`` with "could not write checkpoint: ... disk is full") is written and the attempt ends.

Giving up is only right when someone else will write the truth: another attempt that took the
lease, or the next attempt after a shutdown (the caller hands the message back).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from common.disk import is_disk_full
from common.jobs import JobRecord, JobStore
from worker.lease import Lease

log = logging.getLogger(__name__)

# Seconds between tries of a record save on a full disk: soon at first (a log rotated, a cache
# cleared), then steadily, so a freed disk is noticed within MAX_RETRY_DELAY.
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)
MAX_RETRY_DELAY = 5.0


class RecordWriter:
    """Saves one attempt's record, waiting out a full disk while the attempt may write it.

    Args:
        store: where the record lives.
        lease: the attempt's lease; once lost, the record is another attempt's to write.
        stopping: True once the worker is shutting down (its message goes back to the queue,
            so the next attempt writes the record).
        delays: seconds between tries on a full disk, the last one repeated.
    """

    def __init__(
        self,
        store: JobStore,
        lease: Lease,
        stopping: Callable[[], bool],
        delays: Sequence[float] = (*RETRY_DELAYS, MAX_RETRY_DELAY),
    ) -> None:
        self.store = store
        self.lease = lease
        self.stopping = stopping
        self.delays = tuple(delays)

    def save(self, record: JobRecord) -> bool:
        """Save ``record``, retrying while the disk is full; False if the attempt gave up first
        (lease lost, or the worker stopping). Errors other than a full disk propagate."""
        tries = 0
        while True:
            try:
                self.store.save(record)
            except OSError as error:
                if not is_disk_full(error):
                    raise
                if tries == 0:
                    log.warning(
                        "job %s: cannot write its record (%s) as %s; retrying until space returns",
                        record.id,
                        error,
                        record.status,
                    )
            else:
                if tries:
                    log.info("job %s: record written as %s once space returned", record.id, record.status)
                return True
            if self.lease.lost or self.stopping():
                why = "its lease was lost" if self.lease.lost else "the worker is stopping"
                log.warning("job %s: record not written as %s (disk full): %s", record.id, record.status, why)
                return False
            time.sleep(self.delays[min(tries, len(self.delays) - 1)])
            tries += 1
