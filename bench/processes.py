"""Child processes of the benchmarks: start and stop a process group, and read its CPU time
and memory from /proc (a Celery worker is a main process and its pool children)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``command`` in a new process group, its output appended to ``log``."""
    return subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM the process group (the child and its own children), SIGKILL after ``timeout``."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def process_tree(pid: int) -> list[int]:
    pids, found = [pid], []
    while pids:
        current = pids.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        found.append(current)
        pids += [int(child) for child in children]
    return found


def cpu_ticks(pids: list[int]) -> tuple[int, int]:
    """(busy ticks of the whole machine, ticks used by ``pids``) so far."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    values = [int(v) for v in fields]
    busy = sum(values) - values[3] - values[4]  # all but idle and iowait
    ours = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ours += int(stat[11]) + int(stat[12])  # utime, stime
    return busy, ours


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants (a Celery worker is two processes)."""
    pids, total = [pid], 0.0
    while pids:
        current = pids.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += (
            next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")) / 1024
        )
        pids += [int(child) for child in children]
    return total
