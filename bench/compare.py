"""Before/after figures of a benchmark script for two commits, measured in one run.

Checks out ``--before`` (a commit, branch or tag) into a temporary git worktree, then runs the
same benchmark module in that tree and in this one, alternating (before, after, before, after
... for ``--repeat`` pairs) so that a drift of the machine's load hits both sides alike. Each
side runs its own copy of the script against its own code. The markdown tables the script
prints are matched by heading and row, and every numeric cell is shown as
``before -> after (after/before)``; the best of the repeats is kept per cell (the
benchmarks' own rule for rates). Run:

    .venv/bin/python -m bench.compare --before d39c2ca -- bench.serving --seconds 3 --rounds 1
    .venv/bin/python -m bench.compare --before d39c2ca -- bench.worker_training --rounds 1
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
# Columns that name a row rather than measure it (the benchmarks' table headers).
KEY_COLUMNS = frozenset({"model", "clients", "server", "case", "setting", "concurrency"})
# Columns where smaller is better: the best of repeats is the minimum there.
LOWER_IS_BETTER = re.compile(r"p50|p99|latency|ms|seconds|load", re.IGNORECASE)


@dataclass
class Table:
    heading: str
    header: list[str]
    rows: dict[tuple[str, ...], list[str]]


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def parse_tables(text: str) -> Iterator[Table]:
    """Every markdown table in ``text`` with the nearest heading (or line) above it."""
    heading = ""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#"):
            heading = line.lstrip("# ").strip()
        if line.startswith("|") and index + 1 < len(lines) and set(lines[index + 1]) <= set("|-: "):
            header = cells(line)
            keys = [i for i, name in enumerate(header) if name.lower() in KEY_COLUMNS]
            rows: dict[tuple[str, ...], list[str]] = {}
            index += 2
            while index < len(lines) and lines[index].startswith("|"):
                row = cells(lines[index])
                if keys:
                    key = tuple(row[i] for i in keys if i < len(row))
                else:
                    key = tuple(cell for cell in row if not NUMBER.match(cell))
                rows[key] = row
                index += 1
            yield Table(heading, header, rows)
            continue
        index += 1


def best(values: list[str], column: str) -> str:
    numbers = [float(v) for v in values if NUMBER.match(v)]
    if not numbers:
        return values[-1]
    chosen = min(numbers) if LOWER_IS_BETTER.search(column) else max(numbers)
    return f"{chosen:g}"


def merged(runs: list[str]) -> dict[tuple[str, str], tuple[list[str], dict[tuple[str, ...], list[str]]]]:
    """(heading, header) -> best cell per row across the runs of one side."""
    collected: dict[tuple[str, str], tuple[list[str], dict[tuple[str, ...], list[list[str]]]]] = {}
    for text in runs:
        for table in parse_tables(text):
            entry = collected.setdefault((table.heading, "|".join(table.header)), (table.header, {}))
            for key, row in table.rows.items():
                entry[1].setdefault(key, []).append(row)
    out = {}
    for name, (header, rows) in collected.items():
        best_rows = {}
        for key, versions in rows.items():
            width = min(len(v) for v in versions)
            best_rows[key] = [
                best([v[i] for v in versions], header[i] if i < len(header) else "") for i in range(width)
            ]
        out[name] = (header, best_rows)
    return out


def run_side(tree: Path, module: list[str]) -> str:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    print(f"$ (cd {tree} && python -m {' '.join(module)})", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", *module], cwd=tree, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(
            f"benchmark failed in {tree} (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return done.stdout


def report(before: str, runs_before: list[str], runs_after: list[str]) -> None:
    old, new = merged(runs_before), merged(runs_after)
    for name, (header, rows) in new.items():
        if name not in old:
            continue
        print(f"\n## {name[0] or 'table'} (before = {before}, after = this tree)\n")
        print("| " + " | ".join(header) + " |")
        print("|" + " --- |" * len(header))
        for key, row in rows.items():
            previous = old[name][1].get(key)
            shown = []
            for index, cell in enumerate(row):
                was = previous[index] if previous and index < len(previous) else None
                is_key = index < len(header) and header[index].lower() in KEY_COLUMNS
                measured = was is not None and NUMBER.match(cell) and NUMBER.match(was)
                if not is_key and measured and was is not None and float(was) != 0:
                    shown.append(f"{was} -> {cell} ({float(cell) / float(was):.2f}x)")
                else:
                    shown.append(cell)
            print("| " + " | ".join(shown) + " |")


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark in both trees and print the merged before/after tables."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", required=True, help="commit, branch or tag to compare against")
    parser.add_argument("--repeat", type=int, default=1, help="before/after pairs, alternating")
    parser.add_argument("module", nargs=argparse.REMAINDER, help="-- bench.MODULE [its arguments]")
    args = parser.parse_args(argv)
    module = [part for part in args.module if part != "--"]
    if not module:
        parser.error("name the benchmark module after --, e.g. -- bench.serving --seconds 3")
    workdir = Path(tempfile.mkdtemp(prefix="ganserve-compare-"))
    tree = workdir / "before"
    git = ["git", "-C", str(ROOT), "worktree"]
    subprocess.run([*git, "add", "--detach", str(tree), args.before], check=True)
    try:
        runs_before, runs_after = [], []
        for _ in range(args.repeat):
            runs_before.append(run_side(tree, module))
            runs_after.append(run_side(ROOT, module))
        for label, runs in (("before", runs_before), ("after", runs_after)):
            for number, text in enumerate(runs, 1):
                print(f"\n===== {label} run {number} =====\n{text}")
        report(args.before, runs_before, runs_after)
    finally:
        subprocess.run([*git, "remove", "--force", str(tree)], check=False)


if __name__ == "__main__":
    main()
