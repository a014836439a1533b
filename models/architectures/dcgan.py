"""DCGAN (Radford et al. 2015) at any size ``base * 2**n`` (base 4 or 7), and cDCGAN.

The paper's guidelines, all kept: no pooling (strided Conv2d in D, ConvTranspose2d in G), no
fully connected hidden layers, BatchNorm in G on every layer but the output and in D on every
layer but the input, ReLU in G with a Tanh output, LeakyReLU(0.2) in D, weights from
N(0, 0.02). The 64x64 case reproduces pytorch/examples ``dcgan/main.py`` layer for layer,
except that D returns the raw logit (the losses apply the sigmoid stably) and layers with no
normalisation after them keep a bias.

Channel multipliers double per resolution step away from the image, capped at 8: the paper's
64x64 nets top out at ngf*8 / ndf*8, and without the cap a 256x256 G would put ngf*32
channels on its 4x4 map, its first doubling alone carrying 16 times the weights of the 64x64
net's largest layer: growth in memory and CPU time that the paper never showed to pay off.

Conditioning: G concatenates a learnt label embedding to z (both enter the first transposed
convolution as a 1x1 map). D reads the label in one of two ways (``d_conditioning``): "map"
projects the embedding with a Linear layer to one extra H x W input channel, so the label is
visible to every convolution from the first; "projection" (Miyato and Koyama 2018, "cGANs with
Projection Discriminator") adds to D's logit the inner product of a class embedding with the
features its output layer reads, so D scores how well the whole image fits the class.

InfoGAN codes (``info_codes = k > 0``, Chen et al. 2016): G replaces z[:, :k] by the one-hot
of ``argmax(z[:, :k])``, so the code is drawn from the seed, uniformly over k values. D keeps
its body and adds a head Q beside its output layer (a convolution of the same shape, k logits
per sample) that predicts the code of a generated image; training maximises Q's accuracy
through both players, which makes each code value a visually distinct kind of image.

Self-conditioning (``self_conditioned``, Liu et al. 2020): G draws its code as above, and D
reads a code beside every image through the cDCGAN's label map (the cluster of a training
image, the drawn code of a generated one) instead of having a head Q.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.architectures.config import DCGANConfig, dcgan_base_and_depth
from models.architectures.init import DCGAN_INIT_STD, dcgan_init_
from models.architectures.tensors import (
    check_codes,
    check_images,
    check_labels,
    check_latent,
    info_code,
    pack_samples,
    unpack_code_logits,
)

MAX_MULTIPLIER = 8


def _d_norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    # "layer": GroupNorm with one group normalises each sample over (C, H, W), as LayerNorm
    # would, but keeps a per-channel scale and shift (like BatchNorm) and needs no spatial size.
    # The per-sample statistics are what WGAN-GP needs: its penalty is on per-sample gradients.
    return nn.GroupNorm(1, channels)


class DCGANGenerator(nn.Module):
    """``forward(z (N, latent_dim), labels (N,) | None) -> images (N, C, H, W)`` in [-1, 1]."""

    def __init__(self, cfg: DCGANConfig) -> None:
        super().__init__()
        self.config = cfg
        base, n = dcgan_base_and_depth(cfg.image_size)
        ngf = cfg.g_width
        # mults[j]: channel multiplier at resolution base * 2**j
        mults = [min(2 ** (n - 1 - j), MAX_MULTIPLIER) for j in range(n)]
        self.label_embedding = nn.Embedding(cfg.num_classes, cfg.label_dim) if cfg.conditional else None
        nz = cfg.latent_dim + cfg.label_dim
        layers: list[nn.Module] = [
            # input: nz x 1 x 1 (z, then the label embedding)
            nn.ConvTranspose2d(nz, ngf * mults[0], base, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * mults[0]),
            nn.ReLU(True),
            # (ngf*mults[0]) x base x base
        ]
        for j in range(1, n):
            layers += [
                nn.ConvTranspose2d(ngf * mults[j - 1], ngf * mults[j], 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf * mults[j]),
                nn.ReLU(True),
                # (ngf*mults[j]) x (base*2**j) x (base*2**j)
            ]
        layers += [
            nn.ConvTranspose2d(ngf * mults[-1], cfg.channels, 4, 2, 1),
            nn.Tanh(),
            # channels x image_size x image_size
        ]
        self.net = nn.Sequential(*layers)
        dcgan_init_(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images ``(N, C, H, W)`` in [-1, 1] for ``z (N, latent_dim)``; ``labels (N,)`` if conditional."""
        check_latent(z, self.config)
        check_labels(labels, self.config, z.shape[0])
        codes = self.config.info_codes
        if codes:
            one_hot = F.one_hot(info_code(z, codes), codes).to(z.dtype)
            z = torch.cat([one_hot, z[:, codes:]], dim=1)
        if self.label_embedding is not None and labels is not None:
            z = torch.cat([z, self.label_embedding(labels.long())], dim=1)
        images: torch.Tensor = self.net(z[:, :, None, None])
        return images


