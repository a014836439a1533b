"""GAN objectives on raw discriminator logits, and the WGAN-GP and R1 gradient penalties.

Every loss is a quantity to *minimise*: ``discriminator_loss(real_logits, fake_logits)`` for D
and ``generator_loss(fake_logits)`` for G, each a scalar (means over the batch). Sigmoids and
logarithms are written with ``softplus`` so no loss ever evaluates ``log(sigmoid(x))``, which
is ``-inf`` in float32 once ``x < -104``; softplus(x) = log(1 + e^x) = -log sigmoid(-x).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn.functional import relu, softplus

from models.divergences import F_DIVERGENCES, WEIGHTED_DIVERGENCE, activation_and_conjugate

LOSSES = ("minimax", "nonsaturating", "lsgan", "hinge", "wgan-gp", "fgan")


class GANLoss:
    """A pair of adversarial losses; subclasses override the two methods."""

    name: str = ""
    # Weight of the gradient penalty the trainer adds to the D loss (0: no penalty).
    gradient_penalty_weight: float = 0.0

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """D's scalar loss to minimise, from its logits on a real batch and on a generated one."""
        raise NotImplementedError

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        """G's scalar loss to minimise, from D's logits on a generated batch."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class _BCEDiscriminator(GANLoss):
    # -log D(x) - log(1 - D(G(z))) with D = sigmoid(logit): binary cross-entropy with logits.
    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return softplus(-real_logits).mean() + softplus(fake_logits).mean()


class MinimaxLoss(_BCEDiscriminator):
    """Goodfellow et al. 2014 as stated: G minimises log(1 - D(G(z))).

    Saturates: when D confidently rejects a sample (very negative logit) G's gradient vanishes.
    """

    name = "minimax"

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        """``mean log(1 - D(G(z)))`` as ``-mean softplus(v)``; its gradient vanishes where D rejects fakes."""
        return -softplus(fake_logits).mean()  # log(1 - sigmoid(v)) = -softplus(v)


class NonSaturatingLoss(_BCEDiscriminator):
    """Goodfellow et al. 2014's practical variant: G minimises -log D(G(z))."""

    name = "nonsaturating"

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        """``-mean log D(G(z))`` as ``mean softplus(-v)``: strong gradients where D rejects fakes."""
        return softplus(-fake_logits).mean()  # -log sigmoid(v) = softplus(-v)


class LSGANLoss(GANLoss):
    """Mao et al. 2017, targets a=0 (fake), b=1 (real), c=1 (what G wants D to say)."""

    name = "lsgan"

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """``0.5 E[(D(x) - 1)^2] + 0.5 E[D(G(z))^2]``: real logits pulled to 1, fake ones to 0."""
        return 0.5 * ((real_logits - 1) ** 2).mean() + 0.5 * (fake_logits**2).mean()

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        """``0.5 E[(D(G(z)) - 1)^2]``: G wants D to score its images as real (1)."""
        return 0.5 * ((fake_logits - 1) ** 2).mean()


class HingeLoss(GANLoss):
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018): margins at +1 for real, -1 for fake."""

    name = "hinge"

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """``E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]``: only logits inside the margins count."""
        return relu(1 - real_logits).mean() + relu(1 + fake_logits).mean()

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        """``-E[D(G(z))]``: G raises the critic's score of its images."""
        return -fake_logits.mean()


class WGANGPLoss(GANLoss):
    """Gulrajani et al. 2017: the critic estimates W1; the trainer adds the gradient penalty."""

    name = "wgan-gp"

    def __init__(self, gradient_penalty_weight: float = 10.0) -> None:
        self.gradient_penalty_weight = gradient_penalty_weight  # lambda in the paper

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """``E[D(G(z))] - E[D(x)]``, the negated W1 estimate; the trainer adds the gradient penalty."""
        return fake_logits.mean() - real_logits.mean()

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        """``-E[D(G(z))]``: G raises the critic's score of its images."""
        return -fake_logits.mean()

    def __repr__(self) -> str:
        return f"WGANGPLoss(gradient_penalty_weight={self.gradient_penalty_weight})"


