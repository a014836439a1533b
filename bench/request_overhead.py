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
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The measuring side, run by path in each tree's subprocess (its own module: it may import
# nothing of this tree).
PROBE = Path(__file__).resolve().with_name("request_overhead_probe.py")
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
        [sys.executable, "-P", str(PROBE), json.dumps(config)],
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
    args = parser.parse_args(argv)
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
