"""Which networks a training config builds, and on which device."""

from __future__ import annotations

from typing import Any

import torch

from models.architectures import CONDITIONAL_ARCHITECTURES, ModelConfig, make_model_config
from models.data import ImageDataset
from models.training.config import TrainConfig


def resolve_device(name: str) -> torch.device:
    """``auto`` means CUDA when present; only called inside the training process."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available on this host")
    return torch.device(name)


def model_config_for(config: TrainConfig, dataset: ImageDataset) -> ModelConfig:
    """The model config ``config`` trains on ``dataset``; ValueError if it is conditional and unlabelled."""
    conditional = config.architecture in CONDITIONAL_ARCHITECTURES
    if conditional and dataset.num_classes < 2:
        raise ValueError(
            f"architecture {config.architecture!r} is class-conditional but dataset "
            f"{config.dataset!r} has no labels (use class subfolders)"
        )
    return build_model_config(config, dataset.image_size, dataset.channels, dataset.num_classes)


def build_model_config(config: TrainConfig, image_size: int, channels: int, num_classes: int) -> ModelConfig:
    """The network pair ``config`` trains on images of that size and classes (ValueError if none).

    The API calls this too, so a job it accepts builds the same networks in the worker.
    """
    conditional = config.architecture in CONDITIONAL_ARCHITECTURES
    fields: dict[str, Any] = {
        "image_size": image_size,
        "channels": channels,
        "latent_dim": config.latent_dim,
        "num_classes": num_classes if conditional else 0,
        "d_pack": config.pack,
        "d_spectral_norm": config.spectral_norm,
    }
    if config.architecture in ("dcgan", "cdcgan"):
        fields.update(g_width=config.g_width, d_width=config.d_width)
        if config.info_codes:
            fields["info_codes"] = config.info_codes
        if config.clusters:
            fields.update(info_codes=config.clusters, self_conditioned=True)
        # A gradient penalty is per-sample; BatchNorm mixes samples, so the critic must not
        # use it (Gulrajani et al. 2017, section 4).
        fields["d_norm"] = "layer" if config.loss == "wgan-gp" else "batch"
    if config.d_norm is not None:
        fields["d_norm"] = config.d_norm
    if config.d_conditioning is not None:
        fields["d_conditioning"] = config.d_conditioning
    return make_model_config(config.architecture, **fields)