class FGANLoss(GANLoss):
    """f-GAN (Nowozin et al. 2016) for one f-divergence.

    D maximises the variational bound E_P[g_f(V(x))] - E_Q[f*(g_f(V(G(z))))] of D_f(P || Q), so
    its loss is the negative. G takes the paper's alternative update (section 3.2), maximising
    E_Q[g_f(V(G(z)))], which does not saturate early in training.
    """

    name = "fgan"

    def __init__(self, divergence: str, weight: float | None = None) -> None:
        """``divergence`` is one of ``F_DIVERGENCES``; ``weight`` is pi of ``js-weighted`` only
        (None: 1/2). ValueError otherwise (``models.divergences.activation_and_conjugate``)."""
        self._activation, self._conjugate = activation_and_conjugate(divergence, weight)
        self.divergence = divergence
        self.weight = weight

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """``E_Q[f*(g_f(v))] - E_P[g_f(v)]``: the negated variational bound on ``D_f(P || Q)``."""
        return self._conjugate(fake_logits).mean() - self._activation(real_logits).mean()

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        """``-E_Q[g_f(V(G(z)))]``, the paper's non-saturating generator update (section 3.2)."""
        return -self._activation(fake_logits).mean()

    def __repr__(self) -> str:
        weight = "" if self.weight is None else f", weight={self.weight}"
        return f"FGANLoss(divergence={self.divergence!r}{weight})"


def get_loss(name: str, divergence: str | None = None, divergence_weight: float | None = None) -> GANLoss:
    """The loss called ``name``; ``divergence`` is required for ``fgan`` and refused otherwise,
    and ``divergence_weight`` (pi of ``js-weighted``, None: 1/2) belongs to that divergence only.

    Raises:
        ValueError: on an unknown name or divergence, a divergence or weight where none belongs,
            or a weight outside (0, 1).
    """
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(LOSSES)}")
    if name == "fgan":
        if divergence is None:
            raise ValueError(f"loss 'fgan' needs a divergence; expected one of {', '.join(F_DIVERGENCES)}")
        return FGANLoss(divergence, divergence_weight)
    if divergence is not None:
        raise ValueError(f"loss {name!r} takes no divergence (only 'fgan' does)")
    if divergence_weight is not None:
        raise ValueError(
            f"loss {name!r} takes no divergence_weight (only 'fgan' with {WEIGHTED_DIVERGENCE!r})"
        )
    losses: dict[str, Callable[[], GANLoss]] = {
        "minimax": MinimaxLoss,
        "nonsaturating": NonSaturatingLoss,
        "lsgan": LSGANLoss,
        "hinge": HingeLoss,
        "wgan-gp": WGANGPLoss,
    }
    return losses[name]()


def gradient_penalty(
    discriminator: nn.Module,
    real: Tensor,
    fake: Tensor,
    labels: Tensor | None = None,
    weight: float = 10.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """WGAN-GP penalty ``weight * mean((||grad_x D(x_hat)||_2 - 1)^2)`` (Gulrajani et al. 2017).

    Args:
        discriminator: the critic; called as ``discriminator(x)`` or ``discriminator(x, labels)``.
        real, fake: batches of the same shape ``(N, ...)``; neither needs gradients.
        labels: class labels of the batch for a conditional critic (the same for both halves).
        weight: lambda; 10 in the paper.
        generator: source of the interpolation coefficients (a CPU generator works for any
            device); the global RNG if omitted.

    Returns:
        A scalar that keeps its graph (``create_graph=True``), so ``backward`` reaches the
        critic's weights through the gradient norm.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape, got {real.shape} and {fake.shape}")
    alpha_shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    alpha_device = generator.device if generator is not None else real.device
    alpha = torch.rand(alpha_shape, generator=generator, device=alpha_device, dtype=real.dtype)
    alpha = alpha.to(real.device)
    # x_hat on the straight line between a real and a fake sample; detached so the penalty
    # trains the critic only.
    interpolates = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = discriminator(interpolates) if labels is None else discriminator(interpolates, labels)
    (grads,) = torch.autograd.grad(scores.sum(), interpolates, create_graph=True)
    # The epsilon keeps the norm's derivative finite where the gradient is exactly zero.
    norms = torch.sqrt(grads.flatten(1).pow(2).sum(dim=1) + 1e-12)
    return weight * ((norms - 1) ** 2).mean()


def r1_penalty(real_logits: Tensor, real: Tensor, weight: float) -> Tensor:
    """R1 penalty ``weight / 2 * mean_i ||grad_x D(x_i)||^2`` on real images (Mescheder et al.
    2018, "Which training methods for GANs do actually converge?").

    Args:
        real_logits: D's logits for ``real``, computed with ``real.requires_grad_(True)``.
        real: the real images D saw (after any augmentation's input, as long as the graph
            leads back to them).
        weight: gamma.

    Returns:
        A scalar that keeps its graph, so ``backward`` reaches D's weights.
    """
    (grads,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
    return weight / 2 * grads.flatten(1).pow(2).sum(dim=1).mean()
