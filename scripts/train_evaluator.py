"""Train the quality-evaluator classifiers and write them to models/evaluation/weights/.

    python scripts/train_evaluator.py            # all three datasets
    python scripts/train_evaluator.py digits --epochs 40

Deterministic on the CPU: every random draw (initialisation, split, shuffling,
augmentation) comes from explicit generators seeded by --seed, and the thread count
is fixed. 20% of each dataset (per-class stratified) is held out and never trained on;
the accuracy on it is printed and stored in the weights file.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

# Allow running as a plain script from a source checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.data import ImageDataset, load_dataset, native_format
from models.evaluation.classifier import (
    EVALUATOR_DATASETS,
    WEIGHTS_DIR,
    EvaluatorConfig,
    EvaluatorNet,
    save_evaluator,
)

HELDOUT_FRACTION = 0.2


@dataclass(frozen=True)
class Recipe:
    """Per-dataset training choices; augmentation kept light (small shifts, flips)."""

    epochs: int
    max_shift: int  # pixels of random translation
    flips: bool  # every shape class is mirror-symmetric; digits are not
    learning_rate: float = 3e-3
    batch_size: int = 64


RECIPES = {
    "digits": Recipe(epochs=40, max_shift=1, flips=False),
    "mnist5k": Recipe(epochs=15, max_shift=2, flips=False),
    "shapes": Recipe(epochs=8, max_shift=2, flips=True),
}


def stratified_split(labels: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    train, heldout = [], []
    for label in labels.unique().tolist():
        members = rng.permutation(np.flatnonzero(labels.numpy() == label))
        cut = round(len(members) * HELDOUT_FRACTION)
        heldout.extend(members[:cut])
        train.extend(members[cut:])
    return torch.tensor(sorted(train)), torch.tensor(sorted(heldout))


def augment(images: torch.Tensor, recipe: Recipe, generator: torch.Generator) -> torch.Tensor:
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
    network.eval()
    correct = 0
    for start in range(0, len(indices), 512):
        images, labels = dataset.batch(indices[start : start + 512])
        assert labels is not None
        correct += int((network(images)[1].argmax(1) == labels).sum())
    return correct / len(indices)


def train(name: str, recipe: Recipe, seed: int) -> tuple[EvaluatorNet, EvaluatorConfig, dict]:
    image_size, channels = native_format(name)
    dataset = load_dataset(name, seed=seed)
    train_idx, heldout_idx = stratified_split(dataset.labels, seed)
    config = EvaluatorConfig(name, image_size, channels, dataset.num_classes)
    generator = torch.Generator().manual_seed(seed)
    network = EvaluatorNet(config, generator=generator)
    steps_per_epoch = -(-len(train_idx) // recipe.batch_size)
    optimizer = torch.optim.AdamW(network.parameters(), lr=recipe.learning_rate, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, recipe.learning_rate, total_steps=recipe.epochs * steps_per_epoch
    )
    started = time.perf_counter()
    for epoch in range(recipe.epochs):
        network.train()
        order = train_idx[torch.randperm(len(train_idx), generator=generator)]
        total = 0.0
        for start in range(0, len(order), recipe.batch_size):
            images, labels = dataset.batch(order[start : start + recipe.batch_size])
            loss = F.cross_entropy(network(augment(images, recipe, generator))[1], labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(labels)
        print(f"  {name} epoch {epoch + 1}/{recipe.epochs} loss {total / len(order):.4f}")
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
    return network, config, {**facts, "class_names": dataset.class_names}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", nargs="?", default="all", choices=(*EVALUATOR_DATASETS, "all"))
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", type=Path, default=WEIGHTS_DIR)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    names = EVALUATOR_DATASETS if args.dataset == "all" else (args.dataset,)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        recipe = RECIPES[name]
        if args.epochs is not None:
            recipe = Recipe(args.epochs, recipe.max_shift, recipe.flips, recipe.learning_rate)
        network, config, facts = train(name, recipe, args.seed)
        class_names = facts.pop("class_names")
        path = args.output_dir / f"{name}.safetensors"
        save_evaluator(path, network, config, class_names, facts)
        print(
            f"{name}: held-out accuracy {facts['heldout_accuracy']} on {facts['num_heldout']} "
            f"images, {facts['train_seconds']} s, {path.stat().st_size / 1024:.0f} KB -> {path}"
        )


if __name__ == "__main__":
    main()
