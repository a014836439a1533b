"""Serving figures against the machine's limits, measured side by side in one run.

Starts real uvicorn servers on loopback (ganserve with batching on, ganserve with batching
off, and the naive one-forward-per-request app in ``bench/naive_app.py``), drives them with
wrk, and prints next to them what this machine does in-process with no HTTP at all. Cells are
interleaved (every server for one concurrency, then the next) and repeated; each figure is the
best of the rounds, and every row shows the 1-minute load average it was taken at. Run:

    apt-get install -y wrk
    .venv/bin/python -m bench.serving [--seconds 5] [--rounds 2] [--threads 0] [--batch 32]
"""

from __future__ import annotations

# isort: off
# First, before torch loads: the serving process's OpenMP policy (app/__init__.py), so the
# in-process figures are those of the service's own configuration.
import app  # noqa: F401
# isort: on

import argparse
import os
import re
import tempfile
import time
from pathlib import Path

import httpx
from torch import nn

from app.wiring import DEFAULT_TORCH_THREADS, forward_lanes
from bench import inprocess
from bench.checkpoints import DCGAN_64, GAN_28, BenchModel, build_eval_generator, write_checkpoint
from bench.figures import Cell, Figures, InProcess, print_targets
from bench.loadgen import run_wrk
from bench.servers import Server, start_server
from cli.redis_server import start_redis
from common.cpus import usable_cores

CONCURRENCY = (1, 8, 32, 128)
STRIP_FRAMES = 16
# Servers count as idle when all of them together burn at most this much CPU in a window.
IDLE_WINDOW_SECONDS = 0.2
IDLE_CPU_SECONDS = 0.02


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until_idle(servers: dict[str, Server], timeout: float = 60.0) -> None:
    """Return once no server burns CPU: a server still answering the requests a load generator
    left queued at its last cell (the naive app at 128 clients has a second or more of them)
    would otherwise load the next cell, and charge it their CPU."""
    deadline = time.monotonic() + timeout
    pids = [server.process.pid for server in servers.values()]
    before = sum(process_cpu_seconds(pid) for pid in pids)
    while time.monotonic() < deadline:
        time.sleep(IDLE_WINDOW_SECONDS)
        after = sum(process_cpu_seconds(pid) for pid in pids)
        if after - before <= IDLE_CPU_SECONDS:
            return
        before = after


def render_counters(server: Server) -> tuple[float, float]:
    """(forward passes, rows) from a ganserve server's /metrics; zeros for the naive app."""
    if server.name == "naive":
        return 0.0, 0.0
    text = httpx.get(server.url + "/metrics", timeout=10).text

    def counter(name: str) -> float:
        found = re.search(rf"^ganserve_render_{name}_total (\S+)$", text, re.MULTILINE)
        return float(found[1]) if found else 0.0

    return counter("forward_passes"), counter("forward_rows")


def measure(servers: dict[str, Server], name: str, path: str, connections: int, seconds: int) -> Cell:
    wait_until_idle(servers)
    server = servers[name]
    passes, rows = render_counters(server)
    cpu = process_cpu_seconds(server.process.pid)
    result = run_wrk(server.url, path, connections=connections, seconds=seconds)
    cpu = process_cpu_seconds(server.process.pid) - cpu
    passes_after, rows_after = render_counters(server)
    per_pass = (rows_after - rows) / (passes_after - passes) if passes_after > passes else None
    return Cell(result, os.getloadavg()[0], 1000 * cpu / max(1, result.requests), per_pass)


