"""Server-side cost of one ``GET /sample`` request, in-process, for several trees side by side.

Each tree's own ``app.main`` is built in a subprocess of its own (``PYTHONPATH`` set to the tree,
so a commit of any layout can be measured) and driven through ASGI calls on a uvloop event loop,
with no sockets and no HTTP parsing: what is left is exactly the service's per-request Python
path (middleware, parameter validation, model lookup, plans, batcher, lanes, encoding). The
figures per request:

* **loop CPU µs**: CPU time of the event loop's thread; **other threads**: of every other
  thread (the batcher's lanes, the sampling pool); **all threads**: the process's; **wall µs**:
  elapsed time over requests done. CPU times are the ones to compare on a shared machine; each
  figure is the least of the rounds.
* **Python calls** (function calls and C calls seen by a profile hook) in the loop's thread and
  in the others, and **file-system calls** (``stat``, ``lstat``, ``listdir``, ``scandir``,
  ``open``), counted in a separate pass with the hook on (the timing passes run without it).

A second table times the path's own layers one by one (µs per call): the registry's lookup of a
model in memory, planning a one-seed request, the ETag, and a lane's Python around the forward
pass (32 one-row plans drawn, merged and cut, the generator replaced by a stub). They are found
through names every layout has (the runtime's registry and renderer, what the sampling route
module imports), so an old commit is timed by its own code.

Trees run in turn, round after round, so a drift of the machine's load hits them alike. The
checkpoints are the benchmark models of ``bench/checkpoints.py`` (written once, by this tree).
Run:

    .venv/bin/python -m bench.request_overhead                      # this tree alone
    .venv/bin/python -m bench.request_overhead --before d39c2ca     # and a commit (a worktree)
    .venv/bin/python -m bench.request_overhead --tree old=/tmp/old --rounds 5 --profile /tmp/prof

``--profile DIR`` also writes each tree's cProfile of the loop thread, as text (the functions of
most own time and of most cumulative time, ``DIR/<tree>-c<N>.txt``) and as pstats data
(``DIR/<tree>-c<N>.prof``), for reading where the time goes. The hook and the profiler slow the
process down, so their passes may batch differently from the timed ones: counts per request at
32 clients depend a little on how full the batches got.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FS_CALLS = frozenset({"stat", "lstat", "listdir", "scandir", "open", "fstat"})
MODEL = "bench-gan28"
# Timing figures (least of the rounds), then counts (the same every round, so the median).
TIMES = ("loop_us", "other_us", "cpu_us", "wall_us")
COUNTS = ("loop_calls", "other_calls", "fs_calls")
LABELS = {
    "loop_us": "loop CPU µs",
    "other_us": "other threads CPU µs",
    "cpu_us": "all threads CPU µs",
    "wall_us": "wall µs",
    "loop_calls": "Python calls, loop thread",
    "other_calls": "Python calls, other threads",
    "fs_calls": "file-system calls",
}


# -- the measuring side: runs in a subprocess, with the measured tree's code --------------------
# Only the standard library and the tree's `app.main` are used here: any layout will do.


class _Client:
    """Calls the ASGI app as a server would, for one request at a time per coroutine."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def get(self, path: str, query: str) -> int:
        done = asyncio.Event()
        status = 0
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                done.set()

        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(b"host", b"bench"), (b"user-agent", b"bench"), (b"accept", b"*/*")],
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        await self.app(scope, receive, send)
        return status


class _CallCounter:
    """A profile hook for every thread: Python and C calls per thread kind, file-system calls."""

    def __init__(self, loop_thread: int) -> None:
        self.loop_thread = loop_thread
        self.calls: Counter[str] = Counter()
        self.fs: Counter[str] = Counter()

    def __call__(self, frame: Any, event: str, arg: Any) -> None:
        if event == "call" or event == "c_call":
            side = "loop" if threading.get_ident() == self.loop_thread else "other"
            self.calls[side] += 1
            if event == "c_call" and getattr(arg, "__name__", "") in FS_CALLS:
                self.fs[arg.__name__] += 1


