"""Stopping a training child cleanly when its worker is asked to stop.

Celery runs the task in a pool child; the shutdown request (SIGTERM, Ctrl-C) reaches the main
process. The main process leaves a flag file ``<data_dir>/run/shutdown-<hostname>`` that the
training loop checks every step; a child that receives SIGTERM itself (the whole process group
was signalled) sets an in-process flag instead of dying mid-step. Either way the trainer saves a
checkpoint and the job is handed back to the queue for another worker to resume.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from common.settings import Settings

_terminate_requested = threading.Event()
_training = threading.Event()
_handler_installed = False


def flag_path(settings: Settings, hostname: str) -> Path:
    """The shutdown flag file of worker ``hostname``: ``<data_dir>/run/shutdown-<hostname>``."""
    safe = hostname.replace(os.sep, "_")
    return settings.data_dir / "run" / f"shutdown-{safe}"


def announce(settings: Settings, hostname: str) -> None:
    """Called in the worker's main process when a shutdown starts."""
    path = flag_path(settings, hostname)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def clear(settings: Settings, hostname: str) -> None:
    """Remove a flag left by an earlier worker of the same name (it would stop every job)."""
    flag_path(settings, hostname).unlink(missing_ok=True)


def install_child_handler() -> None:
    """In a pool child: SIGTERM during training means "stop after this step", not "die now"."""
    global _handler_installed
    signal.signal(signal.SIGTERM, _on_sigterm)
    _handler_installed = True


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    if _training.is_set():
        _terminate_requested.set()
        # A second SIGTERM (an impatient supervisor) ends the process at once.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


@contextmanager
def training() -> Iterator[None]:
    """Mark this process as training (for the SIGTERM handler) for the duration."""
    _terminate_requested.clear()
    if _handler_installed and threading.current_thread() is threading.main_thread():
        # A SIGTERM during the previous job put the default action back; arm it again.
        signal.signal(signal.SIGTERM, _on_sigterm)
    _training.set()
    try:
        yield
    finally:
        _training.clear()


class ShutdownWatch:
    """Answers "should this worker stop training?" cheaply enough to ask every step."""

    def __init__(self, settings: Settings, hostname: str) -> None:
        self.path = flag_path(settings, hostname)

    def requested(self) -> bool:
        """Whether training should stop now: a SIGTERM reached this process or the flag file exists."""
        return _terminate_requested.is_set() or self.path.exists()
