"""Start the processes under test: real uvicorn servers on loopback ports, real Celery workers."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from app import OPENMP_POLICY
from bench.processes import ROOT, start, stop
from cli.up import worker_command
from tests.support.uvicorn_server import start_uvicorn


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    ready_seconds: float  # from launch until the readiness URL first answered 200

    def stop(self) -> None:
        stop(self.process, timeout=15)


@dataclass
class Worker:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    ready_seconds: float  # from launch until Celery logged that it is ready

    def stop(self) -> None:
        # An idle worker stops at once; the timeout only matters if a job is still running.
        stop(self.process, timeout=60)


def _environment(extra: Mapping[str, str]) -> dict[str, str]:
    # Not the OpenMP policy this process may have taken from importing `app`: ganserve servers
    # set it themselves, and the naive app and the worker run with torch's defaults.
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GAN_", "BENCH_")) and k not in OPENMP_POLICY
    }
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def start_server(
    name: str, target: str, env: Mapping[str, str], ready_path: str, log_dir: Path, timeout: float = 120.0
) -> Server:
    """``uvicorn target`` on a free port; returns once ``ready_path`` answers 200."""
    # Polled every 10 ms: the time to ready is one of the figures.
    server = start_uvicorn(
        target,
        _environment(env),
        log_dir / f"{name}.log",
        name=name,
        ready_path=ready_path,
        timeout=timeout,
        poll=0.01,
    )
    return Server(name, server.process, server.url, server.ready_seconds)


def start_worker(name: str, env: Mapping[str, str], log_dir: Path, timeout: float = 120.0) -> Worker:
    """One Celery worker, started with the command ``ganserve up`` uses; returns once it is ready."""
    log_path = log_dir / f"{name}.log"
    started = time.perf_counter()
    process = start(worker_command(1), _environment(env), log_path)
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited early; see {log_path}")
        if b" ready." in log_path.read_bytes():
            return Worker(name, process, log_path, time.perf_counter() - started)
        time.sleep(0.1)
    stop(process, timeout=15)
    raise RuntimeError(f"{name} did not become ready in {timeout:.0f} s; see {log_path}")
