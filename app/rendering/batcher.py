"""Dynamic micro-batching: concurrent requests for one generator share forward passes.

Rows, not requests, are batched. Each request brings its own plan (a :class:`RenderPlan`:
latent rows, labels, passes), so different seeds, counts, truncations, labels and
interpolations of the same checkpoint mix in one pass; a lane executes a batch's plans
together, merging their passes while the rows fit in one (``app.rendering.execute``). An
eval-mode generator computes every row independently (``models.inference.generate``), so a
request's bytes never depend on its batch-mates.

This module decides only which requests go to a lane together, and when; how many rows a
forward pass carries is ``models.inference``'s rule. Below, "a pass" of the batcher is one lane
job: a batch, run as one or more forward passes back to back.

Scheduling. Forward passes run in the batcher's own threads ("lanes"), one pass per lane:
``cores // torch_threads`` lanes keep every core busy without oversubscribing it. The lane that
ran a pass encodes its responses too, and hands them to the event loop together with the end of
the pass: one wake-up of the loop per pass, and no other thread in between (responses ready a
millisecond or more before the end of a long encoding go back early). Encoding used to go to the
sampling pool, to overlap with the lane's next pass; for 28x28 images the extra thread wake-up
and a third thread contending for the GIL cost more than the overlap won, and for costly
generators every core is busy with passes anyway (docs/benchmarks.md, "Per-request overhead").
Each lane can be pinned to cores of its own (``lane_cpus``, see :mod:`app.rendering.affinity`).
Requests queue per generator, and a queue goes to a free lane once

* it holds a full pass (``max_rows`` rows, or fewer for a generator whose rows are costly,
  :mod:`app.rendering.pass_costs`), or
* its oldest request has waited ``max_wait`` seconds for company, or
* no forward pass is running at all: a lone request never waits, and an idle generator never
  sits out a wait (with one lane this means a queue always leaves as soon as the lane frees).

Requests that arrive while passes run form the next batch, so batches grow with the load on
their own: the forward pass itself is the batching window, and ``max_wait`` bounds how long a
request may wait for company on a free lane while other lanes are busy.

How many rows a pass may hold, judged by what the generator's recent passes cost, and which
generators are cheap enough to run one pass at a time: :mod:`app.rendering.pass_costs`.

A costly generator's pass also takes at most an even share (rows over lanes) of the rows of its
queue and its running passes. Without that the lanes drift out of step: a lane that frees
just after another took the queue finds a few rows, runs a short pass, finds a few rows again,
while the other lane carries 20 or more; passes of one to three rows cost twice as much per row
as passes of ten (docs/benchmarks.md, "The DCGAN against the in-process limit").
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from app.rendering.affinity import CpuSet, LanePinner
from app.rendering.execute import Outcome, RenderedImage, encode_batch, run_plans
from app.rendering.pass_costs import PASS_BUDGET_SECONDS, PassCosts
from app.rendering.plans import RenderPlan
from app.rendering.pool import PoolBusy
from app.rendering.renderers import RenderStats
from app.services.models.entries import LoadedModel


@dataclass(eq=False)
class _Request:
    plan: RenderPlan
    result: asyncio.Future[RenderedImage]
    arrived: float
    dispatched: bool = False


@dataclass(eq=False)
class _Queue:
    model: LoadedModel
    requests: deque[_Request] = field(default_factory=deque)
    rows: int = 0


class Batcher:
    """Gathers concurrent requests per generator into forward passes (see the module doc).

    Args:
        lanes: forward passes that may run at once, each encoding its own responses (each in
            its own thread).
        max_rows: rows per forward pass (a larger request runs alone, in chunks).
        max_wait: seconds a request may wait for company on a free lane.
        max_queued_rows: rows allowed to wait; beyond that requests get :class:`PoolBusy`.
        pass_budget: seconds of generator work one pass should hold at most.
        lane_cpus: the CPUs each lane's thread is pinned to (None: not pinned).
    """

    def __init__(
        self,
        *,
        lanes: int,
        max_rows: int,
        max_wait: float,
        max_queued_rows: int,
        pass_budget: float = PASS_BUDGET_SECONDS,
        lane_cpus: Sequence[CpuSet] | None = None,
    ) -> None:
        self.lanes = lanes
        self.max_wait = max_wait
        self.max_queued_rows = max_queued_rows
        self.costs = PassCosts(max_rows=max_rows, pass_budget=pass_budget)
        self.lane_cpus = list(lane_cpus) if lane_cpus else None
        self.stats = RenderStats()
        self._lane: ThreadPoolExecutor | None = None
        # All state below is touched from the event loop thread only.
        self._queues: dict[int, _Queue] = {}  # id(generator) -> its queue
        self._queued_rows = 0
        self._running = 0  # forward passes in progress
        # id(generator) -> rows in its passes in progress (every pass has a row, so a generator
        # with none running has no entry).
        self._running_rows: dict[int, int] = {}
        self._schedule_pending = False
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Start the lane threads (idempotent)."""
        if self._lane is None:
            pin = LanePinner(self.lane_cpus) if self.lane_cpus else None
            self._lane = ThreadPoolExecutor(self.lanes, thread_name_prefix="forward", initializer=pin)

    def shutdown(self) -> None:
        """Stop the timer and the lanes; queued requests are cancelled."""
        if self._timer is not None:
            self._timer.cancel()
        if self._lane is not None:
            self._lane.shutdown(wait=True, cancel_futures=True)
            self._lane = None

    async def render(self, model: LoadedModel, plan: RenderPlan) -> RenderedImage:
        """Render ``plan`` in a shared forward pass and encode it (both in a lane)."""
        if self._lane is None:
            raise RuntimeError("the batcher is not running (app lifespan not started)")
        if self._queued_rows and self._queued_rows + plan.rows > self.max_queued_rows:
            raise PoolBusy("server busy: too many sampling requests waiting; retry shortly")
        loop = asyncio.get_running_loop()
        request = _Request(plan, loop.create_future(), loop.time())
        queue = self._queues.get(id(model.generator))
        if queue is None:
            queue = self._queues[id(model.generator)] = _Queue(model)
        queue.requests.append(request)
        queue.rows += plan.rows
        self._queued_rows += plan.rows
        self._request_schedule()
        try:
            return await request.result
        finally:
            if not request.dispatched:  # cancelled while queued (client gone, shutdown)
                self._forget(queue, request)

    def _forget(self, queue: _Queue, request: _Request) -> None:
        queue.requests.remove(request)
        queue.rows -= request.plan.rows
        self._queued_rows -= request.plan.rows
        if not queue.requests and self._queues.get(id(queue.model.generator)) is queue:
            del self._queues[id(queue.model.generator)]

    def _request_schedule(self) -> None:
        # Deferred to the next loop iteration: requests arriving in the same iteration join.
        if not self._schedule_pending:
            self._schedule_pending = True
            asyncio.get_running_loop().call_soon(self._schedule)

    def _schedule(self) -> None:
        self._schedule_pending = False
        while self._lane is not None and self._running < self.lanes and self._queues:
            ready, next_deadline = self._ready_queue()
            if ready is not None:
                self._dispatch(ready)
                continue
            if next_deadline is not None:
                if self._timer is not None:
                    self._timer.cancel()
                loop = asyncio.get_running_loop()
                self._timer = loop.call_at(next_deadline, self._request_schedule)
            return

    def _ready_queue(self) -> tuple[_Queue | None, float | None]:
        """The queue to dispatch now (oldest request first), else when the next one is due."""
        now = asyncio.get_running_loop().time()
        ready: _Queue | None = None
        next_deadline: float | None = None
        for queue in self._queues.values():
            if id(queue.model.generator) in self._running_rows and self.costs.cheap(queue.model.generator):
                continue  # dispatched when its running pass ends, with whoever came meanwhile
            head = queue.requests[0]
            deadline = head.arrived + self.max_wait
            full = queue.rows >= self._pass_limit(queue)
            if full or deadline <= now or self._running == 0:
                if ready is None or head.arrived < ready.requests[0].arrived:
                    ready = queue
            elif next_deadline is None or deadline < next_deadline:
                next_deadline = deadline
        return ready, next_deadline

    def _pass_limit(self, queue: _Queue) -> int:
        """Rows the queue's next pass may take: what its generator's costs allow, and for a
        costly generator on several lanes at most an even share of its rows queued and running."""
        limit = self.costs.rows_per_pass(queue.model.generator)
        if self.lanes > 1 and not self.costs.cheap(queue.model.generator):
            demand = queue.rows + self._running_rows.get(id(queue.model.generator), 0)
            limit = min(limit, -(-demand // self.lanes))
        return limit

    def _dispatch(self, queue: _Queue) -> None:
        batch: list[_Request] = []
        rows = 0
        limit = self._pass_limit(queue)
        while queue.requests:
            head = queue.requests[0]
            if batch and rows + head.plan.rows > limit:
                break
            queue.requests.popleft()
            queue.rows -= head.plan.rows
            self._queued_rows -= head.plan.rows
            head.dispatched = True
            batch.append(head)
            rows += head.plan.rows
        if not queue.requests:
            del self._queues[id(queue.model.generator)]
        self._running += 1
        key = id(queue.model.generator)
        self._running_rows[key] = self._running_rows.get(key, 0) + rows
        # Counted here, not when the pass returns: responses can reach their clients first.
        self.stats.record(len(batch), rows)
        # A plain executor job, not a task awaiting run_in_executor: the lane reports back with
        # one loop callback (_finish), where a task would add a future and a wake-up each way.
        assert self._lane is not None
        self._lane.submit(self._pass, asyncio.get_running_loop(), queue.model, batch, rows)

    def _pass(
        self, loop: asyncio.AbstractEventLoop, model: LoadedModel, batch: list[_Request], rows: int
    ) -> None:  # in a lane
        plans = [request.plan for request in batch]
        seconds: float | None = None
        last: list[tuple[_Request, Outcome]] = []

        def deliver(outcomes: list[tuple[int, Outcome]]) -> None:
            loop.call_soon_threadsafe(_settle_all, [(batch[i], outcome) for i, outcome in outcomes])

        try:
            images, seconds = run_plans(model, plans)
            last = [(batch[i], outcome) for i, outcome in encode_batch(plans, images, deliver)]
        except Exception as error:  # the pass itself failed: the whole batch shares the error
            seconds = None
            last = [(request, error) for request in batch]
        finally:
            # Always, or the pass would count as running for good and its generator stall.
            loop.call_soon_threadsafe(self._finish, model, rows, seconds, last)

    def _finish(
        self, model: LoadedModel, rows: int, seconds: float | None, outcomes: list[tuple[_Request, Outcome]]
    ) -> None:
        """The end of a pass, on the event loop: its last responses, its cost, the next pass."""
        _settle_all(outcomes)
        if seconds is None:
            self.stats.failed_passes += 1
        else:
            self.costs.record(model.generator, rows, seconds)
        self._running -= 1
        key = id(model.generator)
        self._running_rows[key] -= rows
        if not self._running_rows[key]:
            del self._running_rows[key]
        self._request_schedule()


def _settle_all(outcomes: list[tuple[_Request, Outcome]]) -> None:
    for request, outcome in outcomes:
        _settle(request, outcome)


def _settle(request: _Request, outcome: Outcome) -> None:
    if request.result.done():
        return  # its client went away
    if isinstance(outcome, Exception):
        request.result.set_exception(outcome)
    else:
        request.result.set_result(outcome)