def start_servers(
    data_dir: Path, redis_url: str, args: argparse.Namespace, checkpoints: dict[str, Path], log_dir: Path
) -> dict[str, Server]:
    common = {
        "GAN_DATA_DIR": str(data_dir),
        "GAN_PRETRAINED_DIR": "",
        "GAN_REDIS_URL": redis_url,
        "GAN_DEFAULT_MODEL": DCGAN_64.name,
        "GAN_TORCH_THREADS": str(args.threads),
        "GAN_BATCH_MAX_SIZE": str(args.batch),
        "GAN_BATCH_MAX_WAIT_MS": str(args.wait_ms),
        # The 4-row grids of the benchmark never exceed this; 128 clients must not get 503s.
        "GAN_MAX_COUNT": "64",
    }
    # Cold start first, while nothing else runs: launch to /readyz 200 (default model loaded).
    batched = start_server("batched", "app.main:app", {**common, "GAN_BATCHING": "true"}, "/readyz", log_dir)
    unbatched = start_server(
        "unbatched", "app.main:app", {**common, "GAN_BATCHING": "false"}, "/readyz", log_dir
    )
    naive_env = {"BENCH_CHECKPOINTS": ",".join(f"{k}={v}" for k, v in checkpoints.items())}
    naive = start_server("naive", "bench.naive_app:app", naive_env, "/healthz", log_dir)
    return {"batched": batched, "unbatched": unbatched, "naive": naive}


def sample_path(model: BenchModel) -> str:
    return f"/sample?model={model.name}&seed={{seed}}"


def strip_path(model: BenchModel) -> str:
    return f"/interpolate?model={model.name}&start={{seed}}&end=1&steps={STRIP_FRAMES}"


def run(args: argparse.Namespace) -> None:
    args.threads = args.threads or DEFAULT_TORCH_THREADS  # as the service
    inprocess.configure_torch(args.threads)
    lanes = forward_lanes(usable_cores(), args.threads)  # as the service counts them
    workdir = Path(tempfile.mkdtemp(prefix="ganserve-bench-"))
    data_dir = workdir / "data"
    models = [GAN_28, DCGAN_64]
    checkpoints = {m.name: write_checkpoint(data_dir / "models", m) for m in models}
    generators = {m.name: build_eval_generator(m) for m in models}
    redis = start_redis(workdir / "redis")
    servers = start_servers(data_dir, redis.url, args, checkpoints, workdir)
    print(
        f"# ganserve serving benchmark, {time.strftime('%Y-%m-%d %H:%M')}, "
        f"{os.cpu_count()} CPUs, torch threads {args.threads}, forward lanes {lanes}, "
        f"batch_max_size {args.batch}, batch_max_wait_ms {args.wait_ms}, {args.seconds} s "
        f"per cell, best of {args.rounds} rounds; logs and data in {workdir}"
    )
    print(
        f"cold start to /readyz 200 (default model {DCGAN_64.name} loaded): "
        f"{servers['batched'].ready_seconds:.2f} s, load {os.getloadavg()[0]:.2f}"
    )
    try:
        for server in servers.values():  # load every model, warm every path
            for model in models:
                run_wrk(server.url, sample_path(model), connections=8, seconds=1)
        figures = collect(args, servers, models, generators, lanes)
        report(args, figures, models, servers)
    finally:
        for server in servers.values():
            server.stop()
        redis.stop()


def collect(
    args: argparse.Namespace,
    servers: dict[str, Server],
    models: list[BenchModel],
    generators: dict[str, nn.Module],
    lanes: int,
) -> Figures:
    figures = Figures()
    for round_number in range(args.rounds):
        print(f"round {round_number + 1}/{args.rounds} ...", flush=True)
        for model in models:
            generator = generators[model.name]
            wait_until_idle(servers)
            single = inprocess.single_request_seconds(generator, repeats=30)
            one = inprocess.images_per_second(generator, 1, lanes, args.inprocess_seconds)
            batched = inprocess.images_per_second(generator, args.batch, lanes, args.inprocess_seconds)
            load = os.getloadavg()[0]
            for connections in CONCURRENCY:
                for name in servers:
                    cell = measure(servers, name, sample_path(model), connections, args.seconds)
                    figures.keep(model.name, name, connections, cell)
                if connections == 32:  # the HTTP stack's ceiling, right next to its comparison
                    cell = measure(servers, "batched", "/healthz", 32, args.seconds)
                    figures.keep(model.name, "healthz", 32, cell)
            # The strip's two figures are taken back to back, so the load hits both alike.
            wait_until_idle(servers)
            strip = inprocess.strip_seconds(generator, STRIP_FRAMES, repeats=10)
            cell = measure(servers, "batched", strip_path(model), 1, args.seconds)
            figures.keep(model.name, "strip", 1, cell)
            figures.keep_inprocess(
                model.name,
                InProcess(
                    single,
                    one.images_per_second,
                    batched.images_per_second,
                    batched.cpu_ms_per_image,
                    strip,
                    load,
                ),
            )
    return figures


