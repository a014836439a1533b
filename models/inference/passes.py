"""Forward-pass sizes in which every row comes out exactly as it does alone, found by a probe.

Serving batches requests from different clients into one forward pass, and a client's image must
not depend on who shared its pass. In eval mode every row of a generator is computed
independently in exact arithmetic, but not always in float arithmetic: a library may pick a
different kernel (blocking, vector width, threading split) for a different number of rows, and
round differently. oneDNN's convolutions and BLAS matrix products do this for some shapes and
thread counts and not for others (on one 2-core host, a 28x28 DCGAN at two threads rounded
differently at 3 rows and at no other size up to 64), so no fixed rule is safe across hosts.

So each generator is probed, once per kernel setting (oneDNN on or off, torch threads, device),
and rows are run only in passes of sizes the probe found to agree: powers of two up to
:data:`MAX_PASS_ROWS` at load, any other size up to it when a pass of that many rows is first
wanted (:meth:`PassSizes.ensure`), a pass of 1 row (padded to :data:`MIN_LINEAR_ROWS` for generators with
fully connected layers, whose tiny GEMMs take a different BLAS path) being the reference. A
count of rows is split into such passes, or padded with zero rows up to one. The rounding
depends on the shape of a pass and a row's position in it, never on the values of the other
rows, so padding and batch-mates cannot change a row; the probe checks every position of every
size against that reference.

How a count is split among the verified sizes only moves time, never bytes. Until a pass has
been timed it follows a rule of rows (exact passes, or padding when that computes at most
:data:`PAD_TOLERANCE` times the rows); after that it picks the split with the least estimated
time, from the passes actually run. Row counts alone mislead on the CPU: a one-row oneDNN pass
of a 64x64 DCGAN costs about as much as two and a half rows of a 16-row pass, so 9 rows as 8 + 1
is cheaper than padding to 16, but 11 rows as 8 + 2 + 1 costs more than 8 + 4 with a padding
row.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import torch
from torch import nn

from models.architectures.config import ModelConfig

MAX_PASS_ROWS = 32
# Fully connected layers go through BLAS GEMM, whose kernels change below this many rows.
MIN_LINEAR_ROWS = 16
# Padding up to a larger verified pass is chosen when it computes at most this many times the
# rows of splitting into exact passes: bigger passes cost less per row, up to a point.
PAD_TOLERANCE = 1.25
# Weight of the newest timing in a pass size's estimate (a moving average: one pass descheduled
# on a busy machine moves it little).
TIMING_SMOOTHING = 0.25

_probe_lock = threading.Lock()


@dataclass
class PassSizes:
    """Verified pass sizes of one generator under one kernel setting.

    Attributes:
        sizes: rows a pass may carry, descending; always ends with 1. Grows as :meth:`ensure`
            verifies more sizes.
        pad_to: the fewest rows a pass physically has (short passes are padded with zeros).
        verify: checks one more size against the probe's reference rows (None: sizes are fixed).
    """

    sizes: tuple[int, ...]
    pad_to: int = 1
    verify: Callable[[int], bool] | None = field(default=None, compare=False, repr=False)
    # Seconds per pass of each physical size, from passes run (see :meth:`record`): they only
    # steer how counts are split, never what a row computes.
    seconds: dict[int, float] = field(default_factory=dict, compare=False, repr=False)
    _seen: set[int] = field(default_factory=set, compare=False, repr=False)
    _checked: set[int] = field(default_factory=set, compare=False, repr=False)

    def physical(self, size: int) -> int:
        """Rows a pass of ``size`` real rows physically has (padded up to ``pad_to``)."""
        return max(size, self.pad_to)

    def ensure(self, size: int) -> None:
        """Verify a pass of exactly ``size`` rows, once, so it can be used when it agrees.

        The probe verifies powers of two at load; other sizes are checked when a pass of that
        many rows is first wanted. It matters for speed: on a 64x64 DCGAN with oneDNN, 12 rows
        in one pass cost 2.4 ms each, as 8 + 4 rows 3.3 ms (docs/benchmarks.md).
        """
        if (
            self.verify is None
            or not self.pad_to < size <= MAX_PASS_ROWS
            or size in self.sizes
            or size in self._checked
        ):
            return
        with _probe_lock:
            if size in self._checked or size in self.sizes:
                return
            if self.verify(size):
                self.sizes = tuple(sorted({*self.sizes, size}, reverse=True))
            self._checked.add(size)

    def record(self, physical: int, seconds: float) -> None:
        """Fold the time of one pass of ``physical`` rows into its estimate. A size's first pass
        is not counted: it includes building that shape's kernels."""
        if physical not in self._seen:
            self._seen.add(physical)
            return
        known = self.seconds.get(physical)
        self.seconds[physical] = seconds if known is None else known + TIMING_SMOOTHING * (seconds - known)

    def split(self, count: int) -> list[tuple[int, int]]:
        """``count`` rows as passes ``(real rows, physical rows)``, in order."""
        if not count or not self.seconds:
            return self._split_by_rows(count)
        # Sizes that can take part: all that fit, and the smallest larger one (padded). A larger
        # padded pass is never worth more, and the split runs before every pass.
        fitting = [size for size in self.sizes if size <= count]
        larger = [size for size in self.sizes if size > count]
        candidates = fitting + larger[-1:]
        return self._fastest_split(count, candidates, self._estimates(candidates))

    def _estimates(self, sizes: list[int]) -> dict[int, float]:
        """Seconds per pass of each physical size of ``sizes``, once any pass has been timed.

        A size not timed yet is scaled by rows from the next larger timed size: a guess on the
        low side (per-row costs grow as passes shrink), so the split tries it and times it. A
        size above every timed one is scaled from the largest, a neutral guess.
        """
        timed = self.seconds.copy()  # lanes may record while this thread reads
        ordered = sorted(timed)
        estimates = {}
        for size in {self.physical(size) for size in sizes}:
            if size in timed:
                estimates[size] = timed[size]
                continue
            base = next((known for known in ordered if known > size), ordered[-1])
            estimates[size] = timed[base] * size / base
        return estimates

    def _fastest_split(
        self, count: int, sizes: list[int], seconds: dict[int, float]
    ) -> list[tuple[int, int]]:
        """The split of least estimated time: passes of ``sizes``, the last one padded."""
        # best[n]: (time, -first pass size) of the fastest way to cover n rows; of equally fast
        # ways, the one with the largest passes (fewer passes, fewer calls).
        best: list[tuple[float, int]] = [(0.0, 0)]
        for remaining in range(1, count + 1):
            best.append(
                min(
                    (seconds[self.physical(size)] + best[max(0, remaining - size)][0], -size)
                    for size in sizes
                )
            )
        passes: list[tuple[int, int]] = []
        remaining = count
        while remaining:
            size = -best[remaining][1]
            rows = min(size, remaining)
            passes.append((rows, self.physical(size)))
            remaining -= rows
        return passes

    def _split_by_rows(self, count: int) -> list[tuple[int, int]]:
        passes: list[tuple[int, int]] = []
        remaining = count
        while remaining:
            exact = self._exact(remaining)
            larger = [size for size in self.sizes if size > remaining]
            if larger:
                padded = self.physical(min(larger))
                if padded <= PAD_TOLERANCE * sum(self.physical(size) for size in exact):
                    passes.append((remaining, padded))
                    break
            passes.append((exact[0], self.physical(exact[0])))
            remaining -= exact[0]
        return passes

    def _exact(self, count: int) -> list[int]:
        """Greedy split into verified sizes with no padding rows (1 is always verified)."""
        parts = []
        for size in self.sizes:
            while count >= size:
                parts.append(size)
                count -= size
        return parts


