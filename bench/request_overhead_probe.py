"""The measuring side of ``bench.request_overhead``: one tree's per-request figures.

Run by ``bench/request_overhead.py`` as a script, by path, in a subprocess whose
``PYTHONPATH`` is the measured tree, so only the standard library and that tree's
``app.main`` are used here and a commit of any layout can be measured. It prints one line,
``RESULT <json>``. Not meant to be run by hand.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

FS_CALLS = frozenset({"stat", "lstat", "listdir", "scandir", "open", "fstat"})
MODEL = "bench-gan28"


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


if __name__ == "__main__":
    measure_main(json.loads(sys.argv[1]))
