"""What a network takes and gives, checked at its edges: latent, label, code and image tensors,
and the PacGAN and InfoGAN tensor rearrangements the architectures share."""

from __future__ import annotations

import torch

from models.architectures.config import ModelConfig


def check_labels(labels: torch.Tensor | None, cfg: ModelConfig, batch_size: int) -> None:
    """Raise ``ValueError`` unless ``labels`` suits ``cfg`` and a batch of ``batch_size``."""
    if not cfg.conditional:
        if labels is not None:
            raise ValueError(f"{cfg.architecture} is unconditional and takes no labels")
        return
    if labels is None:
        raise ValueError(f"{cfg.architecture} is conditional and needs labels")
    _check_index_tensor("labels", labels, cfg.num_classes, batch_size)


def check_codes(codes: torch.Tensor | None, count: int, batch_size: int) -> None:
    """Raise ``ValueError`` unless ``codes`` are a self-conditioned D's ``batch_size`` codes."""
    if codes is None:
        raise ValueError("a self-conditioned discriminator needs each image's code")
    _check_index_tensor("codes", codes, count, batch_size)


def _check_index_tensor(name: str, values: torch.Tensor, count: int, batch_size: int) -> None:
    if values.dtype == torch.bool or values.is_floating_point() or values.is_complex():
        raise ValueError(f"{name} must be an integer tensor, got {values.dtype}")
    if values.shape != (batch_size,):
        raise ValueError(f"{name} must have shape ({batch_size},), got {tuple(values.shape)}")
    # min/max synchronise with an accelerator; a silent out-of-range index is worse.
    if batch_size and (int(values.min()) < 0 or int(values.max()) >= count):
        raise ValueError(f"{name} must lie in 0..{count - 1}")


def check_latent(z: torch.Tensor, cfg: ModelConfig) -> None:
    """Raise ``ValueError`` unless ``z`` has shape ``(N, latent_dim)``."""
    if z.dim() != 2 or z.shape[1] != cfg.latent_dim:
        raise ValueError(f"z must have shape (N, {cfg.latent_dim}), got {tuple(z.shape)}")


def check_images(x: torch.Tensor, cfg: ModelConfig) -> None:
    """Raise ``ValueError`` unless ``x`` has shape ``(N, channels, image_size, image_size)``."""
    expected = (cfg.channels, cfg.image_size, cfg.image_size)
    if x.dim() != 4 or tuple(x.shape[1:]) != expected:
        raise ValueError(f"images must have shape (N, {', '.join(map(str, expected))}), got {tuple(x.shape)}")


def pack_samples(x: torch.Tensor, pack: int) -> torch.Tensor:
    """Join each run of ``pack`` consecutive samples into one along dimension 1 (PacGAN).

    ``(N, C, ...) -> (N / pack, pack * C, ...)``; sample ``i`` of a packed group keeps its
    channels at ``i * C .. (i + 1) * C - 1``.
    """
    if pack == 1:
        return x
    if x.shape[0] % pack:
        raise ValueError(
            f"a discriminator with d_pack={pack} needs a batch size divisible by {pack}, got {x.shape[0]}"
        )
    return x.reshape(x.shape[0] // pack, pack * x.shape[1], *x.shape[2:])


def info_code(z: torch.Tensor, codes: int) -> torch.Tensor:
    """The InfoGAN categorical code of each latent: ``argmax(z[:, :codes])``, shape ``(N,)``.

    For z with iid continuous components every value in ``0..codes-1`` is equally likely, and
    the code depends on z alone, so a seed keeps naming one image.
    """
    return z[:, :codes].argmax(dim=1)


def unpack_code_logits(logits: torch.Tensor, pack: int, codes: int) -> torch.Tensor:
    """``(N / pack, pack * codes) -> (N, codes)``: row ``i`` holds sample ``i``'s code logits.

    The inverse of :func:`pack_samples`' grouping: slot ``j`` of packed group ``g`` is sample
    ``g * pack + j``.
    """
    return logits.reshape(logits.shape[0] * pack, codes)
