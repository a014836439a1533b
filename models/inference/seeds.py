"""Seeds to latent vectors: the draw, truncation, grids of consecutive seeds, interpolation."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch

from common.specs import MAX_SEED
from models.architectures import ModelConfig

MIN_TRUNCATION = 0.05
# A truncated normal with psi >= 0.05 keeps ~4% of draws; 200 rounds leave a component
# unresolved with probability ~0.96**200 ≈ 3e-4, and those are clamped (deterministically).
_TRUNCATION_ROUNDS = 200

InterpolationMode = Literal["slerp", "lerp"]


def check_seed(seed: int) -> int:
    """Return ``seed`` if it is a valid sampling seed, else raise ``ValueError``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be an integer in 0..{MAX_SEED}, got {seed!r}")
    return seed


def check_truncation(truncation: float | None) -> float | None:
    """Validate a truncation value (``None`` means no truncation)."""
    if truncation is None:
        return None
    if not math.isfinite(truncation) or truncation < MIN_TRUNCATION:
        raise ValueError(f"truncation must be a finite number >= {MIN_TRUNCATION}, got {truncation}")
    return float(truncation)


def latent_for_seed(
    seed: int, latent_dim: int, truncation: float | None = None, code_components: int = 0
) -> torch.Tensor:
    """The latent vector of one seed.

    Args:
        seed: integer in ``0..2**63-1``.
        latent_dim: length of the vector.
        truncation: optional ``psi``; components with ``|z| > psi`` are re-drawn.
        code_components: the first components that carry a categorical code (a self-conditioned
            or InfoGAN model reads its code as ``argmax(z[:k])``); truncation leaves them as
            drawn, so it never changes the class a seed draws. Every other component is
            truncated exactly as without codes.

    Returns:
        A float32 CPU tensor of shape ``(latent_dim,)``.
    """
    check_seed(seed)
    truncation = check_truncation(truncation)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    z = torch.randn(latent_dim, generator=generator)
    if truncation is not None:
        # A psi beyond float32's range bounds nothing, and torch refuses to compare a float32
        # tensor with it (RuntimeError: overflow); the largest float32 is the same no-op bound.
        truncation = min(truncation, torch.finfo(z.dtype).max)
        drawn = z
        for _ in range(_TRUNCATION_ROUNDS):
            outside = z.abs() > truncation
            outside[:code_components] = False
            if not outside.any():
                break
            # Draw a full vector each round so the stream consumed does not depend on how many
            # components happened to be outside: the result stays a pure function of the seed.
            redraw = torch.randn(latent_dim, generator=generator)
            z = torch.where(outside, redraw, z)
        z = z.clamp(-truncation, truncation)
        z[:code_components] = drawn[:code_components]
    return z


def latents_for_seeds(
    seeds: Sequence[int], latent_dim: int, truncation: float | None = None, code_components: int = 0
) -> torch.Tensor:
    """Stack the latent vectors of ``seeds`` into a ``(len(seeds), latent_dim)`` tensor
    (``code_components`` as in :func:`latent_for_seed`)."""
    if len(seeds) == 0:
        raise ValueError("at least one seed is required")
    if truncation is not None:
        return torch.stack([latent_for_seed(s, latent_dim, truncation, code_components) for s in seeds])
    # The draws of latent_for_seed, made cheaper (this runs for every image served): one
    # generator, re-seeded per row (manual_seed resets all of its state, so each row is the
    # fresh generator's draw), and every row drawn straight into the result, with no tensor
    # per seed and no stack. torch's normal draw depends on the number of values and on
    # contiguity, not on the shape, so a row of the result gets the same values as a vector.
    generator = torch.Generator(device="cpu")
    if len(seeds) == 1:
        generator.manual_seed(check_seed(seeds[0]))
        return torch.randn(1, latent_dim, generator=generator)
    latents = torch.empty(len(seeds), latent_dim)
    for row, seed in enumerate(seeds):
        generator.manual_seed(check_seed(seed))
        torch.randn(latent_dim, generator=generator, out=latents[row])
    return latents


