"""One attempt at one training job, without Celery (the task in ``worker.tasks`` only wraps it).

The record on disk is the truth about a job: a final status makes any further message for it a
no-op, and the lease (``worker.lease``) makes sure only one attempt trains at a time. The trainer
resumes from the newest checkpoint in the model's run folder, so an attempt after a crash or a
shutdown continues where the last one stopped.

On a full disk a record save is retried until space returns (``worker.records``): the attempt
stays alive, holding its lease, rather than leave a ``running`` record nobody works on. An
attempt whose checkpoint or record cannot be written ends ``failed`` ("could not write
checkpoint: the data folder's disk is full ..."), written as soon as there is room for it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import redis
from pydantic import ValidationError

from common.disk import disk_full_errno, disk_full_reason
from common.evaluations import JobEvaluation
from common.jobs import FINAL_STATUSES, JobRecord, JobStore, is_job_id
from common.names import is_valid_name
from common.redact import without_root
from common.settings import Settings
from common.throughput import record_job_cost
from models.data import BUILTIN_DATASETS, DOWNLOADABLE_DATASETS
from models.evaluation.training import EvaluatorTrainingStopped
from models.training import TrainConfig, Trainer
from models.training.judging import judge_run
from worker import shutdown
from worker.events import JobEvents
from worker.lease import Lease
from worker.progress import ProgressReporter
from worker.records import RecordWriter

log = logging.getLogger(__name__)

# Taking the lease right after a message arrived: Redis answered a moment ago, so a failure is a
# blip worth waiting out (~30 s in all) before handing the message back.
ACQUIRE_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0)
CHECKPOINT_NAME = re.compile(r"step-([0-9]+)\.safetensors")

Outcome = Literal["final", "requeue", "abandoned"]
FinalStatus = Literal["succeeded", "failed", "cancelled"]


class RequeueJob(Exception):
    """The attempt ended without a final status; its message must go back to the queue."""


def run_job(
    settings: Settings,
    job_id: str,
    *,
    hostname: str,
    redis_client: redis.Redis,
    legacy_config: dict[str, Any] | None = None,
) -> None:
    """Run (or resume) job ``job_id`` unless it is finished or another attempt holds it.

    Args:
        settings: service settings (data folders, lease and progress timing, device).
        job_id: the job's id, as in its message.
        legacy_config: the config a message of an earlier version carried beside the id; the
            record is made from it only if there is none (those versions could publish before
            writing the record). Messages of this version carry the id alone.
        hostname: this worker's name, recorded on the job and used for the shutdown flag.
        redis_client: for the lease.

    Raises:
        RequeueJob: the worker is shutting down (a checkpoint was saved; on a full disk the
            record may not show it yet) or Redis stayed unreachable; the caller must put the
            message back so another worker resumes it.
    """
    if not is_job_id(job_id):
        log.error("ignoring a message with an invalid job id %r", job_id)
        return
    store = JobStore(settings.jobs_dir)
    record = store.get(job_id)
    if record is None and legacy_config is not None:
        record = _create_from_legacy_message(store, job_id, legacy_config)
    if record is None:
        # The API writes the record before it publishes, so this is a message from another
        # deployment or a data folder the API does not share with this worker.
        log.error("job %s has no record in this worker's data folder; message dropped", job_id)
        return
    if record.status in FINAL_STATUSES:
        log.info("job %s is already %s; duplicate message ignored", job_id, record.status)
        return
    lease = Lease(redis_client, job_id, settings.lease_seconds)
    if not _acquire(lease):
        # Another attempt is alive; its own message stays unacknowledged until it ends.
        log.info("job %s is held by another attempt; message dropped", job_id)
        return
    outcome: Outcome = "final"
    # Live events for viewers (worker.events): queued here, sent by a thread of its own.
    events = JobEvents.for_job(settings, job_id, settings.models_dir / record.model)
    writer = RecordWriter(store, lease, shutdown.ShutdownWatch(settings, hostname).requested)
    try:
        # Read again under the lease: an attempt that just ended may have finished the job.
        record = store.get(job_id) or record
        if record.status in FINAL_STATUSES:
            log.info("job %s is already %s; duplicate message ignored", job_id, record.status)
        elif store.cancel_requested(job_id):
            outcome = _finish(writer, record, "cancelled", events)
            log.info("job %s was cancelled before it started", job_id)
        else:
            outcome = _attempt(settings, writer, record, hostname, events)
    finally:
        # Released before any re-queue, so the next attempt never finds our lease in its way.
        lease.release()
        events.close()
    if outcome == "requeue":
        raise RequeueJob(f"job {job_id} stopped for a worker shutdown; back to the queue")


def _create_from_legacy_message(store: JobStore, job_id: str, config: dict[str, Any]) -> JobRecord | None:
    model = config.get("name") if isinstance(config.get("name"), str) else None
    try:
        # Such messages predate the typed spec; the record upgrade drops their host fields.
        created = JobRecord.model_validate(
            {"schema_version": 2, "id": job_id, "model": model or f"job-{job_id[:8]}", "config": config}
        )
    except ValidationError as error:
        log.error("job %s: the message's config is not a training spec: %s", job_id, error)
        return None
    if not store.create(created):
        return store.get(job_id) or created  # somebody wrote it meanwhile: theirs wins
    log.warning("job %s had no record; created it from the message", job_id)
    return created


def _acquire(lease: Lease) -> bool:
    for delay in ACQUIRE_RETRY_DELAYS:
        try:
            return lease.acquire_or_take_over()
        except redis.RedisError as error:
            log.warning("cannot reach Redis to lease %s (retrying): %s", lease.key, error)
            time.sleep(delay)
    raise RequeueJob(f"Redis unreachable; could not take {lease.key}")


def _attempt(
    settings: Settings, writer: RecordWriter, record: JobRecord, hostname: str, events: JobEvents
) -> Outcome:
    store, lease = writer.store, writer.lease
    record.status = "running"
    record.attempts += 1
    record.worker = hostname
    record.started_at = time.time()
    record.finished_at = None
    record.error = None
    record.evaluation = None
    record.progress = record.progress.model_copy(update={"phase": "training"})
    if not writer.save(record):
        # Gave up on a full disk: the record still shows the job as it was (queued), true again.
        return _gave_up(writer)
    events.state(record)
    log.info("job %s: training attempt %d on %s", record.id, record.attempts, hostname)

    cancel_flag = store.cancel_path(record.id)
    reporter = ProgressReporter(store, record, settings.progress_interval, lease, events)

    def should_stop() -> bool:
        # Asked every step: two stat calls and a flag, microseconds next to a training step.
        return cancel_flag.exists() or writer.stopping() or lease.lost

    try:
        # The reporter saves in a thread of its own; leaving the block ends it, so nothing it
        # still had to write can land on top of the final record written below.
        with shutdown.training(), reporter:
            trainer = Trainer(
                train_config_for(settings, record),
                settings.models_dir / record.model,
                on_progress=reporter,
                should_stop=should_stop,
                cache_dir=settings.cache_dir,
            )
            result = trainer.run(resume=True)
    except Exception as error:
        if lease.lost:
            log.warning("job %s: attempt abandoned after losing its lease: %s", record.id, error)
            return "abandoned"
        log.exception("job %s failed", record.id)
        record.error = without_root(describe_error(error), settings.data_dir)
        return _finish(writer, record, "failed", events)

    if reporter.first_step is not None:
        log.info(
            "job %s: attempt %d trained steps %d..%d",
            record.id,
            record.attempts,
            reporter.first_step,
            result.step,
        )
    if lease.lost:
        log.warning("job %s: attempt abandoned at step %d (lease lost)", record.id, result.step)
        return "abandoned"
    if result.checkpoint is not None:
        record.checkpoint_step = checkpoint_step(result.checkpoint)
    record.progress = record.progress.model_copy(update={"step": result.step})
    if result.status == "completed":
        _measure_cost(lease, record, result.step)
        record.progress = record.progress.model_copy(update={"eta_seconds": 0.0, "phase": "evaluating"})
        if writer.save(record):
            events.state(record)
        # Stopped for one of the reasons below: a later attempt judges again.
        with contextlib.suppress(EvaluatorTrainingStopped):
            record.evaluation = _judge(settings, trainer, result.checkpoint, should_stop)
        if lease.lost:
            log.warning("job %s: attempt abandoned while judging its model (lease lost)", record.id)
            return "abandoned"
    if result.status == "completed" and record.evaluation is not None:
        record.progress = record.progress.model_copy(update={"phase": "done"})
        outcome = _finish(writer, record, "succeeded", events)
        log.info("job %s succeeded at step %d", record.id, result.step)
        return outcome
    if cancel_flag.exists():
        outcome = _finish(writer, record, "cancelled", events)
        log.info("job %s cancelled at step %d", record.id, result.step)
        return outcome
    record.status = "queued"
    # The worker is stopping, so a full disk is not waited out: the next attempt rewrites it.
    if writer.save(record):
        events.state(record)
    log.info("job %s: stopped at step %d for shutdown; re-queueing", record.id, result.step)
    return "requeue"


def _measure_cost(lease: Lease, record: JobRecord, steps: int) -> None:
    """Keep what the job cost for future plans, when one attempt ran all of it (a resumed job's
    time says little about a step)."""
    if record.attempts != 1 or record.started_at is None:
        return
    try:
        record_job_cost(lease.client, record.config, time.time() - record.started_at, steps)
    except redis.RedisError as error:
        log.warning("job %s: could not record its cost for plans: %s", record.id, error)


def _judge(
    settings: Settings, trainer: Trainer, checkpoint: Path | None, should_stop: Callable[[], bool]
) -> JobEvaluation:
    """The finished model's figures; a failure to judge never fails the job it judges."""
    started = time.perf_counter()
    if checkpoint is None:
        return JobEvaluation(status="skipped", reason="the run saved no checkpoint to judge")
    try:
        figures = judge_run(
            checkpoint,
            trainer.dataset,
            settings.cache_dir,
            trainer.config.eval_samples,
            should_stop=should_stop,
        )
        return JobEvaluation.model_validate(figures)
    except EvaluatorTrainingStopped:
        raise
    except Exception as error:
        log.exception("judging %s failed", checkpoint)
        reason = without_root(describe_error(error), settings.data_dir)
        return JobEvaluation(status="failed", reason=reason, seconds=round(time.perf_counter() - started, 2))


