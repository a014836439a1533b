"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from app.api.deps import RuntimeDep
from app.api.errors import problem_response
from app.api.strict import StrictRoute
from app.services.jobs.queue import QueueUnavailable
from app.services.models.entries import InvalidModelRef, ModelUnavailable, UnknownModel
from common.disk import MIB, low_disks
from common.settings import Settings

router = APIRouter(tags=["health"], route_class=StrictRoute)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up and answering (no dependencies checked)."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={
        503: {
            "description": "Not ready: `detail` says what is missing or broken; `checks` and "
            "`broken_models` as when ready."
        }
    },
)
def readyz(runtime: RuntimeDep) -> JSONResponse:
    """Ready when the default model loads, Redis answers a ping and every filesystem of the
    data folder has at least ``GAN_MIN_FREE_DISK_MB`` free.

    Models whose newest checkpoint is broken are listed either way (``broken_models``), and
    named in ``detail``.
    """
    settings = runtime.settings
    models = runtime.registry.list_models()
    broken = [f"{m.name}: {m.error}" for m in models if m.error]
    problems: list[str] = []
    checks: dict[str, Any] = {}
    try:
        loaded = runtime.registry.acquire(settings.default_model)
        checks["default_model"] = loaded.ref
    except (UnknownModel, InvalidModelRef):
        if not models:
            problems.append(
                "no model available yet: train one with POST /train or install a "
                "pretrained model, then set GAN_DEFAULT_MODEL to its name"
            )
        else:
            problems.append(
                f"default model {settings.default_model!r} not found; set GAN_DEFAULT_MODEL "
                "to one of: " + ", ".join(m.name for m in models)
            )
        checks["default_model"] = None
    except ModelUnavailable as error:
        problems.append(f"default model cannot be loaded: {error}")
        checks["default_model"] = None
    try:
        runtime.queue.ping()
        checks["queue"] = "ok"
    except QueueUnavailable as error:
        problems.append(f"job queue unavailable: {error}")
        checks["queue"] = None
    low = _low_disk(settings)
    if low:
        problems.append(f"low disk: {low}; free space (GAN_MIN_FREE_DISK_MB sets the floor)")
    checks["disk"] = None if low else "ok"
    body: dict[str, Any] = {"checks": checks, "broken_models": broken}
    if problems:
        detail = "; ".join(problems + [f"broken model {entry}" for entry in broken])
        return problem_response(status.HTTP_503_SERVICE_UNAVAILABLE, detail, extensions=body)
    if broken:
        # Ready to serve, but an operator should hear about the models that are not.
        body["detail"] = "ready; these models cannot be served: " + "; ".join(broken)
    return JSONResponse({"status": "ready", **body})


def _low_disk(settings: Settings) -> str | None:
    """What is short of room, or None. Below the floor, jobs and uploads are about to fail
    with 507; an operator should hear of it before the disk is full, not after."""
    floor = settings.min_free_disk_mb * MIB
    if floor == 0:
        return None
    folders = (settings.jobs_dir, settings.models_dir, settings.datasets_dir, settings.cache_dir)
    low = low_disks(settings.data_dir, folders, floor)
    return "; ".join(disk.describe(floor) for disk in low) or None
