"""The one way this checkout starts a uvicorn server in a child process and waits until it answers.

Tests (``tests/support/processes.py``) and benchmarks (``bench/servers.py``, ``bench/soak.py``)
all start their servers here. It lives with the test support rather than in ``bench/``: the
benchmarks already build on this checkout's other code, as ``scripts/`` imports ``tests/``, while
a test that imported a benchmark script would depend on code nobody runs in the suite.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from cli.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class UvicornServer:
    """A uvicorn child process (the leader of its own process group) and where it answers."""

    process: subprocess.Popen[bytes]
    url: str
    ready_seconds: float  # from launch until the readiness path first answered 200


def uvicorn_command(app: str, port: int) -> list[str]:
    """``uvicorn app`` on ``127.0.0.1:port``, logging warnings and errors only."""
    # No access log: at the warning level uvicorn would drop its lines anyway; this skips
    # formatting them.
    return [
        sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip


def start_uvicorn(
    app: str,
    env: Mapping[str, str],
    log_path: Path,
    *,
    name: str = "API",
    ready_path: str = "/healthz",
    timeout: float = 60.0,
    poll: float = 0.1,
) -> UvicornServer:
    """Serve ``app`` (``module:attribute``) on a free loopback port; return once it answers.

    Args:
        app: what uvicorn serves, e.g. ``app.main:app``.
        env: the child's whole environment (nothing of this process's is added).
        log_path: the child's stdout and stderr are appended here.
        name: the server, in failure messages.
        ready_path: polled until it answers 200 (``/readyz`` also waits for the default model).
        timeout: seconds before giving up.
        poll: seconds between polls.

    Returns:
        The running server; its process runs in a new session, so ``os.killpg`` on its pid
        stops it and anything it started.

    Raises:
        RuntimeError: the server exited first, or did not answer 200 within ``timeout`` (it is
            then killed).
    """
    port = free_port()
    log = open(log_path, "ab")  # noqa: SIM115 - the child writes to it for its whole life
    started = time.perf_counter()
    process = subprocess.Popen(
        uvicorn_command(app, port),
        env=dict(env),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = started + timeout
    with httpx.Client(timeout=2) as client:
        while time.perf_counter() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited early; see {log_path}")
            try:
                if client.get(url + ready_path).status_code == 200:
                    return UvicornServer(process, url, time.perf_counter() - started)
            except httpx.HTTPError:
                pass
            time.sleep(poll)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    raise RuntimeError(f"{name} did not become ready in {timeout:.0f} s; see {log_path}")
