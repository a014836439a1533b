"""The soak's load: concurrent clients, each a loop of weighted requests, and a watch on the
CPU everything else on the machine uses meanwhile.

``drive`` runs them for a set time against a server's URL and leaves what happened in
``Shared`` (``bench/soak_report.py``), from which the report is made.
"""

from __future__ import annotations

import asyncio
import os
import random
import time

import httpx

from bench.processes import cpu_ticks, process_tree
from bench.soak_report import Sample, Shared
from bench.soak_stack import API_KEY

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
