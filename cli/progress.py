"""Progress of a long command on stderr: a live rich bar on a terminal, plain lines otherwise.

Every `ganserve` command that runs for more than a second reports through ``Progress``, so
they all look alike. stdout stays for the command's result (JSON lines that scripts parse);
progress never goes there. When stderr is not a terminal (a log file, a pipe, CI) nothing is
redrawn: one line is written every ``interval`` seconds and one at the end, with no carriage
returns or escape codes.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import Progress as RichProgress

PLAIN_INTERVAL = 10.0


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    whole = round(seconds)
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """One task's progress: ``with Progress("train", total) as bar: bar.update(done, note)``.

    Args:
        description: what is running (``train``, ``evaluate``, ``import``).
        total: units of work (steps, files); None when unknown.
        unit: shown after the rate (``steps/s``).
        quiet: report nothing.
        stream: where to report (default: stderr).
        interval: seconds between plain lines when ``stream`` is not a terminal.
    """

    def __init__(
        self,
        description: str,
        total: int | None,
        *,
        unit: str = "steps",
        quiet: bool = False,
        stream: TextIO | None = None,
        interval: float = PLAIN_INTERVAL,
    ) -> None:
        self.description = description
        self.total = total
        self.unit = unit
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.live = not quiet and self.stream.isatty()
        self.done = 0
        self.note = ""
        self._started = time.monotonic()
        self._last_line = float("-inf")
        self._printed: int | None = None
        self._first: tuple[int, float] | None = None
        self._rate: float | None = None
        self._eta: float | None = None
        self._rich: RichProgress | None = None
        self._task: object = None

    def __enter__(self) -> Progress:
        self._started = time.monotonic()
        if self.live:
            self._rich = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("eta {task.fields[eta]}"),
                TextColumn("{task.fields[note]}"),
                console=Console(file=self.stream),
                refresh_per_second=5,
            )
            self._rich.start()
            self._task = self._rich.add_task(self.description, total=self.total, rate="", eta="?", note="")
        return self

    def rate(self) -> float:
        """Units per second: as the caller measured it, else since the first update."""
        if self._rate is not None:
            return self._rate
        if self._first is None:
            return 0.0
        first_done, first_time = self._first
        elapsed = time.monotonic() - first_time
        return (self.done - first_done) / elapsed if elapsed > 0 else 0.0

    def eta(self) -> float | None:
        """Seconds left: as the caller estimated it, else at the rate so far; None when unknown."""
        if self._eta is not None:
            return self._eta
        rate = self.rate()
        if self.total is None or rate <= 0:
            return None
        return max(self.total - self.done, 0) / rate

    def update(
        self, done: int, note: str = "", *, rate: float | None = None, eta: float | None = None
    ) -> None:
        """``done`` units finished so far; ``note`` (latest losses, say) is shown beside the bar.

        ``rate`` (units/s) and ``eta`` (seconds) replace this object's own estimates when the
        caller measures better (the trainer does, over its last second).
        """
        if self._first is None:
            # A resumed run starts at its checkpoint's step: the rate counts from here.
            self._first = (done, time.monotonic())
        self.done, self.note, self._rate, self._eta = done, note, rate, eta
        if self.quiet:
            return
        if self._rich is not None:
            self._rich.update(
                self._task,  # type: ignore[arg-type]
                completed=done,
                rate=f"{self.rate():.1f} {self.unit}/s",
                eta=_duration(self.eta()),
                note=note,
            )
            return
        now = time.monotonic()
        if now - self._last_line >= self.interval:
            self._plain_line()
            self._last_line = now

    def _plain_line(self) -> None:
        total = "?" if self.total is None else str(self.total)
        parts = [
            f"{self.description}: {self.done}/{total} {self.unit}",
            f"{self.rate():.1f} {self.unit}/s",
            f"elapsed {_duration(time.monotonic() - self._started)}",
            f"eta {_duration(self.eta())}",
        ]
        if self.note:
            parts.append(self.note)
        self.stream.write(", ".join(parts) + "\n")
        self.stream.flush()
        self._printed = self.done

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._rich is not None:
            self._rich.stop()
        elif not self.quiet and self._printed != self.done:
            self._plain_line()  # the final state, always
