"""The job lease against a real Redis: exclusive, kept alive, lost, released."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from common.holders import holder_is_dead, holder_token
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


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def token_of(pid: int, *, host: str | None = None, namespace: str | None = None) -> str:
    parts = holder_token().split(":")
    parts[1] = str(pid)
    if host is not None:
        parts[0] = host
    if namespace is not None:
        parts[2] = namespace
    return ":".join(parts)


def test_the_lease_of_a_holder_that_died_on_this_machine_is_taken_over(redis_server: RedisServer) -> None:
    client = redis_server.client()
    lease = Lease(client, new_job_id(), 30)
    dead = token_of(dead_pid())
    client.set(lease.key, dead, px=30_000)
    assert holder_is_dead(dead)
    assert not lease.acquire()
    assert lease.acquire_or_take_over()
    assert client.get(lease.key) == lease.token.encode()
    lease.release()
    assert not client.exists(lease.key)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: token_of(os.getpid()), id="alive-here"),
        pytest.param(lambda: token_of(dead_pid(), host="elsewhere"), id="another-host"),
        pytest.param(lambda: token_of(dead_pid(), namespace="0123456789ab.1"), id="another-namespace"),
        pytest.param(lambda: f"vm:{dead_pid()}:0123abcd", id="earlier-version-token"),
        pytest.param(lambda: "someone-else", id="hand-made"),
    ],
)
def test_a_live_or_unknown_holder_keeps_its_lease(
    redis_server: RedisServer, token: Callable[[], str]
) -> None:
    client = redis_server.client()
    lease = Lease(client, new_job_id(), 30)
    held = token()
    client.set(lease.key, held, px=30_000)
    assert not holder_is_dead(held)
    assert not lease.acquire_or_take_over()
    assert client.get(lease.key) == held.encode()
