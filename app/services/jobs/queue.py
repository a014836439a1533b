"""The API's side of the job queue: a Redis health check and publishing training tasks.

Every call is bounded by short socket timeouts, so a Redis outage turns into a quick 503
instead of a request that hangs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from celery import Celery

from common.queue import make_celery, name_claim_key, publish_job
from common.settings import Settings
from common.specs import TrainingSpec
from common.throughput import seconds_per_step

logger = logging.getLogger(__name__)

SOCKET_TIMEOUT_SECONDS = 2.0
# A claim outlives a slow submission (a check, a record write and a publish: milliseconds) by
# far, and expires on its own if the API process holding it dies.
NAME_CLAIM_SECONDS = 30.0
NAME_CLAIM_WAIT_SECONDS = 5.0


class QueueUnavailable(RuntimeError):
    """Redis (or the broker behind Celery) cannot be reached."""


class JobQueue:
    """Lazily connected Redis client and Celery producer for one settings object."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._redis: redis.Redis | None = None
        self._celery: Celery | None = None

    def _client(self) -> redis.Redis:
        with self._lock:
            if self._redis is None:
                if not self.settings.redis_url:
                    raise QueueUnavailable("GAN_REDIS_URL is not set")
                self._redis = redis.Redis.from_url(
                    self.settings.redis_url,
                    socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
                    socket_timeout=SOCKET_TIMEOUT_SECONDS,
                )
            return self._redis

    def _producer(self) -> Celery:
        with self._lock:
            if self._celery is None:
                self._celery = make_celery(self.settings)
            return self._celery

    def ping(self) -> None:
        """Raise :class:`QueueUnavailable` unless Redis answers a PING."""
        try:
            self._client().ping()
        except redis.RedisError as error:
            raise QueueUnavailable(_describe(error)) from error

    def seconds_per_step(self, spec: TrainingSpec) -> float | None:
        """What the workers measured a step of ``spec``'s shape to cost (None: never measured).

        Raises:
            QueueUnavailable: Redis is down.
        """
        try:
            return seconds_per_step(self._client(), spec)
        except redis.RedisError as error:
            raise QueueUnavailable(_describe(error)) from error

    @contextmanager
    def name_claim(self, model_name: str) -> Iterator[None]:
        """Hold the submission lock of ``model_name`` across every API process on this Redis.

        Each API process serialises its own submissions, but replicas behind a load balancer
        share only Redis and the data volume: without this, two of them could both find a
        name free and both create a job for it.

        Raises:
            QueueUnavailable: Redis is down, or the claim stayed taken for too long.
        """
        lock = self._client().lock(
            name_claim_key(model_name),
            timeout=NAME_CLAIM_SECONDS,
            blocking_timeout=NAME_CLAIM_WAIT_SECONDS,
        )
        try:
            acquired = lock.acquire()
        except redis.RedisError as error:
            raise QueueUnavailable(_describe(error)) from error
        if not acquired:
            raise QueueUnavailable(f"another submission for model {model_name!r} is in progress")
        try:
            yield
        finally:
            try:
                lock.release()
            except redis.RedisError as error:  # expired or Redis gone: it frees itself
                logger.warning("name claim for %r not released: %s", model_name, error)

    def depth(self) -> int | None:
        """Messages waiting in the training queue, or None when Redis is down."""
        try:
            return int(self._client().llen(self.settings.queue_name))
        except (redis.RedisError, QueueUnavailable):
            return None

    def submit(self, job_id: str) -> None:
        """Publish the message for job ``job_id`` (its record is already written).

        Raises:
            QueueUnavailable: Redis is down; nothing was published.
        """
        self.ping()
        try:
            # retry=False: with Redis gone, fail now instead of retrying while the client waits.
            publish_job(self._producer(), job_id, retry=False)
        except Exception as error:  # kombu/redis raise many connection error types
            raise QueueUnavailable(_describe(error)) from error

    def close(self) -> None:
        """Close the Redis client and the Celery producer; a later call connects afresh."""
        with self._lock:
            if self._redis is not None:
                self._redis.close()
                self._redis = None
            if self._celery is not None:
                self._celery.close()
                self._celery = None


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text.splitlines()[0][:200]