def split_passes(count: int) -> list[range]:
    """Rows ``0..count-1`` as consecutive forward passes of at most :data:`MAX_PASS_ROWS` rows.

    The one rule for how many rows a forward pass carries: a render plan lists its passes so,
    and passes of several requests may be merged while their rows fit in one. Within a pass,
    :func:`models.inference.generate` picks the verified kernel calls; bytes never depend on it.
    """
    return [range(start, min(start + MAX_PASS_ROWS, count)) for start in range(0, count, MAX_PASS_ROWS)]


Run = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]


def kernel_setting(device: torch.device) -> tuple[str, bool, int]:
    """What the probe's answer depends on besides the network: device, oneDNN, threads."""
    return device.type, bool(torch.backends.mkldnn.enabled), torch.get_num_threads()


def pass_sizes(generator: nn.Module, device: torch.device) -> PassSizes:
    """The verified pass sizes of an eval-mode ``generator`` under the current setting (cached)."""
    key = kernel_setting(device)
    cache: dict[tuple[str, bool, int], PassSizes] | None = getattr(generator, "_ganserve_pass_sizes", None)
    if cache is not None and key in cache:
        return cache[key]
    with _probe_lock:  # one probe per generator and setting, even with many threads asking
        cache = getattr(generator, "_ganserve_pass_sizes", None)
        if cache is None:
            cache = {}
            generator._ganserve_pass_sizes = cache  # type: ignore[assignment]
        if key not in cache:
            cache[key] = probe(generator, device)
        return cache[key]


