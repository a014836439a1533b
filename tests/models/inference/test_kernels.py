"""Thin transposed convolutions run on PyTorch's native kernel after loading; the rest on oneDNN."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from models.architectures import build_generator, make_model_config
from models.inference import generate, latents_for_seeds, use_inference_kernels


@contextmanager
def onednn(enabled: bool) -> Iterator[None]:
    previous = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = enabled
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = previous


def outputs(layer: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The layer's output with oneDNN switched on, and with it off (the native kernel)."""
    with torch.inference_mode():
        with onednn(True):
            on = layer(x)
        with onednn(False):
            off = layer(x)
    return on, off


def test_thin_layers_take_the_native_kernel_and_wide_ones_keep_onednn() -> None:
    torch.manual_seed(0)
    thin = nn.ConvTranspose2d(64, 3, 4, 2, 1).eval()
    wide = nn.ConvTranspose2d(64, 32, 4, 2, 1, bias=False).eval()
    x = torch.randn(8, 64, 16, 16)
    thin_on, thin_native = outputs(thin, x)
    wide_on, wide_native = outputs(wide, x)
    # The two kernels round differently on these shapes, so the bytes tell which one ran.
    assert not torch.equal(thin_on, thin_native) and not torch.equal(wide_on, wide_native)
    use_inference_kernels(thin)
    use_inference_kernels(wide)
    thin_after, _ = outputs(thin, x)
    wide_after, _ = outputs(wide, x)
    assert torch.equal(thin_after, thin_native)  # bias, stride and padding all carried over
    assert torch.equal(wide_after, wide_on)


def test_a_generator_computes_the_same_images_within_rounding() -> None:
    torch.manual_seed(1)
    cfg = make_model_config("dcgan", image_size=32, channels=3, latent_dim=16, g_width=8, d_width=8)
    generator = build_generator(cfg).eval()
    latents = latents_for_seeds(list(range(12)), 16)
    before = generate(generator, latents)
    after = generate(use_inference_kernels(generator), latents)
    assert torch.allclose(before, after, atol=1e-5)
    # Still batch-invariant: the pass-size probe covers the mixed kernels too.
    alone = torch.cat([generate(generator, latents[i : i + 1]) for i in range(12)])
    assert torch.equal(after, alone)
