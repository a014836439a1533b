"""What the soak records while it runs, and its report: statuses, latency per window and per
kind, memory growth."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Sample:
    at: float  # seconds since the measured phase began (negative: warm-up)
    kind: str
    status: int  # 0: the request failed without a response
    seconds: float


@dataclass
class Shared:
    started: float
    jobs: list[str] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    next_train: float = 0.0
    submitted: int = 0
    train_every: float = 10.0
    server_errors: list[str] = field(default_factory=list)  # the first few, for the report
    cpu: list[tuple[float, float]] = field(default_factory=list)  # (at, cores used by others)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000 if ordered else 0.0


def report(
    shared: Shared,
    seconds: float,
    window: float,
    memory: dict[str, tuple[float, float]],
    extra: dict[str, Any],
) -> dict[str, Any]:
    measured = [s for s in shared.samples if s.at >= 0]
    statuses = Counter(s.status for s in measured)
    windows = []
    for start_at in range(0, int(seconds), int(window)):
        inside = [s for s in measured if start_at <= s.at < start_at + window]
        by_kind = defaultdict(list)
        for s in inside:
            by_kind[s.kind].append(s.seconds)
        others = [cores for at, cores in shared.cpu if start_at <= at < start_at + window]
        windows.append(
            {
                "from_s": start_at,
                "requests": len(inside),
                "other_processes_cores": round(statistics.fmean(others), 2) if others else None,
                "rps": round(len(inside) / window, 1),
                "p50_ms": round(percentile([s.seconds for s in inside], 0.5), 1),
                "p99_ms": round(percentile([s.seconds for s in inside], 0.99), 1),
                # Kinds whose cost grows with the jobs and models the run creates, next
                # to ones that stay the same: tells drift from machine load.
                "p50_ms_by_kind": {k: round(percentile(v, 0.5), 1) for k, v in sorted(by_kind.items())},
            }
        )
    kinds = defaultdict(list)
    kind_statuses: dict[str, Counter[int]] = defaultdict(Counter)
    for s in measured:
        kinds[s.kind].append(s.seconds)
        kind_statuses[s.kind][s.status] += 1
    result = {
        "seconds": seconds,
        "requests": len(measured),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "server_errors": sum(v for k, v in statuses.items() if k >= 500),
        "failed_without_response": statuses.get(0, 0),
        "p50_ms": round(percentile([s.seconds for s in measured], 0.5), 1),
        "p99_ms": round(percentile([s.seconds for s in measured], 0.99), 1),
        "windows": windows,
        "kinds": {
            k: {
                "requests": len(v),
                "p50_ms": round(percentile(v, 0.5), 1),
                "p99_ms": round(percentile(v, 0.99), 1),
                "statuses": {str(c): n for c, n in sorted(kind_statuses[k].items())},
            }
            for k, v in sorted(kinds.items())
        },
        "first_server_errors": shared.server_errors,
        "memory_mib": {
            name: {"start": round(a, 1), "end": round(b, 1), "growth_pct": round(100 * (b - a) / a, 1)}
            for name, (a, b) in memory.items()
        },
        "training_jobs_submitted": shared.submitted,
        **extra,
    }
    print(
        f"\n{result['requests']} requests in {seconds:.0f} s "
        f"({result['requests'] / seconds:.1f}/s); statuses {result['statuses']}; "
        f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms"
    )
    print(
        "\n| window from (s) | requests | req/s | p50 (ms) | p99 (ms) | p50 sample / models / "
        "jobs (ms) | cores used by other processes |\n|---|---|---|---|---|---|---|"
    )
    for w in windows:
        kinds_p50 = " / ".join(str(w["p50_ms_by_kind"].get(k, "-")) for k in ("sample", "models", "jobs"))
        print(
            f"| {w['from_s']} | {w['requests']} | {w['rps']} | {w['p50_ms']} | {w['p99_ms']} "
            f"| {kinds_p50} | {w['other_processes_cores']} |"
        )
    print("\n| kind | requests | statuses | p50 (ms) | p99 (ms) |\n|---|---|---|---|---|")
    for kind, row in result["kinds"].items():
        codes = ", ".join(f"{c}: {n}" for c, n in row["statuses"].items())
        print(f"| {kind} | {row['requests']} | {codes} | {row['p50_ms']} | {row['p99_ms']} |")
    print("\n| process | RSS start (MiB) | RSS end (MiB) | growth |\n|---|---|---|---|")
    for name, row in result["memory_mib"].items():
        print(f"| {name} | {row['start']} | {row['end']} | {row['growth_pct']}% |")
    for key, value in extra.items():
        print(f"{key}: {value}")
    for line in shared.server_errors:
        print("5xx:", line)
    return result
