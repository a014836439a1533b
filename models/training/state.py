"""Turning the full training state into flat tensors and back, so a checkpoint resumes exactly.

Optimizer state and RNG states are tensors already; they are flattened under stable names so
that the whole state fits in one safetensors file with no pickled Python objects.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from models.checkpoint import section, with_prefix


class EpochSampler:
    """Minibatch indices drawn epoch by epoch from a seeded permutation (resumable)."""

    def __init__(self, num_items: int, batch_size: int, seed: int) -> None:
        if num_items < 1:
            raise ValueError("the dataset is empty")
        self.num_items = num_items
        self.batch_size = batch_size
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        self.permutation = torch.randperm(num_items, generator=self.generator)
        self.position = 0

    def next_indices(self) -> torch.Tensor:
        """The next ``batch_size`` indices, reshuffling with the seeded generator whenever an epoch ends."""
        parts: list[torch.Tensor] = []
        needed = self.batch_size
        while needed > 0:
            if self.position >= self.num_items:
                self.permutation = torch.randperm(self.num_items, generator=self.generator)
                self.position = 0
            take = min(needed, self.num_items - self.position)
            parts.append(self.permutation[self.position : self.position + take])
            self.position += take
            needed -= take
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """The generator state, current permutation and position, for a checkpoint."""
        return {
            "generator_state": self.generator.get_state(),
            "permutation": self.permutation.clone(),
            "position": torch.tensor([self.position], dtype=torch.int64),
        }

    def load_state_tensors(self, state: dict[str, torch.Tensor]) -> None:
        """Restore what :meth:`state_tensors` saved, so the next batch is the one the saved run drew."""
        self.generator.set_state(state["generator_state"])
        self.permutation = state["permutation"].clone()
        self.position = int(state["position"][0])


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """Flatten an optimizer's per-parameter state (e.g. Adam's moments and step counts)."""
    out: dict[str, torch.Tensor] = {}
    for index, values in optimizer.state_dict()["state"].items():
        for key, value in values.items():
            tensor = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            out[f"{index}.{key}"] = tensor
    return out


def load_optimizer_tensors(optimizer: torch.optim.Optimizer, flat: dict[str, torch.Tensor]) -> None:
    """Restore what :func:`optimizer_tensors` flattened; hyper-parameters come from the config."""
    state: dict[int, dict[str, Any]] = {}
    for name, tensor in flat.items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = tensor
    current = optimizer.state_dict()
    optimizer.load_state_dict({"state": state, "param_groups": current["param_groups"]})


def module_tensors(prefix: str, module: nn.Module) -> dict[str, torch.Tensor]:
    """``module``'s state dict with every name under ``prefix.``."""
    return with_prefix(prefix, module.state_dict())


def load_module(module: nn.Module, tensors: dict[str, torch.Tensor], prefix: str) -> None:
    """Load ``module`` strictly from the ``prefix.`` section of a checkpoint's tensors."""
    module.load_state_dict(section(tensors, prefix), strict=True)
