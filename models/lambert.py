"""The Wright omega function, ``omega(x) = W(e^x)`` on the real line, in torch.

``omega(x)`` is the one real solution ``w > 0`` of ``w + log w = x``. The f-GAN conjugate of
Jeffrey's divergence needs ``W(e^{1 - t})``; evaluating ``W`` at ``e^{1 - t}`` would overflow
for ``t`` below about -87 in float32, while omega takes ``x = 1 - t`` itself and never forms
``e^x`` where it could overflow.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

# Halley's method triples the number of correct digits per step; from the starting guesses
# below (within 17% everywhere) three steps reach float64 precision, and the fourth is
# a margin that costs a few elementwise operations on a batch of logits.
HALLEY_STEPS = 4


def _starting_guess(x: Tensor) -> Tensor:
    """A guess within 17% of omega(x), from the three regimes of its series."""
    # Far left, w = e^x e^{-w} with w small: the series e^x - e^{2x} + ... in e^x.
    small = torch.exp(torch.clamp(x, max=-1.0))
    left = small - small**2
    # Around x = 1 (omega(1) = 1): the Taylor series to third order.
    d = x - 1
    middle = 1 + d / 2 + d**2 / 16 - d**3 / 192
    # Far right, w = x - log w: two rounds of that fixed point give x - log x + log(x) / x.
    big = torch.clamp(x, min=1.0)
    right = big - torch.log(big) + torch.log(big) / big
    return torch.where(x < -1, left, torch.where(x <= 1, middle, right))


def _solve(x: Tensor) -> Tensor:
    """omega(x) without a graph: Halley's method on h(w) = w + log w - x."""
    w = _starting_guess(x)
    # Where e^x is below the dtype's epsilon, w = e^x (1 - e^x + ...) rounds to e^x itself;
    # there w may underflow to 0, where log w would turn the iteration into NaN.
    tiny = x < math.log(torch.finfo(x.dtype).eps)
    for _ in range(HALLEY_STEPS):
        safe = torch.where(tiny, torch.ones_like(w), w)
        residual = x - safe - torch.log(safe)  # -h(w)
        # Halley's step -2 h h' / (2 h'^2 - h h'') with h' = (1 + w) / w and h'' = -1 / w^2,
        # arranged so that no intermediate grows like w^2 or r w (float32 overflows at 3e38).
        newton = residual * (safe / (1 + safe))
        step = newton / (1 - residual / (2 * (1 + safe) ** 2))
        w = torch.where(tiny, w, safe + step)
    return w


class _WrightOmega(torch.autograd.Function):
    # The backward is the analytic derivative, not the derivative of the iterations:
    # d omega / dx = omega / (1 + omega), from differentiating w + log w = x.
    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        w = _solve(x)
        ctx.save_for_backward(w)
        return w

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        w: Tensor = ctx.saved_tensors[0]
        # Saved as an output, w carries its own graph: a second derivative is exact too.
        return grad * w / (1 + w)


def wright_omega(x: Tensor) -> Tensor:
    """The Wright omega function elementwise: the ``w > 0`` with ``w + log w = x``, i.e. ``W(e^x)``.

    Args:
        x: a floating-point tensor (float32 or float64; any device).

    Returns:
        ``omega(x)``, the same shape and dtype, differentiable with the exact derivative
        ``omega / (1 + omega)``. It is ``e^x`` (rounded as such) for very negative ``x``, and
        about ``x - log x`` for large ``x``: finite wherever ``x`` is finite, with no overflow
        at either end.
    """
    # torch declares Function.apply without types; it returns what forward returns.
    result: Tensor = _WrightOmega.apply(x)  # type: ignore[no-untyped-call]
    return result
