"""The two benchmark models, random-initialised and written as servable checkpoints.

Speed does not depend on what the weights have learnt, so no training is needed: the vanilla
GAN of Goodfellow et al. at 28x28 grey (latent 100 -> 128 -> 256 -> 512 -> 1024 -> 784) and the
DCGAN of pytorch/examples at 64x64 RGB (nz 100, ngf 64).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from models.architectures import build_generator, make_model_config
from models.architectures.config import ModelConfig
from models.checkpoint import save_checkpoint
from models.inference import use_inference_kernels
from models.training import run_files
from models.training.config import TrainConfig

STEP = 1


@dataclass(frozen=True)
class BenchModel:
    name: str
    architecture: str
    image_size: int
    channels: int

    @property
    def config(self) -> ModelConfig:
        fields = {"image_size": self.image_size, "channels": self.channels, "latent_dim": 100}
        if self.architecture == "dcgan":
            fields |= {"g_width": 64, "d_width": 64}
        return make_model_config(self.architecture, **fields)


GAN_28 = BenchModel("bench-gan28", "gan", 28, 1)
DCGAN_64 = BenchModel("bench-dcgan64", "dcgan", 64, 3)
MODELS = {"gan28": GAN_28, "dcgan64": DCGAN_64}


def build_eval_generator(model: BenchModel, seed: int = 0) -> nn.Module:
    """The generator with fixed random weights, in eval mode (the serving contract)."""
    torch.manual_seed(seed)  # benchmark fixture: reproducible weights, not serving code
    # The kernels prepare_for_serving gives the service, so in-process figures are its own limit.
    return use_inference_kernels(build_generator(model.config).eval())


def write_checkpoint(models_dir: Path, model: BenchModel) -> Path:
    """Write ``<models_dir>/<name>/checkpoints/step-00000001.safetensors``; returns its path."""
    generator = build_eval_generator(model)
    run_dir = models_dir / model.name
    run_files.checkpoint_dir(run_dir).mkdir(parents=True, exist_ok=True)
    path = run_files.checkpoint_path(run_dir, STEP)
    train_config = TrainConfig(
        name=model.name,
        architecture=model.architecture,
        dataset="shapes",
        image_size=model.image_size,
        channels=model.channels,
    ).to_dict()
    save_checkpoint(
        path,
        {f"generator.{key}": value for key, value in generator.state_dict().items()},
        kind="generator",
        step=STEP,
        model_config=model.config,
        train_config=train_config,
    )
    return path
