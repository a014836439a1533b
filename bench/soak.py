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
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import torch

# Allow running as a plain script from a source checkout (bench/ is not an installed package).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.processes import cpu_ticks, process_tree, rss_mib, start, stop
from bench.soak_report import Sample, Shared, report
from cli.redis_server import free_port, start_redis
from models.architectures import build_generator, make_model_config
from models.checkpoint import save_checkpoint
from models.training import TrainConfig, run_files

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "soak-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
# Small enough that the one worker keeps up with a submission every few seconds.
TRAIN_JOB = {
    "dataset": "digits",
    "architecture": "dcgan",
    "g_width": 8,
    "d_width": 8,
    "latent_dim": 16,
    "batch_size": 32,
    "steps": 60,
    "checkpoint_every": 30,
    "sample_every": 30,
    "eval_samples": 0,
}
# (kind, weight): what a client does next.
MIX = [
    ("sample", 30),
    ("grid", 12),
    ("interpolate", 10),
    ("latents", 5),
    ("models", 10),
    ("job", 12),
    ("events", 5),
    ("jobs", 6),
    ("train", 4),
    ("probe", 6),
]


# -- the stack ----------------------------------------------------------------------------------
def write_model(models_dir: Path, name: str, *, num_classes: int = 0) -> None:
    """An untrained 28x28 DCGAN of the shipped models' size: serving cost, not image quality."""
    architecture = "cdcgan" if num_classes else "dcgan"
    config = make_model_config(
        architecture,
        image_size=28,
        channels=1,
        latent_dim=100,
        num_classes=num_classes,
        g_width=64,
        d_width=64,
    )
    generator = build_generator(config)
    run_dir = models_dir / name
    run_files.checkpoint_dir(run_dir).mkdir(parents=True, exist_ok=True)
    train_config = TrainConfig(name=name, architecture=architecture, dataset="mnist5k").to_dict()
    save_checkpoint(
        run_files.checkpoint_path(run_dir, 1000),
        {f"generator.{k}": v for k, v in generator.state_dict().items()},
        kind="generator",
        step=1000,
        model_config=config,
        train_config=train_config,
    )


async def watch_cpu(roots: list[int], shared: Shared, until: float) -> None:
    """Every 5 s: how many cores everything else on the machine used (the shared-CPU noise)."""
    previous = cpu_ticks([p for root in roots for p in process_tree(root)])
    ticks_per_second = os.sysconf("SC_CLK_TCK")
    while time.monotonic() < until:
        await asyncio.sleep(5)
        current = cpu_ticks([p for root in roots for p in process_tree(root)])
        others = (current[0] - previous[0]) - (current[1] - previous[1])
        shared.cpu.append((time.monotonic() - shared.started, others / ticks_per_second / 5))
        previous = current


