"""Exponential moving average of generator weights (the copy that is served by default)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class ExponentialMovingAverage:
    """Keeps ``module`` as an EMA of a live network's parameters; buffers are copied as they are.

    Early on the decay is ramped up (``min(decay, (1 + n) / (10 + n))``) so the average is not
    dominated for thousands of steps by the random initial weights.
    """

    def __init__(self, network: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(network)
        self.module.requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, network: nn.Module) -> None:
        """Move the average towards ``network``'s parameters by ``1 - decay`` and copy its buffers."""
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        ema_params: list[torch.Tensor] = list(self.module.parameters())
        live_params = [p.detach() for p in network.parameters()]
        torch._foreach_lerp_(ema_params, live_params, 1.0 - decay)
        for ema_buffer, live_buffer in zip(self.module.buffers(), network.buffers(), strict=True):
            ema_buffer.copy_(live_buffer)
