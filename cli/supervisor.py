"""Keeping `ganserve up`'s children alive: restart a dead one with backoff, within a budget.

A child that exits unexpectedly (Redis, a worker, the API) is started again after a delay that
doubles with each quick death (``first_delay`` up to ``max_delay``; a child that stayed up for
``stable_after`` seconds starts again from ``first_delay``). Each restart is logged. Only when a
child has needed more than ``max_restarts`` restarts within ``window`` seconds does the
supervisor give up, with a message that says so, and the caller stops everything.

Children are checked in order, Redis first: while it is down the workers keep retrying their
broker connection and the API keeps serving samples (its readiness says 503), so nothing else
needs restarting because of it.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("ganserve.up")


@dataclass(frozen=True)
class RestartPolicy:
    """How often and how soon a dead child is started again."""

    max_restarts: int = 5
    window: float = 600.0
    first_delay: float = 0.5
    max_delay: float = 30.0
    stable_after: float = 60.0


@dataclass
class Supervised:
    """One child: how to start it, and what the supervisor knows of it.

    ``start`` returns the new process; it raises ``RuntimeError`` when the child could not be
    started at all (counted as another death).
    """

    name: str
    start: Callable[[], subprocess.Popen[bytes]]
    stop_timeout: float
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    delay: float = 0.0
    restart_due: float | None = None
    restarts: deque[float] = field(default_factory=deque)

    def launch(self) -> None:
        """Start (or start again) the child now."""
        self.started_at = time.monotonic()
        self.process = self.start()
        self.restart_due = None


class BudgetSpent(RuntimeError):
    """A child kept dying: more restarts than the policy allows within its window."""


def describe_exit(code: int) -> str:
    """``code 1`` or ``signal SIGKILL``, as Popen's return code says."""
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


def check(children: list[Supervised], policy: RestartPolicy, now: float) -> None:
    """One supervision pass: schedule restarts of dead children, run those that are due.

    Raises:
        BudgetSpent: a child died once more than the policy allows.
    """
    for child in children:
        if child.restart_due is not None:
            if now >= child.restart_due:
                _restart(child, policy, now)
            continue
        code = None if child.process is None else child.process.poll()
        if code is None:
            continue
        _schedule(child, policy, now, f"exited unexpectedly ({describe_exit(code)})")


def _schedule(child: Supervised, policy: RestartPolicy, now: float, what: str) -> None:
    while child.restarts and now - child.restarts[0] > policy.window:
        child.restarts.popleft()
    if len(child.restarts) >= policy.max_restarts:
        raise BudgetSpent(
            f"{child.name} {what} after {len(child.restarts)} restarts within "
            f"{policy.window:.0f} s; restart budget spent, stopping everything"
        )
    stable = now - child.started_at >= policy.stable_after
    child.delay = policy.first_delay if stable or not child.delay else min(2 * child.delay, policy.max_delay)
    child.restart_due = now + child.delay
    child.restarts.append(now)
    log.warning(
        "%s %s; restarting in %.1f s (restart %d of at most %d within %.0f s)",
        child.name,
        what,
        child.delay,
        len(child.restarts),
        policy.max_restarts,
        policy.window,
    )


def _restart(child: Supervised, policy: RestartPolicy, now: float) -> None:
    try:
        child.launch()
    except RuntimeError as error:
        child.process = None
        _schedule(child, policy, now, f"could not be started ({error})")
        return
    pid = child.process.pid if child.process is not None else -1
    log.warning("restarted %s (pid %d)", child.name, pid)
