"""Kernel choices for sampling on the CPU, fixed by rule so every load gives the same bytes.

oneDNN's transposed convolution (PyTorch's default on x86) is two to three times faster per
image than PyTorch's native kernel on a DCGAN's wide inner layers once a pass holds a few
images, but about three times slower on the image layer, whose output has only 1 or 3 channels
(measured on a 64x64 RGB DCGAN, one thread: 0.52 against 0.18 ms per image at 32 images,
docs/benchmarks.md). Loaded generators therefore run thin transposed convolutions on the native
kernel and the rest on oneDNN. The native kernel computes each image on its own, so it keeps
the batch invariance that ``models.inference.passes`` verifies for the whole network.

The rule depends only on the layer's shape, never on a timing taken at load: a timing could
come out differently after a restart, and with it every served byte.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from models.inference.passes import forget_pass_sizes

# Output channels up to which a transposed convolution runs on the native kernel.
THIN_CHANNELS = 4


def _native_conv_transpose(
    module: nn.ConvTranspose2d, x: torch.Tensor, output_size: list[int] | None = None
) -> torch.Tensor:
    if x.device.type != "cpu" or output_size is not None or x.dim() != 4:
        return nn.ConvTranspose2d.forward(module, x, output_size)
    native: torch.Tensor = torch.ops.aten.slow_conv_transpose2d(
        x.contiguous(),
        module.weight,
        module.kernel_size,
        module.bias,
        module.stride,
        module.padding,
        module.output_padding,
        module.dilation,
    )
    return native


def use_inference_kernels(generator: nn.Module) -> nn.Module:
    """Route ``generator``'s thin transposed convolutions to the native CPU kernel (in place)."""
    for module in generator.modules():
        if (
            isinstance(module, nn.ConvTranspose2d)
            and module.out_channels <= THIN_CHANNELS
            and module.groups == 1
            and module.padding_mode == "zeros"
        ):
            module.forward = functools.partial(_native_conv_transpose, module)  # type: ignore[method-assign]
    forget_pass_sizes(generator)  # probed, if at all, with the old kernels
    return generator
