"""Architecture configs: one frozen dataclass per family, validated when built.

A config is the whole description of a network pair: a checkpoint stores
``model_config_to_dict(cfg)`` beside its weights and ``model_config_from_dict`` rebuilds the
same config, so nothing about the shape of a model lives in flags or module globals.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from common.specs import MAX_LATENT_DIM, MAX_PACK, MAX_WIDTH
from models.architectures.checks import as_int_tuple, check_int, check_is_int, check_str

ARCHITECTURES = ("gan", "cgan", "dcgan", "cdcgan")
CONDITIONAL_ARCHITECTURES = ("cgan", "cdcgan")
MLP_ARCHITECTURES = ("gan", "cgan")
DCGAN_ARCHITECTURES = ("dcgan", "cdcgan")
D_NORMS = ("batch", "layer", "none")
# How a DCGAN discriminator reads the label (or cluster) beside an image: "map", one extra input
# channel projected from the label embedding; "projection" (Miyato and Koyama 2018), the inner
# product of a class embedding with D's last features, added to its logit.
D_CONDITIONINGS = ("map", "projection")

MLP_MIN_IMAGE_SIZE = 4
MLP_MAX_IMAGE_SIZE = 128
DCGAN_BASES = (4, 7)
DCGAN_MAX_IMAGE_SIZE = 256

# Upper bounds keep a config that arrives over HTTP from asking for a model that cannot fit
# in memory; they sit well above anything the project trains. Those a training spec also has
# (latent size, width, pack) come from the spec's bounds.
MAX_NUM_CLASSES = 10_000
MAX_EMBED_DIM = 1024
MAX_HIDDEN = 8192
MAX_HIDDEN_LAYERS = 8

# Fields added after checkpoints were first written, with the value that rebuilds the networks
# those older checkpoints were trained with. Every other field must be stored.
# Only the fields a family has are filled in (``info_codes`` exists on the DCGAN config alone).
LATER_FIELDS: dict[str, Any] = {
    "d_pack": 1,
    "info_codes": 0,
    "self_conditioned": False,
    "d_conditioning": "map",
    "d_spectral_norm": False,
}

# Architectures whose generator can draw an InfoGAN categorical code from its latent vector.
INFO_CODE_ARCHITECTURES = ("dcgan",)


def mlp_image_sizes() -> list[int]:
    """Every image size the MLP generator and discriminator can build."""
    return list(range(MLP_MIN_IMAGE_SIZE, MLP_MAX_IMAGE_SIZE + 1))


def dcgan_image_sizes() -> list[int]:
    """Every image size the DCGAN pair can build: ``base * 2**n`` with base 4 or 7, n >= 1."""
    sizes = set()
    for base in DCGAN_BASES:
        size = base * 2
        while size <= DCGAN_MAX_IMAGE_SIZE:
            sizes.add(size)
            size *= 2
    return sorted(sizes)


def dcgan_base_and_depth(image_size: int) -> tuple[int, int]:
    """Split a buildable DCGAN size into ``(base, n)`` with ``image_size == base * 2**n``."""
    for base in DCGAN_BASES:
        n, size = 0, base
        while size < image_size:
            n, size = n + 1, size * 2
        if size == image_size and n >= 1:
            return base, n
    raise ValueError(
        f"image_size {image_size} cannot be built by a DCGAN; buildable sizes: "
        + ", ".join(str(s) for s in dcgan_image_sizes())
    )


def _check_common(cfg: MLPGANConfig | DCGANConfig, allowed: tuple[str, ...]) -> None:
    if not isinstance(cfg.architecture, str) or cfg.architecture not in allowed:
        raise ValueError(
            f"architecture {cfg.architecture!r} does not belong to {type(cfg).__name__}; "
            f"expected one of {', '.join(allowed)}"
        )
    check_is_int("channels", cfg.channels)
    if cfg.channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {cfg.channels}")
    check_int("latent_dim", cfg.latent_dim, 1, MAX_LATENT_DIM)
    check_int("num_classes", cfg.num_classes, 0, MAX_NUM_CLASSES)
    if cfg.architecture in CONDITIONAL_ARCHITECTURES and cfg.num_classes < 2:
        raise ValueError(
            f"{cfg.architecture} is conditional and needs num_classes >= 2, got {cfg.num_classes}"
        )
    if cfg.architecture not in CONDITIONAL_ARCHITECTURES and cfg.num_classes != 0:
        raise ValueError(
            f"{cfg.architecture} is unconditional and needs num_classes == 0, "
            f"got {cfg.num_classes}; use c{cfg.architecture} for a conditional model"
        )
    check_int("embed_dim", cfg.embed_dim, 0, MAX_EMBED_DIM)
    check_int("d_pack", cfg.d_pack, 1, MAX_PACK)
    check_str("d_norm", cfg.d_norm, D_NORMS)
    if not isinstance(cfg.d_spectral_norm, bool):
        raise ValueError(f"d_spectral_norm must be true or false, got {cfg.d_spectral_norm!r}")
    check_is_int("image_size", cfg.image_size)


@dataclass(frozen=True)
class _GANConfig:
    """The fields every family has, and what follows from its labels.

    Each family declares ``architecture``, ``image_size`` and ``channels`` again only to give
    them its own defaults; a redeclared field keeps its place, so every config lists its shared
    fields first and in this order.
    """

    architecture: str
    image_size: int
    channels: int
    latent_dim: int = 100
    num_classes: int = 0
    embed_dim: int = 0  # 0: the label embedding has num_classes entries
    # PacGAN (Lin et al. 2018): D judges d_pack samples at once, concatenated along channels
    # (the DCGAN) or features (the MLP), which makes a generator that drops or over-produces
    # modes easier to tell apart. 1 is the ordinary one-sample discriminator.
    d_pack: int = 1
    # Spectral normalisation of every weight of D (Miyato et al. 2018).
    d_spectral_norm: bool = False

    @property
    def conditional(self) -> bool:
        return self.architecture in CONDITIONAL_ARCHITECTURES

    @property
    def label_dim(self) -> int:
        """Length of the label embedding (0 for an unconditional model)."""
        return (self.embed_dim or self.num_classes) if self.conditional else 0


@dataclass(frozen=True)
class MLPGANConfig(_GANConfig):
    """Fully connected GAN (Goodfellow et al. 2014) and its label-conditioned form (cGAN)."""

    architecture: str = "gan"
    image_size: int = 28
    channels: int = 1
    g_hidden: tuple[int, ...] = (128, 256, 512, 1024)
    d_hidden: tuple[int, ...] = (512, 256)
    d_norm: str = "none"

    def __post_init__(self) -> None:
        # Lists come back from JSON; store tuples so the config stays hashable.
        object.__setattr__(
            self, "g_hidden", as_int_tuple("g_hidden", self.g_hidden, MAX_HIDDEN_LAYERS, MAX_HIDDEN)
        )
        object.__setattr__(
            self, "d_hidden", as_int_tuple("d_hidden", self.d_hidden, MAX_HIDDEN_LAYERS, MAX_HIDDEN)
        )
        _check_common(self, MLP_ARCHITECTURES)
        if not MLP_MIN_IMAGE_SIZE <= self.image_size <= MLP_MAX_IMAGE_SIZE:
            raise ValueError(
                f"image_size {self.image_size} cannot be built by {self.architecture}; "
                f"buildable sizes: {MLP_MIN_IMAGE_SIZE}..{MLP_MAX_IMAGE_SIZE}"
            )


@dataclass(frozen=True)
class DCGANConfig(_GANConfig):
    """Deep convolutional GAN (Radford et al. 2015) and its label-conditioned form (cDCGAN)."""

    architecture: str = "dcgan"
    image_size: int = 64
    channels: int = 3
    g_width: int = 64  # ngf
    d_width: int = 64  # ndf
    d_norm: str = "batch"
    # InfoGAN (Chen et al. 2016) categorical code with this many values (0: none). The code is
    # a function of z, so a seed still fixes the image: c = argmax(z[:k]), uniform over k for
    # Gaussian z, enters G as one_hot(c) in place of z[:k]; D grows a head Q that predicts c.
    info_codes: int = 0
    # Self-conditioned GAN (Liu et al. 2020): D judges each image with its code, the cluster of
    # a training image or the code G drew, through the cDCGAN's label map, instead of a head Q
    # that guesses G's code. Needs info_codes (the number of clusters).
    self_conditioned: bool = False
    # How D reads its label (D_CONDITIONINGS). A label map is one more pixel-aligned input
    # channel, which suits classes told apart by where strokes are (digits); the projection
    # compares the label with what D has seen anywhere in the image, which suits classes that
    # move and turn (shapes at any place and angle).
    d_conditioning: str = "map"

    @property
    def d_label_classes(self) -> int:
        """Values of the label D reads beside the image (0: none)."""
        if self.self_conditioned:
            return self.info_codes
        return self.num_classes if self.conditional else 0

    def __post_init__(self) -> None:
        _check_common(self, DCGAN_ARCHITECTURES)
        if self.image_size not in dcgan_image_sizes():
            raise ValueError(
                f"image_size {self.image_size} cannot be built by {self.architecture}; "
                "buildable sizes: " + ", ".join(str(s) for s in dcgan_image_sizes())
            )
        check_int("g_width", self.g_width, 1, MAX_WIDTH)
        check_int("d_width", self.d_width, 1, MAX_WIDTH)
        check_is_int("info_codes", self.info_codes)
        if self.info_codes:
            if self.architecture not in INFO_CODE_ARCHITECTURES:
                raise ValueError(
                    f"info_codes needs architecture {' or '.join(INFO_CODE_ARCHITECTURES)}, "
                    f"got {self.architecture!r} (a conditional model gets its class as a label)"
                )
            check_int("info_codes", self.info_codes, 2, self.latent_dim)
        if not isinstance(self.self_conditioned, bool):
            raise ValueError(f"self_conditioned must be true or false, got {self.self_conditioned!r}")
        if self.self_conditioned and not self.info_codes:
            raise ValueError("self_conditioned needs info_codes (the number of clusters)")
        check_str("d_conditioning", self.d_conditioning, D_CONDITIONINGS)
        if self.d_conditioning == "projection" and self.d_pack > 1:
            # A packed D judges several images, of several labels, from one feature vector.
            raise ValueError("d_conditioning 'projection' needs d_pack 1 (one label per judged image)")


ModelConfig = MLPGANConfig | DCGANConfig


def _config_class(architecture: Any) -> type[MLPGANConfig] | type[DCGANConfig]:
    if architecture in MLP_ARCHITECTURES:
        return MLPGANConfig
    if architecture in DCGAN_ARCHITECTURES:
        return DCGANConfig
    raise ValueError(f"unknown architecture {architecture!r}; expected one of {', '.join(ARCHITECTURES)}")


def make_model_config(architecture: str, **config_fields: Any) -> ModelConfig:
    """Build and validate the config of ``architecture``; omitted fields take their defaults.

    Raises:
        ValueError: on an unknown architecture, an unknown field, or an invalid value.
    """
    cls = _config_class(architecture)
    known = {f.name for f in fields(cls)} - {"architecture"}
    for name in config_fields:
        if name not in known:
            raise ValueError(
                f"unknown field {name!r} for architecture {architecture!r}; "
                f"expected some of {', '.join(sorted(known))}"
            )
    return cls(architecture=architecture, **config_fields)


def model_config_to_dict(cfg: ModelConfig) -> dict[str, Any]:
    """A JSON-safe dict of every field of ``cfg`` (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}


def model_config_from_dict(data: dict[str, Any]) -> ModelConfig:
    """Rebuild a config from ``model_config_to_dict`` output.

    Every field is required: a stored config that leaned on defaults would silently change
    meaning if a default ever changed, and then its weights would no longer load.

    Raises:
        ValueError: on a missing or unknown key, a wrong type, or an invalid value.
    """
    if not isinstance(data, dict):
        raise ValueError(f"model config must be a dict, got {type(data).__name__}")
    if "architecture" not in data:
        raise ValueError("model config is missing the key 'architecture'")
    cls = _config_class(data["architecture"])
    expected = {f.name for f in fields(cls)}
    data = {**{k: v for k, v in LATER_FIELDS.items() if k in expected}, **data}
    missing = sorted(expected - data.keys())
    unknown = sorted(str(k) for k in data.keys() - expected)
    if missing:
        raise ValueError(f"model config is missing keys: {', '.join(missing)}")
    if unknown:
        raise ValueError(f"model config has unknown keys for {data['architecture']!r}: {', '.join(unknown)}")
    return cls(**data)
