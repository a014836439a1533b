"""What the broker really holds for each job: messages waiting in the queue, and messages a
consumer has received but not yet acknowledged.

Kombu's Redis transport keeps a queue as one list per priority step and every delivered,
unacknowledged message in the hash ``unacked`` (delivery tag -> [payload, exchange, routing
key]) with its delivery time in the sorted set ``unacked_index``. A consumer that dies, or
whose acknowledgement or requeue never reached Redis, leaves its message in that hash; kombu
hands it out again only after the visibility timeout, which is weeks on purpose (a long job
must never be delivered twice while it runs). The reaper reads this view to tell a waiting or
running job from a lost one, instead of trusting a marker that can outlive its message.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from kombu.transport.redis import Channel


@dataclass(frozen=True)
class Delivery:
    """A message handed to a consumer and not yet acknowledged."""

    tag: str
    delivered_at: float


@dataclass
class BrokerView:
    """The jobs the broker holds messages for, read in one Redis transaction."""

    waiting: set[str] = field(default_factory=set)
    delivered: dict[str, list[Delivery]] = field(default_factory=dict)

    def holds(self, job_id: str) -> bool:
        """Whether the broker holds a message for ``job_id``, waiting in the queue or delivered."""
        return job_id in self.waiting or job_id in self.delivered


def job_id_of(payload: Mapping[str, Any]) -> str | None:
    """The job id a training message carries (its first argument), or None for anything else.

    Celery's message protocol 2 puts ``[args, kwargs, embed]`` in the body, JSON encoded and
    then base64 encoded by the Redis transport.
    """
    try:
        body = payload["body"]
        if payload.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
    except (KeyError, TypeError, ValueError, IndexError, binascii.Error):
        return None
    if isinstance(args, list) and args and isinstance(args[0], str):
        return args[0]
    return None


class Broker:
    """Reads and repairs one queue through a kombu Redis channel (its key names and prefixes).

    Args:
        channel: a channel of the Celery app's broker connection (``connection.default_channel``).
        queue: the queue's name (``Settings.queue_name``).
    """

    def __init__(self, channel: Channel, queue: str) -> None:
        self.channel = channel
        self.queue = queue

    def _queue_keys(self) -> list[str]:
        # Kombu's own key naming (one list per priority step); the method has no type hints.
        q_for_pri = cast(Callable[[str, int], str], self.channel._q_for_pri)
        return sorted({q_for_pri(self.queue, step) for step in self.channel.priority_steps})

    def view(self) -> BrokerView:
        """Waiting and delivered messages by job id, as one consistent snapshot."""
        keys = self._queue_keys()
        with self.channel.conn_or_acquire() as client:
            pipe = client.pipeline(transaction=True)
            for key in keys:
                pipe.lrange(key, 0, -1)
            pipe.hgetall(self.channel.unacked_key)
            pipe.zrange(self.channel.unacked_index_key, 0, -1, withscores=True)
            *lists, unacked, index = pipe.execute()
        view = BrokerView()
        for raw in (item for items in lists for item in items):
            job_id = _job_id_of_raw(raw)
            if job_id is not None:
                view.waiting.add(job_id)
        delivered_at = {_text(tag): float(score) for tag, score in index}
        for tag, raw in unacked.items():
            job_id = _delivered_job_id(raw, self.queue)
            if job_id is not None:
                tag_text = _text(tag)
                # A tag missing from the index was written by a consumer mid-delivery; treat
                # it as just delivered (the next view will have its time).
                delivery = Delivery(tag_text, delivered_at.get(tag_text, float("inf")))
                view.delivered.setdefault(job_id, []).append(delivery)
        return view

    def restore(self, tag: str) -> None:
        """Put an unacknowledged message back at the head of its queue (kombu's own restore,
        atomic: a tag acknowledged meanwhile is left alone)."""
        self.channel.qos.restore_by_tag(tag)

    def drop(self, tags: Iterable[str]) -> None:
        """Forget unacknowledged copies that must not run again (as an acknowledgement would)."""
        with self.channel.conn_or_acquire() as client:
            pipe = client.pipeline(transaction=True)
            for tag in tags:
                pipe.zrem(self.channel.unacked_index_key, tag)
                pipe.hdel(self.channel.unacked_key, tag)
            pipe.execute()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _job_id_of_raw(raw: bytes | str) -> str | None:
    try:
        payload = json.loads(raw)
    except ValueError:
        return None
    return job_id_of(payload) if isinstance(payload, dict) else None


def _delivered_job_id(raw: bytes | str, queue: str) -> str | None:
    """The job of an ``unacked`` entry, if it came from ``queue`` (other apps may share Redis)."""
    try:
        payload, _exchange, routing_key = json.loads(raw)
    except (ValueError, TypeError):
        return None
    if routing_key != queue or not isinstance(payload, dict):
        return None
    return job_id_of(payload)
