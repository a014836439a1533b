"""`ganserve sample | interpolate | evaluate | info | export`: checkpoints from a shell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import click

from cli.engine_commands import resolve_checkpoint
from cli.options import OK, F, data_dir_option, fails_cleanly
from cli.progress import Progress

if TYPE_CHECKING:  # annotations only: the commands import the engine when they run
    import torch
    from torch import nn

    from models.architectures import ModelConfig


_TARGET_HELP = (
    "CHECKPOINT is a checkpoint file, a run folder (its newest checkpoint, or --step) or the name "
    "of a model in the data folder, trained or shipped."
)


def checkpoint_arguments(function: F) -> F:
    """CHECKPOINT, ``--step`` and ``--data-dir``: what every command that reads a model takes."""
    function = data_dir_option(function)
    function = click.option(
        "--step", type=int, help="Checkpoint step in a run folder (default: the newest)."
    )(function)
    return click.argument("checkpoint", type=click.Path(path_type=Path))(function)


def _truncation_option(function: F) -> F:
    return click.option(
        "--truncation",
        type=float,
        help="Truncation psi: latent components with |z| > psi are drawn again (default: none).",
    )(function)


@click.command("sample", epilog=_TARGET_HELP)
@checkpoint_arguments
@click.option(
    "--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the first image."
)
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Images: seeds SEED..SEED+COUNT-1.",
)
@click.option("--columns", type=int, help="Columns of the grid (default: a square-ish grid).")
@_truncation_option
@click.option("--label", help="Class name or index (conditional models; default: seed mod classes).")
@click.option(
    "-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=Path("sample.png"),
    show_default=True, help="PNG file to write.",
)  # fmt: skip
@fails_cleanly
def sample_command(
    checkpoint: Path,
    step: int | None,
    data_dir: Path | None,
    seed: int,
    count: int,
    columns: int | None,
    truncation: float | None,
    label: str | None,
    output: Path,
) -> int:
    """Write a PNG of seeded samples: the bytes GET /sample serves for the same parameters."""
    from models.inference import code_components, grid_seeds, latents_for_seeds, seed_labels

    generator, cfg, label_index = _load_generator(checkpoint, step, data_dir, label)
    seeds = grid_seeds(seed, count)
    latents = latents_for_seeds(seeds, cfg.latent_dim, truncation, code_components(cfg))
    labels = seed_labels(seeds, cfg.num_classes, label_index)
    return _write_grid(generator, latents, labels, columns, output)


@click.command("interpolate", epilog=_TARGET_HELP)
@checkpoint_arguments
@click.option(
    "--start", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the first frame."
)
@click.option(
    "--end", type=click.IntRange(min=0), default=1, show_default=True, help="Seed of the last frame."
)
@click.option("--steps", type=int, default=8, show_default=True, help="Frames, both ends included.")
@click.option(
    "--mode", type=click.Choice(["slerp", "lerp"]), default="slerp", show_default=True,
    help="Spherical or linear interpolation between the two latents.",
)  # fmt: skip
@_truncation_option
@click.option("--label", help="Class name or index for every frame (conditional models).")
@click.option(
    "-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=Path("interpolation.png"),
    show_default=True, help="PNG file to write.",
)  # fmt: skip
@fails_cleanly
def interpolate_command(
    checkpoint: Path,
    step: int | None,
    data_dir: Path | None,
    start: int,
    end: int,
    steps: int,
    mode: Literal["slerp", "lerp"],
    truncation: float | None,
    label: str | None,
    output: Path,
) -> int:
    """Write a latent walk strip: the bytes GET /interpolate serves, labels included."""
    from models.inference import code_components, interpolate_latents, interpolation_labels, latent_for_seed

    generator, cfg, label_index = _load_generator(checkpoint, step, data_dir, label)
    codes = code_components(cfg)
    first = latent_for_seed(start, cfg.latent_dim, truncation, codes)
    last = latent_for_seed(end, cfg.latent_dim, truncation, codes)
    frames = interpolate_latents(first, last, steps, mode, codes)
    labels = interpolation_labels(start, end, steps, cfg.num_classes, label_index)
    return _write_grid(generator, frames, labels, steps, output)


@click.command("evaluate", epilog=_TARGET_HELP)
@checkpoint_arguments
@click.option("--dataset", help="Evaluator dataset (default: the dataset the model was trained on).")
@click.option(
    "--samples", type=click.IntRange(min=2),
    help="Generated images, judged against as many real ones; exactly this many, or a refusal when the "
    "data has fewer than twice as many (default: 2000 or half the data, whichever is fewer).",
)  # fmt: skip
@fails_cleanly
def evaluate_command(
    checkpoint: Path, step: int | None, data_dir: Path | None, dataset: str | None, samples: int | None
) -> int:
    """Quality figures of a checkpoint against real data, as JSON."""
    from models.evaluation_report import evaluate_checkpoint

    path = resolve_checkpoint(checkpoint, step, data_dir)
    with Progress("evaluate", None, unit="images"):
        report = evaluate_checkpoint(path, dataset=dataset, samples=samples)
    print(json.dumps(report, indent=2))
    return OK


@click.command("info", epilog=_TARGET_HELP)
@checkpoint_arguments
@fails_cleanly
def info_command(checkpoint: Path, step: int | None, data_dir: Path | None) -> int:
    """What a checkpoint's header says (model and training config, step, metrics), as JSON."""
    from models.checkpoint import read_checkpoint_info

    info = read_checkpoint_info(resolve_checkpoint(checkpoint, step, data_dir))
    print(json.dumps(info.to_dict(), indent=2))
    return OK


@click.command("export", epilog=_TARGET_HELP)
@checkpoint_arguments
@click.argument("destination", type=click.Path(path_type=Path, dir_okay=False))
@fails_cleanly
def export_command(checkpoint: Path, step: int | None, data_dir: Path | None, destination: Path) -> int:
    """Write a serving-only copy of CHECKPOINT (the generator, no optimizer state) to DESTINATION."""
    from models.checkpoint import export_generator

    info = export_generator(resolve_checkpoint(checkpoint, step, data_dir), destination)
    print(json.dumps({"path": str(info.path), "step": info.step, "kind": info.kind}))
    return OK


COMMANDS = (sample_command, interpolate_command, evaluate_command, info_command, export_command)


def _load_generator(
    checkpoint: Path, step: int | None, data_dir: Path | None, label: str | None
) -> tuple[nn.Module, ModelConfig, int | None]:
    """The generator of ``checkpoint`` (at ``step``), as served, its model config, and the class
    index ``label`` names (a class name or an index, as the service reads it)."""
    from models.inference import class_names_of, label_index, prepare_for_serving

    generator, info = prepare_for_serving(resolve_checkpoint(checkpoint, step, data_dir))
    cfg = info.model_config
    index = label_index(label, class_names_of(info), cfg.num_classes, subject=str(checkpoint))
    return generator, cfg, index


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
    return OK
