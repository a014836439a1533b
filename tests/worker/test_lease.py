"""The job lease against a real Redis: exclusive, kept alive, lost, released."""

from __future__ import annotations

import time
from pathlib import Path

import redis

from common.jobs import new_job_id
from tests.support.processes import RedisServer, wait_until
from worker.lease import Lease


def test_only_one_holder_and_release_frees_it(redis_server: RedisServer) -> None:
    client = redis_server.client()
    job_id = new_job_id()
    first, second = Lease(client, job_id, 3), Lease(client, job_id, 3)
    assert first.acquire()
    assert not second.acquire()
    second.release()  # not ours: must not delete the holder's lease
    assert client.get(first.key) == first.token.encode()
    first.release()
    assert not client.exists(first.key)
    assert second.acquire()
    second.release()


def test_heartbeat_keeps_a_short_lease_alive(redis_server: RedisServer) -> None:
    client = redis_server.client()
    lease = Lease(client, new_job_id(), 0.3)
    assert lease.acquire()
    time.sleep(1.0)  # three times the TTL
    assert client.get(lease.key) == lease.token.encode()
    assert not lease.lost
    lease.release()


def test_heartbeat_takes_back_an_expired_lease_and_notices_a_stolen_one(
    redis_server: RedisServer,
) -> None:
    client = redis_server.client()
    lease = Lease(client, new_job_id(), 0.3)
    assert lease.acquire()
    client.delete(lease.key)  # as if it expired while Redis was unreachable
    wait_until(
        lambda: client.get(lease.key) == lease.token.encode(), 5, "the lease taken back", interval=0.02
    )
    assert not lease.lost
    client.set(lease.key, "someone-else")
    wait_until(lambda: lease.lost, 5, "the stolen lease noticed", interval=0.02)
    lease.release()
    assert client.get(lease.key) == b"someone-else"


def test_heartbeat_survives_redis_going_away(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    try:
        client = redis.Redis.from_url(server.url, socket_timeout=1, socket_connect_timeout=1)
        lease = Lease(client, new_job_id(), 0.6)
        assert lease.acquire()
        server.stop()
        time.sleep(1.0)  # several failed renewals
        server = RedisServer(server.directory, port=server.port).start()
        wait_until(
            lambda: client.get(lease.key) == lease.token.encode(), 5, "the lease renewed", interval=0.02
        )
        assert not lease.lost
        assert lease._thread is not None and lease._thread.is_alive()
        lease.release()
        assert not client.exists(lease.key)
    finally:
        server.stop()
