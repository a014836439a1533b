"""`ganserve up`: the whole stack in one command.

Redis (an embedded server unless GAN_REDIS_URL is set), the Celery worker(s) and the API run as
child processes; this process only supervises them. It never imports `app` or `worker`.
Stopping (Ctrl-C, SIGTERM) asks the API and workers to stop, waits while a worker checkpoints
and re-queues its job (which needs Redis), and stops Redis last. A second Ctrl-C kills at once.
A child that dies unexpectedly is started again with backoff (``cli.supervisor``); only when one
has spent its restart budget is everything stopped, with exit code 1.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import click
import httpx

from cli.options import FAILURE, data_dir_option
from cli.redis_server import EmbeddedRedis, die_with_parent, restart_redis, start_redis
from cli.supervisor import BudgetSpent, RestartPolicy, Supervised, check
from common.jobs import JobStore
from common.settings import load_settings

log = logging.getLogger("ganserve.up")

ROOT = Path(__file__).resolve().parent.parent
API_STOP_TIMEOUT = 20.0
# As docker-compose's stop_grace_period: a training step plus writing a checkpoint.
WORKER_STOP_TIMEOUT = 120.0
# Redis flushes its append-only file on SIGTERM; a large one takes a few seconds.
REDIS_STOP_TIMEOUT = 30.0
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class UpOptions:
    """What `ganserve up` was asked to run."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    data_dir: Path | None = None
    no_worker: bool = False
    max_restarts: int = RestartPolicy.max_restarts


@click.command("up")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the API listens on.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port the API listens on."
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True,
    help="Celery worker processes (each trains one job at a time).",
)  # fmt: skip
@data_dir_option
@click.option("--no-worker", is_flag=True, help="Run the API only (workers run elsewhere).")
@click.option(
    "--max-restarts", type=click.IntRange(min=0), default=RestartPolicy.max_restarts, show_default=True,
    help="Restarts a child may need within 10 minutes before the whole stack stops (exit code 1).",
)  # fmt: skip
def up_command(
    host: str, port: int, workers: int, data_dir: Path | None, no_worker: bool, max_restarts: int
) -> int:
    """Run Redis (embedded unless GAN_REDIS_URL is set), the Celery worker(s) and the API.

    A child that dies is started again with backoff. Ctrl-C stops them in order: a training job
    is checkpointed and paused, and resumes on the next start; a second Ctrl-C kills at once.
    """
    return run_up(UpOptions(host, port, workers, data_dir, no_worker, max_restarts))


@dataclass
class EmbeddedRedisChild:
    """The embedded Redis as a supervised child: restarted on the same port and folder."""

    server: EmbeddedRedis

    def start(self) -> subprocess.Popen[bytes]:
        """The Redis process, restarted on the same port and folder if it has exited."""
        if self.server.process.poll() is not None:
            self.server = restart_redis(self.server)
        return self.server.process


class _Signals:
    """Turns SIGINT/SIGTERM into flags the supervision loop reads."""

    def __init__(self) -> None:
        self.received = 0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.received += 1
        if self.received == 1:
            log.info("%s: stopping (again to kill at once)", signal.Signals(signum).name)

    def install(self) -> dict[int, Any]:
        """Handle both signals here; returns the previous handlers for ``restore``."""
        return {sig: signal.signal(sig, self) for sig in (signal.SIGINT, signal.SIGTERM)}

    @staticmethod
    def restore(previous: dict[int, Any]) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_up(args: UpOptions) -> int:
    """Start the stack described by ``args`` and supervise it until stopped; returns the code."""
    environ = dict(os.environ)
    if args.data_dir is not None:
        environ["GAN_DATA_DIR"] = str(args.data_dir)
    try:
        settings = load_settings(environ)
    except ValueError as error:  # pydantic's ValidationError is one
        print(f"ganserve up: invalid settings: {error}", file=sys.stderr)
        return FAILURE
    # Absolute, so children started elsewhere (or chdir-ing) agree on the folder.
    settings = settings.model_copy(update={"data_dir": settings.data_dir.resolve()})
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    # Installed first: a Ctrl-C during start-up then stops whatever has started, in order.
    signals = _Signals()
    previous_handlers = signals.install()
    children: list[Supervised] = []
    policy = RestartPolicy(max_restarts=args.max_restarts)
    try:
        redis_url = settings.redis_url
        if not redis_url:
            embedded = EmbeddedRedisChild(start_redis(settings.redis_dir))
            redis_url = embedded.server.url
            print(f"redis:    {redis_url} (embedded, data in {embedded.server.directory})", flush=True)
            children.append(Supervised("redis-server", embedded.start, REDIS_STOP_TIMEOUT))
        env = child_env(environ, settings.data_dir, redis_url)
        workers = 0 if args.no_worker else args.workers
        for number in range(1, workers + 1):
            children.append(_child(f"worker{number}", worker_command(number), env, WORKER_STOP_TIMEOUT))
        children.append(_child("api", api_command(args.host, args.port), env, API_STOP_TIMEOUT))
        for child in children:
            child.launch()
            log.info("started %s (pid %d)", child.name, child.process.pid if child.process else -1)
        return _supervise(children, policy, signals, _public_url(args.host, args.port))
    except RuntimeError as error:  # no redis-server binary, or it would not start
        print(f"ganserve up: error: {error}", file=sys.stderr)
        return FAILURE
    finally:
        jobs = JobStore(settings.jobs_dir)
        running = {record.id for record in jobs.list() if record.status == "running"}
        _stop_all(children, signals)
        _Signals.restore(previous_handlers)
        if signals.received:
            print(paused_jobs_line(jobs, running), file=sys.stderr, flush=True)


