"""`ganserve sample | interpolate | evaluate | info | export`: checkpoints from a shell."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.engine_commands import resolve_checkpoint
from cli.model_folders import add_data_dir_argument

if TYPE_CHECKING:  # annotations only: the commands import the engine when they run
    import torch
    from torch import nn

    from models.architectures import ModelConfig


def add_parsers(subparsers: Any) -> None:
    """Add ``sample``, ``interpolate``, ``evaluate``, ``info`` and ``export`` to ``subparsers``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("checkpoint", type=Path, help="checkpoint file, run folder or model name")
    common.add_argument("--step", type=int, help="checkpoint step in a run folder")
    add_data_dir_argument(common, "data folder to find a model name in")

    sample = subparsers.add_parser("sample", parents=[common], help="write a PNG of seeded samples")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--count", type=int, default=1)
    sample.add_argument("--columns", type=int)
    sample.add_argument("--truncation", type=float)
    sample.add_argument("--label", help="class name or index (conditional models)")
    sample.add_argument("-o", "--output", type=Path, default=Path("sample.png"))

    strip = subparsers.add_parser("interpolate", parents=[common], help="write a latent walk strip")
    strip.add_argument("--start", type=int, default=0)
    strip.add_argument("--end", type=int, default=1)
    strip.add_argument("--steps", type=int, default=8)
    strip.add_argument("--mode", choices=("slerp", "lerp"), default="slerp")
    strip.add_argument("--truncation", type=float)
    strip.add_argument("--label", help="class name or index for every frame (conditional models)")
    strip.add_argument("-o", "--output", type=Path, default=Path("interpolation.png"))

    evaluate = subparsers.add_parser("evaluate", parents=[common], help="quality figures as JSON")
    evaluate.add_argument("--dataset", help="evaluator dataset (default: the training dataset)")
    evaluate.add_argument("--samples", type=int, default=2000)

    subparsers.add_parser("info", parents=[common], help="what a checkpoint contains, as JSON")

    export = subparsers.add_parser("export", parents=[common], help="write a serving-only copy")
    export.add_argument("destination", type=Path)


def _load_generator(args: argparse.Namespace) -> tuple[nn.Module, ModelConfig, int | None]:
    """The generator of ``args.checkpoint`` (at ``args.step``), as served, its model config, and
    the class index ``args.label`` names (a class name or an index, as the service reads it)."""
    from models.inference import class_names_of, label_index, prepare_for_serving

    generator, info = prepare_for_serving(resolve_checkpoint(args.checkpoint, args.step, args.data_dir))
    cfg = info.model_config
    label = label_index(args.label, class_names_of(info), cfg.num_classes, subject=str(args.checkpoint))
    return generator, cfg, label


def _write_grid(
    generator: nn.Module,
    latents: torch.Tensor,
    labels: list[int] | None,
    columns: int | None,
    output: Path,
) -> int:
    """Render ``latents`` as one PNG grid of ``columns`` columns into ``output``; print its path."""
    from models.inference import encode_image, generate_images, label_tensor, make_grid

    images = generate_images(generator, latents, label_tensor(labels))
    output.write_bytes(encode_image(make_grid(images, columns)))
    print(output)
    return 0


def run_sample(args: argparse.Namespace) -> int:
    """``ganserve sample``: the grid ``GET /sample`` serves for the same seed, count and label."""
    from models.inference import code_components, grid_seeds, latents_for_seeds, seed_labels

    generator, cfg, label = _load_generator(args)
    seeds = grid_seeds(args.seed, args.count)
    latents = latents_for_seeds(seeds, cfg.latent_dim, args.truncation, code_components(cfg))
    labels = seed_labels(seeds, cfg.num_classes, label)
    return _write_grid(generator, latents, labels, args.columns, args.output)


def run_interpolate(args: argparse.Namespace) -> int:
    """``ganserve interpolate``: the strip ``GET /interpolate`` serves, labels included."""
    from models.inference import code_components, interpolate_latents, interpolation_labels, latent_for_seed

    generator, cfg, label = _load_generator(args)
    codes = code_components(cfg)
    start = latent_for_seed(args.start, cfg.latent_dim, args.truncation, codes)
    end = latent_for_seed(args.end, cfg.latent_dim, args.truncation, codes)
    frames = interpolate_latents(start, end, args.steps, args.mode, codes)
    labels = interpolation_labels(args.start, args.end, args.steps, cfg.num_classes, label)
    return _write_grid(generator, frames, labels, args.steps, args.output)


def run_evaluate(args: argparse.Namespace) -> int:
    """``ganserve evaluate``: quality figures of a checkpoint, as JSON."""
    from models.evaluation_report import evaluate_checkpoint

    report = evaluate_checkpoint(
        resolve_checkpoint(args.checkpoint, args.step, args.data_dir),
        dataset=args.dataset,
        samples=args.samples,
    )
    print(json.dumps(report, indent=2))
    return 0


def run_info(args: argparse.Namespace) -> int:
    """``ganserve info``: what a checkpoint's header says, as JSON."""
    from models.checkpoint import read_checkpoint_info

    info = read_checkpoint_info(resolve_checkpoint(args.checkpoint, args.step, args.data_dir))
    print(json.dumps(info.to_dict(), indent=2))
    return 0


def run_export(args: argparse.Namespace) -> int:
    """``ganserve export``: write a serving-only copy of a checkpoint."""
    from models.checkpoint import export_generator

    info = export_generator(resolve_checkpoint(args.checkpoint, args.step, args.data_dir), args.destination)
    print(json.dumps({"path": str(info.path), "step": info.step, "kind": info.kind}))
    return 0
