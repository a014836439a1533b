"""Training configs small enough for tests: a few seconds on one CPU thread."""

from __future__ import annotations

from typing import Any

TINY_TRAINING: dict[str, Any] = {
    "dataset": "digits",
    "architecture": "dcgan",
    "g_width": 4,
    "d_width": 4,
    "latent_dim": 16,
    "batch_size": 16,
    "eval_samples": 0,
    "steps": 60,
    "checkpoint_every": 20,
    "sample_every": 100_000,
}