def _finish(writer: RecordWriter, record: JobRecord, status: FinalStatus, events: JobEvents) -> Outcome:
    record.status = status
    record.finished_at = time.time()
    if not writer.save(record):
        return _gave_up(writer)
    events.state(record)
    return "final"


def _gave_up(writer: RecordWriter) -> Outcome:
    """The outcome of an attempt whose record could not be written before it had to stop: the
    new lease holder writes it, or, after a shutdown, the attempt the message goes back for."""
    return "abandoned" if writer.lease.lost else "requeue"


def train_config_for(settings: Settings, record: JobRecord) -> TrainConfig:
    """The engine's config for a job: its model name, this host's device, and an uploaded
    dataset's name turned into its folder under ``datasets_dir``.

    Raises:
        ValueError: the config cannot train (the message names the field).
    """
    dataset = record.config.dataset
    dataset_path = None
    if dataset not in BUILTIN_DATASETS and dataset not in DOWNLOADABLE_DATASETS:
        # The name rule keeps a hand-edited record from pointing outside the datasets folder.
        if not is_valid_name(dataset):
            raise ValueError(f"invalid dataset name {dataset!r}")
        dataset_path = str(settings.datasets_dir / dataset)
    return TrainConfig.for_job(
        record.config, name=record.model, device=settings.device, dataset_path=dataset_path
    )


def describe_error(error: BaseException) -> str:
    """A one-line reason for the job record (the traceback goes to the log only)."""
    frames = traceback.extract_tb(error.__traceback__)
    # Whatever the writer raised (OSError, or safetensors' own error for the same I/O
    # failure), a failure inside the checkpoint writer is a storage problem for the user.
    in_checkpoint = any(f.name == "save_checkpoint" and f.filename.endswith("checkpoint.py") for f in frames)
    full = disk_full_errno(error)
    if full is not None:
        # A progress save's error is raised again on the training thread, frames and all.
        in_record = any(f.name == "save" and f.filename.endswith(f"common{os.sep}jobs.py") for f in frames)
        what = "checkpoint" if in_checkpoint else "job record" if in_record else "files"
        return f"could not write {what}: {disk_full_reason(full)}"
    if in_checkpoint:
        return f"could not write checkpoint: {error}"
    if isinstance(error, OSError):
        return f"could not read or write files: {error}"
    return f"{type(error).__name__}: {error}"


def checkpoint_step(path: Path) -> int | None:
    """The step in a checkpoint file's name, or None for another name."""
    match = CHECKPOINT_NAME.fullmatch(path.name)
    return int(match.group(1)) if match else None