class DCGANDiscriminator(nn.Module):
    """``forward(images (N, C, H, W), labels (N,) | None) -> logits (N / d_pack,)`` (no sigmoid).

    With ``info_codes``, ``forward_with_codes`` also returns Q's code logits ``(N, info_codes)``.
    """

    def __init__(self, cfg: DCGANConfig) -> None:
        super().__init__()
        self.config = cfg
        base, n = dcgan_base_and_depth(cfg.image_size)
        ndf = cfg.d_width
        # mults[i]: channel multiplier after the (i+1)-th halving, at image_size / 2**(i+1)
        mults = [min(2**i, MAX_MULTIPLIER) for i in range(n)]
        self.label_embedding: nn.Embedding | None = None
        self.label_projection: nn.Linear | None = None
        in_channels = cfg.channels
        if cfg.d_label_classes and cfg.d_conditioning == "map":
            label_dim = cfg.label_dim or cfg.embed_dim or cfg.d_label_classes
            self.label_embedding = nn.Embedding(cfg.d_label_classes, label_dim)
            self.label_projection = nn.Linear(label_dim, cfg.image_size * cfg.image_size)
            in_channels += 1
        in_channels *= cfg.d_pack
        layers: list[nn.Module] = [
            # input: (channels [+1 label map]) x image_size x image_size
            nn.Conv2d(in_channels, ndf * mults[0], 4, 2, 1),
            nn.LeakyReLU(0.2, inplace=True),
            # (ndf*mults[0]) x (image_size/2) x (image_size/2)
        ]
        normalise = cfg.d_norm != "none"
        for i in range(1, n):
            layers.append(nn.Conv2d(ndf * mults[i - 1], ndf * mults[i], 4, 2, 1, bias=not normalise))
            if normalise:
                layers.append(_d_norm(cfg.d_norm, ndf * mults[i]))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            # (ndf*mults[i]) x (image_size/2**(i+1)) x (image_size/2**(i+1))
        layers += [
            nn.Conv2d(ndf * mults[-1], 1, base, 1, 0),
            # 1 x 1 x 1
        ]
        self.net = nn.Sequential(*layers)
        # Q: one logit per code value for every sample of a pack, from the features D's output
        # layer reads. Registered after `net`, so a model without codes initialises as before.
        self.code_head: nn.Conv2d | None = None
        if cfg.info_codes and not cfg.self_conditioned:
            self.code_head = nn.Conv2d(ndf * mults[-1], cfg.d_pack * cfg.info_codes, base, 1, 0)
        # The projection's class vectors: one weight per feature the output layer reads, like a
        # row of that layer, so they start at its N(0, 0.02) scale (PyTorch's N(0, 1) default
        # would give the label term a thousand times the logit's size at the first step).
        self.class_projection: nn.Embedding | None = None
        if cfg.d_label_classes and cfg.d_conditioning == "projection":
            self.class_projection = nn.Embedding(cfg.d_label_classes, ndf * mults[-1] * base * base)
        dcgan_init_(self)
        if self.class_projection is not None:
            nn.init.normal_(self.class_projection.weight, 0.0, DCGAN_INIT_STD)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(N / d_pack,)`` for images ``x`` ``(N, C, H, W)``; Q's code logits are dropped."""
        return self.forward_with_codes(x, labels)[0]

    def forward_with_codes(
        self, x: torch.Tensor, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(logits (N / d_pack,), code logits (N, info_codes) or None without codes)``."""
        cfg = self.config
        check_images(x, cfg)
        if cfg.self_conditioned:
            check_codes(labels, cfg.info_codes, x.shape[0])
        else:
            check_labels(labels, cfg, x.shape[0])
        if self.label_embedding is not None and self.label_projection is not None:
            assert labels is not None  # check_labels has raised otherwise; narrows the type
            label_map = self.label_projection(self.label_embedding(labels.long()))
            label_map = label_map.view(x.shape[0], 1, cfg.image_size, cfg.image_size)
            x = torch.cat([x, label_map], dim=1)
        x = pack_samples(x, cfg.d_pack)
        if self.code_head is None and self.class_projection is None:
            return self.net(x).view(x.shape[0]), None
        features = self.net[:-1](x)
        logits = self.net[-1](features).view(x.shape[0])
        if self.class_projection is not None:
            assert labels is not None  # checked above; a projecting D has d_pack 1
            logits = logits + (self.class_projection(labels.long()) * features.flatten(1)).sum(dim=1)
        if self.code_head is None:
            return logits, None
        code_logits = self.code_head(features).view(x.shape[0], -1)
        return logits, unpack_code_logits(code_logits, cfg.d_pack, cfg.info_codes)
