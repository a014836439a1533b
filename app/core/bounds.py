"""The bounds a server's settings put on requests: each stated once, here, as data.

The engine's own bounds are on the fields where they are defined (``common/specs.py``, the
route's ``Query(ge=...)``) and pydantic enforces them; the ones below come from settings
(``GAN_MAX_COUNT``, ``GAN_MAX_TRAIN_STEPS``, ...), so no static schema can hold them. Each is
both checked by its route (:meth:`ServerLimit.check`) and written into the app's OpenAPI
document (app/api/openapi.py), with the value of the app's settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from common.settings import Settings


@dataclass(frozen=True)
class ServerLimit:
    """A maximum that setting ``setting`` gives ``field`` (a value, or a list's length)."""

    location: Literal["query", "body"]
    field: str
    setting: str
    # Where the schema declares it: the operations of a query parameter ("GET /sample"), or
    # the body models of a body field ("TrainRequest").
    owners: tuple[str, ...]
    keyword: Literal["maximum", "maxItems"] = "maximum"

    def value(self, settings: Settings) -> int:
        """This server's maximum."""
        limit = getattr(settings, self.setting)
        assert isinstance(limit, int)
        return limit

    def problem(self, settings: Settings, value: Any) -> str | None:
        """The message for ``value`` (a number or a list) over the limit, or None."""
        limit = self.value(settings)
        if self.keyword == "maxItems":
            size = len(value) if isinstance(value, list) else 0
            return (
                f"{self.field} takes at most {limit} items on this server, got {size}"
                if size > limit
                else None
            )
        if isinstance(value, int) and not isinstance(value, bool) and value > limit:
            return f"{self.field} must be at most {limit} on this server, got {value}"
        return None

    def env_name(self) -> str:
        """The environment variable that sets it."""
        return f"GAN_{self.setting.upper()}"


TRAIN_BODIES = ("TrainRequest",)
SAMPLE_COUNT = ServerLimit("query", "count", "max_count", ("GET /sample",))
SAMPLE_LATENTS = ServerLimit("body", "latents", "max_count", ("LatentsRequest",), "maxItems")
INTERPOLATE_STEPS = ServerLimit("query", "steps", "max_frames", ("GET /interpolate",))
TRAIN_STEPS = ServerLimit("body", "steps", "max_train_steps", TRAIN_BODIES)
TRAIN_BATCH_SIZE = ServerLimit("body", "batch_size", "max_batch_size", TRAIN_BODIES)
TRAIN_IMAGE_SIZE = ServerLimit("body", "image_size", "max_image_size", TRAIN_BODIES)
TRAIN_LIMITS = (TRAIN_STEPS, TRAIN_BATCH_SIZE, TRAIN_IMAGE_SIZE)
SERVER_LIMITS = (SAMPLE_COUNT, SAMPLE_LATENTS, INTERPOLATE_STEPS, *TRAIN_LIMITS)
