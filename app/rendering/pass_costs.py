"""How much work one batch should hold: each generator's cost per row, from its recent passes.

The batcher (:mod:`app.rendering.batcher`) asks this module how many rows its next pass for a
generator may take, and whether the generator is cheap enough to run one pass at a time.

A pass holds at most ``max_rows`` rows, and at most about :data:`PASS_BUDGET_SECONDS` of work,
judged by the CPU time per row of the same generator's recent passes (a moving average, so one
odd pass moves it little; CPU time, not wall time, so a pass descheduled on a busy machine does
not shrink the next batches). Any number of rows up to ``models.inference.MAX_PASS_ROWS`` runs
as one forward pass once the generator's probe has verified that size, so the limit is not
rounded.
A generator with cheap rows (the vanilla GAN: a 32-row pass costs little more than one row)
fills ``max_rows``; one whose cost grows with every row (a DCGAN on the CPU, where oneDNN's
kernels cost about a third as much per image at 16 rows as at 1, and no less beyond 32) runs
passes of a few dozen milliseconds, so no request waits behind a long one for nothing. A
generator whose full pass costs at most half the budget runs one pass at a time: its next batch
waits less than that for the lane and gathers everyone who arrives meanwhile, worth more to it
than a second core (measured: docs/benchmarks.md).
"""

from __future__ import annotations

import weakref

from torch import nn

# Work per pass, at most (CPU seconds): a request waits for at most the pass running on its lane
# and its own, well inside a 250 ms p99, and a DCGAN at 64x64 fills 16-row passes, where oneDNN's
# kernels reach their lowest cost per image on this kind of CPU (docs/benchmarks.md).
PASS_BUDGET_SECONDS = 0.08
# Weight of the newest pass in a generator's cost per row.
COST_SMOOTHING = 0.25


class PassCosts:
    """CPU seconds per row of each generator, and the pass sizes they call for (module doc).

    Touched from the event loop thread only.

    Args:
        max_rows: rows per forward pass, at most.
        pass_budget: seconds of generator work one pass should hold at most.
    """

    def __init__(self, *, max_rows: int, pass_budget: float = PASS_BUDGET_SECONDS) -> None:
        self.max_rows = max_rows
        self.pass_budget = pass_budget
        # A moving average per generator (weak: evicted models drop out).
        self.row_seconds: weakref.WeakKeyDictionary[nn.Module, float] = weakref.WeakKeyDictionary()

    def record(self, generator: nn.Module, rows: int, seconds: float) -> None:
        """Fold a pass of ``rows`` rows that took ``seconds`` of CPU into the generator's cost."""
        known = self.row_seconds.get(generator)
        latest = seconds / rows
        self.row_seconds[generator] = latest if known is None else known + COST_SMOOTHING * (latest - known)

    def cheap(self, generator: nn.Module) -> bool:
        """Whether a full pass of the generator costs at most half the budget (one pass at a time)."""
        row_seconds = self.row_seconds.get(generator)
        return row_seconds is not None and row_seconds * self.max_rows <= self.pass_budget / 2

    def rows_per_pass(self, generator: nn.Module) -> int:
        """``max_rows``, or the rows that the generator's recent passes say fit the budget."""
        row_seconds = self.row_seconds.get(generator)
        if row_seconds is None or row_seconds <= 0:
            return self.max_rows
        return max(1, min(self.max_rows, int(self.pass_budget / row_seconds)))
