"""Training precision: which float format the players compute in, and where each one may run.

``fp32`` is plain float32. ``bf16`` runs the forward passes under autocast to bfloat16 (weights,
optimizer state and the losses stay float32); bfloat16 keeps float32's exponent range, so it
needs no loss scaling. ``fp16`` autocasts to float16, whose narrow range underflows small
gradients, so its backward passes go through a gradient scaler.

Where each may run is a property of the host, not of the request: the API accepts any of
them, and the trainer, on the worker that runs the job, refuses one its device cannot run
fast, before any step, with a message that says what to use instead.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

from common.cpu_features import CpuFeatures, probe_cpu_features

PRECISIONS = ("fp32", "bf16", "fp16")
_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def precision_problem(precision: str, device: torch.device, cpu: CpuFeatures | None = None) -> str | None:
    """Why ``precision`` cannot train on ``device`` here (None: it can).

    ``cpu`` is this machine's features (probed when None); only a CPU device reads them.
    """
    if precision not in PRECISIONS:
        return f"unknown precision {precision!r}; expected one of " + ", ".join(PRECISIONS)
    if precision == "fp32":
        return None
    if device.type == "cuda":
        if precision == "bf16" and not torch.cuda.is_bf16_supported():
            return "precision 'bf16' needs a GPU with bfloat16 support (Ampere or newer); use 'fp16'"
        return None
    if device.type != "cpu":
        return f"precision {precision!r} runs on CUDA or a CPU, not on device {device.type!r}; use 'fp32'"
    if precision == "fp16":
        # CPUs have no float16 matrix units torch uses; autocast would only add conversions.
        return "precision 'fp16' needs a CUDA device; on a CPU use 'bf16' (with AVX512-BF16 or AMX) or 'fp32'"
    features = cpu or probe_cpu_features()
    if not features.fast_bfloat16:
        # Without the instructions torch emulates bfloat16, slower than float32.
        return (
            "precision 'bf16' on a CPU needs AVX512-BF16 or AMX, which this worker's CPU lacks "
            "(`ganserve doctor` shows them); use 'fp32'"
        )
    return None


def autocast_for(precision: str, device: torch.device) -> AbstractContextManager[object]:
    """The context the forward passes of a step run in."""
    dtype = _AUTOCAST_DTYPES.get(precision)
    if dtype is None:
        return nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def scaler_for(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """A gradient scaler, enabled for float16 on CUDA only (a disabled one passes through)."""
    return torch.amp.GradScaler("cuda", enabled=precision == "fp16" and device.type == "cuda")