def paused_jobs_line(jobs: JobStore, running: set[str]) -> str:
    """The line a stop by signal ends with: what became of the jobs that were training."""
    paused, other = [], []
    for record in jobs.list():
        if record.id not in running:
            continue
        if record.status == "queued":
            step = record.checkpoint_step if record.checkpoint_step is not None else record.progress.step
            paused.append(f"job {record.id} ({record.model}) paused at step {step}")
        else:
            other.append(f"job {record.id} ({record.model}) {record.status}")
    if not paused and not other:
        return "ganserve stopped; no job was training"
    said = "; ".join(paused + other)
    return f"ganserve stopped; {said}" + ("; it resumes on the next start" if paused else "")


def child_env(environ: Mapping[str, str], data_dir: Path, redis_url: str) -> dict[str, str]:
    """The children's environment: ours, plus where the data and Redis are."""
    env = dict(environ)
    env["GAN_DATA_DIR"] = str(data_dir)
    env["GAN_REDIS_URL"] = redis_url
    # Lets the children import the project when it runs from a checkout, not an install.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def worker_command(number: int) -> list[str]:
    """The command line of Celery worker ``number``: one job at a time, named ``worker<number>@<host>``."""
    return [
        sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker",
        "--loglevel=INFO", "--concurrency=1", "--prefetch-multiplier=1", "-O", "fair",
        "-n", f"worker{number}@%h",
    ]  # fmt: skip


def api_command(host: str, port: int) -> list[str]:
    """The uvicorn command line serving the API on ``host:port``, graceful shutdown capped at 10 s."""
    # Bounded graceful shutdown: open event streams would otherwise hold the API up forever.
    return [
        sys.executable, "-m", "uvicorn", "app.main:app", "--host", host, "--port", str(port),
        "--timeout-graceful-shutdown", "10",
    ]  # fmt: skip


def _child(name: str, command: list[str], env: Mapping[str, str], stop_timeout: float) -> Supervised:
    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            command,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            # Own process group: the terminal's Ctrl-C reaches only us, and we stop the children
            # in order (Redis must outlive a checkpointing worker).
            start_new_session=True,
            preexec_fn=die_with_parent,
        )

    return Supervised(name, start, stop_timeout)


def _supervise(children: list[Supervised], policy: RestartPolicy, signals: _Signals, url: str) -> int:
    announced = False
    while not signals.received:
        try:
            check(children, policy, time.monotonic())
        except BudgetSpent as spent:
            log.error("%s", spent)
            print(f"ganserve up: {spent}", file=sys.stderr, flush=True)
            return 1
        if not announced and _healthy(url):
            print(f"ganserve is up: {url}", flush=True)
            announced = True
        time.sleep(POLL_SECONDS)
    return 0


def _stop_all(children: list[Supervised], signals: _Signals) -> None:
    """SIGTERM the API and workers together, wait for each, then stop Redis."""
    already = signals.received
    redis_last = [c for c in children if c.name == "redis-server"]
    for group in ([c for c in children if c.name != "redis-server"], redis_last):
        running = [c for c in group if c.process is not None and c.process.poll() is None]
        for child in running:
            if child.process is not None:
                child.process.terminate()
        started = time.monotonic()
        for child in running:
            process = child.process
            assert process is not None
            deadline = started + child.stop_timeout
            while process.poll() is None:
                if time.monotonic() > deadline or signals.received > already:
                    log.warning("%s did not stop in time; killing it", child.name)
                    _kill_group(process)
                    break
                time.sleep(POLL_SECONDS)
            log.info("%s stopped (code %s)", child.name, process.returncode)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    # The group holds the Celery pool children too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _public_url(host: str, port: int) -> str:
    # A wildcard address is reachable on loopback; IPv6 literals need brackets.
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "healthz", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def main(argv: list[str] | None = None) -> int:
    """`python -m cli.up`: the same command without the rest of the `ganserve` CLI."""
    from cli.main import main as ganserve

    return ganserve(["up", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
