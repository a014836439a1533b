"""Spectral normalisation of a discriminator (Miyato et al. 2018, "Spectral Normalization for
Generative Adversarial Networks").

Every weight of D is divided by an estimate of its largest singular value, kept by one step of
power iteration per training forward pass, so each layer is 1-Lipschitz and D as a whole is
bounded in how sharply it can change with its input: the paper's remedy for a discriminator
that grows too confident and leaves the generator no useful gradient.
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

# The layers that carry D's weights; normalisation layers are left alone (the paper's D has
# none, and a BatchNorm scale is not a linear map whose norm SN bounds).
_WEIGHTED = (nn.Conv2d, nn.Linear, nn.Embedding)


def apply_spectral_norm_(discriminator: nn.Module) -> nn.Module:
    """Parametrise every weight of ``discriminator`` by its spectrally normalised form, in place.

    The power iteration's starting vectors come from torch's global generator, like the
    weights themselves: the trainer builds D under its seed, so a run builds the same D.
    """
    for layer in [m for m in discriminator.modules() if isinstance(m, _WEIGHTED)]:
        spectral_norm(layer)
    return discriminator