# -- the clients --------------------------------------------------------------------------------
async def one_request(
    http: httpx.AsyncClient, kind: str, rng: random.Random, shared: Shared
) -> tuple[str, int]:
    """Send one request of ``kind`` (a probe when that kind has nothing to do yet); returns
    the kind sent and the status."""
    if (kind in ("job", "events") and not shared.jobs) or (
        kind == "train" and time.monotonic() < shared.next_train
    ):
        kind = "probe"
    seed = rng.randrange(1_000_000)
    model = rng.choice(["soak", "soak-cond"])
    if kind == "sample":
        response = await http.get("/sample", params={"seed": seed, "model": model})
    elif kind == "grid":
        response = await http.get("/sample", params={"seed": seed, "count": 16, "model": model})
    elif kind == "interpolate":
        response = await http.get(
            "/interpolate", params={"start": seed, "end": seed + 1, "steps": 8, "model": model}
        )
    elif kind == "latents":
        latents = [[rng.gauss(0, 1) for _ in range(100)] for _ in range(4)]
        response = await http.post("/sample", json={"latents": latents, "model": "soak"})
    elif kind == "models":
        response = await http.get("/models")
    elif kind == "jobs":
        response = await http.get("/jobs")
    elif kind in ("job", "events"):
        job_id = rng.choice(shared.jobs)
        if kind == "job":
            response = await http.get(f"/jobs/{job_id}")
        else:
            # Follow the stream for at most a second: the first event comes at once.
            async with http.stream("GET", f"/jobs/{job_id}/events") as stream:
                with_deadline = asyncio.timeout(1.0)
                try:
                    async with with_deadline:
                        async for _ in stream.aiter_lines():
                            pass
                except TimeoutError:
                    pass
                return kind, stream.status_code
    elif kind == "train":
        shared.next_train = time.monotonic() + shared.train_every
        response = await http.post("/train", json=TRAIN_JOB, headers=AUTH)
        if response.status_code == 202:
            shared.jobs.append(response.json()["id"])
            shared.submitted += 1
    else:
        path = rng.choice(["/readyz", "/healthz", "/datasets", "/metrics", "/models/soak"])
        response = await http.get(path)
    if response.status_code >= 500 and len(shared.server_errors) < 20:
        shared.server_errors.append(
            f"{response.request.url.path}: {response.status_code} {response.text[:200]}"
        )
    return kind, response.status_code


async def client(url: str, index: int, until: float, shared: Shared) -> None:
    rng = random.Random(index)
    kinds, weights = zip(*MIX, strict=True)
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        while time.monotonic() < until:
            kind = rng.choices(kinds, weights)[0]
            began = time.monotonic()
            try:
                kind, status = await one_request(http, kind, rng, shared)
            except httpx.HTTPError:
                status = 0
            shared.samples.append(Sample(began - shared.started, kind, status, time.monotonic() - began))


async def drive(url: str, clients: int, seconds: float, shared: Shared, roots: list[int]) -> None:
    until = shared.started + seconds
    await asyncio.gather(
        watch_cpu(roots, shared, until), *(client(url, i, until, shared) for i in range(clients))
    )


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
    data_dir = root / "data"
    torch.manual_seed(0)  # fixture weights only: reproducible serving cost
    write_model(data_dir / "models", "soak")
    write_model(data_dir / "models", "soak-cond", num_classes=10)
    redis = start_redis(root / "redis")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAN_")}
    env.update(
        {
            "GAN_DATA_DIR": str(data_dir),
            "GAN_REDIS_URL": redis.url,
            "GAN_API_KEY": API_KEY,
            "GAN_DEFAULT_MODEL": "soak",
            "GAN_DEVICE": "cpu",
            "GAN_TORCH_THREADS": "1",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(dict(item.split("=", 1) for item in args.env))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    api = start(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env,
        root / "api.log",
    )
    worker = start(
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
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            "soak@%h",
        ],
        env,
        root / "worker.log",
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API did not become ready; see {root / 'api.log'}")
            time.sleep(0.2)
        print(
            f"stack up in {root}; {args.clients} clients, warm-up {args.warmup:.0f} s, "
            f"then {args.seconds:.0f} s measured",
            flush=True,
        )
        # Warm-up: the same traffic, not measured; memory is taken when it ends.
        warm = Shared(started=time.monotonic(), train_every=args.train_every)
        roots = [os.getpid()]  # this process and its children: the API, worker and Redis
        asyncio.run(drive(url, args.clients, args.warmup, warm, roots))
        shared = Shared(
            started=time.monotonic(), jobs=warm.jobs, next_train=warm.next_train, train_every=args.train_every
        )
        memory_start = {"api": rss_mib(api.pid), "worker": rss_mib(worker.pid)}
        asyncio.run(drive(url, args.clients, args.seconds, shared, roots))
        memory_end = {"api": rss_mib(api.pid), "worker": rss_mib(worker.pid)}
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
    finally:
        stop(api)
        stop(worker)
        redis.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
