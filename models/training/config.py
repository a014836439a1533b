"""The training configuration: one dataclass, validated up front so a bad config never starts."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from common.names import NAME_RULE, is_valid_name
from models.architectures import ARCHITECTURES, D_NORMS
from models.architectures.config import INFO_CODE_ARCHITECTURES, MAX_LATENT_DIM, MAX_PACK
from models.losses import F_DIVERGENCES, LOSSES
from models.training.augment import parse_policy

DEVICES = ("auto", "cpu", "cuda", "mps")
LR_DECAYS = ("none", "linear")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run. Same config + same seed = same checkpoints.

    ``steps`` counts generator updates; each is preceded by ``d_steps`` discriminator updates
    (the ``k`` of Goodfellow et al.'s Algorithm 1), each on a fresh minibatch of ``batch_size``.
    """

    name: str = "model"
    architecture: str = "dcgan"
    dataset: str = "digits"
    dataset_path: str | None = None
    image_size: int | None = None  # None: the dataset's native size
    channels: int | None = None  # None: the dataset's native channel count
    num_images: int | None = None  # cap on the images used (None: all)
    latent_dim: int = 100
    g_width: int = 64
    d_width: int = 64
    steps: int = 1000
    batch_size: int = 64
    d_steps: int = 1
    loss: str = "nonsaturating"
    divergence: str | None = None
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    gp_weight: float = 10.0
    # R1 (Mescheder et al. 2018): D's loss gains r1_weight / 2 * E||grad_x D(x)||^2 on real
    # images, a zero-centred penalty that keeps D from growing sharp around the training data,
    # as it does on small datasets (gamma in the paper; 0: off).
    r1_weight: float = 0.0
    # "linear": both learning rates fall linearly to zero at `steps`, which damps the late
    # oscillation of the two players; "none": constant rates (the DCGAN paper's choice).
    lr_decay: str = "none"
    # Normalisation in D: None picks the architecture's own (BatchNorm for DCGAN, none for the
    # MLP, per-sample "layer" under WGAN-GP); "none" and "layer" make D judge each image alone.
    d_norm: str | None = None
    # PacGAN: D judges this many samples at once (1: one at a time); batch_size must divide.
    pack: int = 1
    # InfoGAN categorical code with this many values, drawn from z as argmax(z[:k]) (0: none);
    # D's head Q learns to tell the code from the image, and both players minimise
    # info_weight * cross_entropy(Q(G(z)), code) (Chen et al. 2016; weight 1 in the paper).
    info_codes: int = 0
    info_weight: float = 1.0
    # Self-conditioned GAN (Liu et al. 2020) with this many clusters (0: off): the training
    # images are split into equal clusters by k-means on their pixels, D judges each image with
    # its cluster, and G draws its cluster from z as an InfoGAN code, so the generated mix of
    # clusters is the data's. No labels are used; the model samples like an unconditional one.
    clusters: int = 0
    # DiffAugment policy for what D sees, e.g. "translation,cutout" ("": none); see augment.py
    augment: str = ""
    ema: bool = True
    ema_decay: float = 0.999
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    channels_last: bool = False
    checkpoint_every: int | None = None  # None: every tenth of the run, at most 1,000 steps
    sample_every: int | None = None  # None: every twentieth of the run, at most 500 steps
    sample_count: int = 64
    eval_samples: int = 1000
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems))

    def problems(self) -> list[str]:
        """Every reason this config cannot train, as short messages naming the field."""
        out: list[str] = []
        if not is_valid_name(self.name):
            out.append(f"name must be {NAME_RULE}")
        if self.architecture not in ARCHITECTURES:
            out.append(
                f"unknown architecture {self.architecture!r}; expected one of " + ", ".join(ARCHITECTURES)
            )
        if self.loss not in LOSSES:
            out.append(f"unknown loss {self.loss!r}; expected one of " + ", ".join(LOSSES))
        if self.loss == "fgan" and self.divergence not in F_DIVERGENCES:
            out.append(f"loss 'fgan' needs divergence in {', '.join(F_DIVERGENCES)}, got {self.divergence!r}")
        if self.loss != "fgan" and self.divergence is not None:
            out.append("divergence is only used with loss 'fgan'")
        for name, low, high in (
            ("steps", 1, 10_000_000),
            ("batch_size", 1, 4096),
            ("d_steps", 1, 100),
            ("latent_dim", 1, 4096),
            ("g_width", 1, 1024),
            ("d_width", 1, 1024),
            ("sample_count", 1, 256),
            ("eval_samples", 0, 100_000),
            ("seed", 0, 2**63 - 1),
            ("pack", 1, MAX_PACK),
            ("info_codes", 0, MAX_LATENT_DIM),
            ("clusters", 0, MAX_LATENT_DIM),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                out.append(f"{name} must be an integer in {low}..{high}, got {value!r}")
        for name in ("checkpoint_every", "sample_every"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000_000
            ):
                out.append(f"{name} must be an integer in 1..10000000 or null, got {value!r}")
        for name in ("lr_g", "lr_d"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 < value <= 1:
                out.append(f"{name} must be a number in (0, 1], got {value!r}")
        for name in ("beta1", "beta2", "ema_decay"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 <= value < 1:
                out.append(f"{name} must be a number in [0, 1), got {value!r}")
        for name in ("gp_weight", "r1_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
                out.append(f"{name} must be a non-negative number, got {value!r}")
        if self.lr_decay not in LR_DECAYS:
            out.append(f"unknown lr_decay {self.lr_decay!r}; expected one of " + ", ".join(LR_DECAYS))
        if self.d_norm is not None and self.d_norm not in D_NORMS:
            out.append(f"unknown d_norm {self.d_norm!r}; expected one of " + ", ".join(D_NORMS))
        elif self.d_norm == "batch" and self.loss == "wgan-gp":
            out.append(
                "d_norm 'batch' cannot be used with loss 'wgan-gp': its gradient penalty is "
                "per sample, and BatchNorm mixes samples (use 'layer' or 'none')"
            )
        if isinstance(self.pack, int) and isinstance(self.batch_size, int) and self.pack > 1:
            if self.batch_size % self.pack:
                out.append(f"batch_size ({self.batch_size}) must be divisible by pack ({self.pack})")
            if self.loss == "wgan-gp":
                out.append("pack > 1 cannot be used with loss 'wgan-gp' (its penalty is per sample)")
        for name in ("info_codes", "clusters"):
            out.extend(self._code_problems(name))
        if isinstance(self.clusters, int) and self.clusters and self.info_codes:
            out.append("clusters and info_codes cannot be used together")
        if (
            isinstance(self.info_weight, bool)
            or not isinstance(self.info_weight, int | float)
            or not 0 <= self.info_weight <= 100
        ):
            out.append(f"info_weight must be a number in [0, 100], got {self.info_weight!r}")
        if not isinstance(self.augment, str):
            out.append(f"augment must be a string such as 'translation,cutout', got {self.augment!r}")
        else:
            try:
                parse_policy(self.augment)
            except ValueError as error:
                out.append(str(error))
        if self.device not in DEVICES:
            out.append(f"unknown device {self.device!r}; expected one of " + ", ".join(DEVICES))
        if self.image_size is not None and not 4 <= self.image_size <= 512:
            out.append(f"image_size must be in 4..512, got {self.image_size}")
        if self.channels is not None and self.channels not in (1, 3):
            out.append(f"channels must be 1 or 3, got {self.channels}")
        if self.num_images is not None and self.num_images < 1:
            out.append(f"num_images must be at least 1, got {self.num_images}")
        return out

    def _code_problems(self, name: str) -> list[str]:
        """What rules out ``name`` (info_codes or clusters): a categorical code drawn from z."""
        value = getattr(self, name)
        if not isinstance(value, int) or not value:
            return []
        out = []
        if self.architecture not in INFO_CODE_ARCHITECTURES:
            out.append(
                f"{name} needs architecture {' or '.join(INFO_CODE_ARCHITECTURES)}, got {self.architecture!r}"
            )
        if value < 2:
            out.append(f"{name} must be 0 (off) or at least 2, got {value}")
        if isinstance(self.latent_dim, int) and value > self.latent_dim:
            out.append(
                f"{name} ({value}) must be at most latent_dim ({self.latent_dim}): "
                "the code is drawn from z's first components"
            )
        return out

    @property
    def checkpoint_interval(self) -> int:
        """Steps between checkpoints: a short job still leaves several to look at and resume."""
        if self.checkpoint_every is not None:
            return self.checkpoint_every
        return max(1, min(1000, math.ceil(self.steps / 10)))

    def lr_factor(self, step: int) -> float:
        """The learning-rate multiplier for the update that makes step ``step + 1``."""
        if self.lr_decay == "linear":
            return max(0.0, 1.0 - step / self.steps)
        return 1.0

    @property
    def sample_interval(self) -> int:
        """Steps between fixed-noise grids (the training timeline)."""
        if self.sample_every is not None:
            return self.sample_every
        return max(1, min(500, math.ceil(self.steps / 20)))

    def to_dict(self) -> dict[str, Any]:
        """Every field as a JSON-safe dict (what ``config.json`` and checkpoints store)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a dict (JSON/TOML), rejecting unknown keys by name."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError("unknown training config field(s): " + ", ".join(unknown))
        return cls(**data)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied, validated again like any new config."""
        return dataclasses.replace(self, **changes)

    def same_run_as(self, other: TrainConfig) -> bool:
        """Whether ``other`` continues this run (only the step budget may differ)."""
        mine, theirs = self.to_dict(), other.to_dict()
        for key in ("steps", "device", "name"):
            mine.pop(key), theirs.pop(key)
        return mine == theirs
