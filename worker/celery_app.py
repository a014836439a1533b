"""The worker's Celery app (``celery -A worker.celery_app worker``) and its process hooks."""

from __future__ import annotations

import logging
import os
from typing import Any

import redis
import torch
from celery import signals
from celery.exceptions import Reject

from common.cpus import usable_cores
from common.queue import make_celery
from common.settings import load_settings
from worker import shutdown
from worker.reaper import Reaper

log = logging.getLogger(__name__)


class _PlannedRequeueWithoutTraceback(logging.Filter):
    """Celery logs every ``Reject`` with its traceback, as if it were an error. Ours
    (``worker.tasks``: a job checkpointed for a shutdown goes back to the queue) is planned and
    its message says so; the traceback only alarms whoever pressed Ctrl-C."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], Reject) and record.exc_info[1].requeue:
            record.exc_info, record.exc_text = None, None
        return True


logging.getLogger("celery.app.trace").addFilter(_PlannedRequeueWithoutTraceback())

settings = load_settings()
app = make_celery(settings)
# The worker imports the task module itself once this module is loaded, so neither imports
# the other at import time (the task module needs ``app``; producers need no tasks).
app.conf.include = ["worker.tasks"]

_reaper: Reaper | None = None
_main_pid: int | None = None


@signals.worker_init.connect
def _on_worker_init(sender: Any, **_: Any) -> None:
    global _main_pid
    _main_pid = os.getpid()
    settings.ensure_dirs()
    shutdown.clear(settings, sender.hostname)


@signals.worker_process_init.connect
def _on_process_init(**_: Any) -> None:
    # Runs in the process that trains (the pool child; the main process with the solo pool),
    # once, before any torch work: one job at a time, so by default it may use every core.
    threads = settings.torch_threads or usable_cores()
    torch.set_num_threads(threads)
    if os.getpid() != _main_pid:
        # Only in a prefork child: with the solo pool this is the main process, whose SIGTERM
        # handler is Celery's own (it announces the shutdown through the flag file).
        shutdown.install_child_handler()


@signals.worker_ready.connect
def _on_worker_ready(sender: Any, **_: Any) -> None:
    global _reaper
    client = redis.Redis.from_url(settings.effective_redis_url(), socket_timeout=5, socket_connect_timeout=3)
    _reaper = Reaper(settings, app, client, hostname=sender.hostname)
    _reaper.start()
    log.info("reaper started (every %.1f s)", settings.reaper_interval)


@signals.worker_shutting_down.connect
def _on_shutting_down(sender: str, **_: Any) -> None:
    # Runs in the main process's signal handler; the training child polls the flag every step.
    shutdown.announce(settings, sender)


@signals.worker_shutdown.connect
def _on_worker_shutdown(sender: Any, **_: Any) -> None:
    if _reaper is not None:
        _reaper.stop()
    shutdown.clear(settings, sender.hostname)
