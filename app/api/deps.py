"""Dependency aliases: handlers declare what they need with these ``Annotated`` types."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials

from app.core.security import api_key_scheme, bearer_scheme, check_write_access
from app.rendering.pool import SamplingPool
from app.services.datasets.catalog import DatasetCatalog
from app.services.jobs.queue import JobQueue
from app.services.jobs.service import JobService
from app.services.models.registry import ModelRegistry
from app.wiring import Runtime
from common.jobs import JobStore
from common.settings import Settings

T = TypeVar("T")


def runtime_of(request: Request) -> Runtime:
    """The app's Runtime, for hot routes that skip dependency resolution (see samples.py)."""
    return request.app.state.runtime  # type: ignore[no-any-return]


# These lookups are `async def` on purpose: FastAPI runs a plain `def` dependency in its thread
# pool, and a thread hop per request costs more than the lookup (measured on GET /sample).
async def get_runtime(request: Request) -> Runtime:
    """The app's Runtime, as the ``RuntimeDep`` dependency."""
    return runtime_of(request)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def from_runtime(part: Callable[[Runtime], T]) -> Callable[[Runtime], Coroutine[Any, Any, T]]:
    """An `async def` dependency (see above) that returns ``part(runtime)``."""

    async def lookup(runtime: RuntimeDep) -> T:
        return part(runtime)

    return lookup


def require_write_access(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    api_key: Annotated[str | None, Security(api_key_scheme)],
) -> None:
    """The ``WriteAccess`` dependency: 401 without the configured API key, 400 on a repeated header."""
    check_write_access(request, bearer, api_key)


SettingsDep = Annotated[Settings, Depends(from_runtime(lambda runtime: runtime.settings))]
RegistryDep = Annotated[ModelRegistry, Depends(from_runtime(lambda runtime: runtime.registry))]
JobStoreDep = Annotated[JobStore, Depends(from_runtime(lambda runtime: runtime.store))]
QueueDep = Annotated[JobQueue, Depends(from_runtime(lambda runtime: runtime.queue))]
JobServiceDep = Annotated[JobService, Depends(from_runtime(lambda runtime: runtime.jobs))]
DatasetsDep = Annotated[DatasetCatalog, Depends(from_runtime(lambda runtime: runtime.datasets))]
SamplingPoolDep = Annotated[SamplingPool, Depends(from_runtime(lambda runtime: runtime.pool))]
# Add `_: WriteAccess` to any state-changing route.
WriteAccess = Annotated[None, Depends(require_write_access)]
