"""Dependency aliases: handlers declare what they need with these ``Annotated`` types."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials

from app.core.runtime import Runtime
from app.core.security import api_key_scheme, bearer_scheme, check_write_access
from app.services.datasets import DatasetCatalog
from app.services.jobs import JobService
from app.services.pool import SamplingPool
from app.services.queue import JobQueue
from app.services.registry import ModelRegistry
from common.jobs import JobStore
from common.settings import Settings


def runtime_of(request: Request) -> Runtime:
    """The app's Runtime, for hot routes that skip dependency resolution (see samples.py)."""
    return request.app.state.runtime  # type: ignore[no-any-return]


# These lookups are `async def` on purpose: FastAPI runs a plain `def` dependency in its thread
# pool, and a thread hop per request costs more than the lookup (measured on GET /sample).
async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


async def get_registry(runtime: RuntimeDep) -> ModelRegistry:
    return runtime.registry


async def get_store(runtime: RuntimeDep) -> JobStore:
    return runtime.store


async def get_queue(runtime: RuntimeDep) -> JobQueue:
    return runtime.queue


async def get_jobs(runtime: RuntimeDep) -> JobService:
    return runtime.jobs


async def get_datasets(runtime: RuntimeDep) -> DatasetCatalog:
    return runtime.datasets


async def get_pool(runtime: RuntimeDep) -> SamplingPool:
    return runtime.pool


def require_write_access(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    api_key: Annotated[str | None, Security(api_key_scheme)],
) -> None:
    check_write_access(request, bearer, api_key)


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
JobStoreDep = Annotated[JobStore, Depends(get_store)]
QueueDep = Annotated[JobQueue, Depends(get_queue)]
JobServiceDep = Annotated[JobService, Depends(get_jobs)]
DatasetsDep = Annotated[DatasetCatalog, Depends(get_datasets)]
SamplingPoolDep = Annotated[SamplingPool, Depends(get_pool)]
# Add `_: WriteAccess` to any state-changing route.
WriteAccess = Annotated[None, Depends(require_write_access)]
