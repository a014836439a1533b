"""The f-divergence table: each conjugate is the conjugate of its generator, each activation
lands in its conjugate's domain, and the variational bound is tight at the optimal critic."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from torch import Tensor

from common.specs import TrainingSpec
from models.divergences import F_DIVERGENCES, activation_and_conjugate
from models.losses import get_loss

LOG2 = math.log(2.0)


@dataclass(frozen=True)
class Row:
    """One divergence as the paper states it, written here independently of the code."""

    f: Callable[[Tensor], Tensor]  # the generator f(u) of Table 1, for u > 0
    optimal_logit: Callable[[float], float]  # the v with g_f(v) = f'(u), the optimal critic
    low: float  # the conjugate's domain is the interval (low, high), closed where `closed`
    high: float
    closed: bool = False


def row(divergence: str, weight: float = 0.5) -> Row:
    """The table row of ``divergence``; ``weight`` is pi of js-weighted."""
    inf = math.inf
    if divergence == "js-weighted":
        pi = weight

        def f_weighted(u: Tensor) -> Tensor:
            mix = 1 - pi + pi * u
            return pi * torch.xlogy(u, u) - torch.xlogy(mix, mix)

        return Row(f_weighted, math.log, -inf, pi * math.log(1 / pi))
    rows = {
        "kl": Row(lambda u: torch.xlogy(u, u), lambda u: 1 + math.log(u), -inf, inf),
        "reverse-kl": Row(lambda u: -torch.log(u), math.log, -inf, 0.0),
        "pearson": Row(lambda u: (u - 1) ** 2, lambda u: 2 * (u - 1), -inf, inf),
        "hellinger": Row(lambda u: (torch.sqrt(u) - 1) ** 2, lambda u: 0.5 * math.log(u), -inf, 1.0),
        "js": Row(lambda u: -(u + 1) * torch.log((1 + u) / 2) + torch.xlogy(u, u), math.log, -inf, LOG2),
        "gan": Row(lambda u: torch.xlogy(u, u) - torch.xlogy(u + 1, u + 1), math.log, -inf, 0.0),
        # f'(u) = sign(u - 1) / 2 is reached only at v = +-inf (tanh): see its own test below.
        "total-variation": Row(
            lambda u: 0.5 * (u - 1).abs(), lambda u: math.copysign(inf, u - 1), -0.5, 0.5, closed=True
        ),
        "neyman": Row(lambda u: (1 - u) ** 2 / u, lambda u: 2 * math.log(u), -inf, 1.0),
        "jeffrey": Row(lambda u: (u - 1) * torch.log(u), lambda u: math.log(u) + 1 - 1 / u, -inf, inf),
    }
    return rows[divergence]


# Every divergence at its default, and js-weighted away from pi = 1/2 on both sides.
CASES = [(divergence, None) for divergence in F_DIVERGENCES] + [("js-weighted", 0.2), ("js-weighted", 0.9)]
CASE_IDS = [d if w is None else f"{d}-{w}" for d, w in CASES]


def numeric_conjugate(f: Callable[[Tensor], Tensor], t: Tensor) -> Tensor:
    """sup over u > 0 of t u - f(u) for each t: the best of a log-spaced grid of u in
    [e^-15, e^15], then three rounds of a linear grid between its two neighbours (t u - f(u) is
    concave, so the maximum stays inside; the last spacing is about 1e-13 u, fine enough for a
    kink like total variation's at u = 1)."""
    u = torch.exp(torch.linspace(-15.0, 15.0, 300_001, dtype=torch.float64))
    best = (t[:, None] * u - f(u)).argmax(dim=1)
    out = []
    for value, at in zip(t, best.tolist(), strict=True):
        assert 0 < at < len(u) - 1, "the supremum lies outside the grid"
        low, high = u[at - 1].item(), u[at + 1].item()
        for _ in range(3):
            grid = torch.linspace(low, high, 2001, dtype=torch.float64)
            here = int((value * grid - f(grid)).argmax())
            low, high = grid[max(here - 1, 0)].item(), grid[min(here + 1, len(grid) - 1)].item()
        out.append((value * grid - f(grid)).max())
    return torch.stack(out)


@pytest.mark.parametrize(("divergence", "weight"), CASES, ids=CASE_IDS)
def test_each_conjugate_is_the_supremum_that_defines_it(divergence: str, weight: float | None) -> None:
    # f*(t) = sup_u (t u - f(u)), checked at t = g_f(v) on a grid of v, with f written from
    # Table 1 and the supremum found numerically: an error in f*(g_f(v)) or in g_f shows here.
    activation, conjugate = activation_and_conjugate(divergence, weight)
    f = row(divergence, 0.5 if weight is None else weight).f
    # Pearson's (t^2/4 + t) is the conjugate of (u - 1)^2 over all real u; over u >= 0, the
    # densities' ratios, the two agree for t >= f'(0) = -2 only (below, D is already optimal).
    low = -2.0 if divergence == "pearson" else -3.0
    v = torch.linspace(low, 3.0, 13, dtype=torch.float64)
    expected = numeric_conjugate(f, activation(v))
    assert torch.allclose(conjugate(v), expected, rtol=1e-11, atol=1e-11), (conjugate(v) - expected).tolist()


@pytest.mark.parametrize(("divergence", "weight"), CASES, ids=CASE_IDS)
def test_each_activation_maps_every_logit_into_the_conjugate_domain(
    divergence: str, weight: float | None
) -> None:
    # In float64 (exact enough to tell t < 1 from t = 1 at v = 30); in float32 some edges are
    # reached by rounding, which is why every conjugate is written in v rather than in t.
    activation, _ = activation_and_conjugate(divergence, weight)
    domain = row(divergence, 0.5 if weight is None else weight)
    v = torch.linspace(-200.0, 200.0, 4001, dtype=torch.float64)
    t = activation(v)
    assert torch.isfinite(t).all()
    if domain.closed:
        assert (t >= domain.low).all() and (t <= domain.high).all()
    else:
        inside = v.abs() <= 30  # beyond, some activations round onto an edge even in float64
        assert (t[inside] > domain.low).all() and (t[inside] < domain.high).all()
        assert (t >= domain.low).all() and (t <= domain.high).all()
    # Onto, too: rising with v and reaching both ends of the domain.
    assert (t.diff() >= 0).all() and (t[v.abs() <= 5].diff() > 0).all()
    for end, value in ((domain.low, t[0].item()), (domain.high, t[-1].item())):
        if math.isinf(end):
            assert abs(value) > 1 and math.copysign(1, value) == math.copysign(1, end)
        else:
            assert value == pytest.approx(end, abs=1e-12)


@pytest.mark.parametrize(("divergence", "weight"), [c for c in CASES if c[0] != "total-variation"], ids=str)
def test_fgan_bound_is_tight_at_the_optimal_critic(divergence: str, weight: float | None) -> None:
    # Two points a, b with P = (3/4, 1/4) and Q = (1/4, 3/4), written as samples so that the
    # losses' batch means are the expectations.
    table = row(divergence, 0.5 if weight is None else weight)
    p, q = {"a": 0.75, "b": 0.25}, {"a": 0.25, "b": 0.75}

    def f(u: float) -> float:
        return table.f(torch.tensor(u, dtype=torch.float64)).item()

    divergence_value = sum(q[x] * f(p[x] / q[x]) for x in "ab")
    v = {x: table.optimal_logit(p[x] / q[x]) for x in "ab"}
    real = torch.tensor([v["a"]] * 3 + [v["b"]], dtype=torch.float64)
    fake = torch.tensor([v["a"]] + [v["b"]] * 3, dtype=torch.float64)
    loss = get_loss("fgan", divergence, weight)
    # D maximises the bound, so its loss at the optimum is minus the divergence ...
    at_optimum = loss.discriminator_loss(real, fake).item()
    assert at_optimum == pytest.approx(-divergence_value, rel=1e-9)
    # ... and any other critic bounds it less tightly.
    for shift in (-0.3, 0.3):
        worse = loss.discriminator_loss(real + shift, fake + shift).item()
        assert worse > at_optimum


def test_total_variation_bound_approaches_tv_as_the_critic_saturates() -> None:
    # TV's optimal critic, +-1/2 by the sign of p - q, is tanh(v) / 2 only at v = +-inf, and
    # every critic saturated with the right signs is optimal: the bound rises towards TV.
    loss = get_loss("fgan", "total-variation")
    tv = 0.5 * (abs(0.75 - 0.25) + abs(0.25 - 0.75))  # 1/2 sum |p - q| over {a, b}

    def d_loss(scale: float) -> float:  # v = +scale at a (p > q), -scale at b
        real = torch.tensor([scale] * 3 + [-scale], dtype=torch.float64)
        fake = torch.tensor([scale] + [-scale] * 3, dtype=torch.float64)
        return loss.discriminator_loss(real, fake).item()

    values = [d_loss(scale) for scale in (-1.0, 0.0, 1.0, 3.0, 10.0, 40.0)]
    assert values == sorted(values, reverse=True) and len(set(values)) == len(values)
    assert values[0] > 0 and values[1] == 0.0  # wrong signs, then no critic at all
    assert values[2] == pytest.approx(-tv * math.tanh(1.0), rel=1e-12)
    assert values[-1] == pytest.approx(-tv, rel=1e-15)


def test_js_weighted_at_one_half_is_half_of_js() -> None:
    real, fake = torch.randn(64, dtype=torch.float64) * 5, torch.randn(64, dtype=torch.float64) * 5
    weighted, js = get_loss("fgan", "js-weighted"), get_loss("fgan", "js")
    halved = 0.5 * js.discriminator_loss(real, fake)
    assert torch.allclose(weighted.discriminator_loss(real, fake), halved, rtol=1e-12, atol=0)
    assert torch.allclose(weighted.generator_loss(fake), 0.5 * js.generator_loss(fake), rtol=1e-12, atol=0)
    assert torch.equal(
        get_loss("fgan", "js-weighted", 0.5).discriminator_loss(real, fake),
        weighted.discriminator_loss(real, fake),
    )


@pytest.mark.parametrize("weight", [5e-324, 1e-30, 1 - 2**-53], ids=["least", "tiny", "most"])
def test_js_weighted_stays_finite_at_the_ends_of_the_weight_range(weight: float) -> None:
    # Any pi in (0, 1) is accepted, so none may make the loss inf or NaN (near the ends the
    # divergence itself shrinks towards 0, and so do its gradients).
    loss = get_loss("fgan", "js-weighted", weight)
    for dtype in (torch.float32, torch.float64):
        logits = torch.linspace(-30.0, 30.0, 61, dtype=dtype).requires_grad_(True)
        total = loss.discriminator_loss(logits, logits.flip(0)) + loss.generator_loss(logits)
        (grad,) = torch.autograd.grad(total, logits)
        assert torch.isfinite(total) and torch.isfinite(grad).all(), dtype


def test_the_weight_belongs_to_js_weighted_only_and_lies_in_the_open_unit_interval() -> None:
    with pytest.raises(ValueError, match="f-divergence 'js' takes no weight"):
        activation_and_conjugate("js", 0.3)
    with pytest.raises(ValueError, match="loss 'hinge' takes no divergence_weight"):
        get_loss("hinge", None, 0.3)
    for weight in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"weight of 'js-weighted' must be in \(0, 1\)"):
            get_loss("fgan", "js-weighted", weight)
    assert repr(get_loss("fgan", "js-weighted", 0.25)) == "FGANLoss(divergence='js-weighted', weight=0.25)"


def test_the_spec_describes_every_divergence() -> None:
    # The API's schema (and the CLI's --help) show this description: it must not fall behind.
    description = TrainingSpec.model_fields["divergence"].description or ""
    for divergence in F_DIVERGENCES:
        assert f"'{divergence}'" in description
