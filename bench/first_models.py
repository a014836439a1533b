"""Your first model: what a request naming only a dataset trains, and how good it is.

For each dataset, the spec ``POST /train {"dataset": NAME}`` would queue is built with the
service's own recipe (``models.training.recipes`` over ``models.data.facts``: the function the
API, the CLI and the page use), trained by the engine in this process with one torch thread per
core (what a worker with the default ``GAN_TORCH_THREADS=0`` does), and judged by the project's
evaluator: the Fréchet distance of N generated images (seeds 0..N-1) against N real ones, next
to the real-versus-real floor at the same N (two disjoint real halves, so N is at most half the
dataset: 898 for the 1,797 ``digits``). The wall time is the whole run: dataset load, every
step, the quality checks at checkpoints, the checkpoints themselves.

The targets (issue 16): ``digits`` in at most 3 minutes at FD at most 3x the floor with every
class present; ``mnist5k`` in 10 minutes at 5x; ``shapes`` at 32x32 in 15 minutes at 15x. Run
on a quiet machine (nothing else training or serving):

    .venv/bin/python -m bench.first_models [--only digits] [--samples 1000] [--set steps=3000]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from models.data import NATIVE_COUNTS
from models.data.facts import native_facts
from models.evaluation_report import evaluate_checkpoint
from models.training import TrainConfig, Trainer
from models.training.recipes import resolve_recipe

# (dataset, the fields its documented request sets, minutes allowed, FD / floor allowed)
TARGETS: tuple[tuple[str, dict[str, Any], float, float], ...] = (
    ("digits", {}, 3.0, 3.0),
    ("mnist5k", {}, 10.0, 5.0),
    ("shapes", {"image_size": 32}, 15.0, 15.0),
)
MAX_IMAGE_SIZE = 128  # the service's default GAN_MAX_IMAGE_SIZE


def recipe_config(dataset: str, given: dict[str, Any], overrides: dict[str, Any]) -> TrainConfig:
    """The config ``POST /train`` builds for ``{"dataset": dataset, **given}``, then ``overrides``."""
    fields = resolve_recipe(
        native_facts(dataset), {"dataset": dataset, **given}, max_image_size=MAX_IMAGE_SIZE
    ).fields
    return TrainConfig.from_dict({**fields, **overrides, "name": f"first-{dataset}", "device": "cpu"})


def run_one(
    dataset: str, given: dict[str, Any], overrides: dict[str, Any], samples: int, root: Path
) -> dict[str, Any]:
    """Train one dataset's first model and judge its final checkpoint."""
    config = recipe_config(dataset, given, overrides)
    started = time.perf_counter()
    result = Trainer(config, root / dataset, cache_dir=root / "cache").run(resume=False)
    wall = time.perf_counter() - started
    assert result.checkpoint is not None
    # The floor needs two disjoint real sets of N images: N is at most half the data (898 of
    # the 1,797 digits), and a smaller num_images lowers it further.
    images = min(NATIVE_COUNTS[dataset], config.num_images or NATIVE_COUNTS[dataset])
    report = evaluate_checkpoint(result.checkpoint, samples=min(samples, images // 2))
    generated, floor = report["generated"], report["floor"]
    return {
        "dataset": dataset,
        "architecture": config.architecture,
        "image_size": config.image_size,
        "steps": config.steps,
        "wall_minutes": wall / 60,
        "samples": report["samples"],
        "fd": generated["frechet_distance"],
        "floor": floor["frechet_distance"],
        "ratio": generated["frechet_distance"] / floor["frechet_distance"],
        "classes": f"{generated['classes_present']}/{generated['num_classes']}",
        "all_classes": generated["classes_present"] == generated["num_classes"],
        "label_accuracy": generated.get("label_accuracy"),
    }


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def main() -> None:
    """Train each chosen dataset's first model and print the table (and JSON lines)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", help="dataset to run (repeatable; default: all)")
    parser.add_argument("--samples", type=int, default=1000, help="generated images to judge (default 1000)")
    parser.add_argument(
        "--set", action="append", default=[], help="FIELD=VALUE over the recipe (experiments)"
    )
    parser.add_argument("--keep", type=Path, help="folder to keep the runs in (default: a temporary one)")
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.set)
    overrides = {key: _value(value) for key, value in overrides.items()}
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    rows = []
    with tempfile.TemporaryDirectory(prefix="first-models-") as scratch:
        folder = args.keep or scratch
        for dataset, given, minutes, ratio in TARGETS:
            if args.only and dataset not in args.only:
                continue
            row = run_one(dataset, given, overrides, args.samples, Path(folder))
            row["target"] = f"<= {minutes:g} min, <= {ratio:g}x"
            row["met"] = row["wall_minutes"] <= minutes and row["ratio"] <= ratio and row["all_classes"]
            print(json.dumps(row), flush=True)
            rows.append(row)
    print()
    print("| dataset | model | steps | wall | FD | floor (N) | FD / floor | classes | target | met |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for r in rows:
        print(
            f"| {r['dataset']} | {r['architecture']} {r['image_size']}x{r['image_size']} | {r['steps']:,} "
            f"| {r['wall_minutes']:.1f} min | {r['fd']:.1f} | {r['floor']:.1f} ({r['samples']}) "
            f"| {r['ratio']:.2f}x | {r['classes']} | {r['target']} | {'yes' if r['met'] else 'no'} |"
        )


if __name__ == "__main__":
    main()
