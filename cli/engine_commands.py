"""`ganserve train | import | sample | interpolate | evaluate | info | export`: the engine from a shell."""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from cli.model_folders import (
    add_data_dir_argument,
    cli_settings,
    find_model_folder,
    import_run,
    model_folder_for_training,
)
from common.specs import TrainingSpec
from models.data import DatasetError
from models.data.facts import DataFacts, folder_facts, native_facts
from models.training.config import TrainConfig
from models.training.recipes import CHOSEN_FIELDS, resolve_recipe


def _field_type(field: FieldInfo) -> Any:
    hint = field.annotation
    if isinstance(hint, types.UnionType):  # "int | None" -> int
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return hint


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_train_parser(subparsers: Any) -> None:
    """Register ``train``: ``--config``, ``--out``, ``--fresh``, ``--quiet`` and a flag per config field."""
    parser = subparsers.add_parser(
        "train",
        help="train a GAN from a config file and/or flags",
        description="Train a model into the data folder that `ganserve up` serves, so it is listed "
        "by GET /models at once; training again with the same name and config resumes it.",
    )
    parser.add_argument("--config", type=Path, help="TOML or JSON file with training fields")
    add_data_dir_argument(parser)
    parser.add_argument(
        "-o", "--out", type=Path, help="run folder elsewhere (default: <data dir>/models/<name>)"
    )
    parser.add_argument("--fresh", action="store_true", help="do not resume from the run folder")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    for name, field in TrainConfig.model_fields.items():
        if name == "extra":
            continue
        kind = _field_type(field)
        converter = _bool if kind is bool else kind
        parser.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            type=converter,
            default=None,
            help=(f"{field.description} " if field.description else "") + _default_text(name, field),
        )


def _default_text(name: str, field: FieldInfo) -> str:
    if name in CHOSEN_FIELDS:
        return f"(default: chosen for the dataset, as POST /train/plan shows; else {field.default})"
    return f"(default: {field.default})"


def load_config_file(path: Path) -> dict[str, Any]:
    """Training fields from a TOML (``.toml``) or JSON file; ValueError unless it holds a table."""
    text = path.read_text()
    data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a table/object of training fields")
    return data


def train_config_from_args(args: argparse.Namespace, max_image_size: int) -> TrainConfig:
    """The TrainConfig from ``--config``, with the flags given on the command line overriding it
    and every field neither sets chosen for the dataset by the service's own recipe."""
    values: dict[str, Any] = load_config_file(args.config) if args.config else {}
    for name in TrainConfig.model_fields:
        given = getattr(args, name, None)
        if given is not None:
            values[name] = given
    facts = _dataset_facts(values)
    if facts is not None:
        spec_fields = {key: value for key, value in values.items() if key in TrainingSpec.model_fields}
        resolved = resolve_recipe(facts, spec_fields, max_image_size=max_image_size).fields
        values = {**values, **resolved}
    return TrainConfig.from_dict(values)


def _dataset_facts(values: dict[str, Any]) -> DataFacts | None:
    """The facts of the dataset ``values`` names, or None when it names none this can read
    (the config then fails with the engine's own message)."""
    dataset = values.get("dataset", TrainingSpec().dataset)
    try:
        if dataset == "folder":
            path = values.get("dataset_path")
            return folder_facts(Path(path)) if isinstance(path, str) else None
        return native_facts(dataset) if isinstance(dataset, str) else None
    except DatasetError:
        return None


class ProgressLine:
    """One status line, rewritten in place: step, losses, images/s and ETA."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.last = 0.0

    def __call__(self, progress: Any) -> None:
        """Redraw the line on stderr for ``progress``, at most every 0.2 s (always at the last step)."""
        now = time.monotonic()
        if self.quiet or (now - self.last < 0.2 and progress.step != progress.total_steps):
            return
        self.last = now
        width = 24
        done = int(width * progress.step / progress.total_steps)
        bar = "#" * done + "-" * (width - done)
        losses = " ".join(f"{k}={v:.3f}" for k, v in progress.losses.items())
        eta = f"{progress.eta_seconds:.0f}s" if progress.eta_seconds is not None else "?"
        line = (
            f"\r[{bar}] {progress.step}/{progress.total_steps} {losses} "
            f"{progress.images_per_second:.0f} img/s eta {eta}"
        )
        sys.stderr.write(line)
        sys.stderr.flush()


def run_train(args: argparse.Namespace) -> int:
    """Run ``ganserve train`` (resuming unless ``--fresh``) and print the result as JSON; returns 0."""
    from models.training import Trainer

    settings = cli_settings(args.data_dir)
    config = train_config_from_args(args, settings.max_image_size)
    run_dir = args.out or model_folder_for_training(settings, config.name)
    progress = ProgressLine(args.quiet)
    trainer = Trainer(config, run_dir, on_progress=progress, cache_dir=settings.cache_dir)
    result = trainer.run(resume=not args.fresh)
    if not args.quiet:
        sys.stderr.write("\n")
    summary: dict[str, Any] = {
        "status": result.status,
        "model": config.name,
        "step": result.step,
        "checkpoint": str(result.checkpoint),
        "run_dir": str(run_dir),
    }
    if result.status == "completed" and result.checkpoint is not None:
        # The figures a worker puts in a job record (common.evaluations), judged the same way.
        from models.training.judging import judge_run

        if not args.quiet and config.eval_samples > 0:
            sys.stderr.write("judging the model against its data...\n")
        summary["evaluation"] = judge_run(
            result.checkpoint, trainer.dataset, settings.cache_dir, config.eval_samples
        )
    print(json.dumps(summary))
    return 0


def resolve_checkpoint(target: Path, step: int | None = None, data_dir: Path | None = None) -> Path:
    """A checkpoint file, or the checkpoint at ``step`` (default: the newest) of a run folder
    or of a model in the data folder (trained or shipped) named by ``target``."""
    from models.training import run_files

    if target.is_file():
        return target
    if not target.exists() and len(target.parts) == 1:
        folder = find_model_folder(cli_settings(data_dir), target.name)
        if folder is not None:
            target = folder
    if target.is_dir():
        steps = run_files.checkpoint_steps(target)
        if not steps:
            raise ValueError(f"{target}: no checkpoints in this folder")
        chosen = steps[-1] if step is None else step
        if chosen not in steps:
            raise ValueError(f"{target}: no checkpoint at step {chosen}; have {steps}")
        return run_files.checkpoint_path(target, chosen)
    raise ValueError(f"{target}: no such checkpoint file, run folder or model")


def add_import_parser(subparsers: Any) -> None:
    """Register ``import``: copy a run folder into the data folder as a served model."""
    parser = subparsers.add_parser(
        "import",
        help="copy a run folder into the data folder, where `ganserve up` serves it",
        description="Copy a run folder (checkpoints/step-*.safetensors and what came with them) "
        "into <data dir>/models/<name>. An existing model is never overwritten.",
    )
    parser.add_argument("run_folder", type=Path, help="the run folder to copy")
    parser.add_argument("--name", help="model name (default: the run folder's name)")
    add_data_dir_argument(parser)


def run_import(args: argparse.Namespace) -> int:
    """Run ``ganserve import`` and print the new model's name and folder as JSON; returns 0."""
    name = args.name or args.run_folder.resolve().name
    folder = import_run(cli_settings(args.data_dir), args.run_folder, name)
    print(json.dumps({"model": name, "run_dir": str(folder)}))
    return 0
