"""Fixtures for worker tests: a private Redis, real Celery worker processes, a tmp data dir.

Every cluster gets its own redis-server (never the machine's 6379) and its own queue name, so
nothing a test leaves behind can reach another test's workers.
"""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from common.jobs import FINAL_STATUSES, JobRecord, JobStore, new_job_id
from common.queue import lease_key, make_celery, publish_job
from common.settings import Settings, load_settings
from tests.support.configs import TINY_TRAINING
from tests.support.processes import RedisServer, kill_group, service_env, start_worker, wait_until

# Small enough to train 100 steps in about two seconds on one thread.
TINY: dict[str, Any] = dict(TINY_TRAINING)

# Short lease and reaper period so crash recovery happens within seconds.
FAST_TIMING = {
    "GAN_LEASE_SECONDS": "3",
    "GAN_REAPER_INTERVAL": "1",
    "GAN_PROGRESS_INTERVAL": "0.2",
    "GAN_TORCH_THREADS": "1",
    "GAN_DEVICE": "cpu",
}


class Cluster:
    """A Redis server, worker processes and a producer, all on one tmp data dir."""

    def __init__(self, root: Path, **settings: str) -> None:
        self.root = root
        self.redis = RedisServer(root / "redis").start()
        extra = {**FAST_TIMING, "GAN_QUEUE_NAME": f"ganserve-test-{uuid.uuid4().hex[:8]}", **settings}
        self.env = service_env(root / "data", self.redis.url, extra)
        self.settings: Settings = load_settings(self.env)
        self.settings.ensure_dirs()
        self.store = JobStore(self.settings.jobs_dir)
        self.app: Celery = make_celery(self.settings)
        self.workers: dict[str, subprocess.Popen[bytes]] = {}

    # -- processes ---------------------------------------------------------------------------

    def start_worker(self, name: str, *, wait: bool = True) -> subprocess.Popen[bytes]:
        process = start_worker(self.env, name, self.log_path(name))
        self.workers[name] = process
        if wait:
            self.wait_for_log(name, " ready.", timeout=60)
        return process

    def log_path(self, name: str) -> Path:
        return self.root / f"{name}.log"

    def log(self, name: str) -> str:
        path = self.log_path(name)
        return path.read_text(errors="replace") if path.exists() else ""

    def all_logs(self) -> str:
        return "".join(f"\n===== {name} =====\n{self.log(name)}" for name in self.workers)

    def wait_for_log(self, name: str, text: str, timeout: float = 60) -> None:
        self.wait_until(lambda: text in self.log(name), timeout, f"{text!r} in {name}'s log")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        kill_group(self.workers[name], sig)

    def close(self) -> None:
        for process in self.workers.values():
            if process.poll() is None:
                kill_group(process, signal.SIGKILL)
        self.app.close()
        self.redis.stop()

    def restart_redis(self, down_seconds: float, *, crash: bool = False) -> None:
        """Stop Redis (SIGKILL with ``crash``) and start it again on the same port and folder
        (its AOF reloads)."""
        if crash:
            self.redis.kill()
        else:
            self.redis.stop()
        time.sleep(down_seconds)
        self.start_redis_again()

    def start_redis_again(self) -> None:
        self.redis = RedisServer(self.redis.directory, port=self.redis.port).start()

    # -- jobs --------------------------------------------------------------------------------

    def submit(self, model: str, **overrides: Any) -> str:
        """Enqueue a job the way the API does: record, then message."""
        job_id = new_job_id()
        config = {**TINY, **overrides}
        self.store.create(JobRecord(id=job_id, model=model, config=config))
        self.send(job_id)
        return job_id

    def send(self, job_id: str) -> None:
        publish_job(self.app, job_id)

    def record(self, job_id: str) -> JobRecord:
        record = self.store.get(job_id)
        assert record is not None, f"no record for job {job_id}"
        return record

    def wait_until(
        self, predicate: Callable[[], bool], timeout: float, what: str | Callable[[], str]
    ) -> None:
        wait_until(predicate, timeout, what, details=self.all_logs)

    def wait_record(
        self, job_id: str, predicate: Callable[[JobRecord], bool], timeout: float, what: str
    ) -> JobRecord:
        found: list[JobRecord] = []

        def check() -> bool:
            record = self.store.get(job_id)
            if record is not None and predicate(record):
                found.append(record)
                return True
            return False

        self.wait_until(check, timeout, lambda: f"job {job_id}: {what} (now {self.store.get(job_id)})")
        return found[0]

    def wait_final(self, job_id: str, timeout: float = 90) -> JobRecord:
        return self.wait_record(job_id, lambda r: r.status in FINAL_STATUSES, timeout, "final")

    def wait_lease_released(self, job_id: str, timeout: float = 10) -> None:
        """Wait for the worker to release the job's lease.

        The worker releases it just after it saves the final status, so a test that has
        seen that status can still find it for a moment.
        """
        client = self.redis.client()
        released = lambda: not client.exists(lease_key(job_id))  # noqa: E731
        self.wait_until(released, timeout, f"job {job_id}: lease released")

    def run_dir(self, model: str) -> Path:
        return self.settings.models_dir / model

    def queue_is_drained(self) -> bool:
        """No message waiting and none delivered but unacknowledged."""
        client = self.redis.client()
        return client.llen(self.settings.queue_name) == 0 and client.hlen("unacked") == 0


def training_attempts(log: str, job_id: str) -> int:
    return len(re.findall(rf"job {job_id}: training attempt \d+", log))


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A fresh cluster per test (Redis starts in ~50 ms; workers are started by the test)."""
    with contextlib.closing(Cluster(tmp_path)) as instance:
        yield instance


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One private Redis for a module's in-process tests (keys are per job id, so no clashes)."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def settings(tmp_path: Path, redis_server: RedisServer) -> Settings:
    """Settings for calling worker code in this process."""
    environ = {
        "GAN_DATA_DIR": str(tmp_path / "data"),
        "GAN_REDIS_URL": redis_server.url,
        "GAN_QUEUE_NAME": f"ganserve-test-{uuid.uuid4().hex[:8]}",
        **FAST_TIMING,
    }
    loaded = load_settings(environ)
    loaded.ensure_dirs()
    return loaded
