"""Training an evaluator classifier on a labelled dataset: the one method behind the shipped
evaluators (``scripts/train_evaluator.py``) and the ones the worker trains on users' data.

Deterministic on the CPU: every random draw (initialisation, split, shuffling, augmentation)
comes from explicit generators seeded by ``seed``. ``HELDOUT_FRACTION`` of each class
(stratified) is held out and never trained on; the accuracy on it is part of the facts stored
in the weights file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from models.data import ImageDataset
from models.evaluation.classifier import EvaluatorConfig, EvaluatorNet

HELDOUT_FRACTION = 0.2


class EvaluatorTrainingStopped(Exception):
    """``should_stop`` asked the training to end early (a shutdown or a cancelled job)."""


@dataclass(frozen=True)
class EvaluatorRecipe:
    """Training choices; augmentation kept light (small shifts, flips where the data allows)."""

    epochs: int
    max_shift: int  # pixels of random translation
    flips: bool  # only for data whose classes are mirror-symmetric (digits are not)
    learning_rate: float = 3e-3
    batch_size: int = 64


def stratified_split(labels: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, held-out) indices: ``HELDOUT_FRACTION`` of every class held out, seeded."""
    rng = np.random.default_rng(seed)
    train: list[int] = []
    heldout: list[int] = []
    for label in sorted(set(labels.tolist())):
        members = rng.permutation(np.flatnonzero(labels.numpy() == label))
        cut = round(len(members) * HELDOUT_FRACTION)
        heldout.extend(members[:cut])
        train.extend(members[cut:])
    return torch.tensor(sorted(train)), torch.tensor(sorted(heldout))


def augment(images: torch.Tensor, recipe: EvaluatorRecipe, generator: torch.Generator) -> torch.Tensor:
    """Random shifts of up to ``max_shift`` pixels, and flips when the recipe allows them."""
    shift = recipe.max_shift
    if shift:
        size = images.shape[-1]
        # Replicate padding continues the (flat) background instead of adding a frame.
        padded = F.pad(images, (shift, shift, shift, shift), mode="replicate")
        offsets = torch.randint(0, 2 * shift + 1, (len(images), 2), generator=generator)
        crops = zip(padded, offsets.tolist(), strict=True)
        images = torch.stack([p[:, y : y + size, x : x + size] for p, (y, x) in crops])
    if recipe.flips:
        flip_x, flip_y = torch.rand((2, len(images), 1, 1, 1), generator=generator) < 0.5
        images = torch.where(flip_x, images.flip(-1), images)
        images = torch.where(flip_y, images.flip(-2), images)
    return images


@torch.no_grad()
def accuracy(network: EvaluatorNet, dataset: ImageDataset, indices: torch.Tensor) -> float:
    """Share of ``indices`` the network classifies correctly."""
    network.eval()
    correct = 0
    for start in range(0, len(indices), 512):
        images, labels = dataset.batch(indices[start : start + 512])
        assert labels is not None  # callers train on labelled data only
        correct += int((network(images)[1].argmax(1) == labels).sum())
    return correct / max(1, len(indices))


def train_evaluator(
    dataset: ImageDataset,
    recipe: EvaluatorRecipe,
    seed: int,
    *,
    name: str | None = None,
    log: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[EvaluatorNet, EvaluatorConfig, dict[str, Any]]:
    """Train a classifier for ``dataset`` at its own size and channels.

    Returns:
        The network, its config and the facts for its weights file (held-out and training
        accuracy, split sizes, epochs, seed, seconds, torch version).

    Raises:
        ValueError: the dataset has no labels.
        EvaluatorTrainingStopped: ``should_stop`` returned True between two epochs.
    """
    if dataset.labels is None:
        raise ValueError(f"dataset {dataset.name!r} has no labels to train an evaluator on")
    train_idx, heldout_idx = stratified_split(dataset.labels, seed)
    config = EvaluatorConfig(name or dataset.name, dataset.image_size, dataset.channels, dataset.num_classes)
    generator = torch.Generator().manual_seed(seed)
    network = EvaluatorNet(config, generator=generator)
    steps_per_epoch = -(-len(train_idx) // recipe.batch_size)
    optimizer = torch.optim.AdamW(network.parameters(), lr=recipe.learning_rate, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, recipe.learning_rate, total_steps=recipe.epochs * steps_per_epoch
    )
    started = time.perf_counter()
    for epoch in range(recipe.epochs):
        if should_stop is not None and should_stop():
            raise EvaluatorTrainingStopped(f"stopped after {epoch} of {recipe.epochs} epochs")
        network.train()
        order = train_idx[torch.randperm(len(train_idx), generator=generator)]
        total = 0.0
        for start in range(0, len(order), recipe.batch_size):
            images, labels = dataset.batch(order[start : start + recipe.batch_size])
            assert labels is not None  # checked above
            loss = F.cross_entropy(network(augment(images, recipe, generator))[1], labels)
            optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(loss)
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(labels)
        if log is not None:
            log(f"  {config.dataset} epoch {epoch + 1}/{recipe.epochs} loss {total / len(order):.4f}")
    seconds = time.perf_counter() - started
    facts = {
        "heldout_accuracy": f"{accuracy(network, dataset, heldout_idx):.4f}",
        "train_accuracy": f"{accuracy(network, dataset, train_idx):.4f}",
        "num_train": len(train_idx),
        "num_heldout": len(heldout_idx),
        "epochs": recipe.epochs,
        "seed": seed,
        "train_seconds": f"{seconds:.1f}",
        "torch_version": torch.__version__,
    }
    return network, config, facts
