"""GAN losses: gradient signs, saturation, closed forms, f-GAN bounds, gradient penalty."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from models.architectures import build_discriminator, make_model_config
from models.divergences import F_DIVERGENCES
from models.losses import LOSSES, GANLoss, get_loss, gradient_penalty, r1_penalty

ALL_LOSSES = [(name, None) for name in LOSSES if name != "fgan"] + [
    ("fgan", divergence) for divergence in F_DIVERGENCES
]
LOSS_IDS = [name if div is None else f"fgan-{div}" for name, div in ALL_LOSSES]
# Losses whose D keeps pushing real logits up and fake logits down however far they have
# gone, and whose G keeps pushing fake logits up: their gradient signs hold at +-30 too.
UNBOUNDED = [(name, div) for name, div in ALL_LOSSES if name not in ("lsgan", "hinge") and div != "pearson"]
EXTREMES = (-30.0, -5.0, 0.0, 5.0, 30.0)


def logit(value: float) -> Tensor:
    return torch.tensor([value], dtype=torch.float32, requires_grad=True)


def d_grads(loss: GANLoss, real: float, fake: float) -> tuple[float, float]:
    """d(D loss)/d(real logit) and d(D loss)/d(fake logit)."""
    real_logit, fake_logit = logit(real), logit(fake)
    value = loss.discriminator_loss(real_logit, fake_logit)
    d_real, d_fake = torch.autograd.grad(value, [real_logit, fake_logit])
    return d_real.item(), d_fake.item()


def g_grad(loss: GANLoss, fake: float) -> float:
    """d(G loss)/d(fake logit)."""
    fake_logit = logit(fake)
    (d_fake,) = torch.autograd.grad(loss.generator_loss(fake_logit), [fake_logit])
    return d_fake.item()


@pytest.mark.parametrize(("name", "divergence"), ALL_LOSSES, ids=LOSS_IDS)
def test_losses_are_finite_scalars_at_extreme_logits(name: str, divergence: str | None) -> None:
    loss = get_loss(name, divergence)
    for real in EXTREMES:
        for fake in EXTREMES:
            real_logit, fake_logit = logit(real), logit(fake)
            d_loss = loss.discriminator_loss(real_logit, fake_logit)
            g_loss = loss.generator_loss(fake_logit)
            assert d_loss.shape == () and g_loss.shape == ()
            grads = torch.autograd.grad(d_loss + g_loss, [real_logit, fake_logit])
            for value in (d_loss, g_loss, *grads):
                assert torch.isfinite(value).all(), (real, fake)


@pytest.mark.parametrize(("name", "divergence"), ALL_LOSSES, ids=LOSS_IDS)
def test_gradient_signs_on_the_wrong_side(name: str, divergence: str | None) -> None:
    # Where D rates a real sample low or a fake one high, every loss must correct it, and G
    # must always want a low-rated fake rated higher.
    loss = get_loss(name, divergence)
    for real in (-30.0, -1.0, 0.0, 0.5):
        assert d_grads(loss, real, 0.5)[0] < 0, real
    for fake in (0.5, 1.0, 30.0):
        assert d_grads(loss, 0.0, fake)[1] > 0, fake
    for fake in (-30.0, -1.0, 0.0, 0.5):
        assert g_grad(loss, fake) < 0, fake


@pytest.mark.parametrize(("name", "divergence"), UNBOUNDED, ids=str)
def test_gradient_signs_hold_at_extreme_logits(name: str, divergence: str | None) -> None:
    loss = get_loss(name, divergence)
    for value in EXTREMES:
        d_real, d_fake = d_grads(loss, value, value)
        assert d_real < 0, value
        assert d_fake > 0, value
        assert g_grad(loss, value) < 0, value


def test_hinge_stops_pushing_beyond_the_margin() -> None:
    loss = get_loss("hinge")
    assert d_grads(loss, 30.0, -30.0) == (0.0, 0.0)
    assert d_grads(loss, 0.5, -0.5) == (-1.0, 1.0)
    assert g_grad(loss, 30.0) == -1.0  # G's hinge loss is linear, unlike D's
    assert loss.discriminator_loss(torch.tensor([0.0]), torch.tensor([0.0])).item() == 2.0


def test_lsgan_targets() -> None:
    loss = get_loss("lsgan")
    # D's targets are 1 (real) and 0 (fake); G's target is 1. Past a target the push reverses.
    assert d_grads(loss, 1.0, 0.0) == (0.0, 0.0)
    assert d_grads(loss, 3.0, -2.0) == (2.0, -2.0)
    assert g_grad(loss, 1.0) == 0.0
    assert g_grad(loss, 3.0) == 2.0
    value = loss.discriminator_loss(torch.tensor([0.0]), torch.tensor([1.0]))
    assert value.item() == pytest.approx(1.0)  # 0.5 * (0-1)^2 + 0.5 * 1^2


def test_pearson_fake_term_is_least_at_f_prime_of_zero() -> None:
    # f(u) = (u-1)^2 has f'(0) = -2: where only Q has mass the optimal critic outputs -2.
    loss = get_loss("fgan", "pearson")
    assert d_grads(loss, 0.0, -2.0)[1] == 0.0
    assert d_grads(loss, 0.0, -30.0)[1] < 0
    assert d_grads(loss, 0.0, -1.0)[1] > 0


def test_minimax_saturates_and_nonsaturating_does_not() -> None:
    # D confidently rejects the fake: logit -30, D(G(z)) = sigmoid(-30) ~ 1e-13.
    minimax, nonsaturating = get_loss("minimax"), get_loss("nonsaturating")
    assert abs(g_grad(minimax, -30.0)) < 1e-10
    assert g_grad(nonsaturating, -30.0) == pytest.approx(-1.0)
    # Both agree once D is fooled the other way round.
    assert g_grad(minimax, 30.0) == pytest.approx(-1.0)


def test_bce_closed_forms_at_logit_zero() -> None:
    zero = torch.zeros(4)
    for name in ("minimax", "nonsaturating"):
        loss = get_loss(name)
        # D(x) = 1/2 for both halves: -log(1/2) each.
        assert loss.discriminator_loss(zero, zero).item() == pytest.approx(2 * math.log(2))
    assert get_loss("nonsaturating").generator_loss(zero).item() == pytest.approx(math.log(2))
    assert get_loss("minimax").generator_loss(zero).item() == pytest.approx(-math.log(2))


def test_bce_is_stable_where_log_sigmoid_underflows() -> None:
    # log(sigmoid(-200)) is -inf in float32; the exact value of -log(sigmoid(-200)) is ~200.
    loss = get_loss("nonsaturating")
    far = torch.tensor([-200.0])
    assert loss.generator_loss(far).item() == pytest.approx(200.0)
    assert loss.discriminator_loss(far, -far).item() == pytest.approx(400.0)


def test_wgan_closed_form_and_penalty_weight() -> None:
    loss = get_loss("wgan-gp")
    value = loss.discriminator_loss(torch.tensor([3.0, 5.0]), torch.tensor([1.0, -1.0]))
    assert value.item() == pytest.approx(0.0 - 4.0)
    assert loss.generator_loss(torch.tensor([2.0, 4.0])).item() == pytest.approx(-3.0)
    assert loss.gradient_penalty_weight == 10.0
    for name, divergence in ALL_LOSSES:
        if name != "wgan-gp":
            assert get_loss(name, divergence).gradient_penalty_weight == 0.0


def test_fgan_gan_divergence_is_the_original_gan() -> None:
    real, fake = torch.randn(16) * 4, torch.randn(16) * 4
    fgan, bce = get_loss("fgan", "gan"), get_loss("minimax")
    assert torch.allclose(fgan.discriminator_loss(real, fake), bce.discriminator_loss(real, fake))


def test_fgan_js_discriminator_loss_at_the_optimum_is_zero() -> None:
    # P = Q: the optimal critic outputs T = f'(1) = 0 (v = 0) and the bound equals JS = 0.
    loss = get_loss("fgan", "js")
    zero = torch.zeros(8)
    assert loss.discriminator_loss(zero, zero).item() == pytest.approx(0.0, abs=1e-7)
    assert loss.discriminator_loss(zero + 0.5, zero + 0.5).item() > 0


def test_get_loss_names_and_errors() -> None:
    for name, divergence in ALL_LOSSES:
        loss = get_loss(name, divergence)
        assert isinstance(loss, GANLoss)
        assert loss.name == name
    assert get_loss("fgan", "js").divergence == "js"  # type: ignore[attr-defined]
    expected = "minimax, nonsaturating, lsgan, hinge, wgan-gp, fgan"
    with pytest.raises(ValueError, match=f"unknown loss 'bce'; expected one of {expected}"):
        get_loss("bce")
    with pytest.raises(ValueError, match="'hinge' takes no divergence"):
        get_loss("hinge", "kl")
    options = "kl, reverse-kl, pearson, hellinger, js, gan, total-variation, neyman, jeffrey, js-weighted"
    with pytest.raises(ValueError, match=f"needs a divergence; expected one of {options}"):
        get_loss("fgan")
    with pytest.raises(ValueError, match="unknown f-divergence 'tv'"):
        get_loss("fgan", "tv")


class LinearCritic(nn.Module):
    """D(x) = <w, x>: its input gradient is w everywhere."""

    def __init__(self, weight: Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(1) @ self.weight


def test_gradient_penalty_is_zero_for_a_unit_gradient_critic() -> None:
    real, fake = torch.randn(8, 1, 4, 4), torch.randn(8, 1, 4, 4)
    unit = torch.randn(16)
    unit /= unit.norm()
    penalty = gradient_penalty(LinearCritic(unit), real, fake)
    assert penalty.item() == pytest.approx(0.0, abs=1e-6)
    # Gradient norm 2 everywhere: weight * (2 - 1)^2.
    critic = LinearCritic(2 * unit)
    penalty = gradient_penalty(critic, real, fake, weight=10.0)
    assert penalty.item() == pytest.approx(10.0, rel=1e-5)
    # The penalty keeps its graph, so it trains the critic's weights.
    penalty.backward()
    assert critic.weight.grad is not None and critic.weight.grad.abs().sum() > 0


def test_gradient_penalty_interpolation_follows_the_generator() -> None:
    def critic(x: Tensor) -> Tensor:  # gradient 2x: the penalty depends on where x_hat lies
        return (x**2).flatten(1).sum(dim=1)

    real, fake = torch.ones(4, 3), -torch.ones(4, 3)

    def penalty(seed: int) -> float:
        generator = torch.Generator().manual_seed(seed)
        return gradient_penalty(critic, real, fake, generator=generator).item()

    assert penalty(0) == penalty(0)
    assert penalty(0) != penalty(1)
    assert penalty(0) > 0


def test_gradient_penalty_passes_labels_to_a_conditional_critic() -> None:
    cfg = make_model_config("cdcgan", image_size=8, channels=1, num_classes=3, d_width=4, d_norm="layer")
    netD = build_discriminator(cfg)
    real, fake = torch.rand(4, 1, 8, 8) * 2 - 1, torch.rand(4, 1, 8, 8) * 2 - 1
    labels = torch.tensor([0, 1, 2, 0])
    penalty = gradient_penalty(netD, real, fake, labels=labels)
    assert torch.isfinite(penalty) and penalty.item() > 0
    penalty.backward()
    first_conv = netD.net[0]
    assert first_conv.weight.grad is not None and first_conv.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="needs labels"):
        gradient_penalty(netD, real, fake)
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(netD, real, fake[:2], labels=labels)


def test_r1_penalty_is_half_gamma_times_the_squared_gradient_norm_on_reals() -> None:
    direction = torch.randn(16)
    critic = LinearCritic(3 * direction / direction.norm())  # gradient norm 3 everywhere
    real = torch.randn(8, 1, 4, 4).requires_grad_(True)
    penalty = r1_penalty(critic(real), real, weight=10.0)
    assert penalty.item() == pytest.approx(10.0 / 2 * 9.0, rel=1e-5)
    penalty.backward()  # keeps its graph: it trains the critic's weights
    assert critic.weight.grad is not None and critic.weight.grad.abs().sum() > 0

    def flat_at(x: Tensor) -> Tensor:  # gradient 2x: zero at the origin, so no penalty there
        return (x**2).flatten(1).sum(dim=1)

    origin = torch.zeros(4, 3).requires_grad_(True)
    assert r1_penalty(flat_at(origin), origin, weight=10.0).item() == 0.0
