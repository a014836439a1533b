"""Where the command line keeps models: the same data folder that `ganserve up` serves.

A model trained with ``ganserve train`` lands in ``<data dir>/models/<name>``, so the running
service lists it at once and the sampling commands find it by name; ``ganserve import`` brings
a run folder from elsewhere (an older version's ``runs/<name>``, another host) into that folder.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

from common.jobs import FINAL_STATUSES, JobStore
from common.names import NAME_RULE, is_valid_name
from common.settings import Settings, load_settings


def cli_settings(data_dir: Path | None) -> Settings:
    """The service's settings as this shell's environment gives them, ``--data-dir`` winning."""
    environ = dict(os.environ)
    if data_dir is not None:
        environ["GAN_DATA_DIR"] = str(data_dir)
    return load_settings(environ)


def _shipped_folder(settings: Settings, name: str) -> Path | None:
    if settings.pretrained_dir is None:
        return None
    folder = settings.pretrained_dir / name
    return folder if folder.is_dir() else None


def model_folder_for_training(settings: Settings, name: str) -> Path:
    """The folder ``ganserve train`` writes model ``name`` into.

    Raises:
        ValueError: the name is a shipped model's, or a service job is training it now.
    """
    if not is_valid_name(name):
        raise ValueError(f"model name must be {NAME_RULE}, got {name!r}")
    if _shipped_folder(settings, name) is not None:
        raise ValueError(f"{name!r} is a shipped model's name; choose another --name")
    for record in JobStore(settings.jobs_dir).list():
        if record.model == name and record.status not in FINAL_STATUSES:
            raise ValueError(f"model {name!r} is being trained by job {record.id}; choose another --name")
    return settings.models_dir / name


def find_model_folder(settings: Settings, name: str) -> Path | None:
    """The folder of model ``name``: trained in the data folder, else shipped; None if neither."""
    if not is_valid_name(name):
        return None
    trained = settings.models_dir / name
    return trained if trained.is_dir() else _shipped_folder(settings, name)


def import_run(
    settings: Settings, source: Path, name: str, on_file: Callable[[], None] | None = None
) -> Path:
    """Copy the run folder ``source`` into the data folder as model ``name``; returns its folder.

    The copy is made beside its destination and renamed into place, so the service never lists
    a half-copied model, and an existing model is never overwritten.

    Raises:
        ValueError: the name is invalid or taken, or ``source`` holds no checkpoint.

    ``on_file`` is called after each file is copied (a progress bar's tick).
    """
    from models.checkpoint import read_checkpoint_info
    from models.training import run_files

    if not is_valid_name(name):
        raise ValueError(f"model name must be {NAME_RULE}, got {name!r}; pass --name")
    steps = run_files.checkpoint_steps(source) if source.is_dir() else []
    if not steps:
        raise ValueError(f"{source}: not a run folder (no checkpoints/step-*.safetensors in it)")
    read_checkpoint_info(run_files.checkpoint_path(source, steps[-1]))  # readable, or a clear error
    destination = settings.models_dir / name
    if destination.exists() or _shipped_folder(settings, name) is not None:
        raise ValueError(f"model {name!r} exists already; choose another --name")
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    # A dot name is never a valid model name, so the registry ignores the copy while it grows.
    staging = settings.models_dir / f".import-{secrets.token_hex(4)}"
    try:

        def copy(src: str, dst: str) -> object:
            copied = shutil.copy2(src, dst)
            if on_file is not None:
                on_file()
            return copied

        shutil.copytree(source, staging, copy_function=copy)
        # rename() would replace an empty folder made meanwhile; a second check keeps it.
        if destination.exists():
            raise ValueError(f"model {name!r} exists already; choose another --name")
        staging.rename(destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return destination
