"""The f-divergences of f-GAN: the ten of Nowozin et al. 2016's Table 1, each with the output
activation g_f (their Table 2 for the first six; the notes below for the rest) and the
conjugate f* composed with it.

D's raw logit v becomes the critic's output t = g_f(v), which g_f keeps inside the domain of
the Fenchel conjugate f*(t) = sup_u (t u - f(u)). Each conjugate is written as f*(g_f(v))
simplified in v, so that no intermediate (like 2 - e^t for js) can round to zero or go
negative. Every g_f increases with v, so a higher logit always means "more real", as it does
for the other losses.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn.functional import softplus

from models.lambert import wright_omega

F_DIVERGENCES = (
    "kl",
    "reverse-kl",
    "pearson",
    "hellinger",
    "js",
    "gan",
    "total-variation",
    "neyman",
    "jeffrey",
    "js-weighted",
)
# The one divergence with a parameter: its weight pi (``divergence_weight`` of a config).
WEIGHTED_DIVERGENCE = "js-weighted"
DEFAULT_JS_WEIGHT = 0.5
LOG2 = math.log(2.0)

Fn = Callable[[Tensor], Tensor]


def _half_tanh(v: Tensor) -> Tensor:
    """tanh(v) / 2, with a gradient that keeps its tail.

    tanh's own backward, 1 - tanh(v)^2, rounds to 0 once |v| > 9 in float32, and D would stop
    correcting a confidently wrong logit. Beyond |v| = 1 this is written as
    sign(v) (1/2 - sigmoid(-2|v|)), whose backward 2 sigmoid'(-2|v|) is exact (sech^2(30) / 2
    ~ 2e-26); inside, tanh itself, as 1/2 - sigmoid(-2|v|) would lose the digits of a small v.
    """
    sign = 1 - 2 * (v < 0).to(v.dtype)
    magnitude = v * sign  # |v|, with d|v|/dv = 1 at v = 0 too
    tail = sign * (0.5 - torch.sigmoid(-2 * magnitude))
    return torch.where(magnitude < 1, 0.5 * torch.tanh(v), tail)


def _jeffrey_conjugate(t: Tensor) -> Tensor:
    """f*(t) = W(e^{1-t}) + 1 / W(e^{1-t}) + t - 2 for f(u) = (u - 1) log u, with W = Lambert W.

    With w = omega(x) = W(e^x) at x = 1 - t, w + log w = x gives w + t - 2 = -log w - 1 and
    1 / w = e^{-log w}, so f*(t) = e^y + y - 1 with y = -log w. Its slope is 1 / w, positive and
    finite; the value is about e^{t-1} for large t (like kl: overflows float32 only past
    t ~ 89) and about -1 - log(1 - t) for very negative t (like reverse-kl).
    """
    x = 1 - t
    w = wright_omega(x)
    # y = -log w, also equal to w - x: that form where x < 0 (w < 0.57, so nothing cancels,
    # and no log of a w that underflowed), the log where x >= 0 (w >= 0.57), as w - x would
    # cancel for large x. The log's input is 1 on the other side so that its unused gradient
    # stays finite.
    y = torch.where(x < 0, w - x, -torch.log(torch.where(x < 0, torch.ones_like(w), w)))
    return torch.exp(y) + y - 1


# v -> g_f(v) and v -> f*(g_f(v)) for each divergence without a parameter.
_FIXED: dict[str, tuple[Fn, Fn]] = {
    # g(v) = v;  f*(t) = exp(t - 1). Unbounded by nature: overflows only past v = 89.
    "kl": (lambda v: v, lambda v: torch.exp(v - 1)),
    # g(v) = -exp(-v);  f*(t) = -1 - log(-t) = -1 - log(exp(-v)) = v - 1.
    "reverse-kl": (lambda v: -torch.exp(-v), lambda v: v - 1),
    # g(v) = v;  f*(t) = t^2/4 + t (the paper's form; it is least at t = -2 = f'(0)).
    "pearson": (lambda v: v, lambda v: 0.25 * v**2 + v),
    # Squared Hellinger. g(v) = 1 - exp(-v);  f*(t) = t / (1 - t) = (1 - e^-v) / e^-v = e^v - 1.
    # Not expm1: its backward is (expm1(x) + 1), which rounds to 0 for x < -17 in float32.
    "hellinger": (lambda v: 1 - torch.exp(-v), lambda v: torch.exp(v) - 1),
    # g(v) = log 2 - log(1 + e^-v) = log 2 - softplus(-v);
    # f*(t) = -log(2 - e^t) with e^t = 2 sigmoid(v): -log(2 sigmoid(-v)) = softplus(v) - log 2.
    "js": (lambda v: LOG2 - softplus(-v), lambda v: softplus(v) - LOG2),
    # g(v) = -log(1 + e^-v) = -softplus(-v);  f*(t) = -log(1 - e^t) = -log sigmoid(-v)
    # = softplus(v). With these the D loss is exactly the BCE of the original GAN.
    "gan": (lambda v: -softplus(-v), lambda v: softplus(v)),
    # f(u) = |u - 1| / 2. g(v) = tanh(v) / 2 onto the domain |t| <= 1/2, where f*(t) = t.
    "total-variation": (_half_tanh, _half_tanh),
    # Neyman chi^2, f(u) = (1 - u)^2 / u; f*(t) = 2 - 2 sqrt(1 - t) on t < 1. The paper lists
    # g(v) = 1 - e^v, which falls as v rises; 1 - e^-v covers the same domain rising, like
    # every other row. Then 1 - t = e^-v and f*(g(v)) = 2 - 2 e^{-v/2}.
    "neyman": (lambda v: 1 - torch.exp(-v), lambda v: 2 - 2 * torch.exp(-v / 2)),
    # f(u) = (u - 1) log u, domain all of R: g(v) = v.
    "jeffrey": (lambda v: v, _jeffrey_conjugate),
}


def _js_weighted(weight: float) -> tuple[Fn, Fn]:
    """g_f and f*(g_f) of the pi-weighted Jensen-Shannon divergence, pi = ``weight``.

    f(u) = pi u log u - (1 - pi + pi u) log(1 - pi + pi u), so f'(u) = pi log(u / (1 - pi + pi u))
    rises from -inf (u -> 0) to pi log(1/pi) (u -> inf): that is the domain of
    f*(t) = (1 - pi) log((1 - pi) / (1 - pi e^{t/pi})), t < pi log(1/pi).

    The activation is the optimal critic f'(u) written in v = log u, the log density ratio that
    js and gan train their logits towards: with c = log((1 - pi) / pi),
        f'(e^v) = -pi log(pi + (1 - pi) e^-v) = -pi log pi - pi log(1 + e^{c - v})
                = -pi log pi - pi softplus(c - v) =: g(v),
    which maps R onto (-inf, pi log(1/pi)). Then pi e^{t/pi} = 1 / (1 + e^{c - v}) = sigmoid(v - c),
    1 - pi e^{t/pi} = sigmoid(c - v) and -log sigmoid(c - v) = softplus(v - c), so
        f*(g(v)) = (1 - pi) (log(1 - pi) + softplus(v - c)).
    At pi = 1/2 (c = 0) both are half the js row's: the divergence is half of js there.
    """
    # Each log taken apart: (1 - pi) / pi overflows to inf for the smallest positive pi, and
    # log1p keeps the digits of 1 - pi for a small one.
    log_rest = math.log1p(-weight)
    c = log_rest - math.log(weight)
    top = -weight * math.log(weight)  # pi log(1/pi), the edge of the conjugate's domain

    def activation(v: Tensor) -> Tensor:
        return top - weight * softplus(c - v)

    def conjugate(v: Tensor) -> Tensor:
        return (1 - weight) * (log_rest + softplus(v - c))

    return activation, conjugate


def activation_and_conjugate(divergence: str, weight: float | None = None) -> tuple[Fn, Fn]:
    """``v -> g_f(v)`` and ``v -> f*(g_f(v))`` of the f-divergence called ``divergence``.

    Args:
        divergence: one of ``F_DIVERGENCES``.
        weight: pi of ``js-weighted``, in (0, 1); None means 1/2 there. Refused for any other
            divergence.

    Raises:
        ValueError: on an unknown divergence, or a weight where none belongs or out of range.
    """
    if divergence not in F_DIVERGENCES:
        raise ValueError(f"unknown f-divergence {divergence!r}; expected one of {', '.join(F_DIVERGENCES)}")
    if divergence != WEIGHTED_DIVERGENCE:
        if weight is not None:
            raise ValueError(
                f"f-divergence {divergence!r} takes no weight (only {WEIGHTED_DIVERGENCE!r} does)"
            )
        return _FIXED[divergence]
    if weight is None:
        weight = DEFAULT_JS_WEIGHT
    if not 0 < weight < 1:
        raise ValueError(f"the weight of {WEIGHTED_DIVERGENCE!r} must be in (0, 1), got {weight}")
    return _js_weighted(weight)
