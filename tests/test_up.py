"""`ganserve up` as a real subprocess: embedded Redis, workers, API, and a clean stop."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import click
import httpx
import pytest
import redis

from cli import up
from tests.support.processes import ROOT, RedisServer, child_env, free_port, wait_until


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


needs_stack = pytest.mark.skipif(
    not (_importable("app.main") and _importable("worker.celery_app")),
    reason="app.main or worker.celery_app is not written yet; the full stack cannot start",
)


def start_up(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    log = (tmp_path / "up.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "cli.up", "--data-dir", str(tmp_path / "data"), *args],
        cwd=ROOT,
        env=env or child_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        # Its own process group, like a shell job: Ctrl-C can then be sent to the whole group.
        start_new_session=True,
    )


def log_match(tmp_path: Path, pattern: str) -> re.Match[str] | None:
    return re.search(pattern, (tmp_path / "up.log").read_text(errors="replace"))


def processes_using(marker: str) -> set[int]:
    """Live processes whose command line or environment mentions ``marker`` (not this one)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            status = (entry / "stat").read_text()
            if status.rsplit(")", 1)[1].split()[0] == "Z":
                continue  # a zombie waiting for its parent is not running anything
            text = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in text:
            found.add(int(entry.name))
    return found


def descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_options_and_wiring_into_the_cli() -> None:
    from cli.main import ganserve

    command = ganserve.commands["up"]
    assert command is up.up_command
    context = command.make_context(
        "up", ["--host", "0.0.0.0", "--port", "9001", "--workers", "2", "--data-dir", "d"]
    )
    params = context.params
    assert (params["host"], params["port"], params["workers"], params["no_worker"]) == (
        "0.0.0.0",
        9001,
        2,
        False,
    )
    assert params["data_dir"] == Path("d")
    with pytest.raises(click.BadParameter):
        command.make_context("up", ["--workers", "0"])
    assert up._public_url("0.0.0.0", 9001) == "http://127.0.0.1:9001/"


@pytest.mark.parametrize("redis_mode", ["embedded", "external"])
def test_a_child_that_keeps_dying_spends_its_budget_then_everything_stops(
    tmp_path: Path, redis_mode: str
) -> None:
    # The API cannot bind a port that is already taken: it exits every time it is restarted.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        external = RedisServer(tmp_path / "external-redis").start() if redis_mode == "external" else None
        try:
            env = child_env({"GAN_REDIS_URL": external.url} if external else None)
            process = start_up(tmp_path, "--port", str(port), "--no-worker", "--max-restarts", "2", env=env)
            code = process.wait(90)
        finally:
            if external:
                external.stop()
    log = (tmp_path / "up.log").read_text()
    assert code == 1, log
    # Two restarts with growing backoff, then the budget is spent and said so.
    died = r"api exited unexpectedly \(code \d+\)"
    assert re.search(died + r"; restarting in 0\.5 s \(restart 1 of at most 2 within 600 s\)", log)
    assert re.search(died + r"; restarting in 1\.0 s \(restart 2 of at most 2 within 600 s\)", log)
    assert log.count("restarted api") == 2
    assert re.search(died + " after 2 restarts within 600 s; restart budget spent, stopping everything", log)
    if redis_mode == "embedded":
        assert "redis-server stopped" in log
        assert (tmp_path / "data" / "redis" / "appendonly.aof").exists()
    else:
        assert "embedded" not in log
        assert not (tmp_path / "data" / "redis").exists()
    assert processes_using(str(tmp_path)) == set()


def child_pid(launcher: int, needle: str) -> int:
    """The launcher's direct child whose command line contains ``needle``."""
    for pid in descendants(launcher):
        parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        if parent == launcher and needle in cmdline(pid):
            return pid
    raise AssertionError(f"no child running {needle!r}")


@needs_stack
def test_dead_children_are_restarted_and_the_api_serves_throughout(tmp_path: Path) -> None:
    port = free_port()
    process = start_up(tmp_path, "--port", str(port), "--workers", "1")
    base = f"http://127.0.0.1:{port}"
    try:
        match = wait_until(lambda: log_match(tmp_path, r"redis:\s+(redis://\S+)"), 30, "redis", interval=0.1)
        wait_until(lambda: log_match(tmp_path, r"ganserve is up"), 120, "the API", interval=0.1)
        queue = redis.Redis.from_url(match.group(1))
        queue.set("ganserve:test", "kept")
        time.sleep(1.5)  # the append-only file is fsynced every second

        # Redis dies hard: it is started again on its port and folder, and the API keeps
        # serving samples (they need no Redis) the whole time.
        old_redis = child_pid(process.pid, "redis-server")
        os.kill(old_redis, signal.SIGKILL)
        statuses = []
        deadline = time.monotonic() + 60
        while not log_match(tmp_path, r"restarted redis-server") and time.monotonic() < deadline:
            statuses.append(httpx.get(f"{base}/sample", params={"seed": 1}, timeout=10).status_code)
        assert log_match(
            tmp_path, r"redis-server exited unexpectedly \(signal SIGKILL\); restarting in 0\.5 s"
        )
        assert statuses and set(statuses) == {200}
        assert child_pid(process.pid, "redis-server") != old_redis
        assert queue.get("ganserve:test") == b"kept"
        wait_until(
            lambda: httpx.get(f"{base}/readyz", timeout=10).status_code == 200,
            60,
            "ready again",
            interval=0.2,
        )

        # The worker dies hard: it is started again, and trains a job after both restarts.
        os.killpg(child_pid(process.pid, "celery"), signal.SIGKILL)
        wait_until(lambda: log_match(tmp_path, r"restarted worker1"), 60, "the worker back", interval=0.1)
        job = httpx.post(
            f"{base}/train",
            json={
                "dataset": "digits",
                "architecture": "gan",
                "steps": 20,
                "batch_size": 16,
                "eval_samples": 0,
            },
            timeout=30,
        )
        assert job.status_code == 202, job.text
        url = f"{base}/jobs/{job.json()['id']}"
        record = wait_until(
            lambda: (r := httpx.get(url, timeout=10).json())["status"] in ("succeeded", "failed") and r,
            120,
            "the job",
            interval=0.5,
        )
        assert record["status"] == "succeeded", record
        assert process.poll() is None  # nothing stopped the stack
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(150)
    assert processes_using(str(tmp_path)) == set()