def grid_seeds(seed: int, count: int) -> list[int]:
    """Seeds of a grid: tile ``i`` is seed ``seed + i``; the whole range must be valid."""
    check_seed(seed)
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if seed + count - 1 > MAX_SEED:
        raise ValueError(f"seed + count - 1 must not exceed {MAX_SEED}")
    return list(range(seed, seed + count))


def interpolate_latents(
    start: torch.Tensor,
    end: torch.Tensor,
    steps: int,
    mode: InterpolationMode = "slerp",
    code_components: int = 0,
) -> torch.Tensor:
    """Frames between two latent vectors, both ends included.

    Args:
        start, end: vectors of the same shape ``(latent_dim,)``.
        steps: number of frames, at least 2.
        mode: ``"slerp"`` (spherical, the default: Gaussian latents live near a sphere, so a
            straight line would pass through improbably short vectors) or ``"lerp"``.
        code_components: the first components that carry a categorical code, read as their
            argmax. Interpolated, their argmax could pass through a third class between the
            two seeds' own; instead frames ``i < steps / 2`` keep the start's code components
            and the rest the end's, the rule conditional labels follow, so a walk shows only
            the two ends' classes.

    Returns:
        ``(steps, latent_dim)``; row 0 equals ``start`` and the last row equals ``end`` exactly.
    """
    if start.shape != end.shape or start.dim() != 1:
        raise ValueError("start and end must be vectors of the same length")
    if steps < 2:
        raise ValueError(f"steps must be at least 2, got {steps}")
    if mode not in ("slerp", "lerp"):
        raise ValueError(f"unknown interpolation mode {mode!r}; expected slerp or lerp")
    a, b = start.double(), end.double()
    t = torch.linspace(0.0, 1.0, steps, dtype=torch.float64).unsqueeze(1)
    frames = a + t * (b - a)
    if mode == "slerp":
        cos_omega = torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-12)
        omega = torch.arccos(cos_omega.clamp(-1.0, 1.0))
        # Nearly parallel vectors: slerp degenerates to lerp, and dividing by sin(omega) would
        # amplify rounding, so keep the linear frames.
        if omega.abs() > 1e-6:
            sin_omega = torch.sin(omega)
            frames = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / sin_omega
    frames = frames.to(start.dtype)
    if code_components:
        half = (steps + 1) // 2  # frames 0..half-1 are i < steps / 2
        frames[:half, :code_components] = start[:code_components]
        frames[half:, :code_components] = end[:code_components]
    # The ends are pinned to the inputs so they match the seed images bit for bit.
    frames[0], frames[-1] = start, end
    return frames


def code_components(config: ModelConfig) -> int:
    """How many leading latent components carry a categorical code for ``config`` (its
    ``info_codes``: InfoGAN and self-conditioned models; 0 for every other model)."""
    return int(getattr(config, "info_codes", 0))


def with_codes(
    latents: torch.Tensor, codes: Sequence[int], components: int, *, subject: str = "this model"
) -> torch.Tensor:
    """``latents`` (N, latent_dim) made to draw categorical ``codes`` (one per row).

    A model with codes reads row ``i``'s code as ``argmax(z[:components])``; here the largest of
    those components swaps places with component ``codes[i]``. A permutation of independent
    normal draws is still one, so the vector stays a plausible latent, and its other components
    are untouched.

    Raises:
        ValueError: the model has no codes, the count differs from the rows, or a code is out
            of range.
    """
    if components == 0:
        raise ValueError(f"{subject} draws no codes; leave codes out")
    if len(codes) != len(latents):
        raise ValueError(f"codes has {len(codes)} entries for {len(latents)} latent vectors")
    for index, code in enumerate(codes):
        if not 0 <= code < components:
            raise ValueError(f"codes[{index}] is {code}; {subject} has codes 0..{components - 1}")
    result = latents.clone()
    rows = torch.arange(len(latents))
    wanted = torch.tensor(list(codes), dtype=torch.int64)
    largest = latents[:, :components].argmax(dim=1)
    result[rows, wanted] = latents[rows, largest]
    result[rows, largest] = latents[rows, wanted]
    return result
