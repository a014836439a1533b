"""Comparing checkpoint files: equal runs write equal files but for the time they were written."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open


def without_training_time(path: Path) -> tuple[dict[str, object], dict[str, bytes]]:
    """A checkpoint's header without ``trained_at``, and each tensor's raw bytes."""
    with safe_open(str(path), framework="pt") as handle:
        header = json.loads((handle.metadata() or {})["ganserve"])
        tensors = {
            name: handle.get_tensor(name).contiguous().view(-1).view(torch.uint8).numpy().tobytes()
            for name in handle.keys()  # noqa: SIM118 (a safetensors handle, not a dict)
        }
    assert isinstance(header.pop("trained_at"), float)
    return header, tensors
