"""A checkpoint made ready for sampling: weights loaded, kernels chosen, pass sizes probed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from models.checkpoint import CheckpointInfo, load_generator
from models.data.facts import NATIVE_CLASS_NAMES
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


def class_names_of(
    info: CheckpointInfo, dataset_class_names: Callable[[str], Sequence[str]] | None = None
) -> tuple[str, ...] | None:
    """The names of a conditional model's labels, in label order (None: unconditional or unknown).

    Stored in the checkpoint since names were; for older files, the names of the dataset it was
    trained on: a builtin one's, else what ``dataset_class_names`` finds (the service's catalog
    of uploads) while that dataset still exists.
    """
    num_classes = info.model_config.num_classes
    if not num_classes:
        return None
    if info.class_names is not None and len(info.class_names) == num_classes:
        return info.class_names
    dataset = info.train_config.get("dataset")
    if not isinstance(dataset, str):
        return None
    names = tuple(NATIVE_CLASS_NAMES.get(dataset, ()))
    if not names and dataset_class_names is not None:
        names = tuple(dataset_class_names(dataset))
    return names if len(names) == num_classes else None
