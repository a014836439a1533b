"""Weight initialisation of Radford et al. 2015 (DCGAN), section 4."""

from __future__ import annotations

from torch import nn

DCGAN_INIT_STD = 0.02


def dcgan_init_(module: nn.Module, std: float = DCGAN_INIT_STD) -> None:
    """Initialise ``module`` and its children in place as the DCGAN paper does.

    Convolutions get weights from N(0, std) and zero biases; normalisation layers get scales
    from N(1, std) and zero shifts. Label embeddings and their projections keep PyTorch's
    defaults: the paper has no such layers, and the common conditional variants leave them.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.GroupNorm) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
