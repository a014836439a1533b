"""Durable job records: one JSON file per job in ``<data_dir>/jobs``.

Redis only carries messages and leases; the record on disk is the truth about a job, so it
survives restarts of the API, the worker and Redis. Writes are atomic and creation is exclusive
(``common.fs``), so two writers can never both create the same job.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Literal

from cachetools import LRUCache
from pydantic import BaseModel, Field, ValidationError, model_validator

from common.evaluations import JobEvaluation
from common.fs import create_exclusive, remove_stale_temporaries, write_atomic
from common.specs import HOST_FIELDS, TrainingSpec, upgrade_stored_spec

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
JOB_STATUSES: tuple[str, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
JOB_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
# Version 1: records written before the version field existed (same fields, no `kind`).
# Version 2: `schema_version` and `kind`; messages carry the job id alone.
# Version 3: `config` is the typed spec of its kind (common.specs), without the host's fields.
# Version 4: `precision` (fp32, bf16, fp16) in place of the spec's `amp` (true: fp16).
SCHEMA_VERSION = 4
JobKind = Literal["training"]
PARSED_RECORDS = 20_000


class JobProgress(BaseModel):
    step: int = 0
    total_steps: int = 0
    images_per_second: float = 0.0
    eta_seconds: float | None = None
    phase: Literal["training", "evaluating", "done"] = Field(
        default="training",
        description="'evaluating': the last step is done and the model is being judged; 'done': judged",
    )


class JobRecord(BaseModel):
    """Everything known about one job: the single source of truth (messages carry only its id).

    Records of earlier schema versions are upgraded as they are read; a record from a newer
    version of the service is refused (it may mean something this version cannot honour).
    """

    schema_version: int = SCHEMA_VERSION
    kind: JobKind = "training"
    id: str
    status: JobStatus = "queued"
    model: str = Field(description="name of the model the job produces")
    config: TrainingSpec = Field(description="what the job was asked to do, with every default filled in")
    created_at: float = Field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    updated_at: float = Field(default_factory=time.time)
    progress: JobProgress = Field(default_factory=JobProgress)
    losses: dict[str, float] = Field(default_factory=dict)
    quality: dict[str, Any] | None = None
    evaluation: JobEvaluation | None = Field(
        default=None, description="the finished model's quality figures (null until judged)"
    )
    checkpoint_step: int | None = None
    error: str | None = None
    estimate_seconds: float | None = Field(
        default=None, description="the plan's estimate of the job's duration (null: never measured)"
    )
    attempts: int = 0
    worker: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        version = data.get("schema_version", 1)
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValueError(f"schema_version must be an integer, got {version!r}")
        if version > SCHEMA_VERSION:
            raise ValueError(
                f"job record of schema version {version} is newer than this service's {SCHEMA_VERSION}"
            )
        if version < 3:
            # Before the typed spec the config also held the host's fields; the name is the
            # record's `model` and the others are the worker's to decide.
            config = data.get("config")
            if isinstance(config, dict):
                config = {key: value for key, value in config.items() if key not in HOST_FIELDS}
            data = {**data, "kind": "training", "config": config}
        if version < 4 and isinstance(data.get("config"), dict):
            data = {**data, "config": upgrade_stored_spec(data["config"])}
        if version < SCHEMA_VERSION:
            data = {**data, "schema_version": SCHEMA_VERSION}
        return data

    @model_validator(mode="after")
    def _total_steps_from_config(self) -> JobRecord:
        # A queued job already knows its length; progress bars should not show "0 of 0".
        if self.progress.total_steps == 0:
            self.progress.total_steps = self.config.steps
        return self


def new_job_id() -> str:
    """A fresh job id: 32 hex digits (a uuid4)."""
    return uuid.uuid4().hex


def is_job_id(value: str) -> bool:
    """Whether ``value`` is a job id; nothing else ever reaches the filesystem as one."""
    return isinstance(value, str) and JOB_ID_PATTERN.fullmatch(value) is not None


class JobStore:
    """Reads and writes job records under ``jobs_dir``."""

    def __init__(self, jobs_dir: Path) -> None:
        self.jobs_dir = jobs_dir
        # Parsed records by id, with the (inode, mtime, size) they were read at: every write
        # replaces the file (a new inode), so an unchanged key means an unchanged record.
        # Bounded for a data folder of very many jobs (the oldest are parsed again, nothing
        # worse); deleted jobs leave it at the next listing.
        self._parsed: LRUCache[str, tuple[tuple[int, int, int], JobRecord]] = LRUCache(PARSED_RECORDS)
        self._parsed_lock = threading.Lock()

    def path(self, job_id: str) -> Path:
        """The record file of ``job_id``; KeyError for anything that is not a job id."""
        if not is_job_id(job_id):
            # Ids are uuid4 hex: anything else (e.g. '../x') never reaches the filesystem.
            raise KeyError(job_id)
        return self.jobs_dir / f"{job_id}.json"

    def cancel_path(self, job_id: str) -> Path:
        """The cancel flag file of ``job_id``."""
        return self.path(job_id).with_suffix(".cancel")

    def create(self, record: JobRecord) -> bool:
        """Write ``record`` only if no record with its id exists; returns whether it did."""
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        return create_exclusive(self.path(record.id), record.model_dump_json(indent=1))

    def save(self, record: JobRecord) -> None:
        """Replace the record atomically."""
        record.updated_at = time.time()
        write_atomic(self.path(record.id), record.model_dump_json(indent=1))

    def get(self, job_id: str) -> JobRecord | None:
        """The record of ``job_id``, or None when missing, unreadable or from a newer version."""
        try:
            text = self.path(job_id).read_text()
        except (KeyError, FileNotFoundError):
            return None
        try:
            return JobRecord.model_validate(json.loads(text))
        except (ValueError, ValidationError):
            return None

    def list(self) -> list[JobRecord]:
        """All readable records, newest first: for reading (call ``get`` for a record to change).

        Only files that changed since the last call are read and parsed again; listings are
        on hot paths (``GET /jobs``, every submission's name check, metrics, the reaper) and
        would otherwise cost a parse per job ever run, growing for the life of the service.
        """
        try:
            entries = list(os.scandir(self.jobs_dir))
        except FileNotFoundError:
            return []
        records = []
        seen = set()
        for entry in entries:
            job_id = entry.name.removesuffix(".json")
            if job_id == entry.name or not is_job_id(job_id):
                continue
            try:
                stat = entry.stat()
            except FileNotFoundError:
                continue  # deleted since the listing
            key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            with self._parsed_lock:
                cached = self._parsed.get(job_id)
            if cached is not None and cached[0] == key:
                record: JobRecord | None = cached[1]
            else:
                record = self.get(job_id)
                if record is not None:
                    with self._parsed_lock:
                        self._parsed[job_id] = (key, record)
            if record is not None:
                seen.add(job_id)
                records.append(record.model_copy())  # nested values shared: read them only
        with self._parsed_lock:
            for job_id in self._parsed.keys() - seen:
                self._parsed.pop(job_id, None)
        return sorted(records, key=lambda r: r.created_at, reverse=True)

    def remove_stale_temporaries(self, older_than: float = 3600.0) -> int:
        """Delete record temporaries left by processes killed mid-write; returns how many."""
        return remove_stale_temporaries(self.jobs_dir, older_than)

    def delete(self, job_id: str) -> None:
        """Remove the record and its cancel flag."""
        self.path(job_id).unlink(missing_ok=True)
        self.cancel_path(job_id).unlink(missing_ok=True)

    def request_cancel(self, job_id: str) -> None:
        """Leave a durable cancel flag the training loop checks every step."""
        self.cancel_path(job_id).touch()

    def cancel_requested(self, job_id: str) -> bool:
        """Whether a cancel flag was left for ``job_id``."""
        return self.cancel_path(job_id).exists()
