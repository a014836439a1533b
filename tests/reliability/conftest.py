"""Fixtures for reliability tests: the real stack (private Redis, Celery worker, uvicorn API).

Fault tests kill and restart these processes, so each test gets its own stack; the helpers
keep the logs, so a failure shows what every process said.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.jobs import JobStore
from common.settings import Settings, load_settings
from tests.app.tiny_models import write_tiny_model
from tests.support.processes import (
    RedisServer,
    kill_group,
    service_env,
    start_api,
    start_worker,
    wait_until,
)
from tests.support.uvicorn_server import UvicornServer
from tests.worker.conftest import FAST_TIMING

API_KEY = "reliability-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


class Payload:
    """Unpickling this runs a shell command that creates ``marker``: proof of execution."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


class Stack:
    """Redis, the API and optionally workers, sharing one data folder under ``root``."""

    def __init__(self, root: Path, *, redis_password: str | None = None, **extra_env: str) -> None:
        self.root = root
        self.redis = RedisServer(root / "redis", password=redis_password).start()
        extra = {
            **FAST_TIMING,
            "GAN_QUEUE_NAME": f"ganserve-rel-{uuid.uuid4().hex[:8]}",
            "GAN_API_KEY": API_KEY,
            "GAN_DEFAULT_MODEL": "tiny",
            "GAN_PRETRAINED_DIR": str(root / "no-pretrained"),
            "GAN_SSE_POLL_INTERVAL": "0.05",
            **extra_env,
        }
        self.env = service_env(root / "data", self.redis.url, extra)
        self.settings: Settings = load_settings(self.env)
        self.settings.ensure_dirs()
        write_tiny_model(self.settings.models_dir, "tiny", step=10)
        self.store = JobStore(self.settings.jobs_dir)
        self.api: UvicornServer | None = None
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self._api_starts = 0

    # -- processes ---------------------------------------------------------------------------
    def start_api(self) -> UvicornServer:
        self._api_starts += 1
        self.api = start_api(self.env, self.root / "api.log")
        return self.api

    def kill_api(self) -> None:
        assert self.api is not None
        kill_group(self.api.process, signal.SIGKILL)

    def start_worker(self, name: str = "w1") -> subprocess.Popen[bytes]:
        process = start_worker(self.env, name, self.root / f"{name}.log")
        self.workers[name] = process
        self.wait_until(lambda: " ready." in self.log(name), 60, f"{name} to be ready")
        return process

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        names = ["api", *self.workers]
        return "".join(f"\n===== {name} =====\n{self.log(name)[-6000:]}" for name in names)

    def stop_redis(self) -> None:
        self.redis.stop()

    def start_redis(self) -> None:
        self.redis = RedisServer(
            self.redis.directory, port=self.redis.port, password=self.redis.password
        ).start()

    def close(self) -> None:
        for process in self.workers.values():
            if process.poll() is None:
                kill_group(process, signal.SIGKILL)
        if self.api is not None and self.api.process.poll() is None:
            kill_group(self.api.process, signal.SIGKILL)
        self.redis.stop()

    # -- requests ----------------------------------------------------------------------------
    def http(self, timeout: float = 10) -> httpx.Client:
        assert self.api is not None
        return httpx.Client(base_url=self.api.url, timeout=timeout)

    def wait_until(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        return wait_until(predicate, timeout, what, details=self.logs)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with contextlib.closing(Stack(tmp_path)) as instance:
        yield instance
