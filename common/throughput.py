"""How long training takes on these workers: seconds per step, measured, kept in Redis.

Workers record what each whole job cost (from its start to its last step, dataset loading and
quality checks included, divided by its steps) under the job's *shape*: the spec fields that
decide what one step costs. A plan (``POST /train/plan``) turns a shape's figure into an
estimate, and a time budget into steps; a shape no worker has trained yet has no figure, and
the plan says so rather than guess.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from common.queue import KEY_PREFIX
from common.specs import TrainingSpec

THROUGHPUT_KEY = f"{KEY_PREFIX}throughput"
# The spec fields that decide the cost of a step (and of the checks between steps).
SHAPE_FIELDS = (
    "architecture",
    "image_size",
    "channels",
    "latent_dim",
    "g_width",
    "d_width",
    "batch_size",
    "d_steps",
    "loss",
    "pack",
    "augment",
    "clusters",
    "info_codes",
    "ema",
)
# A new figure moves the kept one this far: steady, yet a changed host shows within a few jobs.
WEIGHT_OF_NEW = 0.5
# Shorter jobs are dominated by start-up; their figure would overstate the cost of a step.
MIN_MEASURED_STEPS = 200


def shape_key(spec: TrainingSpec) -> str:
    """The shape of ``spec``'s steps, as a stable string."""
    shape: dict[str, Any] = {name: getattr(spec, name) for name in SHAPE_FIELDS}
    # R1 costs a second backward pass on real images whatever its weight.
    shape["r1"] = spec.r1_weight > 0
    return json.dumps(shape, sort_keys=True)


def record_job_cost(client: redis.Redis, spec: TrainingSpec, seconds: float, steps: int) -> bool:
    """Fold one whole job's cost into its shape's figure; returns whether it counted."""
    if steps < MIN_MEASURED_STEPS or seconds <= 0:
        return False
    key = shape_key(spec)
    measured = seconds / steps
    kept = _read(client, key)
    if kept is not None:
        measured = (1 - WEIGHT_OF_NEW) * kept["seconds_per_step"] + WEIGHT_OF_NEW * measured
    jobs = 1 + (kept["jobs"] if kept is not None else 0)
    entry = {"seconds_per_step": measured, "jobs": jobs, "measured_at": time.time()}
    client.hset(THROUGHPUT_KEY, key, json.dumps(entry))
    return True


def seconds_per_step(client: redis.Redis, spec: TrainingSpec) -> float | None:
    """The measured seconds per step of ``spec``'s shape, or None if no worker measured it."""
    kept = _read(client, shape_key(spec))
    return None if kept is None else float(kept["seconds_per_step"])


def _read(client: redis.Redis, key: str) -> dict[str, Any] | None:
    raw = client.hget(THROUGHPUT_KEY, key)
    if raw is None:
        return None
    try:
        entry = json.loads(raw)
        if float(entry["seconds_per_step"]) > 0 and int(entry["jobs"]) > 0:
            return {"seconds_per_step": float(entry["seconds_per_step"]), "jobs": int(entry["jobs"])}
    except (ValueError, KeyError, TypeError):
        pass
    return None  # an entry of another version, or damaged: measured again by the next job
