"""prepare_for_serving: the one way every sampling surface loads a checkpoint."""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from models.architectures import build_generator, make_model_config
from models.checkpoint import load_generator, save_checkpoint, with_prefix
from models.inference import generate, latents_for_seeds, prepare_for_serving
from models.inference.passes import kernel_setting

CONFIG = make_model_config("dcgan", image_size=16, channels=3, latent_dim=8, g_width=8, d_width=4)


def _write(path: Path) -> None:
    torch.manual_seed(3)
    save_checkpoint(
        path,
        with_prefix("generator", build_generator(CONFIG).state_dict()),
        kind="generator",
        step=1,
        model_config=CONFIG,
        train_config={},
        metrics={},
    )


def _native_layers(generator: torch.nn.Module) -> int:
    return sum(isinstance(m.__dict__.get("forward"), functools.partial) for m in generator.modules())


def test_prepared_generator_has_serving_kernels_and_probed_pass_sizes(tmp_path: Path) -> None:
    path = tmp_path / "g.safetensors"
    _write(path)
    plain, _ = load_generator(path)
    served, info = prepare_for_serving(path)
    assert info.model_config == CONFIG and not served.training
    # The image layer (3 channels) runs on the native kernel; load_generator leaves torch's own.
    assert _native_layers(served) == 1 and _native_layers(plain) == 0
    device = next(served.parameters()).device
    assert kernel_setting(device) in served._ganserve_pass_sizes  # probed at load, not first use
    latents = latents_for_seeds(list(range(5)), CONFIG.latent_dim)
    assert torch.allclose(generate(served, latents), generate(plain, latents), atol=1e-5)