async def _drive(client: _Client, requests: int, concurrency: int, first_seed: int) -> None:
    seeds = iter(range(first_seed, first_seed + requests))

    async def one_client() -> None:
        for seed in seeds:  # shared iterator: the clients take seeds in turn
            status = await client.get("/sample", f"model={MODEL}&seed={seed}")
            if status != 200:
                raise RuntimeError(f"GET /sample?seed={seed} answered {status}")

    await asyncio.gather(*(one_client() for _ in range(concurrency)))


def _least_us(call: Callable[[], object], calls: int, repeats: int = 7) -> float:
    """Least time of one call, in µs, over ``repeats`` runs of ``calls`` calls."""
    for _ in range(calls // 10):
        call()
    best = None
    for _ in range(repeats):
        started = time.perf_counter_ns()
        for _ in range(calls):
            call()
        elapsed = time.perf_counter_ns() - started
        best = elapsed if best is None else min(best, elapsed)
    assert best is not None
    return best / calls / 1000


def _layers(app: Any) -> dict[str, float]:
    """µs per call of the request path's own layers, found through names every layout has: the
    runtime's registry and renderer, and what the sampling route module imports."""
    import numpy as np

    from app.api.routes import samples  # the route module imports what it calls, in every layout

    runtime = app.state.runtime
    loaded = runtime.registry.acquire(MODEL, cached_only=True)
    parameters = {"op": "sample", "seed": 5, "count": 1, "columns": None}
    parameters |= {"truncation": None, "label": None, "format": "png"}

    def plan(seed: int) -> Any:
        return samples.plan_seeds(
            loaded, [seed], truncation=None, label=None, columns=None, image_format="png"
        )

    # The lane's Python around the forward pass: 32 one-row plans drawn, merged and cut, with the
    # generator replaced by a stub that returns blank images (the forward itself is the same
    # engine code in every tree, and would drown the difference).
    batcher = sys.modules[type(runtime.renderer).__module__]
    run = getattr(batcher, "run_plans", None) or batcher.forward_plans
    engine = sys.modules[run.__module__]
    config = loaded.info.model_config
    blank = np.zeros((32, config.image_size, config.image_size, config.channels), dtype=np.uint8)
    real = engine.generate_images
    engine.generate_images = lambda generator, latents, labels=None: blank[: len(latents)]
    try:
        plans = [plan(seed) for seed in range(32)]
        lane = _least_us(lambda: run(loaded, plans), 200) / len(plans)
    finally:
        engine.generate_images = real
    return {
        "acquire": _least_us(lambda: runtime.registry.acquire(MODEL, cached_only=True), 5000),
        "plan": _least_us(lambda: plan(5), 5000),
        "etag": _least_us(lambda: samples.image_etag(loaded.info.content_sha256, "cpu", parameters), 5000),
        "lane": lane,
    }


async def _measure(config: dict[str, Any]) -> dict[str, Any]:
    from app.main import create_app  # the measured tree's

    counter = _CallCounter(threading.get_ident())
    counting = bool(config["count"])
    if counting:
        # Threads started from now on (lanes and pool threads start with their first job) count
        # all along; the loop's own thread only during the passes.
        threading.setprofile(counter)
    app = create_app()
    results: dict[str, Any] = {}
    async with app.router.lifespan_context(app):
        client = _Client(app)
        await _drive(client, 200, 8, 10**6)  # load the model, probe pass sizes, warm every path
        seed = 2 * 10**6
        for concurrency in config["concurrency"]:
            requests = config["requests"]
            if counting:
                counter.calls.clear()
                counter.fs.clear()
                sys.setprofile(counter)
                await _drive(client, requests, concurrency, seed)
                sys.setprofile(None)
                results[f"c{concurrency}"] = {
                    "loop_calls": counter.calls["loop"] / requests,
                    "other_calls": counter.calls["other"] / requests,
                    "fs_calls": sum(counter.fs.values()) / requests,
                    "fs": {name: count / requests for name, count in sorted(counter.fs.items())},
                }
            elif config["profile"]:
                import cProfile
                import io
                import pstats

                profile = cProfile.Profile()
                profile.enable()
                await _drive(client, requests, concurrency, seed)
                profile.disable()
                text = io.StringIO()
                stats = pstats.Stats(profile, stream=text)
                stats.sort_stats("tottime").print_stats(40)
                stats.sort_stats("cumulative").print_stats(60)
                dump = Path(config["profile"]) / f"{config['name']}-c{concurrency}.prof"
                profile.dump_stats(dump)  # for pstats or snakeviz
                results[f"c{concurrency}"] = {"profile": text.getvalue(), "requests": requests}
            else:
                wall, loop_cpu, cpu = time.perf_counter_ns(), time.thread_time_ns(), time.process_time_ns()
                await _drive(client, requests, concurrency, seed)
                wall = time.perf_counter_ns() - wall
                loop_cpu = time.thread_time_ns() - loop_cpu
                cpu = time.process_time_ns() - cpu
                results[f"c{concurrency}"] = {
                    "loop_us": loop_cpu / 1000 / requests,
                    "other_us": (cpu - loop_cpu) / 1000 / requests,
                    "cpu_us": cpu / 1000 / requests,
                    "wall_us": wall / 1000 / requests,
                }
            seed += requests
        if not counting and not config["profile"]:
            results["layers"] = _layers(app)
    threading.setprofile(None)  # type: ignore[arg-type]
    return results


def measure_main(config: dict[str, Any]) -> None:
    try:
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    try:
        results = loop.run_until_complete(_measure(config))
    finally:
        loop.close()
    print("RESULT " + json.dumps(results))


# -- the driving side: this tree ---------------------------------------------------------------


def _environment(data_dir: Path, batching: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAN_")}
    env.update(
        {
            "GAN_DATA_DIR": str(data_dir),
            "GAN_PRETRAINED_DIR": "",
            "GAN_DEFAULT_MODEL": MODEL,
            "GAN_REDIS_URL": "redis://127.0.0.1:9/0",  # never connected to by /sample
            "GAN_TORCH_THREADS": "1",
            "GAN_BATCHING": "true" if batching else "false",
            "GAN_BATCH_MAX_SIZE": "32",
            "GAN_BATCH_MAX_WAIT_MS": "2",
            "GAN_MAX_COUNT": "64",
            "GAN_LOG_LEVEL": "warning",
        }
    )
    return env


def run_tree(tree: Path, env: dict[str, str], config: dict[str, Any]) -> dict[str, Any]:
    """One measuring subprocess in ``tree``; its figures per concurrency."""
    done = subprocess.run(
        # -P: the script's folder (this tree's bench/) stays off sys.path; the tree's code is used.
        [sys.executable, "-P", str(Path(__file__).resolve()), "--measure", json.dumps(config)],
        cwd=tree,
        env={**env, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"measuring {tree} failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    return json.loads(lines[-1].removeprefix("RESULT "))  # type: ignore[no-any-return]


def write_checkpoints(data_dir: Path) -> None:
    from bench.checkpoints import GAN_28, write_checkpoint

    write_checkpoint(data_dir / "models", GAN_28)


def add_worktree(revision: str, workdir: Path, cleanups: list[Callable[[], None]]) -> Path:
    tree = workdir / revision.replace("/", "_")
    git = ["git", "-C", str(ROOT), "worktree"]
    subprocess.run([*git, "add", "--detach", str(tree), revision], check=True, capture_output=True)
    cleanups.append(lambda: subprocess.run([*git, "remove", "--force", str(tree)], check=False))
    return tree


LAYERS = {
    "acquire": "registry.acquire(model, cached_only=True)",
    "plan": "plan_seeds, one seed",
    "etag": "image_etag",
    "lane": "lane: 32 one-row plans drawn and cut, per plan (forward stubbed)",
}


def _row(label: str, values: list[float], digits: int) -> str:
    cells = " | ".join(f"{value:.{digits}f}" for value in values)
    ratios = "".join(f" {values[-1] / value:.2f}x |" if value else " |" for value in values[:-1])
    return f"| {label} | {cells} |{ratios}"


def report(
    trees: list[str], figures: dict[str, dict[str, list[dict[str, Any]]]], args: argparse.Namespace
) -> None:
    last = trees[-1]
    ratios = "".join(f" {last}/{tree} |" for tree in trees[:-1])
    aligned = " ---: |" * (2 * len(trees) - 1)
    print(
        f"\n## GET /sample?model={MODEL}&seed=N, per request, in-process ASGI "
        f"({'batched' if args.batching else 'unbatched'}; {args.requests} requests per pass, "
        f"CPU times least of {args.rounds} rounds)\n"
    )
    print("| figure | clients | " + " | ".join(trees) + " |" + ratios)
    print("| --- | ---: |" + aligned)
    for concurrency in args.concurrency:
        key = f"c{concurrency}"
        for name in (*TIMES, *COUNTS):
            values = []
            for tree in trees:
                runs = [run[key][name] for run in figures[tree]["time" if name in TIMES else "count"]]
                values.append(min(runs) if name in TIMES else statistics.median(runs))
            print(_row(f"{LABELS[name]} | {concurrency}", values, 1))
    for tree in trees:
        for concurrency in args.concurrency:
            counts = figures[tree]["count"][0][f"c{concurrency}"]["fs"]
            shown = ", ".join(f"{name} {count:.2f}" for name, count in counts.items()) or "none"
            print(f"\n{tree}, {concurrency} clients, file-system calls per request: {shown}", end="")
    print(
        f"\n\n## The request path's layers, µs per call (least of 7 runs, in each of {args.rounds} rounds)\n"
    )
    print("| layer | " + " | ".join(trees) + " |" + ratios)
    print("| --- |" + aligned)
    for name, label in LAYERS.items():
        print(_row(label, [min(run["layers"][name] for run in figures[tree]["time"]) for tree in trees], 2))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tree", action="append", default=[], help="NAME=PATH of another tree (repeatable)")
    parser.add_argument("--before", action="append", default=[], help="a commit to measure (repeatable)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000, help="requests per pass")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--unbatched", dest="batching", action="store_false", help="GAN_BATCHING=false")
    parser.add_argument("--profile", type=Path, help="also write each tree's cProfile here")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        measure_main(json.loads(args.measure))
        return
    workdir = Path(tempfile.mkdtemp(prefix="ganserve-overhead-"))
    cleanups: list[Callable[[], None]] = []
    try:
        trees: dict[str, Path] = {}
        for revision in args.before:
            trees[revision] = add_worktree(revision, workdir, cleanups)
        for spec in args.tree:
            name, _, path = spec.partition("=")
            trees[name] = Path(path).resolve()
        trees["this tree"] = ROOT
        write_checkpoints(workdir / "data")
        env = _environment(workdir / "data", args.batching)
        base = {"concurrency": args.concurrency, "requests": args.requests, "count": False, "profile": False}
        figures: dict[str, dict[str, list[dict[str, Any]]]] = {
            name: {"time": [], "count": []} for name in trees
        }
        for name, tree in trees.items():  # counts do not drift with the load: once each
            figures[name]["count"].append(run_tree(tree, env, {**base, "count": True}))
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
                stem = name.replace(" ", "_")
                profiled = run_tree(tree, env, {**base, "profile": str(args.profile.resolve()), "name": stem})
                for key, result in profiled.items():
                    out = args.profile / f"{stem}-{key}.txt"
                    out.write_text(f"{result['requests']} requests\n{result['profile']}")
        for round_number in range(args.rounds):
            print(f"round {round_number + 1}/{args.rounds}: " + ", ".join(trees), file=sys.stderr, flush=True)
            for name, tree in trees.items():
                figures[name]["time"].append(run_tree(tree, env, base))
        report(list(trees), figures, args)
    finally:
        for cleanup in reversed(cleanups):
            cleanup()


if __name__ == "__main__":
    main()
