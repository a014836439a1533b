"""What ``wait()`` decides, apart from its I/O, so the sync and the async client share it.

``wait`` follows the job's event stream and reports each ``progress`` and ``state`` event;
when the job is final it reads the stored record (which has the final ``evaluation``). The
stream can be silent for long (a queued job: only a keep-alive comment every 15 s), so it is
read with a bounded read timeout that never reaches past the deadline, and reopened from the
last event id when that runs out. Where the stream cannot be had (an error answer, a broken
connection, a close without ``end``) the record is polled instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from client import jobs
from client.calls import Call
from client.errors import ApiError
from client.jobs import FINAL_STATUSES
from client.sse import SseParser

OnProgress = Callable[[dict[str, Any]], object]
# The server comments on an idle stream every 15 s: a read this long with nothing is a dead one.
STREAM_READ_TIMEOUT = 20.0
# How late ``wait`` may raise TimeoutError on a silent stream, in seconds; reopening the stream
# each time the time left falls below its read timeout would reopen it at every line near the end.
DEADLINE_SLACK = 1.0


class Waiter:
    """The state of one ``wait(job_id, timeout, poll, on_progress)``.

    The client's loop is: while :attr:`streaming`, open :meth:`next_stream`, inside
    :meth:`reading`, giving each line to :meth:`line` until it says stop; then, until
    :meth:`polled` says the job is final, read the record and sleep as long as it says.
    """

    def __init__(self, job_id: str, timeout: float, poll: float, on_progress: OnProgress | None) -> None:
        self.job_id = job_id
        self.timeout = timeout
        self.poll = poll
        self.on_progress = on_progress
        self.deadline = time.monotonic() + timeout
        self.streaming = True
        self.record: dict[str, Any] = {}
        self._final = False
        self._reopen = False
        self._last_event_id: str | None = None
        self._read_timeout = STREAM_READ_TIMEOUT
        self._parser = SseParser()

    def next_stream(self, connect_timeout: float) -> tuple[Call[httpx.Response], httpx.Timeout]:
        """The stream to open now (after the last event seen) and its timeouts.

        Raises:
            TimeoutError: the deadline has passed.
        """
        left = self._time_left()
        self._read_timeout = min(STREAM_READ_TIMEOUT, left)
        self._parser = SseParser()
        self._reopen = False
        timeout = httpx.Timeout(min(connect_timeout, left), read=self._read_timeout)
        return jobs.events(self.job_id, self._last_event_id), timeout

    def line(self, line: str) -> bool:
        """Take one line of the stream; True when this stream is done with (the job is final,
        or the stream is to be reopened so that its read timeout ends by the deadline).

        Raises:
            TimeoutError: the deadline has passed.
        """
        event = self._parser.feed(line)
        if event is not None:
            self._last_event_id = event.get("id", self._last_event_id)
            data = event["data"]
            if event["event"] in ("progress", "state") and isinstance(data, dict):
                self._report(data)
                self._final = data.get("status") in FINAL_STATUSES
            self._final = self._final or event["event"] == "end"
        if self._final:
            self.streaming = False
            return True
        self._reopen = self._time_left() < self._read_timeout - DEADLINE_SLACK
        return self._reopen

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Around opening and reading one stream: what ends it decides what comes next
        (a read timeout: reopen, if there is time; an error or a close without ``end``: poll)."""
        try:
            yield
        except httpx.ReadTimeout:
            self._time_left()
            return
        except (ApiError, httpx.HTTPError):
            self.streaming = False  # the record says what is wrong, if anything is
            return
        if not self._reopen:
            self.streaming = False

    def polled(self, record: dict[str, Any]) -> float | None:
        """Take the job's stored record; returns the seconds to sleep before reading it again,
        or None when it is final (it is then :attr:`record`).

        Raises:
            TimeoutError: the job is not final and the deadline has passed.
        """
        self._report(record)
        if record.get("status") in FINAL_STATUSES:
            return None
        return min(self.poll, self._time_left())

    def _report(self, record: dict[str, Any]) -> None:
        if record != self.record and self.on_progress is not None:
            self.on_progress(record)
        self.record = record

    def _time_left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            status = self.record.get("status", "unfinished")
            raise TimeoutError(f"job {self.job_id} still {status} after {self.timeout:g} s")
        return left
