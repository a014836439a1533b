"""Start the processes under test: real uvicorn servers on loopback ports, real Celery workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from app import OPENMP_POLICY
from cli.redis_server import free_port
from cli.up import worker_command

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    ready_seconds: float  # from launch until the readiness URL first answered 200

    def stop(self) -> None:
        stop_group(self.process)


@dataclass
class Worker:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    ready_seconds: float  # from launch until Celery logged that it is ready

    def stop(self) -> None:
        # An idle worker stops at once; the timeout only matters if a job is still running.
        stop_group(self.process, timeout=60)


def stop_group(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM the process group (the child and its own children), SIGKILL after ``timeout``."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


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
    port = free_port()
    log = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115  # the child keeps writing to it
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            target,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=_environment(env),
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
                raise RuntimeError(f"{name} exited early; see {log_dir / name}.log")
            try:
                if client.get(url + ready_path).status_code == 200:
                    return Server(name, process, url, time.perf_counter() - started)
            except httpx.HTTPError:
                pass
            time.sleep(0.01)
    process.kill()
    raise RuntimeError(f"{name} did not become ready in {timeout:.0f} s")


def start_worker(name: str, env: Mapping[str, str], log_dir: Path, timeout: float = 120.0) -> Worker:
    """One Celery worker, started with the command ``ganserve up`` uses; returns once it is ready."""
    log_path = log_dir / f"{name}.log"
    log = open(log_path, "ab")  # noqa: SIM115  # the child keeps writing to it
    started = time.perf_counter()
    process = subprocess.Popen(
        worker_command(1),
        env=_environment(env),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited early; see {log_path}")
        if b" ready." in log_path.read_bytes():
            return Worker(name, process, log_path, time.perf_counter() - started)
        time.sleep(0.1)
    stop_group(process)
    raise RuntimeError(f"{name} did not become ready in {timeout:.0f} s; see {log_path}")
