"""Evaluate a checkpoint: its quality figures next to the real-versus-real floor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from models.checkpoint import load_generator
from models.data import load_dataset
from models.evaluation import EVALUATOR_DATASETS, evaluate_images, load_evaluator, real_floor
from models.sampling import labels_for_seeds, latents_for_seeds


@torch.no_grad()
def evaluate_checkpoint(
    path: str | Path, *, dataset: str | None = None, samples: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """Quality figures of a checkpoint's generator and of real data against itself.

    Args:
        path: checkpoint file.
        dataset: evaluator to use (default: the dataset the model was trained on).
        samples: N generated images (seeds ``0..N-1``) against N real images; the floor uses
            two disjoint halves of N real images each.
        seed: picks the real images.

    Returns:
        ``{"checkpoint", "step", "dataset", "samples", "generated": {...}, "floor": {...}}``.
    """
    generator, info = load_generator(path)
    name = dataset or str(info.train_config.get("dataset", ""))
    if name not in EVALUATOR_DATASETS:
        raise ValueError(
            f"no evaluator for dataset {name!r}; expected one of " + ", ".join(EVALUATOR_DATASETS)
        )
    cfg = info.model_config
    evaluator = load_evaluator(name)
    data = load_dataset(name, image_size=cfg.image_size, channels=cfg.channels)
    if data.labels is None:
        raise ValueError(f"dataset {name!r} has no labels")
    count = min(samples, len(data) // 2)
    seeds = list(range(count))
    labels = labels_for_seeds(seeds, cfg.num_classes)
    chunks = []
    for start in range(0, count, 250):
        z = latents_for_seeds(seeds[start : start + 250], cfg.latent_dim)
        batch_labels = None if labels is None else labels[start : start + 250]
        chunks.append(generator(z, batch_labels) if batch_labels is not None else generator(z))
    picker = torch.Generator().manual_seed(seed)
    real_indices = torch.randperm(len(data), generator=picker)[:count]
    real, real_labels = data.batch(real_indices)
    assert real_labels is not None
    generated = evaluate_images(evaluator, torch.cat(chunks), real, real_labels, labels)
    floor = real_floor(evaluator, data, count, seed)
    return {
        "checkpoint": str(info.path),
        "step": info.step,
        "dataset": name,
        "samples": count,
        "generated": generated.to_dict(),
        "floor": floor.to_dict(),
    }
