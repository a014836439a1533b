"""Soak and load: mixed traffic from concurrent clients against a real stack, for a set time.

Starts its own stack on loopback ports (a private Redis, one Celery worker, the uvicorn API) in
a temporary data folder with two serving models of MNIST size, then runs ``--clients`` clients,
each a loop of weighted requests: single samples, grids, interpolations, latents, model
listings, job status, job event streams, job listings, training submissions (throttled to one
every ``--train-every`` seconds across all clients) and probes. Reports requests, errors by
status, p50/p99 latency per time window and per kind, and the API's and worker's resident
memory after the warm-up and at the end. Exit status 1 if any response was a 5xx.

    .venv/bin/python bench/soak.py --seconds 600            # the recorded run
    .venv/bin/python bench/soak.py --seconds 120 --json out.json --env GAN_BATCHING=false
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

# Allow running as a plain script from a source checkout (bench/ is not an installed package).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.processes import rss_mib
from bench.soak_load import drive
from bench.soak_report import Shared, report
from bench.soak_stack import Stack, running_stack


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=20, help="seconds before measuring")
    parser.add_argument(
        "--window", type=float, default=0, help="report window (s); default a tenth of the run"
    )
    parser.add_argument("--train-every", type=float, default=10.0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the data folder and logs")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="GAN_NAME=VALUE",
        help="an extra setting for the API and the worker (repeatable)",
    )
    args = parser.parse_args()
    window = args.window or max(10.0, args.seconds / 10)

    root = Path(tempfile.mkdtemp(prefix="ganserve-soak-"))
    try:
        with running_stack(root, args.env) as stack:
            print(
                f"stack up in {root}; {args.clients} clients, warm-up {args.warmup:.0f} s, "
                f"then {args.seconds:.0f} s measured",
                flush=True,
            )
            return measure(stack, args, window)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def measure(stack: Stack, args: argparse.Namespace, window: float) -> int:
    """Warm up, drive the measured phase, report; 1 if any response was a 5xx."""
    url = stack.url
    # Warm-up: the same traffic, not measured; memory is taken when it ends.
    warm = Shared(started=time.monotonic(), train_every=args.train_every)
    roots = [os.getpid()]  # this process and its children: the API, worker and Redis
    asyncio.run(drive(url, args.clients, args.warmup, warm, roots))
    shared = Shared(
        started=time.monotonic(), jobs=warm.jobs, next_train=warm.next_train, train_every=args.train_every
    )
    memory_start = {"api": rss_mib(stack.api.pid), "worker": rss_mib(stack.worker.pid)}
    asyncio.run(drive(url, args.clients, args.seconds, shared, roots))
    memory_end = {"api": rss_mib(stack.api.pid), "worker": rss_mib(stack.worker.pid)}
    jobs = httpx.get(url + "/jobs", timeout=30).json()
    extra = {
        "jobs_by_status": dict(Counter(job["status"] for job in jobs)),
        "clients": args.clients,
        "cpu_count": os.cpu_count(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "extra_settings": args.env,
    }
    memory = {name: (memory_start[name], memory_end[name]) for name in memory_start}
    result = report(shared, args.seconds, window, memory, extra)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 1 if result["server_errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
