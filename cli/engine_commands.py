"""`ganserve train | import | sample | interpolate | evaluate | info | export`: the engine from a shell."""

from __future__ import annotations

import json
import signal
import sys
import tomllib
import types
import typing
from pathlib import Path
from types import FrameType
from typing import Any

import click
from pydantic.fields import FieldInfo

from cli.model_folders import (
    cli_settings,
    find_model_folder,
    import_run,
    model_folder_for_training,
)
from cli.options import INTERRUPTED, OK, F, data_dir_option, fails_cleanly
from cli.progress import Progress
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


# Field types as flag values; a bool takes true/false, 1/0, yes/no or on/off.
_PARAM_TYPES: dict[Any, click.ParamType[Any]] = {
    int: click.INT,
    float: click.FLOAT,
    str: click.STRING,
    bool: click.BOOL,
}


def _default_text(name: str, field: FieldInfo) -> str:
    if name in CHOSEN_FIELDS:
        return f"(default: chosen for the dataset, as POST /train/plan shows; else {field.default})"
    return f"(default: {field.default})"


def config_field_options(function: F) -> F:
    """A flag per TrainConfig field (``--g-width`` for ``g_width``), its description as help.

    Generated from the pydantic model, so a new field is a new flag with no change here.
    """
    for name, field in reversed(TrainConfig.model_fields.items()):
        if name == "extra":  # free-form; only a config file can hold a table
            continue
        description = f"{field.description[0].upper()}{field.description[1:]} " if field.description else ""
        function = click.option(
            "--" + name.replace("_", "-"),
            name,
            type=_PARAM_TYPES[_field_type(field)],
            default=None,
            help=description + _default_text(name, field),
        )(function)
    return function


def load_config_file(path: Path) -> dict[str, Any]:
    """Training fields from a TOML (``.toml``) or JSON file; ValueError unless it holds a table."""
    text = path.read_text()
    data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a table/object of training fields")
    return data


def train_config_from_flags(
    config_file: Path | None, flags: dict[str, Any], max_image_size: int
) -> TrainConfig:
    """The TrainConfig from ``--config``, with the flags given on the command line overriding it
    and every field neither sets chosen for the dataset by the service's own recipe."""
    values: dict[str, Any] = load_config_file(config_file) if config_file else {}
    for name in TrainConfig.model_fields:
        given = flags.get(name)
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


def _losses_text(losses: dict[str, float]) -> str:
    return " ".join(f"{key}={value:.3f}" for key, value in losses.items())


class _StopOnCtrlC:
    """The first Ctrl-C asks the trainer to stop after this step (it checkpoints); the second
    interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self.previous: Any = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> _StopOnCtrlC:
        self.previous = signal.signal(signal.SIGINT, self)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self.previous)


@click.command(
    "train",
    epilog="Every field of the training config is a flag; the first Ctrl-C stops after the current "
    "step and keeps a checkpoint, and the same command resumes from it.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="TOML or JSON file with training fields (flags win over it).",
)
@data_dir_option
@click.option(
    "-o", "--out", type=click.Path(path_type=Path, file_okay=False),
    help="Run folder elsewhere (default: <data dir>/models/<name>).",
)  # fmt: skip
@click.option("--fresh", is_flag=True, help="Start over instead of resuming from the run folder.")
@click.option("--quiet", is_flag=True, help="No progress bar or lines on stderr.")
@config_field_options
@fails_cleanly
def train_command(
    config_file: Path | None, data_dir: Path | None, out: Path | None, fresh: bool, quiet: bool, **fields: Any
) -> int:
    """Train a GAN into the data folder that `ganserve up` serves.

    The model is listed by GET /models at once; training again with the same name and config
    resumes it. Ends with one JSON line on stdout: the model, its last checkpoint and the
    `evaluation` a job record would carry.
    """
    from models.training import Trainer

    settings = cli_settings(data_dir)
    config = train_config_from_flags(config_file, fields, settings.max_image_size)
    run_dir = out or model_folder_for_training(settings, config.name)
    steps_per_image = 1 / (config.batch_size * config.d_steps)
    with Progress("train", config.steps, quiet=quiet) as bar, _StopOnCtrlC() as ctrl_c:

        def on_progress(progress: Any) -> None:
            rate = progress.images_per_second * steps_per_image
            bar.update(progress.step, _losses_text(progress.losses), rate=rate, eta=progress.eta_seconds)

        trainer = Trainer(
            config,
            run_dir,
            on_progress=on_progress,
            should_stop=lambda: ctrl_c.requested,
            cache_dir=settings.cache_dir,
        )
        result = trainer.run(resume=not fresh)
    summary: dict[str, Any] = {
        "status": result.status,
        "model": config.name,
        "step": result.step,
        "checkpoint": str(result.checkpoint),
        "run_dir": str(run_dir),
    }
    if result.status == "stopped":
        print(json.dumps(summary))
        how = "the same command" if out is None else f"the same command (with -o {out})"
        print(
            f"ganserve train: interrupted: paused at step {result.step} (checkpoint saved); "
            f"{how} resumes it, --fresh starts over",
            file=sys.stderr,
        )
        return INTERRUPTED
    if result.checkpoint is not None:
        # The figures a worker puts in a job record (common.evaluations), judged the same way.
        from models.training.judging import judge_run

        if not quiet and config.eval_samples > 0:
            sys.stderr.write(f"judging the model against its data ({config.eval_samples} samples)...\n")
        try:
            summary["evaluation"] = judge_run(
                result.checkpoint, trainer.dataset, settings.cache_dir, config.eval_samples
            )
        except KeyboardInterrupt:
            print(json.dumps(summary))
            print(
                f"ganserve train: interrupted while judging; the model is trained (step {result.step}), "
                "its evaluation is skipped",
                file=sys.stderr,
            )
            return INTERRUPTED
    print(json.dumps(summary))
    return OK


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


@click.command("import")
@click.argument("run_folder", type=click.Path(path_type=Path, file_okay=False))
@click.option("--name", help="Model name (default: the run folder's name).")
@data_dir_option
@fails_cleanly
def import_command(run_folder: Path, name: str | None, data_dir: Path | None) -> int:
    """Copy RUN_FOLDER into the data folder, where `ganserve up` serves it.

    RUN_FOLDER holds checkpoints/step-*.safetensors and what came with them (an older version's
    runs/<name>, a run from another host); it lands in <data dir>/models/<name>. An existing
    model is never overwritten. Prints the model's name and folder as one JSON line.
    """
    model = name or run_folder.resolve().name
    files = sum(1 for path in run_folder.rglob("*") if path.is_file())
    with Progress("import", files, unit="files") as bar:
        folder = import_run(
            cli_settings(data_dir), run_folder, model, on_file=lambda: bar.update(bar.done + 1)
        )
    print(json.dumps({"model": model, "run_dir": str(folder)}))
    return OK