def forget_pass_sizes(generator: nn.Module) -> None:
    """Drop the probe's answers, for when the generator's kernels have been changed."""
    generator.__dict__.pop("_ganserve_pass_sizes", None)


def _pad_to(generator: nn.Module) -> int:
    return MIN_LINEAR_ROWS if any(isinstance(m, nn.Linear) for m in generator.modules()) else 1


@torch.inference_mode()
def probe(generator: nn.Module, device: torch.device) -> PassSizes:
    """Find which pass sizes give every row the bytes it gets alone (see the module doc)."""
    config = cast(ModelConfig, generator.config)
    pad_to = _pad_to(generator)
    top = MAX_PASS_ROWS
    # Powers of two from the largest down; below pad_to a pass would be padded to pad_to anyway.
    candidates = [
        top >> shift for shift in range(top.bit_length()) if top >> shift > 1 and top >> shift >= pad_to
    ]
    # Fixed probe rows: the answer must not depend on anything but the network and setting.
    draw = torch.Generator(device="cpu").manual_seed(0)
    latents = torch.randn(top, config.latent_dim, generator=draw).to(device)
    labels = (torch.arange(top) % config.num_classes).to(device) if config.num_classes else None

    # A weak reference: the answer (and with it `verify`) is cached on the generator itself, and
    # must not keep it alive.
    network = weakref.ref(generator)

    @torch.inference_mode()
    def run(rows: slice, physical: int) -> torch.Tensor | None:
        live = network()
        if live is None:
            return None
        return run_padded(live, latents[rows], None if labels is None else labels[rows], physical)

    # Every probe row alone is the reference; a size must reproduce it at every position. The
    # probe checks powers of two now, and `verify` any other size when it is first wanted.
    alone = torch.cat([run(slice(row, row + 1), pad_to) for row in range(top)])  # type: ignore[misc]

    def verify(size: int) -> bool:
        images = run(slice(top - size, top), size)
        return images is not None and torch.equal(images, alone[top - size :])

    agreeing = tuple(size for size in candidates if verify(size))
    return PassSizes((*agreeing, 1), pad_to, verify)


def run_padded(
    generator: nn.Module, latents: torch.Tensor, labels: torch.Tensor | None, physical: int
) -> torch.Tensor:
    """Run ``latents`` (and ``labels``) in one pass of ``physical`` rows; the real rows' images."""
    count = latents.shape[0]
    if physical > count:
        latents = torch.cat([latents, latents.new_zeros(physical - count, latents.shape[1])])
        if labels is not None:
            labels = torch.cat([labels, labels.new_zeros(physical - count)])
    images: torch.Tensor = generator(latents, labels) if labels is not None else generator(latents)
    return images[:count]
