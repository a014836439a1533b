"""Evaluate a checkpoint: its quality figures next to the real-versus-real floor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from models.architectures.config import ModelConfig
from models.data import ImageDataset, load_dataset
from models.data.transforms import convert_channels_float, resize_float
from models.evaluation import (
    EVALUATOR_DATASETS,
    Evaluator,
    evaluate_images,
    load_evaluator,
    real_floor,
)
from models.evaluation.memorization import memorization, reference_subset
from models.evaluation.metrics import frechet_distance, real_halves
from models.inference import generate, label_tensor, latents_for_seeds, prepare_for_serving, seed_labels

DEFAULT_SAMPLES = 2000


@torch.no_grad()
def evaluate_checkpoint(
    path: str | Path, *, dataset: str | None = None, samples: int | None = None, seed: int = 0
) -> dict[str, Any]:
    """Quality figures of a checkpoint's generator and of real data against itself.

    Args:
        path: checkpoint file.
        dataset: evaluator to use (default: the dataset the model was trained on).
        samples: N generated images (seeds ``0..N-1``) against N real images; the floor uses
            two disjoint sets of N real images each, so N is at most half the data. Exactly N
            are used; None: ``DEFAULT_SAMPLES`` or half the data, whichever is fewer.
        seed: picks the real images.

    Returns:
        ``{"checkpoint", "step", "dataset"}`` and what `judge_generator` returns.

    Raises:
        ValueError: no evaluator for the dataset, or more samples than half the data.
    """
    generator, info = prepare_for_serving(path)
    name = dataset or str(info.train_config.get("dataset", ""))
    if name not in EVALUATOR_DATASETS:
        raise ValueError(
            f"no evaluator for dataset {name!r}; expected one of " + ", ".join(EVALUATOR_DATASETS)
        )
    cfg = info.model_config
    data = load_dataset(name, image_size=cfg.image_size, channels=cfg.channels)
    if data.labels is None:
        raise ValueError(f"dataset {name!r} has no labels")
    most = len(data) // 2
    if samples is not None and samples > most:
        raise ValueError(
            f"cannot judge {samples} samples: dataset {name!r} has {len(data)} images and the "
            f"real-versus-real floor needs two disjoint sets of as many real images; at most {most}"
        )
    count = min(DEFAULT_SAMPLES, most) if samples is None else samples
    report = judge_generator(generator, cfg, data, load_evaluator(name), count, seed)
    return {"checkpoint": str(info.path), "step": info.step, "dataset": name, **report}


@torch.no_grad()
def judge_generator(
    generator: nn.Module,
    config: ModelConfig,
    data: ImageDataset,
    evaluator: Evaluator | None,
    samples: int,
    seed: int = 0,
) -> dict[str, Any]:
    """The figures of a serving generator (eval mode) against the data it learnt.

    N = min(``samples``, half the data) images are drawn at seeds ``0..N-1`` (labels ``i % K``
    for a conditional model), as users get them. With an evaluator for the data: their figures
    against N real images, the real-versus-real floor at the same N and the class-mix floor.
    Always: the memorised share (``models.evaluation.memorization``), in the evaluator's features
    or, without one, in pixels.

    Returns:
        ``{"samples", "memorization"}`` and, with an evaluator, ``"generated"``, ``"floor"`` and
        ``"class_mix_floor_fd"``.
    """
    count = min(samples, len(data) // 2)
    if count < 2:
        raise ValueError(f"judging needs at least 4 training images, the data has {len(data)}")
    seeds = range(count)
    labels = label_tensor(seed_labels(seeds, config.num_classes))
    images = generate(generator, latents_for_seeds(seeds, config.latent_dim), labels)
    # The data is at the model's size and channels; shapes differ only for a foreign dataset.
    images = resize_float(convert_channels_float(images, data.channels), data.image_size)
    reference, _ = data.batch(reference_subset(len(data), seed))
    report: dict[str, Any] = {"samples": count}
    if evaluator is None or data.labels is None:
        report["memorization"] = memorization(images, reference, "pixels").to_dict()
        return report
    picker = torch.Generator().manual_seed(seed)
    real, real_labels = data.batch(torch.randperm(len(data), generator=picker)[:count])
    assert real_labels is not None  # labelled, checked above
    generated = evaluate_images(evaluator, images, real, real_labels, labels)
    predicted = evaluator.predict(images).argmax(dim=1)
    copied = memorization(evaluator.features(images), evaluator.features(reference), "evaluator features")
    return {
        **report,
        "generated": generated.to_dict(),
        "floor": real_floor(evaluator, data, count, seed).to_dict(),
        "class_mix_floor_fd": class_mix_floor(evaluator, data, predicted, count, seed),
        "memorization": copied.to_dict(),
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
