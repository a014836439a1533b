"""Training jobs: submit, list, follow (Server-Sent Events), cancel, timeline grids."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent

from app.api.deps import DatasetsDep, JobServiceDep, JobStoreDep, SettingsDep, WriteAccess
from app.api.errors import field_error, invalid, named_field, not_found, unprocessable
from app.api.pagination import PAGE_HEADERS, PageDep, paginate
from app.api.routes.samples import IMAGE_RESPONSES
from app.api.strict import StrictRoute
from app.schemas.jobs import JobView, SampleLink, TrainPlan, TrainRequest
from app.services.jobs.events import job_events
from app.services.jobs.queue import QueueUnavailable
from app.services.jobs.service import JobFinished, NameTaken, job_view
from app.services.jobs.training import TrainRequestError, plan_training
from common.jobs import JobRecord, JobStore
from models.training import run_files

router = APIRouter(tags=["jobs"], route_class=StrictRoute)

UNKNOWN_JOB: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown (or malformed) job id."}}


def _record(store: JobStore, job_id: str) -> JobRecord:
    record = store.get(job_id)  # malformed ids never touch the filesystem and read as None
    if record is None:
        raise not_found(f"unknown job {job_id[:64]!r}")
    return record


def _refused(error: TrainRequestError) -> Exception:
    """The 422 of a body that cannot train: one error per problem, each naming its field."""
    fields = TrainRequest.model_fields
    problems: list[str] = []
    for part in error.problems:
        # The engine joins its messages with "; ", and some messages hold one themselves.
        if problems and part.startswith("expected one of"):
            problems[-1] += f"; {part}"
        else:
            problems.append(part)
    return invalid([field_error("body", named_field(p, fields), p) for p in problems])


@router.post(
    "/train",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        409: {"description": "The model name is taken."},
        422: {"description": "The config cannot train; `detail` names the fields."},
        503: {"description": "The job queue (Redis) is unavailable; nothing was created."},
    },
)
def train(
    _: WriteAccess,
    body: TrainRequest,
    response: Response,
    settings: SettingsDep,
    datasets: DatasetsDep,
    jobs: JobServiceDep,
) -> JobView:
    """Queue a training job. ``{"dataset": "digits", "architecture": "dcgan", "steps": 200}``
    is a complete request; every other field has the engine's default.

    Unset ``name`` becomes ``<dataset>-<architecture>-<6 hex>``. The stored config is the
    request with all defaults filled in.
    """
    try:
        plan = plan_training(body, settings, datasets, jobs.queue.seconds_per_step)
        record = jobs.submit(plan.config.name, plan.config.spec(), plan.estimate_seconds)
    except TrainRequestError as error:
        raise _refused(error) from None
    except NameTaken as error:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(error)) from None
    except QueueUnavailable as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail=f"job queue unavailable: {error}"
        ) from None
    response.headers["Location"] = f"/jobs/{record.id}"
    return job_view(record)


@router.post(
    "/train/plan",
    responses={422: {"description": "The config cannot train; `detail` names the fields."}},
)
def train_plan(
    body: TrainRequest, settings: SettingsDep, datasets: DatasetsDep, jobs: JobServiceDep
) -> TrainPlan:
    """What ``POST /train`` would queue for the same body, without queueing anything: the
    complete spec (every field the body leaves out chosen for the dataset, with the reason),
    and the expected duration from what the workers measured for jobs of the same shape."""
    try:
        plan = plan_training(body, settings, datasets, jobs.queue.seconds_per_step)
    except TrainRequestError as error:
        raise _refused(error) from None
    return TrainPlan(
        config=plan.config.spec(),
        name=body.name,
        chosen=plan.chosen,
        estimate_seconds=plan.estimate_seconds,
        estimate=plan.estimate_note,
    )


@router.get("/jobs", responses={200: {"headers": PAGE_HEADERS}})
def list_jobs(
    store: JobStoreDep,
    page: PageDep,
    request: Request,
    response: Response,
    status_filter: Annotated[
        Literal["queued", "running", "succeeded", "failed", "cancelled"] | None,
        Query(alias="status", description="only jobs with this status"),
    ] = None,
) -> list[JobView]:
    """Jobs, newest first, a page at a time (``limit``, ``offset``; see the ``Link`` header)."""
    records = store.list()
    if status_filter is not None:
        records = [r for r in records if r.status == status_filter]
    return [job_view(r) for r in paginate(records, page, request, response)]


@router.get("/jobs/{job_id}", responses=UNKNOWN_JOB)
def get_job(job_id: str, store: JobStoreDep) -> JobView:
    """One job: status, progress, losses, quality, newest checkpoint step, error."""
    return job_view(_record(store, job_id))


def known_job(job_id: str, store: JobStoreDep) -> JobRecord:
    """The job of the path, or 404 (a dependency: an event stream cannot answer 404 once begun)."""
    return _record(store, job_id)


@router.get(
    "/jobs/{job_id}/events",
    response_class=EventSourceResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "`source`, then `progress`, `state` and `sample` as they happen, then `end`",
        },
        **UNKNOWN_JOB,
    },
)
async def job_event_stream(
    job_id: str,
    request: Request,
    store: JobStoreDep,
    settings: SettingsDep,
    _: Annotated[JobRecord, Depends(known_job)],
    last_event_id: Annotated[
        str | None, Header(description="resume after this event id (a browser sends it by itself)")
    ] = None,
) -> AsyncIterator[ServerSentEvent]:
    """Server-Sent Events of a job until it is final, relayed from its Redis stream.

    A new stream starts with ``source`` (``redis``, or ``record`` with a reason) and the job
    as ``progress``; then ``progress`` (the job after each progress save), ``state`` (the job
    at each status change) and ``sample`` (``{"step", "url"}`` of a new timeline grid), each
    with the stream entry id as ``id``; ``end`` carries the final job. With ``Last-Event-ID``
    the stream resumes right after that event. While Redis is down the record file is polled
    instead (``progress`` per change, no ids). Idle streams get a comment every 15 s.
    """
    stream = job_events(
        store,
        job_id,
        redis_url=settings.redis_url,
        last_event_id=last_event_id,
        poll_interval=settings.sse_poll_interval,
        is_disconnected=request.is_disconnected,
    )
    async for event in stream:
        yield event


@router.post(
    "/jobs/{job_id}/cancel",
    responses={
        200: {"model": JobView, "description": "A queued job: cancelled now."},
        202: {"model": JobView, "description": "A running job: the worker stops within seconds."},
        409: {"description": "The job already finished."},
        **UNKNOWN_JOB,
    },
)
def cancel_job(_: WriteAccess, job_id: str, jobs: JobServiceDep) -> JSONResponse:
    """Cancel a job. A queued job is cancelled at once; a running one stops at its next step."""
    try:
        record = jobs.cancel(job_id)
    except JobFinished as error:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(error)) from None
    if record is None:
        raise not_found(f"unknown job {job_id[:64]!r}")
    code = status.HTTP_200_OK if record.status == "cancelled" else status.HTTP_202_ACCEPTED
    return JSONResponse(job_view(record).model_dump(mode="json"), status_code=code)


@router.get("/jobs/{job_id}/samples", responses=UNKNOWN_JOB)
def list_job_samples(job_id: str, store: JobStoreDep, settings: SettingsDep) -> list[SampleLink]:
    """The fixed-noise grids saved so far (same seeds every time: a training timeline)."""
    record = _record(store, job_id)
    steps = run_files.sample_steps(settings.models_dir / record.model)
    return [SampleLink(step=step, url=f"/jobs/{job_id}/samples/{step}") for step in steps]


@router.get(
    "/jobs/{job_id}/samples/{step}", response_class=Response, responses={**IMAGE_RESPONSES, **UNKNOWN_JOB}
)
def get_job_sample(job_id: str, step: int, store: JobStoreDep, settings: SettingsDep) -> Response:
    """One timeline grid as PNG."""
    record = _record(store, job_id)
    if step < 0:
        raise unprocessable("step must be a non-negative integer", location="path", field="step")
    try:
        content = run_files.sample_path(settings.models_dir / record.model, step).read_bytes()
    except OSError:
        raise not_found(f"job {job_id} has no sample grid at step {step}") from None
    return Response(content, media_type="image/png", headers={"Cache-Control": "no-cache"})
