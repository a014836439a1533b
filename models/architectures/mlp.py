"""Fully connected GAN (Goodfellow et al. 2014) as commonly implemented for MNIST, and cGAN.

The layer plan follows the well-known PyTorch-GAN ``gan.py``: G is latent -> 128 -> 256 -> 512
-> 1024 -> pixels with LeakyReLU(0.2), BatchNorm on every hidden layer but the first, and Tanh;
D is pixels -> 512 -> 256 -> 1 with LeakyReLU(0.2) and no normalisation by default.
Conditioning (Mirza & Osindero 2014): a learnt label embedding is concatenated to z in G and
to the flattened image in D.
"""

from __future__ import annotations

import torch
from torch import nn

from models.architectures.config import MLPGANConfig
from models.architectures.tensors import check_images, check_labels, check_latent, pack_samples


def _norm_1d(kind: str, width: int) -> nn.Module:
    # "layer" normalises each sample on its own, so a WGAN-GP critic's gradient penalty
    # (taken per sample) stays well defined; BatchNorm would mix the samples of a batch.
    return nn.BatchNorm1d(width) if kind == "batch" else nn.LayerNorm(width)


class MLPGenerator(nn.Module):
    """``forward(z (N, latent_dim), labels (N,) | None) -> images (N, C, H, W)`` in [-1, 1]."""

    def __init__(self, cfg: MLPGANConfig) -> None:
        super().__init__()
        self.config = cfg
        self.label_embedding = nn.Embedding(cfg.num_classes, cfg.label_dim) if cfg.conditional else None
        layers: list[nn.Module] = []
        in_features = cfg.latent_dim + cfg.label_dim  # z, then the label embedding
        for i, width in enumerate(cfg.g_hidden):
            # No BatchNorm on the first layer, as in the reference implementation. That code
            # writes BatchNorm1d(width, 0.8), which sets eps=0.8 although momentum was meant;
            # we keep the default eps=1e-5 so BatchNorm really normalises.
            normalise = i > 0
            # A bias in front of BatchNorm is cancelled by its mean subtraction.
            layers.append(nn.Linear(in_features, width, bias=not normalise))  # width
            if normalise:
                layers.append(nn.BatchNorm1d(width))  # width
            layers.append(nn.LeakyReLU(0.2, inplace=True))  # width
            in_features = width
        out_features = cfg.channels * cfg.image_size * cfg.image_size
        layers.append(nn.Linear(in_features, out_features))  # C*H*W
        layers.append(nn.Tanh())  # C*H*W in [-1, 1]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images ``(N, C, H, W)`` in [-1, 1] for ``z (N, latent_dim)``; ``labels (N,)`` if conditional."""
        cfg = self.config
        check_latent(z, cfg)
        check_labels(labels, cfg, z.shape[0])
        if self.label_embedding is not None and labels is not None:
            z = torch.cat([z, self.label_embedding(labels.long())], dim=1)
        images: torch.Tensor = self.net(z)
        return images.view(z.shape[0], cfg.channels, cfg.image_size, cfg.image_size)


class MLPDiscriminator(nn.Module):
    """``forward(images (N, C, H, W), labels (N,) | None) -> logits (N / d_pack,)`` (no sigmoid)."""

    def __init__(self, cfg: MLPGANConfig) -> None:
        super().__init__()
        self.config = cfg
        self.label_embedding = nn.Embedding(cfg.num_classes, cfg.label_dim) if cfg.conditional else None
        layers: list[nn.Module] = []
        # flattened pixels, then the label embedding
        in_features = (cfg.channels * cfg.image_size * cfg.image_size + cfg.label_dim) * cfg.d_pack
        for i, width in enumerate(cfg.d_hidden):
            # Like DCGAN's D, the first layer sees raw pixels and is never normalised.
            normalise = i > 0 and cfg.d_norm != "none"
            layers.append(nn.Linear(in_features, width, bias=not normalise))  # width
            if normalise:
                layers.append(_norm_1d(cfg.d_norm, width))  # width
            layers.append(nn.LeakyReLU(0.2, inplace=True))  # width
            in_features = width
        layers.append(nn.Linear(in_features, 1))  # 1 logit
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(N / d_pack,)`` for images ``x`` ``(N, C, H, W)`` and, if conditional, labels ``(N,)``."""
        check_images(x, self.config)
        check_labels(labels, self.config, x.shape[0])
        features = x.flatten(1)
        if self.label_embedding is not None and labels is not None:
            features = torch.cat([features, self.label_embedding(labels.long())], dim=1)
        logits: torch.Tensor = self.net(pack_samples(features, self.config.d_pack))
        return logits.squeeze(1)