def report(
    args: argparse.Namespace, figures: Figures, models: list[BenchModel], servers: dict[str, Server]
) -> None:
    print("\n## In-process (no HTTP): forward + PNG encode, images/s (best of rounds)\n")
    print(
        "| model | 1 image alone, ms | batch 1, img/s | batch "
        f"{args.batch}, img/s | batch {args.batch}, CPU ms/img | {STRIP_FRAMES}-frame strip, ms "
        "| load |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for model in models:
        own = figures.inprocess[model.name]
        print(
            f"| {model.name} | {1000 * own.single:.2f} | {own.batch_one:.0f} | "
            f"{own.batched:.0f} | {own.batched_cpu_ms:.2f} | {1000 * own.strip:.1f} | "
            f"{own.load:.2f} |"
        )
    print("\n## Over HTTP (wrk, loopback): GET /sample, one image per request\n")
    print(
        "| model | clients | server | req/s | p50 ms | p95 ms | p99 ms | errors | "
        "server CPU ms/req | rows/pass | load |"
    )
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for model, name, connections in figures.cells:
        cell = figures.best(model, name, connections)
        r = cell.result
        label = {
            "strip": f"batched, GET /interpolate {STRIP_FRAMES} frames",
            "healthz": "batched, GET /healthz",
        }.get(name, name)
        per_pass = "" if cell.rows_per_pass is None else f"{cell.rows_per_pass:.1f}"
        print(
            f"| {model} | {connections} | {label} | {r.rate:.0f} | {r.p50_ms:.1f} | "
            f"{r.p95_ms:.1f} | {r.p99_ms:.1f} | {r.errors} | {cell.cpu_ms:.2f} | "
            f"{per_pass} | {cell.load:.2f} |"
        )
    print("\n## Encoding settings against the forward pass (per 64x64 RGB / 28x28 image)\n")
    print("| model | setting | ms/image | bytes/image |")
    print("| --- | --- | ---: | ---: |")
    for model in models:
        for row in inprocess.encoding_costs(build_eval_generator(model)):
            size = f"{row.bytes_per_image:.0f}" if row.bytes_per_image else ""
            print(f"| {model.name} | {row.name} | {row.ms_per_image:.3f} | {size} |")
    metrics = httpx.get(servers["batched"].url + "/metrics", timeout=10).text
    memory = re.search(r"^process_resident_memory_bytes (\S+)$", metrics, re.MULTILINE)
    weights = re.search(r"^ganserve_loaded_models_parameter_bytes (\S+)$", metrics, re.MULTILINE)
    if memory and weights:
        print(
            f"\nbatched server after the run: resident memory "
            f"{float(memory[1]) / 2**20:.0f} MiB, cached generator weights "
            f"{float(weights[1]) / 2**20:.1f} MiB"
        )
    print_targets(figures, DCGAN_64.name, GAN_28.name, args.batch)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per cell")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="GAN_TORCH_THREADS (0: the service's default)")
    parser.add_argument("--batch", type=int, default=32, help="GAN_BATCH_MAX_SIZE")
    parser.add_argument("--wait-ms", type=float, default=2.0, help="GAN_BATCH_MAX_WAIT_MS")
    parser.add_argument("--inprocess-seconds", type=float, default=3.0)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
