"""Generator and discriminator networks, built from a validated config.

Generators: ``forward(z (N, latent_dim), labels (N,) | None) -> (N, C, H, W)`` in [-1, 1].
Discriminators: ``forward(images (N, C, H, W), labels (N,) | None) -> (N,)`` raw logits.
Conditional models (cgan, cdcgan) require labels; unconditional ones refuse them.
"""

from __future__ import annotations

from torch import nn

from models.architectures.config import (
    ARCHITECTURES,
    CONDITIONAL_ARCHITECTURES,
    D_CONDITIONINGS,
    D_NORMS,
    DCGAN_ARCHITECTURES,
    MLP_ARCHITECTURES,
    DCGANConfig,
    MLPGANConfig,
    ModelConfig,
    dcgan_image_sizes,
    make_model_config,
    mlp_image_sizes,
    model_config_from_dict,
    model_config_to_dict,
)
from models.architectures.dcgan import DCGANDiscriminator, DCGANGenerator
from models.architectures.init import dcgan_init_
from models.architectures.mlp import MLPDiscriminator, MLPGenerator
from models.architectures.spectral import apply_spectral_norm_
from models.architectures.tensors import info_code

__all__ = [
    "ARCHITECTURES",
    "CONDITIONAL_ARCHITECTURES",
    "DCGAN_ARCHITECTURES",
    "D_CONDITIONINGS",
    "D_NORMS",
    "MLP_ARCHITECTURES",
    "DCGANConfig",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "MLPDiscriminator",
    "MLPGANConfig",
    "MLPGenerator",
    "ModelConfig",
    "build_discriminator",
    "build_generator",
    "dcgan_image_sizes",
    "dcgan_init_",
    "image_sizes",
    "info_code",
    "make_model_config",
    "mlp_image_sizes",
    "model_config_from_dict",
    "model_config_to_dict",
]


def image_sizes(architecture: str) -> list[int]:
    """The image sizes ``architecture`` can build.

    Raises:
        ValueError: if ``architecture`` is unknown.
    """
    if architecture in MLP_ARCHITECTURES:
        return mlp_image_sizes()
    if architecture in DCGAN_ARCHITECTURES:
        return dcgan_image_sizes()
    raise ValueError(f"unknown architecture {architecture!r}; expected one of {', '.join(ARCHITECTURES)}")


def _network_classes(cfg: ModelConfig) -> tuple[type[nn.Module], type[nn.Module]]:
    """The (generator, discriminator) classes of ``cfg``'s family."""
    if isinstance(cfg, MLPGANConfig):
        return MLPGenerator, MLPDiscriminator
    if isinstance(cfg, DCGANConfig):
        return DCGANGenerator, DCGANDiscriminator
    raise ValueError(f"not a model config: {type(cfg).__name__}")


def build_generator(cfg: ModelConfig) -> nn.Module:
    """A freshly initialised generator for ``cfg`` (in training mode, on the CPU)."""
    generator_class, _ = _network_classes(cfg)
    return generator_class(cfg)


def build_discriminator(cfg: ModelConfig) -> nn.Module:
    """A freshly initialised discriminator for ``cfg`` (in training mode, on the CPU)."""
    _, discriminator_class = _network_classes(cfg)
    discriminator: nn.Module = discriminator_class(cfg)
    if cfg.d_spectral_norm:
        apply_spectral_norm_(discriminator)
    return discriminator