@needs_stack
def test_up_runs_the_stack_and_sigint_stops_every_child(tmp_path: Path) -> None:
    port = free_port()
    process = start_up(tmp_path, "--port", str(port), "--workers", "1")
    try:
        match = wait_until(lambda: log_match(tmp_path, r"redis:\s+(redis://\S+)"), 30, "redis", interval=0.1)
        queue = redis.Redis.from_url(match.group(1))
        assert queue.ping()
        assert not match.group(1).endswith(":6379/0")
        queue.set("ganserve:test", "kept")  # persisted by the append-only file

        wait_until(lambda: log_match(tmp_path, r"ganserve is up: (\S+)"), 120, "the API", interval=0.1)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        children = wait_until(
            lambda: (
                (pids := descendants(process.pid)) and any("celery" in cmdline(pid) for pid in pids) and pids
            ),
            30,
            "the worker",
            interval=0.1,
        )
        commands = " | ".join(cmdline(pid) for pid in children)
        assert "redis-server" in commands and "uvicorn" in commands and "-n worker1@" in commands

        # As a terminal's Ctrl-C: SIGINT to the launcher's whole process group.
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(150) == 0, (tmp_path / "up.log").read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    alive = {pid for pid in children if Path(f"/proc/{pid}").exists() and cmdline(pid)}
    assert alive == set(), [cmdline(pid) for pid in alive]
    assert processes_using(str(tmp_path)) == set()
    assert b"ganserve:test" in (tmp_path / "data" / "redis" / "appendonly.aof").read_bytes()
    # Redis is stopped last and by the launcher (SIGTERM), not by the terminal's SIGINT.
    log = (tmp_path / "up.log").read_text()
    assert log.index("worker1 stopped") < log.index("redis-server stopped")
    redis_log = (tmp_path / "data" / "redis" / "redis.log").read_text()
    assert "Received SIGTERM" in redis_log and "SIGINT" not in redis_log


@needs_stack
def test_children_die_with_a_killed_launcher(tmp_path: Path) -> None:
    process = start_up(tmp_path, "--port", str(free_port()), "--no-worker")
    wait_until(lambda: log_match(tmp_path, r"ganserve is up"), 120, "the API", interval=0.1)
    assert processes_using(str(tmp_path / "data"))
    process.kill()  # no chance to clean up: the kernel's parent-death signal must do it
    process.wait()
    wait_until(lambda: not processes_using(str(tmp_path / "data")), 30, "orphans to exit", interval=0.1)


def _job_step(base: str, job_id: str) -> int:
    record = httpx.get(f"{base}/jobs/{job_id}", timeout=10).json()
    return int(record["progress"]["step"]) if record["status"] == "running" else 0


@needs_stack
def test_ctrl_c_during_a_job_says_it_is_paused_and_the_next_start_resumes_it(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start_up(tmp_path, "--port", str(port), "--workers", "1")
    try:
        wait_until(lambda: log_match(tmp_path, r"ganserve is up"), 120, "the API", interval=0.2)
        spec = {
            "dataset": "digits",
            "architecture": "gan",
            "steps": 100_000,
            "batch_size": 16,
            "eval_samples": 0,
        }
        job = httpx.post(f"{base}/train", json=spec, timeout=30)
        assert job.status_code == 202, job.text
        job_id = job.json()["id"]
        wait_until(lambda: _job_step(base, job_id) >= 5, 120, "the job to train", interval=0.2)
        os.killpg(process.pid, signal.SIGINT)  # a terminal's Ctrl-C
        assert process.wait(150) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    log = (tmp_path / "up.log").read_text()
    assert "Traceback" not in log, log
    said = re.findall(r"ganserve stopped; .*", log)
    assert len(said) == 1, log
    match = re.fullmatch(
        rf"ganserve stopped; job {job_id} \(\S+\) paused at step ([0-9]+); it resumes on the next start",
        said[0],
    )
    assert match, said
    record = json.loads((tmp_path / "data" / "jobs" / f"{job_id}.json").read_text())
    assert record["status"] == "queued" and record["checkpoint_step"] == int(match.group(1))

    # The next start picks the job up from that checkpoint.
    process = start_up(tmp_path, "--port", str(port), "--workers", "1")
    try:
        wait_until(
            lambda: log_match(tmp_path, rf"job {job_id}: training attempt 2"),
            180,
            "the resumed job",
            interval=0.2,
        )
        wait_until(lambda: _job_step(base, job_id) > int(match.group(1)), 120, "a step past it", interval=0.2)
        httpx.post(f"{base}/jobs/{job_id}/cancel", timeout=10)
        os.killpg(process.pid, signal.SIGINT)
        process.wait(150)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
