"""All settings in one place (``GAN_`` environment variables), read once and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.specs import MAX_BATCH_SIZE, MAX_IMAGE_SIZE, MAX_STEPS

ENV_PREFIX = "GAN_"
# Models shipped with the repository (read-only), served next to the ones trained here.
PACKAGED_MODELS_DIR = Path(__file__).resolve().parent.parent / "pretrained"


class Settings(BaseSettings):
    """Service settings. Every limit on per-request work lives here."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    data_dir: Path = Path("data")
    redis_url: str | None = Field(
        default=None, description="Redis URL; unset means `ganserve up` starts an embedded one"
    )
    default_model: str = "mnist-dcgan"
    pretrained_dir: Path | None = PACKAGED_MODELS_DIR
    api_key: SecretStr | None = None
    cors_origins: list[str] = Field(default_factory=list)
    torch_threads: int = Field(
        default=0,
        ge=0,
        le=256,
        description=(
            "torch threads per training run (worker) or per forward pass (API); 0: the worker "
            "uses one per CPU core, the API one per pass with a pass per core"
        ),
    )
    device: str = "auto"
    model_cache_size: int = Field(default=4, ge=1, le=64)
    queue_name: str = "ganserve"
    # Micro-batching of sampling requests (see app/rendering/batcher.py and docs/benchmarks.md).
    batching: bool = True
    batch_max_size: int = Field(default=32, ge=1, le=1024, description="rows per batch of requests")
    batch_max_wait_ms: float = Field(
        default=2.0, ge=0, le=1000, description="longest wait for company on a free forward lane"
    )
    pin_lanes: bool = Field(
        default=True, description=("pin each forward lane to CPUs of its own when the CPUs allow it (Linux)")
    )

    max_count: int = Field(default=64, ge=1, le=1024)
    max_frames: int = Field(default=64, ge=2, le=1024)
    # A server may lower the engine's bounds (common/specs.py), never raise them.
    max_train_steps: int = Field(default=200_000, ge=1, le=MAX_STEPS)
    max_batch_size: int = Field(default=512, ge=1, le=MAX_BATCH_SIZE)
    max_image_size: int = Field(default=128, ge=8, le=MAX_IMAGE_SIZE)
    max_upload_bytes: int = Field(default=200 * 1024 * 1024, ge=1024)
    max_unpacked_bytes: int = Field(default=1024 * 1024 * 1024, ge=1024)
    max_archive_members: int = Field(default=100_000, ge=1)
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)
    upload_idle_seconds: float = Field(
        default=60.0, gt=0, description="an upload whose body makes no progress this long is closed (408)"
    )
    min_free_disk_mb: int = Field(
        default=100,
        ge=0,
        description="`/readyz` answers 503 while a filesystem of the data folder has less free (0: never)",
    )

    lease_seconds: float = Field(default=30.0, gt=0)
    # Seconds between reaper sweeps: a lost or stranded message is put back within two of them.
    reaper_interval: float = Field(default=3.0, gt=0)
    progress_interval: float = Field(default=1.0, gt=0)
    sse_poll_interval: float = Field(default=0.5, gt=0)
    # Seconds before Redis hands an unacknowledged task to another worker. Long on purpose (30
    # days): a long job must never be redelivered while it runs; the reaper puts back a dead
    # consumer's message as soon as the lease shows nobody holds its job. Tests shorten it.
    visibility_timeout: float = Field(default=30 * 24 * 3600, gt=0)

    @classmethod
    def settings_customise_sources(  # type: ignore[no-untyped-def]
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        """Only the values passed in (see ``load_settings``), never the process environment."""
        # Only explicit values: `load_settings` decides where they come from, so a test's dict
        # is never mixed with the machine's environment.
        return (init_settings,)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("redis_url", "api_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("api_key")
    @classmethod
    def _key_a_header_can_carry(cls, value: SecretStr | None) -> SecretStr | None:
        # HTTP headers arrive decoded as latin-1: a key with other characters (or a space,
        # which clients strip or split on) could never match what a client sends.
        if value is not None and not all("!" <= char <= "~" for char in value.get_secret_value()):
            raise ValueError(
                "GAN_API_KEY must be printable ASCII without spaces (HTTP headers carry no other)"
            )
        return value

    # -- the data directory --------------------------------------------------------------------
    @property
    def models_dir(self) -> Path:
        """Trained models: one folder per model."""
        return self.data_dir / "models"

    @property
    def jobs_dir(self) -> Path:
        """Job records: one JSON file per job."""
        return self.data_dir / "jobs"

    @property
    def datasets_dir(self) -> Path:
        """Uploaded datasets: one folder per dataset."""
        return self.data_dir / "datasets"

    @property
    def cache_dir(self) -> Path:
        """Downloaded datasets and other re-creatable files."""
        return self.data_dir / "cache"

    @property
    def redis_dir(self) -> Path:
        """The embedded Redis's append-only file and log."""
        return self.data_dir / "redis"

    def ensure_dirs(self) -> None:
        """Create the data folders that do not exist yet."""
        for folder in (self.models_dir, self.jobs_dir, self.datasets_dir, self.cache_dir):
            folder.mkdir(parents=True, exist_ok=True)

    def effective_redis_url(self) -> str:
        """The Redis URL; RuntimeError when none is set."""
        if not self.redis_url:
            raise RuntimeError("GAN_REDIS_URL is not set (start the stack with `ganserve up`)")
        return self.redis_url


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings from ``environ`` (default: the process environment) once.

    Tests pass a dict instead of patching the environment.
    """
    source = os.environ if environ is None else environ
    values = {
        key[len(ENV_PREFIX) :].lower(): value for key, value in source.items() if key.startswith(ENV_PREFIX)
    }
    known = set(Settings.model_fields)
    # Strings, converted and checked by each field's type as if they came from the environment.
    fields: dict[str, Any] = {k: v for k, v in values.items() if k in known}
    return Settings(**fields)
