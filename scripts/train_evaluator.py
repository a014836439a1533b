"""Train the shipped quality-evaluator classifiers and write them to models/evaluation/weights/.

    python scripts/train_evaluator.py            # all three datasets
    python scripts/train_evaluator.py digits --epochs 40

The method (models/evaluation/training.py) is the one the worker uses for users' labelled data:
deterministic on the CPU with the thread count fixed, 20% of each class held out and never
trained on; the accuracy on it is printed and stored in the weights file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

# Allow running as a plain script from a source checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.data import load_dataset
from models.evaluation.classifier import EVALUATOR_DATASETS, WEIGHTS_DIR, save_evaluator
from models.evaluation.training import EvaluatorRecipe, train_evaluator

RECIPES = {
    "digits": EvaluatorRecipe(epochs=40, max_shift=1, flips=False),
    "mnist5k": EvaluatorRecipe(epochs=15, max_shift=2, flips=False),
    # Every shape class is mirror-symmetric.
    "shapes": EvaluatorRecipe(epochs=8, max_shift=2, flips=True),
}


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
            recipe = EvaluatorRecipe(args.epochs, recipe.max_shift, recipe.flips, recipe.learning_rate)
        dataset = load_dataset(name, seed=args.seed)
        network, config, facts = train_evaluator(dataset, recipe, args.seed, log=print)
        class_names = dataset.class_names
        path = args.output_dir / f"{name}.safetensors"
        save_evaluator(path, network, config, class_names, facts)
        print(
            f"{name}: held-out accuracy {facts['heldout_accuracy']} on {facts['num_heldout']} "
            f"images, {facts['train_seconds']} s, {path.stat().st_size / 1024:.0f} KB -> {path}"
        )


if __name__ == "__main__":
    main()
