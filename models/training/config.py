"""The training configuration: the job spec plus the host's part, validated up front so a bad
config never starts."""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field, ValidationError, model_validator

from common.names import NAME_RULE, is_valid_name
from common.specs import REPLACED_FIELDS, TrainingSpec, replaced_field_problem
from models.architectures import ARCHITECTURES, D_CONDITIONINGS, D_NORMS
from models.architectures.config import INFO_CODE_ARCHITECTURES
from models.divergences import F_DIVERGENCES, WEIGHTED_DIVERGENCE
from models.losses import LOSSES
from models.training.augment import parse_policy
from models.training.precision import PRECISIONS

DEVICES = ("auto", "cpu", "cuda", "mps")
LR_DECAYS = ("none", "linear")


class TrainConfig(TrainingSpec):
    """The engine's whole config: a job's spec plus what the host decides (name, device, and
    an uploaded dataset's folder). Same config + same seed = same checkpoints.

    Constructing one checks every rule (types by pydantic, the rest in ``problems``), so a bad
    config never starts; ``for_job`` builds one from a spec that was checked when its job was
    accepted, without checking it again.
    """

    name: str = Field(default="model", description="model name: its folder under <data dir>/models")
    dataset_path: str | None = Field(default=None, description="image folder of dataset 'folder'")
    device: str = Field(default="auto", description="'auto' (CUDA when present), 'cpu', 'cuda' or 'mps'")
    extra: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

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
        if self.divergence_weight is not None and self.divergence != WEIGHTED_DIVERGENCE:
            out.append(
                f"divergence_weight is only used with divergence {WEIGHTED_DIVERGENCE!r}, "
                f"got {self.divergence!r}"
            )
        if self.lr_decay not in LR_DECAYS:
            out.append(f"unknown lr_decay {self.lr_decay!r}; expected one of " + ", ".join(LR_DECAYS))
        if self.d_norm is not None and self.d_norm not in D_NORMS:
            out.append(f"unknown d_norm {self.d_norm!r}; expected one of " + ", ".join(D_NORMS))
        elif self.d_norm == "batch" and self.loss == "wgan-gp":
            out.append(
                "d_norm 'batch' cannot be used with loss 'wgan-gp': its gradient penalty is "
                "per sample, and BatchNorm mixes samples (use 'layer' or 'none')"
            )
        out.extend(self._conditioning_problems())
        if isinstance(self.pack, int) and isinstance(self.batch_size, int) and self.pack > 1:
            if self.batch_size % self.pack:
                out.append(f"batch_size ({self.batch_size}) must be divisible by pack ({self.pack})")
            if self.loss == "wgan-gp":
                out.append("pack > 1 cannot be used with loss 'wgan-gp' (its penalty is per sample)")
        for name in ("info_codes", "clusters"):
            out.extend(self._code_problems(name))
        if isinstance(self.clusters, int) and self.clusters and self.info_codes:
            out.append("clusters and info_codes cannot be used together")
        if not isinstance(self.augment, str):
            out.append(f"augment must be a string such as 'translation,cutout', got {self.augment!r}")
        else:
            try:
                parse_policy(self.augment)
            except ValueError as error:
                out.append(str(error))
        if self.precision not in PRECISIONS:
            out.append(f"unknown precision {self.precision!r}; expected one of " + ", ".join(PRECISIONS))
        if self.device not in DEVICES:
            out.append(f"unknown device {self.device!r}; expected one of " + ", ".join(DEVICES))
        if self.channels is not None and self.channels not in (1, 3):
            out.append(f"channels must be 1 or 3, got {self.channels}")
        return out

    def _conditioning_problems(self) -> list[str]:
        if self.d_conditioning is None:
            return []
        if self.d_conditioning not in D_CONDITIONINGS:
            return [
                f"unknown d_conditioning {self.d_conditioning!r}; expected one of "
                + ", ".join(D_CONDITIONINGS)
            ]
        if self.architecture != "cdcgan" and not (self.architecture == "dcgan" and self.clusters):
            return [
                "d_conditioning is for a DCGAN whose D reads a label: architecture 'cdcgan', "
                f"or 'dcgan' with clusters (got {self.architecture!r}"
                + (")" if self.architecture != "dcgan" else " without clusters)")
            ]
        if self.d_conditioning == "projection" and isinstance(self.pack, int) and self.pack > 1:
            return ["d_conditioning 'projection' needs pack 1 (one label per judged image)"]
        return []

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
        return self.model_dump()

    def spec(self) -> TrainingSpec:
        """The job spec of this config: every field but the host's."""
        return TrainingSpec.model_validate(self.model_dump(include=set(TrainingSpec.model_fields)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a dict (JSON/TOML), rejecting unknown keys by name.

        Raises:
            ValueError: every problem, '; '-joined, each naming its field.
        """
        replaced = [f"{name} was {problem}" for name in data if (problem := replaced_field_problem(name))]
        unknown = sorted(set(data) - set(cls.model_fields) - set(REPLACED_FIELDS))
        if unknown:
            replaced.append("unknown training config field(s): " + ", ".join(unknown))
        if replaced:
            raise ValueError("; ".join(replaced))
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise ValueError("; ".join(validation_problems(error))) from None

    @classmethod
    def for_job(cls, spec: TrainingSpec, *, name: str, device: str, dataset_path: str | None) -> TrainConfig:
        """The config that trains a job's stored ``spec`` on this host.

        The spec was checked by ``from_dict`` when its job was accepted and typed again as the
        record was read, so it is not judged a third time; the host's fields come from the
        record and the worker's settings.
        """
        dataset = "folder" if dataset_path is not None else spec.dataset
        return cls.model_construct(
            **{**spec.model_dump(), "dataset": dataset},
            name=name,
            device=device,
            dataset_path=dataset_path,
        )

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied, validated again like any new config."""
        return self.from_dict({**self.model_dump(), **changes})

    def same_run_as(self, other: TrainConfig) -> bool:
        """Whether ``other`` continues this run (only the step budget may differ)."""
        mine, theirs = self.to_dict(), other.to_dict()
        for key in ("steps", "device", "name"):
            mine.pop(key), theirs.pop(key)
        return mine == theirs


def validation_problems(error: ValidationError) -> list[str]:
    """One readable message per problem in ``error``: the rules' own sentences as they are,
    and pydantic's type errors prefixed by the field they are about."""
    out: list[str] = []
    for problem in error.errors(include_url=False):
        if problem["type"] == "value_error":
            out.extend(str(problem["ctx"]["error"]).split("; "))
        else:
            where = ".".join(str(part) for part in problem["loc"]) or "config"
            out.append(f"{where}: {problem['msg']}")
    return out
