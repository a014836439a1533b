"""The evaluator that judges models of one dataset: the shipped one for a built-in dataset, else
one trained on the dataset itself, once, and kept by the dataset's content.

A dataset gets a trained evaluator when it is labelled with two classes or more and every class
has at least ``MIN_IMAGES_PER_CLASS`` images (a fifth of each is held out to measure it, and
fewer would leave too few to tell a good classifier from a lucky one); otherwise
``why_no_evaluator`` says why not. The method is the shipped evaluators' own
(``models.evaluation.training``), at the data's size up to ``MAX_EVALUATOR_SIZE`` (larger images
are judged shrunk, as the shipped evaluators judge any size) with about ``IMAGES_SEEN`` training
images shown in all, the scale of the shipped ones. No flips: a user's classes may not be mirror
symmetric.

Trained evaluators live in ``<cache>/evaluators/<sha256>.safetensors``, where the hash covers the
images as the evaluator sees them, their labels and class names and the method's version, so the
same data uploaded twice, or trained on by many jobs, trains one evaluator.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from models.data import ImageDataset
from models.data.transforms import resize_uint8
from models.evaluation.classifier import (
    EVALUATOR_DATASETS,
    Evaluator,
    load_evaluator,
    load_evaluator_file,
    save_evaluator,
)
from models.evaluation.training import EvaluatorRecipe, train_evaluator

log = logging.getLogger(__name__)

MIN_IMAGES_PER_CLASS = 50
MAX_EVALUATOR_SIZE = 32
IMAGES_SEEN = 60_000
# The most epochs is for small sets: on 360 shapes in three classes (288 trained on) the held-out
# accuracy was 0.67 after 40 epochs, 0.875 after 120 and still 0.875 after 200 (1 thread: 35 s,
# 100 s, 174 s).
EPOCH_RANGE = (3, 120)
# Part of every cache key: raise it when the method changes, so old evaluators are not reused.
# 2: at most 120 epochs (was 40).
METHOD_VERSION = 2
SEED = 0


@dataclass(frozen=True)
class EvaluatorSource:
    """An evaluator and where it came from (what a job record reports)."""

    evaluator: Evaluator
    kind: str  # "shipped" or "trained for this dataset"
    cached: bool  # a trained one found in the cache (no training cost this time)
    train_seconds: float  # spent training it now (0 when shipped or cached)
    content_sha256: str | None  # the cache key of a trained one

    @property
    def heldout_accuracy(self) -> float:
        """The evaluator's accuracy on images it never trained on."""
        return self.evaluator.heldout_accuracy


def why_no_evaluator(dataset: ImageDataset) -> str | None:
    """Why ``dataset`` cannot have an evaluator, or None when it can."""
    if dataset.name in EVALUATOR_DATASETS:
        return None
    if dataset.labels is None:
        return "the dataset has no classes (put each class's images in a folder of its own)"
    if dataset.num_classes < 2:
        return "the dataset has a single class; an evaluator needs two or more"
    counts = torch.bincount(dataset.labels, minlength=dataset.num_classes).tolist()
    short = [
        (name, count)
        for name, count in zip(dataset.class_names, counts, strict=True)
        if count < MIN_IMAGES_PER_CLASS
    ]
    if short:
        listed = ", ".join(f"{name!r} has {count}" for name, count in short[:5])
        more = f" and {len(short) - 5} more" if len(short) > 5 else ""
        return f"an evaluator needs at least {MIN_IMAGES_PER_CLASS} images in every class: {listed}{more}"
    return None


def evaluator_view(dataset: ImageDataset) -> ImageDataset:
    """The dataset as a trained evaluator sees it: shrunk to at most ``MAX_EVALUATOR_SIZE``."""
    if dataset.image_size <= MAX_EVALUATOR_SIZE:
        return dataset
    images = resize_uint8(dataset.images, MAX_EVALUATOR_SIZE, dataset.channels)
    return ImageDataset(images, dataset.labels, dataset.class_names, dataset.name)


def content_sha256(dataset: ImageDataset) -> str:
    """A hash of the images, labels and class names (and the method's version)."""
    digest = hashlib.sha256()
    header = {
        "method": METHOD_VERSION,
        "shape": list(dataset.images.shape),
        "class_names": list(dataset.class_names),
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    digest.update(dataset.images.contiguous().numpy().tobytes())
    if dataset.labels is not None:
        digest.update(dataset.labels.contiguous().numpy().tobytes())
    return digest.hexdigest()


def recipe_for(dataset: ImageDataset) -> EvaluatorRecipe:
    """Epochs for about ``IMAGES_SEEN`` training images in all; shifts of 1/16 of the side."""
    train_images = max(1, round(len(dataset) * 0.8))
    low, high = EPOCH_RANGE
    epochs = min(high, max(low, round(IMAGES_SEEN / train_images)))
    return EvaluatorRecipe(epochs=epochs, max_shift=max(1, dataset.image_size // 16), flips=False)


def evaluator_for(
    dataset: ImageDataset,
    cache_dir: Path,
    *,
    recipe: EvaluatorRecipe | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> EvaluatorSource:
    """The shipped evaluator of a built-in dataset, or the cached or newly trained one of any
    other labelled dataset (``recipe``: the training choices, by default ``recipe_for``).

    Raises:
        ValueError: ``why_no_evaluator`` has a reason (it is the message).
        EvaluatorTrainingStopped: ``should_stop`` asked to stop while training.
    """
    if dataset.name in EVALUATOR_DATASETS:
        return EvaluatorSource(load_evaluator(dataset.name), "shipped", False, 0.0, None)
    reason = why_no_evaluator(dataset)
    if reason is not None:
        raise ValueError(reason)
    view = evaluator_view(dataset)
    key = content_sha256(view)
    path = cache_dir / "evaluators" / f"{key}.safetensors"
    if path.is_file():
        try:
            return EvaluatorSource(load_evaluator_file(path), "trained for this dataset", True, 0.0, key)
        except Exception as error:  # a torn or foreign file: train again over it
            log.warning("evaluator cache %s is unreadable (%s); training it again", path.name, error)
    started = time.perf_counter()
    network, config, facts = train_evaluator(
        view, recipe or recipe_for(view), SEED, name=f"dataset-{key[:12]}", should_stop=should_stop
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed: a worker killed mid-write leaves no torn file under the key,
    # and of two workers training the same data at once the later rename simply wins.
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    save_evaluator(partial, network, config, view.class_names, facts)
    os.replace(partial, path)
    seconds = time.perf_counter() - started
    return EvaluatorSource(load_evaluator_file(path), "trained for this dataset", False, seconds, key)
