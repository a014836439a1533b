"""A checkpoint made ready for sampling: weights loaded, kernels chosen, pass sizes probed."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from models.checkpoint import CheckpointInfo, load_generator
from models.inference.kernels import use_inference_kernels
from models.inference.passes import pass_sizes


def prepare_for_serving(
    checkpoint: str | Path, *, device: str | torch.device = "cpu"
) -> tuple[nn.Module, CheckpointInfo]:
    """The generator of ``checkpoint`` as every sampling surface runs it.

    Loads the generator in eval mode (EMA weights when the file has them), routes its thin
    transposed convolutions to the native CPU kernel (:func:`use_inference_kernels`) and probes
    its batch-invariant pass sizes under the torch setting now in force, so the first image does
    not pay for the probe.

    Args:
        checkpoint: the checkpoint file.
        device: where to put the generator.

    Returns:
        ``(generator, info)``.

    Raises:
        CheckpointError: the file is bad or its weights do not fit its own config.
    """
    generator, info = load_generator(checkpoint, device=device)
    use_inference_kernels(generator)
    pass_sizes(generator, next(generator.parameters()).device)
    return generator, info
