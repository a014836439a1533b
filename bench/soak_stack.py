"""The stack the soak runs against, on loopback ports in a temporary folder: a private Redis,
one Celery worker and the uvicorn API, serving two untrained models of the shipped models' size.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from bench.processes import ROOT, start, stop
from cli.redis_server import start_redis
from models.architectures import build_generator, make_model_config
from models.checkpoint import save_checkpoint
from models.training import TrainConfig, run_files
from tests.support.uvicorn_server import start_uvicorn

API_KEY = "soak-key"


@dataclass
class Stack:
    url: str  # the API's
    api: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes]


def write_model(models_dir: Path, name: str, *, num_classes: int = 0) -> None:
    """An untrained 28x28 DCGAN of the shipped models' size: serving cost, not image quality."""
    architecture = "cdcgan" if num_classes else "dcgan"
    config = make_model_config(
        architecture,
        image_size=28,
        channels=1,
        latent_dim=100,
        num_classes=num_classes,
        g_width=64,
        d_width=64,
    )
    generator = build_generator(config)
    run_dir = models_dir / name
    run_files.checkpoint_dir(run_dir).mkdir(parents=True, exist_ok=True)
    train_config = TrainConfig(name=name, architecture=architecture, dataset="mnist5k").to_dict()
    save_checkpoint(
        run_files.checkpoint_path(run_dir, 1000),
        {f"generator.{k}": v for k, v in generator.state_dict().items()},
        kind="generator",
        step=1000,
        model_config=config,
        train_config=train_config,
    )


def worker_command() -> list[str]:
    """One Celery worker, a job at a time, named ``soak@<host>``."""
    return [
        sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker",
        "--loglevel=INFO", "--concurrency=1", "--prefetch-multiplier=1",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", "soak@%h",
    ]  # fmt: skip


@contextlib.contextmanager
def running_stack(root: Path, settings: list[str]) -> Iterator[Stack]:
    """The stack with its data and logs under ``root``, up once ``/readyz`` answers 200.

    Args:
        root: an empty folder.
        settings: ``GAN_NAME=VALUE`` items added to the API's and the worker's environment.
    """
    data_dir = root / "data"
    torch.manual_seed(0)  # fixture weights only: reproducible serving cost
    write_model(data_dir / "models", "soak")
    write_model(data_dir / "models", "soak-cond", num_classes=10)
    redis = start_redis(root / "redis")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAN_")}
    env.update(
        {
            "GAN_DATA_DIR": str(data_dir),
            "GAN_REDIS_URL": redis.url,
            "GAN_API_KEY": API_KEY,
            "GAN_DEFAULT_MODEL": "soak",
            "GAN_DEVICE": "cpu",
            "GAN_TORCH_THREADS": "1",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(dict(item.split("=", 1) for item in settings))
    # The worker first: it starts while the API loads its default model.
    worker = start(worker_command(), env, root / "worker.log")
    api: subprocess.Popen[bytes] | None = None
    try:
        server = start_uvicorn(
            "app.main:app", env, root / "api.log", name="the API", ready_path="/readyz", poll=0.2
        )
        api = server.process
        yield Stack(server.url, api, worker)
    finally:
        if api is not None:
            stop(api)
        stop(worker)
        redis.stop()
