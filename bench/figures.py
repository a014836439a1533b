"""Figures of one benchmark run, and the issue's targets checked against them."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.loadgen import LoadResult


@dataclass(frozen=True)
class Cell:
    """One wrk measurement of one server."""

    result: LoadResult
    load: float  # 1-minute load average right after it
    cpu_ms: float  # server process CPU time per response, all its threads
    rows_per_pass: float | None  # ganserve only: images per generator forward pass


@dataclass
class InProcess:
    """The machine's own limit for one model (best of rounds)."""

    single: float  # seconds for one image alone: draw, forward, PNG
    batch_one: float  # images/s, batch 1, one worker per forward lane
    batched: float  # images/s at the serving batch size, one worker per forward lane
    batched_cpu_ms: float  # CPU time per image at the serving batch size
    strip: float  # seconds for a 16-frame strip: one forward, one PNG
    load: float

    def merge(self, other: InProcess) -> InProcess:
        return InProcess(
            min(self.single, other.single),
            max(self.batch_one, other.batch_one),
            max(self.batched, other.batched),
            min(self.batched_cpu_ms, other.batched_cpu_ms),
            min(self.strip, other.strip),
            max(self.load, other.load),
        )


@dataclass
class Figures:
    cells: dict[tuple[str, str, int], list[Cell]] = field(default_factory=dict)
    inprocess: dict[str, InProcess] = field(default_factory=dict)

    def keep(self, model: str, server: str, connections: int, cell: Cell) -> None:
        self.cells.setdefault((model, server, connections), []).append(cell)

    def keep_inprocess(self, model: str, figures: InProcess) -> None:
        known = self.inprocess.get(model)
        self.inprocess[model] = figures if known is None else known.merge(figures)

    def best(self, model: str, server: str, connections: int) -> Cell:
        """The round with the highest rate: the least disturbed by other work on the machine."""
        return max(self.cells[(model, server, connections)], key=lambda cell: cell.result.rate)


def print_targets(figures: Figures, dcgan: str, gan: str, batch: int) -> None:
    """The issue's targets, each as measured / required, from this run's figures only."""
    own = figures.inprocess[dcgan]
    c32 = figures.best(dcgan, "batched", 32).result
    naive = figures.best(dcgan, "naive", 32).result
    c1 = figures.best(dcgan, "batched", 1).result
    gan32 = figures.best(gan, "batched", 32).result
    healthz = figures.best(gan, "healthz", 32).result
    strip = figures.best(dcgan, "strip", 1).result
    single_ms = 1000 * own.single
    rows = [
        (
            f"DCGAN c=32 req/s vs in-process batch-{batch} img/s",
            c32.rate / own.batched,
            ">= 0.75x",
            c32.rate / own.batched >= 0.75,
        ),
        ("DCGAN c=32 req/s vs naive endpoint", c32.rate / naive.rate, ">= 2x", c32.rate / naive.rate >= 2),
        ("DCGAN c=32 p99", c32.p99_ms, "< 250 ms", c32.p99_ms < 250),
        (
            f"DCGAN c=1 p50 (in-process alone: {single_ms:.2f} ms)",
            c1.p50_ms,
            f"<= {1.5 * single_ms + 2:.2f} ms",
            c1.p50_ms <= 1.5 * single_ms + 2,
        ),
        (
            "GAN 28x28 c=32 req/s vs /healthz c=32",
            gan32.rate / healthz.rate,
            ">= 0.6x",
            gan32.rate / healthz.rate >= 0.6,
        ),
        (
            "16-frame strip p50 vs in-process strip",
            strip.p50_ms / (1000 * own.strip),
            "<= 1.3x",
            strip.p50_ms / (1000 * own.strip) <= 1.3,
        ),
    ]
    print("\n## Targets (ratios from this run only)\n")
    print("| target | measured | required | met |")
    print("| --- | ---: | --- | --- |")
    for name, value, required, met in rows:
        unit = " ms" if "ms" in required else "x"
        print(f"| {name} | {value:.2f}{unit} | {required} | {'yes' if met else 'NO'} |")
    print(
        "| training through the worker vs bare loop | not measured here | >= 0.95x | "
        "see bench/train_throughput.py |"
    )
    naive_cpu = figures.best(dcgan, "naive", 32).cpu_ms
    c32_cpu = figures.best(dcgan, "batched", 32).cpu_ms
    gan_cpu = figures.best(gan, "batched", 32).cpu_ms
    healthz_cpu = figures.best(gan, "healthz", 32).cpu_ms
    print(
        "\nThe same comparisons in CPU time per image, which does not depend on the share of the "
        "cores a process got from a busy machine (not the targets' definition; for reading them):\n"
    )
    print("| comparison | ratio |")
    print("| --- | ---: |")
    print(
        f"| DCGAN: in-process CPU/img at batch {batch} ÷ server CPU/req at c=32 | "
        f"{own.batched_cpu_ms / c32_cpu:.2f} |"
    )
    print(f"| DCGAN c=32: naive CPU/req ÷ batched CPU/req | {naive_cpu / c32_cpu:.2f} |")
    print(f"| GAN 28x28 c=32: /healthz CPU/req ÷ /sample CPU/req | {healthz_cpu / gan_cpu:.2f} |")
