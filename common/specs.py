"""The job contract: one typed spec per job kind, the part of a job record a client chooses.

A spec is checked once, where it enters the system (``POST /train`` or ``ganserve train``),
against the field types here and the engine's rules (``models.training.config``); the job
record then stores it, and the worker builds its engine config from the stored spec without
judging it again. Everything host-specific is left out on purpose: the model name is the
record's own ``model``, the device is the worker's setting, and an uploaded dataset's folder
is resolved by the worker that trains it.

Training is the only kind today; a new kind (projection, say) adds its spec model here and a
``kind`` value in ``common.jobs``, and shares the record envelope.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# The engine's bounds, each defined here once: pydantic enforces them wherever a spec is built
# (``POST /train`` and the CLI alike) and the OpenAPI schema shows them. They keep a config from
# asking for a model that cannot fit in memory and sit well above anything the project trains;
# a server may lower some of them (GAN_MAX_TRAIN_STEPS, ...; app/core/bounds.py).
MAX_STEPS = 10_000_000
MAX_BATCH_SIZE = 4096
MAX_LATENT_DIM = 4096
MAX_WIDTH = 1024
MAX_PACK = 16
MAX_SEED = 2**63 - 1
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 4, 512


class TrainingSpec(BaseModel):
    """What a training job is asked to do. Same spec and seed: same checkpoints.

    ``steps`` counts generator updates; each is preceded by ``d_steps`` discriminator updates
    (the ``k`` of Goodfellow et al.'s Algorithm 1), each on a fresh minibatch of ``batch_size``.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)

    architecture: str = Field(
        default="dcgan", description="'gan' (MLP), 'dcgan', or the conditional 'cgan' / 'cdcgan'"
    )
    dataset: str = Field(default="digits", description="a builtin, downloadable or uploaded dataset's name")
    image_size: int | None = Field(
        default=None,
        ge=MIN_IMAGE_SIZE,
        le=MAX_IMAGE_SIZE,
        description="side in pixels; null: the dataset's own",
    )
    channels: int | None = Field(default=None, description="1 or 3; null: the dataset's own")
    num_images: int | None = Field(default=None, ge=1, description="use at most this many images; null: all")
    latent_dim: int = Field(default=100, ge=1, le=MAX_LATENT_DIM, description="length of the latent vector z")
    g_width: int = Field(
        default=64, ge=1, le=MAX_WIDTH, description="width of G (ngf: channels of its last hidden layer)"
    )
    d_width: int = Field(
        default=64, ge=1, le=MAX_WIDTH, description="width of D (ndf: channels of its first layer)"
    )
    steps: int = Field(default=1000, ge=1, le=MAX_STEPS, description="generator updates")
    batch_size: int = Field(default=64, ge=1, le=MAX_BATCH_SIZE, description="images per minibatch")
    d_steps: int = Field(
        default=1, ge=1, le=100, description="discriminator updates per generator update (k)"
    )
    loss: str = Field(
        default="nonsaturating",
        description="'nonsaturating', 'minimax', 'lsgan', 'hinge', 'wgan-gp' or 'fgan' (with divergence)",
    )
    divergence: str | None = Field(
        default=None,
        description=(
            "the f-divergence, with loss 'fgan' only: 'kl', 'reverse-kl', 'pearson', 'hellinger', "
            "'js', 'gan', 'total-variation', 'neyman', 'jeffrey' or 'js-weighted'"
        ),
    )
    divergence_weight: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        # Added after schema version 3 without a new version: a stored spec that lacks it (any
        # written before it, none of them js-weighted) reads as null.
        description="pi of divergence 'js-weighted' (that divergence only); null: 0.5",
    )
    lr_g: float = Field(default=2e-4, gt=0, le=1, description="Adam learning rate of G")
    lr_d: float = Field(default=2e-4, gt=0, le=1, description="Adam learning rate of D")
    beta1: float = Field(default=0.5, ge=0, lt=1, description="Adam beta1 of both players")
    beta2: float = Field(default=0.999, ge=0, lt=1, description="Adam beta2 of both players")
    gp_weight: float = Field(default=10.0, ge=0, description="gradient penalty weight of loss 'wgan-gp'")
    r1_weight: float = Field(
        default=0.0,
        ge=0,
        description=(
            # Mescheder et al. 2018: a zero-centred penalty on real images that keeps D from
            # growing sharp around the training data, as it does on small datasets.
            "R1 penalty: D's loss gains r1_weight / 2 * E||grad_x D(x)||^2 on real images (0: off)"
        ),
    )
    lr_decay: str = Field(
        default="none",
        # "linear" damps the late oscillation of the two players; "none" is the DCGAN paper's.
        description="'linear': both learning rates fall linearly to zero at `steps`; 'none': constant",
    )
    d_norm: str | None = Field(
        default=None,
        description=(
            "normalisation in D; null: the architecture's own (BatchNorm for DCGAN, none for the "
            "MLP, per-sample 'layer' under WGAN-GP); 'none' and 'layer' judge each image alone"
        ),
    )
    spectral_norm: bool = Field(
        default=False,
        description=(
            # Miyato et al. 2018.
            "spectral normalisation of every weight of D: each layer 1-Lipschitz, so D cannot "
            "grow sharp enough to leave G without a gradient"
        ),
    )
    d_conditioning: str | None = Field(
        default=None,
        description=(
            # Miyato and Koyama 2018 for the projection.
            "how D reads the label of a conditional DCGAN (or the cluster of a self-conditioned "
            "one): 'map', an extra input channel; 'projection', a class embedding's inner "
            "product with D's last features; null: 'map'"
        ),
    )
    pack: int = Field(default=1, ge=1, le=MAX_PACK, description="PacGAN: D judges this many samples at once")
    info_codes: int = Field(
        default=0,
        ge=0,
        le=MAX_LATENT_DIM,
        description=(
            # Chen et al. 2016 (InfoGAN), weight 1 in the paper.
            "InfoGAN categorical code with this many values, drawn from z as argmax(z[:k]); "
            "both players minimise info_weight * cross_entropy(Q(G(z)), code) (0: none)"
        ),
    )
    info_weight: float = Field(
        default=1.0, ge=0, le=100, description="weight of the InfoGAN code loss (info_codes)"
    )
    clusters: int = Field(
        default=0,
        ge=0,
        le=MAX_LATENT_DIM,
        description=(
            # Liu et al. 2020 (self-conditioned GAN): no labels are used, and the generated mix
            # of clusters is the data's.
            "self-conditioning on this many k-means clusters of the images, drawn from z like "
            "an InfoGAN code (0: off)"
        ),
    )
    augment: str = Field(
        default="", description="DiffAugment policy for what D sees, e.g. 'translation,cutout'"
    )
    ema: bool = Field(default=True, description="serve an exponential moving average of G")
    ema_decay: float = Field(
        default=0.999, ge=0, lt=1, description="decay of the EMA of G's weights per step"
    )
    seed: int = Field(
        default=0,
        ge=0,
        le=MAX_SEED,
        description="seeds the weights, data order and noise: same spec, same checkpoints",
    )
    precision: str = Field(
        default="fp32",
        description=(
            "'fp32'; 'bf16': autocast to bfloat16 (CUDA with bfloat16, or a CPU with AVX512-BF16 "
            "or AMX); 'fp16': autocast to float16 with a gradient scaler (CUDA). The worker "
            "refuses one its device cannot run fast, before the first step"
        ),
    )
    channels_last: bool = Field(default=False, description="channels-last memory layout for convolutions")
    checkpoint_every: int | None = Field(
        default=None, ge=1, le=MAX_STEPS, description="null: every tenth of the run, at most 1,000 steps"
    )
    sample_every: int | None = Field(
        default=None, ge=1, le=MAX_STEPS, description="null: every twentieth of the run, at most 500 steps"
    )
    sample_count: int = Field(default=64, ge=1, le=256, description="images in each fixed-noise grid")
    eval_samples: int = Field(
        default=1000, ge=0, le=100_000, description="samples for the final quality figures (0: none)"
    )


# Fields a spec leaves to the host, present in the configs of records before schema version 3.
HOST_FIELDS = frozenset({"name", "device", "dataset_path", "extra"})
# Fields that were renamed, with what their old name now means; `upgrade_stored_spec` applies it.
REPLACED_FIELDS = {"amp": "precision ('fp16' for what \"amp\": true did)"}


def replaced_field_problem(name: str) -> str | None:
    """What to tell a request that still sends the replaced field ``name`` (None: not replaced)."""
    replacement = REPLACED_FIELDS.get(name)
    return None if replacement is None else f"replaced by {replacement}"


def upgrade_stored_spec(config: Mapping[str, Any]) -> dict[str, Any]:
    """A spec stored by an earlier version (a job record, a checkpoint's training config) with
    its fields under their current names: ``amp`` (mixed precision on CUDA, before there was
    ``precision``) becomes ``precision = 'fp16'`` when it was on, and goes when it was off."""
    upgraded = {key: value for key, value in config.items() if key != "amp"}
    if config.get("amp") is True and "precision" not in config:
        upgraded["precision"] = "fp16"
    return upgraded
