"""How datasets are described to clients."""

from __future__ import annotations

from pydantic import BaseModel, Field


class DatasetInfo(BaseModel):
    """A dataset a job can name in ``dataset``."""

    name: str
    kind: str = Field(description="builtin, downloadable (fetched by the worker) or uploaded")
    image_size: int | None = Field(default=None, description="native size (builtin only)")
    channels: int | None = None
    num_classes: int = 0
    class_names: list[str] = Field(default_factory=list)
    images: int | None = Field(default=None, description="image count (uploaded only)")
    skipped: int | None = Field(default=None, description="non-image files left out (uploaded)")
    created_at: float | None = None
