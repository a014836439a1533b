"""The Wright omega function: it solves w + log w = x, in float32 and float64, with the exact
derivative, and neither overflows nor turns NaN at either end."""

from __future__ import annotations

import math

import pytest
import torch

from models.lambert import wright_omega

DTYPES = [torch.float32, torch.float64]
# Relative accuracy reached: float32 is limited by forming x - log w, whose rounding is an
# ulp of x (omega's condition number is |x| / (1 + omega)); float64 by the same to 1e-14.
TOLERANCE = {torch.float32: 2e-6, torch.float64: 1e-14}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_omega_solves_its_defining_equation_from_minus_50_to_50(dtype: torch.dtype) -> None:
    x = torch.linspace(-50.0, 50.0, 20_001, dtype=dtype)
    w = wright_omega(x).double()
    assert (w > 0).all()
    # w e^w = e^x, taken in logs (e^50 e^46 is past float64's range as a product):
    # w + log w = x, to the dtype's accuracy relative to the size of x.
    residual = w + torch.log(w) - x.double()
    assert (residual.abs() <= TOLERANCE[dtype] * (1 + x.double().abs()) * 4).all(), residual.abs().max()


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_omega_at_known_points(dtype: torch.dtype) -> None:
    # omega(0) = W(1), the omega constant; w = 1 and w = e solve 1 + 0 = 1 and e + 1 = 1 + e.
    x = torch.tensor([0.0, 1.0, 1 + math.e], dtype=dtype)
    expected = torch.tensor([0.5671432904097838, 1.0, math.e], dtype=torch.float64)
    assert torch.allclose(wright_omega(x).double(), expected, rtol=4 * TOLERANCE[dtype], atol=0)


def test_float32_agrees_with_float64() -> None:
    x = torch.linspace(-50.0, 50.0, 2001, dtype=torch.float32)
    single, double = wright_omega(x).double(), wright_omega(x.double())
    assert torch.allclose(single, double, rtol=1e-5, atol=0)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_gradient_is_omega_over_one_plus_omega_and_finite(dtype: torch.dtype) -> None:
    x = torch.linspace(-50.0, 50.0, 1001, dtype=dtype).requires_grad_(True)
    w = wright_omega(x)
    (grad,) = torch.autograd.grad(w.sum(), x)
    assert torch.isfinite(grad).all() and (grad > 0).all() and (grad < 1).all()
    # The derivative of w + log w = x: dw/dx = w / (1 + w), in float64 so it is the reference.
    reference = wright_omega(x.detach().double())
    assert torch.allclose(grad.double(), reference / (1 + reference), rtol=4 * TOLERANCE[dtype], atol=0)


def test_gradients_match_finite_differences_to_second_order() -> None:
    x = torch.tensor([-40.0, -8.0, -1.5, -0.2, 0.0, 0.9, 3.0, 25.0], dtype=torch.float64)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(wright_omega, (x,))
    assert torch.autograd.gradgradcheck(wright_omega, (x,))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_no_overflow_or_nan_at_either_end(dtype: torch.dtype) -> None:
    biggest = torch.finfo(dtype).max
    x = torch.tensor([-biggest, -1e4, -800.0, -120.0, 120.0, 800.0, 1e4, 1e30, biggest], dtype=dtype)
    x.requires_grad_(True)
    w = wright_omega(x)
    (grad,) = torch.autograd.grad(w.sum(), x)
    assert torch.isfinite(w).all() and torch.isfinite(grad).all()
    # Far left omega is e^x, which underflows to 0 exactly as e^x does; far right it still
    # solves w + log w = x, and its derivative tends to 1.
    w, x = w.detach(), x.detach()
    assert torch.equal(w[:4], torch.exp(x[:4]))
    right = w[4:].double()
    assert ((right + torch.log(right) - x[4:].double()).abs() <= 1e-6 * x[4:].double()).all()
    assert torch.allclose(grad[4:], torch.ones(5, dtype=dtype), rtol=0.05, atol=0)
