"""Evaluate a checkpoint: its quality figures next to the real-versus-real floor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from models.data import ImageDataset, load_dataset
from models.evaluation import (
    EVALUATOR_DATASETS,
    Evaluator,
    evaluate_images,
    load_evaluator,
    real_floor,
)
from models.evaluation.metrics import frechet_distance, real_halves
from models.inference import label_tensor, latents_for_seeds, prepare_for_serving, seed_labels


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
    generator, info = prepare_for_serving(path)
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
    labels = label_tensor(seed_labels(seeds, cfg.num_classes))
    chunks = []
    for start in range(0, count, 250):
        z = latents_for_seeds(seeds[start : start + 250], cfg.latent_dim)
        batch_labels = None if labels is None else labels[start : start + 250]
        chunks.append(generator(z, batch_labels) if batch_labels is not None else generator(z))
    picker = torch.Generator().manual_seed(seed)
    real_indices = torch.randperm(len(data), generator=picker)[:count]
    real, real_labels = data.batch(real_indices)
    assert real_labels is not None
    images = torch.cat(chunks)
    generated = evaluate_images(evaluator, images, real, real_labels, labels)
    floor = real_floor(evaluator, data, count, seed)
    predicted = evaluator.predict(images).argmax(dim=1)
    return {
        "checkpoint": str(info.path),
        "step": info.step,
        "dataset": name,
        "samples": count,
        "generated": generated.to_dict(),
        "floor": floor.to_dict(),
        "class_mix_floor_fd": class_mix_floor(evaluator, data, predicted, count, seed),
    }


def class_mix_floor(
    evaluator: Evaluator, data: ImageDataset, predicted: torch.Tensor, count: int, seed: int
) -> float:
    """FD of *real* images drawn with the generator's class mix, against real images.

    What a generator that drew perfect images in its own class proportions would score: the
    part of its FD that comes from the class balance alone, as opposed to the images.
    """
    (pool, pool_labels), (real, _) = real_halves(data, count, seed)  # the floor's halves
    assert pool_labels is not None  # evaluate_checkpoint has checked the dataset's labels
    classes = evaluator.num_classes
    wanted = torch.bincount(predicted.cpu(), minlength=classes).double()
    have = torch.bincount(pool_labels, minlength=classes).double()
    # Each real image is drawn with probability (wanted share of its class) / (images in class).
    weights = (wanted / wanted.sum())[pool_labels] / have[pool_labels]
    picker = torch.Generator().manual_seed(seed + 1)
    chosen = torch.multinomial(weights, count, replacement=True, generator=picker)
    return frechet_distance(evaluator.features(pool[chosen]), evaluator.features(real))
