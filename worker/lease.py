"""A per-job Redis lease: at most one attempt trains a job at any moment.

Celery delivers at least once (late acks, re-queue on worker loss, the reaper), so a second
message for a job can arrive while the first attempt still trains. The attempt that holds the
lease trains; any other returns at once. A heartbeat thread keeps the lease alive; when the
worker dies the lease simply expires, which is how the reaper recognises an orphaned job.

A dead holder need not wait for its lease to expire when it died on this machine: the token
names the holder's host, process id and process namespace (the boot id and the PID namespace
together say where a pid means that process), so a worker on the same machine can see that the
process is gone and take the lease over at once (``holder_is_dead``, ``acquire_or_take_over``).
A holder elsewhere is never judged dead: its lease expires as before.
"""

from __future__ import annotations

import logging
import threading

import redis

from common.holders import holder_is_dead, holder_token
from common.queue import lease_key

log = logging.getLogger(__name__)

# Extend our own lease, or take it again if it expired while Redis was unreachable (nobody else
# took it meanwhile, so we are still the only attempt). 0 means another attempt holds it now.
_RENEW = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1
elseif not current then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
end
return 0
"""

# Replace a dead holder's token with ours, only if it is still that holder's.
_TAKE_OVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
    return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class Lease:
    """The lease on one job, held by this process while ``acquire`` returned True.

    Args:
        client: Redis client (should have socket timeouts so a dead server cannot hang us).
        job_id: the job.
        seconds: time to live; the heartbeat renews every third of it.
    """

    def __init__(self, client: redis.Redis, job_id: str, seconds: float) -> None:
        self.client = client
        self.key = lease_key(job_id)
        self.ttl_ms = max(1, int(seconds * 1000))
        self.interval = seconds / 3
        # Who holds it, for people reading Redis; the random part makes the token ours alone.
        self.token = holder_token()
        self._renew = client.register_script(_RENEW)
        self._take_over = client.register_script(_TAKE_OVER)
        self._release = client.register_script(_RELEASE)
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def lost(self) -> bool:
        """True once another attempt was found holding the lease: we must stop training."""
        return self._lost.is_set()

    def acquire(self) -> bool:
        """Take the lease if free and start the heartbeat. Raises redis errors."""
        if not self.client.set(self.key, self.token, nx=True, px=self.ttl_ms):
            return False
        self._start_heartbeat()
        return True

    def acquire_or_take_over(self) -> bool:
        """``acquire``, or take the lease from a holder that died on this machine.

        Returns False while a live (or unknown) attempt holds it. Raises redis errors.
        """
        if self.acquire():
            return True
        holder = self.client.get(self.key)
        if holder is None:
            return self.acquire()  # released or expired a moment ago
        dead = holder.decode(errors="replace") if isinstance(holder, bytes) else str(holder)
        if not holder_is_dead(dead):
            return False
        if not self._take_over(keys=[self.key], args=[dead, self.token, self.ttl_ms]):
            return self.acquire()  # someone else freed or took it meanwhile
        log.warning("lease %s: its holder %s is dead; taken over", self.key, dead)
        self._start_heartbeat()
        return True

    def _start_heartbeat(self) -> None:
        self._thread = threading.Thread(target=self._heartbeat, name=f"lease-{self.key}", daemon=True)
        self._thread.start()

    def _heartbeat(self) -> None:
        failing = False
        while not self._stop.wait(self.interval):
            try:
                still_ours = bool(self._renew(keys=[self.key], args=[self.token, self.ttl_ms]))
            except redis.RedisError as error:
                # A Redis blip must not abort hours of training: keep going, keep retrying.
                if not failing:
                    log.warning("cannot renew lease %s (will keep retrying): %s", self.key, error)
                failing = True
                continue
            if failing:
                log.info("lease %s renewed again after Redis came back", self.key)
                failing = False
            if not still_ours:
                log.error("lease %s was taken by another attempt; stopping this one", self.key)
                self._lost.set()
                return

    def release(self, attempts: int = 5) -> None:
        """Stop the heartbeat and delete the lease if it is still ours (retrying a Redis blip)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for attempt in range(attempts):
            try:
                self._release(keys=[self.key], args=[self.token])
                return
            except redis.RedisError as error:
                if attempt == attempts - 1:
                    # It expires by itself within the TTL; the next attempt just waits that long.
                    log.warning("could not release lease %s: %s", self.key, error)
                    return
                self._stop.wait(min(2.0, 0.2 * 2**attempt))
