"""Training images/s through the real Celery worker, next to the bare loop and the in-process engine.

What a user gets from ``POST /train`` is the worker's step throughput while the job runs. This
starts a private redis-server, the real API (uvicorn) and one real Celery worker (the command
``ganserve up`` runs) on loopback, in a temporary data folder, and submits each case over HTTP.

The worker's rate comes from the job record itself, followed through ``GET /jobs/{id}/events``:
each progress save stamps ``updated_at`` at a step boundary, so two saves give the exact rate
between them. The window opens at the first save after step 1 (dataset load, model build, the
step-0 grid and the first step fall before it) and closes at the first save at least ``--steps``
steps later; then the job is cancelled, and its stop checkpoint falls after the window. No
checkpoint or grid is due inside it (``checkpoint_every``/``sample_every`` 10^6). The worker's own
progress saves (every GAN_PROGRESS_INTERVAL, 1 s by default) are inside it: the user pays them.

The bare loop and the engine (``bench/train_throughput.py``) then time the same number of steps in
this process, with as many torch threads as the worker (GAN_TORCH_THREADS). Rounds interleave
worker, bare, engine; each figure is the best of the rounds. Run:

    .venv/bin/python -m bench.worker_training [--steps 20] [--rounds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import torch

from bench.servers import Server, Worker, start_server, start_worker
from bench.train_throughput import Case, bare_rate, engine_rate, training_cases
from cli.redis_server import start_redis
from common.settings import load_settings

TARGET = 0.95
# The job's budget: far more than any window needs (it is cancelled), within max_train_steps.
JOB_STEPS = 100_000
JOB_TIMEOUT = 1800.0  # seconds for one job, setup included; generous for a loaded machine


@dataclass(frozen=True)
class Snapshot:
    step: int
    saved_at: float  # the record's updated_at: wall clock when the worker saved it


@dataclass(frozen=True)
class WorkerRun:
    steps: int  # steps between the two saves that bound the window
    seconds: float

    def images_per_second(self, case: Case) -> float:
        return self.steps * case.config.batch_size * case.config.d_steps / self.seconds


@dataclass
class Row:
    case: Case
    worker: list[WorkerRun] = field(default_factory=list)
    bare: list[float] = field(default_factory=list)
    engine: list[float] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)

    def worker_rates(self) -> list[float]:
        return [run.images_per_second(self.case) for run in self.worker]


def train_request(case: Case) -> dict[str, Any]:
    """The case's config as a POST /train body: its job spec (the host's fields are the
    worker's: its device is GAN_DEVICE), name defaulted."""
    body = case.config.spec().model_dump()
    body["steps"] = JOB_STEPS
    return body


def job_events(client: httpx.Client, job_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event, job) for each Server-Sent Event of the job, until its ``end`` event."""
    with client.stream("GET", f"/jobs/{job_id}/events") as response:
        response.raise_for_status()
        event = "message"
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                yield event, json.loads(line.removeprefix("data: "))
                if event == "end":
                    return
            elif line.startswith(":"):  # heartbeat: lets the caller check its deadline
                yield "heartbeat", {}


def step_snapshot(job: dict[str, Any]) -> Snapshot | None:
    """The save as a step boundary, or None if it is not one (not running yet, or stamped after
    a checkpoint was written)."""
    step = job["progress"]["step"]
    if job["status"] != "running" or step < 1 or job["checkpoint_step"] == step:
        return None
    return Snapshot(step, job["updated_at"])


def worker_run(client: httpx.Client, case: Case, steps: int, worker_log: Path) -> WorkerRun:
    """Submit ``case``, time at least ``steps`` steps from the job's own saves, then cancel it."""
    response = client.post("/train", json=train_request(case))
    if response.status_code != 202:
        raise RuntimeError(f"POST /train answered {response.status_code}: {response.text}")
    job_id = response.json()["id"]
    deadline = time.monotonic() + JOB_TIMEOUT
    first: Snapshot | None = None
    last: Snapshot | None = None
    final: dict[str, Any] = {}
    for event, job in job_events(client, job_id):
        if time.monotonic() > deadline:
            client.post(f"/jobs/{job_id}/cancel")
            raise RuntimeError(f"job {job_id} took over {JOB_TIMEOUT:.0f} s; see {worker_log}")
        if event == "end":
            final = job
            break
        # `source` (where the events come from) and `sample` (a new grid) carry no job view.
        if event not in ("progress", "state") or last is not None:
            continue
        snapshot = step_snapshot(job)
        if snapshot is None:
            continue
        if first is None:
            first = snapshot
        elif snapshot.step - first.step >= steps:
            last = snapshot
            cancel = client.post(f"/jobs/{job_id}/cancel")
            if cancel.status_code not in (200, 202):
                raise RuntimeError(f"cancelling job {job_id}: {cancel.status_code} {cancel.text}")
    if first is None or last is None:
        raise RuntimeError(
            f"job {job_id} ended {final.get('status')} ({final.get('error') or final.get('detail')}) "
            f"before {steps} steps were timed; see {worker_log}"
        )
    if final.get("attempts") != 1:
        raise RuntimeError(f"job {job_id} ran {final.get('attempts')} attempts; see {worker_log}")
    return WorkerRun(last.step - first.step, last.saved_at - first.saved_at)


