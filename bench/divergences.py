"""The f-divergence table, measured: one DCGAN on mnist5k per divergence, side by side.

Every run is the same spec but for ``divergence`` (``loss = "fgan"``): an unconditional DCGAN
of width 32 on the 5,000 MNIST digits, the same steps and seeds, trained by the engine in this
process and judged at its last step by the project's mnist5k evaluator (FD of N generated
images against N real ones, next to the real-versus-real floor at the same N, and how many of
the ten digits it draws). The untrained generator's FD is printed first, as what "learnt
something" is measured against. One image, a row of samples per divergence (the first seed's
run, seeds 0..K-1), is written with ``--image``.

    .venv/bin/python -m bench.divergences [--steps 2000] [--seeds 0 1] [--image docs/images/divergences.png]

Run on a quiet machine: the wall time of each run is printed too.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from models.checkpoint import load_generator
from models.data import load_dataset
from models.divergences import F_DIVERGENCES
from models.evaluation import load_evaluator
from models.evaluation_report import evaluate_checkpoint, judge_generator
from models.inference import generate_images, latents_for_seeds
from models.training import TrainConfig, Trainer

SAMPLES = 1000
ROW = 12  # samples per divergence in the image


def spec(divergence: str, seed: int, steps: int) -> TrainConfig:
    return TrainConfig.from_dict(
        {
            "name": f"fgan-{divergence}-{seed}",
            "dataset": "mnist5k",
            "architecture": "dcgan",
            "g_width": 32,
            "d_width": 32,
            "loss": "fgan",
            "divergence": divergence,
            "steps": steps,
            "seed": seed,
            "checkpoint_every": steps,
            "sample_every": steps,
            "eval_samples": 0,  # judged once, below, at the evaluator's full count
            "device": "cpu",
        }
    )


def untrained_fd(steps: int) -> float:
    """The FD of the generator as initialised (seed 0): the figure every run must beat."""
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(spec("gan", 0, steps), folder)
        generator = trainer.serving_generator().eval()
        data = load_dataset("mnist5k", image_size=28, channels=1)
        report = judge_generator(generator, trainer.model_config, data, load_evaluator("mnist5k"), SAMPLES)
    return float(report["generated"]["frechet_distance"])


def run_one(divergence: str, seed: int, steps: int, root: Path) -> dict[str, Any]:
    config = spec(divergence, seed, steps)
    started = time.perf_counter()
    result = Trainer(config, root / config.name).run(resume=False)
    wall = time.perf_counter() - started
    assert result.checkpoint is not None
    report = evaluate_checkpoint(result.checkpoint, samples=SAMPLES)
    generated = report["generated"]
    fd = float(generated["frechet_distance"])
    return {
        "divergence": divergence,
        "seed": seed,
        "steps": result.step,
        "wall_seconds": wall,
        "fd": fd if math.isfinite(fd) else None,
        "floor": float(report["floor"]["frechet_distance"]),
        "classes": int(generated["classes_present"]),
        "checkpoint": str(result.checkpoint),
    }


def sample_row(checkpoint: str) -> Image.Image:
    """Seeds 0..ROW-1 of a checkpoint side by side, 28 pixels high."""
    generator, info = load_generator(checkpoint)
    # The served pixels: (N, H, W, 1) uint8, as GET /sample encodes them.
    images = generate_images(generator.eval(), latents_for_seeds(range(ROW), info.model_config.latent_dim))
    return Image.fromarray(np.concatenate(list(images[..., 0]), axis=1), mode="L")


def write_image(rows: list[tuple[str, str]], path: Path) -> None:
    """One labelled row of samples per divergence, at twice the size for legibility."""
    label_width, scale = 130, 2
    first = sample_row(rows[0][1])
    height, width = first.height * scale, first.width * scale
    sheet = Image.new("L", (label_width + width, height * len(rows)), 255)
    draw = ImageDraw.Draw(sheet)
    for index, (divergence, checkpoint) in enumerate(rows):
        row = sample_row(checkpoint).resize((width, height), Image.Resampling.NEAREST)
        sheet.paste(row, (label_width, index * height))
        draw.text((6, index * height + height // 2 - 6), divergence, fill=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--only", action="append", help="divergence to run (repeatable; default: all ten)")
    parser.add_argument("--image", type=Path, help="where to write the sample rows (PNG)")
    args = parser.parse_args()
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    divergences = args.only or list(F_DIVERGENCES)
    print(f"untrained generator: FD {untrained_fd(args.steps):.1f} at N = {SAMPLES}", flush=True)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="divergences-") as folder:
        for divergence in divergences:
            for seed in args.seeds:
                row = run_one(divergence, seed, args.steps, Path(folder))
                print(json.dumps({k: v for k, v in row.items() if k != "checkpoint"}), flush=True)
                rows.append(row)
        if args.image:
            firsts = [(r["divergence"], r["checkpoint"]) for r in rows if r["seed"] == args.seeds[0]]
            write_image(firsts, args.image)
    print()
    print("| divergence | FD per seed | FD / floor (mean) | classes | wall per run |")
    print("| --- | --- | ---: | --- | ---: |")
    for divergence in divergences:
        runs = [r for r in rows if r["divergence"] == divergence]
        fds = [r["fd"] for r in runs]
        shown = " / ".join("NaN" if fd is None else f"{fd:.1f}" for fd in fds)
        finite = [fd / r["floor"] for fd, r in zip(fds, runs, strict=True) if fd is not None]
        ratio = f"{statistics.mean(finite):.1f}x" if finite else "–"
        classes = " / ".join(str(r["classes"]) for r in runs)
        wall = statistics.mean(r["wall_seconds"] for r in runs)
        print(f"| {divergence} | {shown} | {ratio} | {classes} | {wall:.0f} s |")
    print(
        f"\nfloor (real vs real, N = {SAMPLES}): {rows[0]['floor']:.2f}; "
        f"steps {args.steps}, seeds {args.seeds}"
    )


if __name__ == "__main__":
    main()
