"""Tiny untrained checkpoints written straight to disk (no training needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from models.architectures import build_generator, make_model_config
from models.checkpoint import save_checkpoint
from models.training import run_files
from models.training.config import TrainConfig


def write_tiny_model(
    models_dir: Path,
    name: str,
    *,
    step: int = 10,
    architecture: str = "dcgan",
    num_classes: int = 0,
    latent_dim: int = 8,
    seed: int = 0,
    metrics: dict[str, Any] | None = None,
    dataset: str = "digits",
    image_size: int = 8,
    width: int = 4,
) -> Path:
    """Write ``<models_dir>/<name>/checkpoints/step-<step>.safetensors``; returns its path.

    BatchNorm running statistics are nudged away from their defaults, so eval mode (the
    serving contract) visibly differs from training mode.
    """
    fields: dict[str, Any] = {
        "image_size": image_size,
        "channels": 1,
        "latent_dim": latent_dim,
        "num_classes": num_classes,
    }
    if architecture in ("dcgan", "cdcgan"):
        fields |= {"g_width": width, "d_width": width}
    else:
        fields |= {"g_hidden": (16,), "d_hidden": (16,)}
    config = make_model_config(architecture, **fields)
    torch.manual_seed(seed)  # test fixture only: distinct, reproducible weights per seed
    generator = build_generator(config)
    with torch.no_grad():
        for module in generator.modules():
            if isinstance(module, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    run_dir = models_dir / name
    run_files.checkpoint_dir(run_dir).mkdir(parents=True, exist_ok=True)
    path = run_files.checkpoint_path(run_dir, step)
    train_config = TrainConfig(
        name=name,
        architecture=architecture,
        dataset=dataset,
        latent_dim=latent_dim,
        g_width=width,
        d_width=width,
    ).to_dict()
    save_checkpoint(
        path,
        {f"generator.{key}": value for key, value in generator.state_dict().items()},
        kind="generator",
        step=step,
        model_config=config,
        train_config=train_config,
        metrics=metrics if metrics is not None else {"step": step, "quality": {"accuracy": 0.5}},
    )
    return path


def write_tampered_model(models_dir: Path, *, flipped_bytes: int) -> Path:
    """A tiny model ``tampered`` whose checkpoint (step 10) has its last ``flipped_bytes`` bytes
    inverted: the header still parses, the content hash no longer matches. Returns its path."""
    path = write_tiny_model(models_dir, "tampered", step=10)
    data = bytearray(path.read_bytes())
    data[-flipped_bytes:] = bytes(255 - b for b in data[-flipped_bytes:])
    path.write_bytes(bytes(data))
    return path


def write_truncated_model(models_dir: Path, *, kept_bytes: int) -> Path:
    """A tiny model ``truncated`` whose checkpoint (step 10) is cut to its first ``kept_bytes``
    bytes. Returns its path."""
    path = write_tiny_model(models_dir, "truncated", step=10)
    path.write_bytes(path.read_bytes()[:kept_bytes])
    return path
