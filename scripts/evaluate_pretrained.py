"""Measure the shipped models and write `docs/models.md` with their training timelines.

    .venv/bin/python scripts/evaluate_pretrained.py [--samples 2000]
    .venv/bin/python scripts/evaluate_pretrained.py --render-only   # after editing docs/sections/

For each model under `pretrained/`: the quality figures of its generator (seeds 0..N-1) against
N real images, next to the same figures for two disjoint halves of real data (the floor), and a
timeline picture of its fixed-noise grids over training (`docs/images/<name>-timeline.png`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from models.checkpoint import read_checkpoint_info
from models.evaluation_report import evaluate_checkpoint
from models.inference import decode_png
from models.training import run_files

ROOT = Path(__file__).resolve().parent.parent
PRETRAINED = ROOT / "pretrained"
DOCS = ROOT / "docs"


def timeline(name: str, model_dir: Path, tiles: int = 16) -> Path:
    """One row per saved step: the first ``tiles`` tiles of the fixed-noise grid, labelled."""
    rows = []
    for step in run_files.sample_steps(model_dir):
        grid = decode_png(run_files.sample_path(model_dir, step).read_bytes())
        columns = 8
        tile = grid.shape[1] // columns
        picked = [
            grid[
                (i // columns) * tile : (i // columns + 1) * tile,
                (i % columns) * tile : (i % columns + 1) * tile,
            ]
            for i in range(tiles)
        ]
        row = np.concatenate(picked, axis=1)
        if row.shape[2] == 1:
            row = np.repeat(row, 3, axis=2)
        label = Image.new("RGB", (110, row.shape[0]), "white")
        ImageDraw.Draw(label).text((6, row.shape[0] // 2 - 6), f"step {step:,}", fill="black")
        rows.append(np.concatenate([np.asarray(label), row], axis=1))
    picture = np.concatenate(rows, axis=0)
    out = DOCS / "images" / f"{name}-timeline.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(picture).save(out, optimize=True)
    return out


def per_label_accuracy(checkpoint: Path, samples_per_label: int) -> dict[str, Any]:
    """For a conditional model: images asked for label k, classified as k by the evaluator."""
    import torch

    from models.evaluation import load_evaluator
    from models.inference import generate, latents_for_seeds, prepare_for_serving

    generator, info = prepare_for_serving(checkpoint)
    evaluator = load_evaluator(str(info.train_config["dataset"]))
    classes = info.model_config.num_classes
    correct = []
    for label in range(classes):
        latents = latents_for_seeds(range(samples_per_label), info.model_config.latent_dim)
        images = generate(generator, latents, torch.full((samples_per_label,), label))
        predicted = evaluator.predict(images).argmax(dim=1)
        correct.append(float((predicted == label).float().mean()))
    return {"per_label": correct, "mean": float(np.mean(correct)), "per_label_samples": samples_per_label}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("names", nargs="*")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="write docs/models.md again from docs/models.json, measuring nothing",
    )
    args = parser.parse_args()
    if args.render_only:
        results = json.loads((DOCS / "models.json").read_text())
        samples = next(iter(results.values()))["samples"] if results else args.samples
        (DOCS / "models.md").write_text(render_markdown(results, samples))
        return
    names = args.names or sorted(p.name for p in PRETRAINED.iterdir() if (p / "checkpoints").is_dir())
    results: dict[str, Any] = {}
    for name in names:
        model_dir = PRETRAINED / name
        step = run_files.checkpoint_steps(model_dir)[-1]
        checkpoint = run_files.checkpoint_path(model_dir, step)
        started = time.perf_counter()
        report = evaluate_checkpoint(checkpoint, samples=args.samples)
        if read_checkpoint_info(checkpoint).model_config.num_classes > 0:
            report["label_accuracy"] = per_label_accuracy(checkpoint, 200)
        # Paths relative to the repository: the report is committed, and must not name this host.
        report["checkpoint"] = str(Path(report["checkpoint"]).resolve().relative_to(ROOT))
        report["timeline"] = str(timeline(name, model_dir).relative_to(ROOT))
        report["build"] = json.loads((model_dir / "build.json").read_text())
        report["evaluation_seconds"] = round(time.perf_counter() - started, 1)
        results[name] = report
        print(json.dumps({name: report["generated"] | {"floor_fd": report["floor"]["frechet_distance"]}}))
    (DOCS / "models.json").write_text(json.dumps(results, indent=2) + "\n")
    (DOCS / "models.md").write_text(render_markdown(results, args.samples))


FIRST_MODEL_SECTION = DOCS / "sections" / "first-model.md"
DIVERGENCE_SECTION = DOCS / "sections" / "divergences.md"


def render_markdown(results: dict[str, Any], samples: int) -> str:
    lines = [
        "# Shipped models and their quality",
        "",
        "Written by `.venv/bin/python scripts/evaluate_pretrained.py` "
        f"({time.strftime('%Y-%m-%d')}); raw figures in `docs/models.json`.",
        "Each model was trained on this machine's CPU (2 cores) from its committed config with",
        "`.venv/bin/python scripts/build_pretrained.py NAME`; the wall time is what that took.",
        "",
        "**How the figures are computed** (see `models/evaluation/__init__.py`): the project's own",
        "classifier for the dataset (held-out accuracy in its weights file) embeds images in its",
        "128-dimensional penultimate layer. *FD* is the Fréchet distance between Gaussians fitted to",
        f"the features of N = {samples} generated images (seeds 0..N-1) and N real images. The *floor*",
        "is the same distance between two disjoint halves of real data with the same N: what a",
        "perfect generator would score. *Classes* counts classes predicted for at least 1% of the",
        "generated images; *KL* is the divergence of their predicted class histogram from the real",
        "labels' histogram. *Class-mix FD* is the FD of real images drawn in the generator's own",
        "predicted class proportions: what perfect images in those proportions would score, the part",
        "of the FD that comes from class balance alone. *Memorised* is the share of generated",
        "images whose nearest training image (in the classifier's features) is no farther than the",
        "5th percentile of training images' distances to their own nearest neighbour: about 5% for",
        "a model that draws new images, far more for one that copies (`models/evaluation/memorization.py`;",
        "every job reports the same figure in its record).",
        "",
        "| model | step shipped / trained | wall time | FD | floor FD | FD / floor | class-mix FD "
        "| classes | KL | label accuracy | memorised |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, report in results.items():
        generated, floor = report["generated"], report["floor"]
        accuracy = report.get("label_accuracy")
        accuracy_text = f"{accuracy['mean']:.1%}" if accuracy else "–"
        lines.append(
            f"| `{name}` | {report['step']:,} / {report['build']['steps']:,} | "
            f"{report['build']['wall_seconds'] / 60:.1f} min | "
            f"{generated['frechet_distance']:.1f} | {floor['frechet_distance']:.1f} | "
            f"{generated['frechet_distance'] / floor['frechet_distance']:.2f}× | "
            f"{report['class_mix_floor_fd']:.1f} | "
            f"{generated['classes_present']}/{generated['num_classes']} | {generated['class_kl']:.3f} | "
            f"{accuracy_text} | {report['memorization']['share']:.1%} |"
        )
    lines += ["", "FD is comparable only within one dataset (each has its own classifier).", ""]
    # Hand-written from bench.first_models' output: what a request naming only a dataset trains.
    lines += [FIRST_MODEL_SECTION.read_text().strip(), ""]
    # Hand-written from bench.divergences' output: the f-divergence table, measured.
    if DIVERGENCE_SECTION.exists():
        lines += [DIVERGENCE_SECTION.read_text().strip(), ""]
    missing = sorted(p.stem for p in (PRETRAINED / "configs").glob("*.toml") if p.stem not in results)
    if missing:
        lines += [
            "Configured but not shipped yet (no trained weights in `pretrained/`): "
            + ", ".join(f"`{name}`" for name in missing)
            + ".",
            "",
        ]
        for name in missing:
            notes = PRETRAINED / "configs" / f"{name}.md"
            if notes.exists():
                lines += [f"## {name} (not shipped)", "", notes.read_text().strip(), ""]
    for name, report in results.items():
        picture = Path(report["timeline"]).relative_to("docs")
        lines += [f"## {name}", "", f"![{name} over training]({picture})", ""]
        accuracy = report.get("label_accuracy")
        if accuracy:
            per_label = ", ".join(f"{k}: {v:.0%}" for k, v in enumerate(accuracy["per_label"]))
            lines += [
                f"Asked for label k ({accuracy['per_label_samples']} images each), classified as k: "
                f"{per_label}.",
                "",
            ]
        notes = PRETRAINED / "configs" / f"{name}.md"
        if notes.exists():  # hand-written: what was tried, and why the figures are what they are
            lines += [notes.read_text().strip(), ""]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