def measure(client: httpx.Client, case: Case, args: argparse.Namespace, worker_log: Path) -> Row:
    row = Row(case)
    for number in range(1, args.rounds + 1):
        print(f"  {case.label}: round {number}/{args.rounds} ...", flush=True)
        run = worker_run(client, case, args.steps, worker_log)
        row.worker.append(run)
        row.loads.append(os.getloadavg()[0])
        # The same number of timed steps as the worker's window, so the runs compare like for like.
        row.bare.append(bare_rate(case, run.steps))
        row.loads.append(os.getloadavg()[0])
        row.engine.append(engine_rate(case, run.steps))
        row.loads.append(os.getloadavg()[0])
    return row


def report(rows: list[Row]) -> None:
    print(
        f"\n| case | bare img/s | in-process engine img/s | worker img/s | worker/bare | "
        f"target {TARGET} | load |"
    )
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: |")
    for row in rows:
        bare, engine, worker = max(row.bare), max(row.engine), max(row.worker_rates())
        ratio = worker / bare
        verdict = "met" if ratio >= TARGET else "missed"
        print(
            f"| {row.case.label} | {bare:.1f} | {engine:.1f} | {worker:.1f} | {ratio:.3f} | "
            f"{verdict} | {min(row.loads):.2f}-{max(row.loads):.2f} |"
        )
    print("\nAll rounds, worker / bare / engine img/s (worker's timed steps in seconds):")
    for row in rows:
        rounds = ", ".join(
            f"{w:.0f} / {b:.0f} / {e:.0f} ({run.steps} in {run.seconds:.2f} s)"
            for w, b, e, run in zip(row.worker_rates(), row.bare, row.engine, row.worker, strict=True)
        )
        median = statistics.median(row.worker_rates()) / statistics.median(row.bare)
        print(f"- {row.case.label}: {rounds}; median worker/bare {median:.3f}")


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    workdir = Path(tempfile.mkdtemp(prefix="ganserve-bench-worker-"))
    redis = start_redis(workdir / "redis")
    env = {
        "GAN_DATA_DIR": str(workdir / "data"),
        "GAN_REDIS_URL": redis.url,
        "GAN_TORCH_THREADS": str(args.threads),
        "GAN_DEVICE": "cpu",
    }
    processes: list[Server | Worker] = []
    try:
        worker = start_worker("worker", env, workdir)
        processes.append(worker)
        api = start_server("api", "app.main:app", env, "/healthz", workdir)
        processes.append(api)
        print(
            f"# ganserve training through the worker, {time.strftime('%Y-%m-%d %H:%M')}, "
            f"{os.cpu_count()} CPUs, torch {torch.__version__}, {args.threads} torch threads "
            f"(here and GAN_TORCH_THREADS), batch 64, at least {args.steps} timed steps per run, "
            f"best of {args.rounds} interleaved rounds (worker, bare, engine); worker progress "
            f"saves every {load_settings(env).progress_interval:g} s; data and logs in {workdir} "
            "(removed after a clean run)",
            flush=True,
        )
        with httpx.Client(base_url=api.url, timeout=httpx.Timeout(30, read=120)) as client:
            rows = [measure(client, case, args, worker.log_path) for case in training_cases(args.steps)]
        report(rows)
    except BaseException:
        print(f"(logs and data kept in {workdir})")
        raise
    finally:
        for process in reversed(processes):
            process.stop()
        redis.stop()
    shutil.rmtree(workdir, ignore_errors=True)  # a clean run: nothing in it is worth keeping


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=20, help="least timed steps per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads, here and in the worker")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
