"""How datasets are described to clients."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SkippedFile(BaseModel):
    """A file of an upload that was left out, named as in the archive."""

    name: str
    reason: str


class DatasetInfo(BaseModel):
    """A dataset a job can name in ``dataset``."""

    name: str
    kind: str = Field(description="builtin, downloadable (fetched by the worker) or uploaded")
    image_size: int | None = Field(
        default=None,
        description="native size; for an uploaded dataset the side when every image is that square",
    )
    channels: int | None = Field(
        default=None, description="native channels; uploaded: 1 when every image is grayscale, else 3"
    )
    num_classes: int = 0
    class_names: list[str] = Field(default_factory=list)
    images: int | None = Field(default=None, description="readable images kept (uploaded only)")
    skipped: int | None = Field(default=None, description="files left out (uploaded): see skipped_reasons")
    created_at: float | None = None
    class_counts: dict[str, int] | None = Field(
        default=None, description="images per class (uploaded; empty when unlabelled)"
    )
    image_width: int | None = Field(default=None, description="the most common image width (uploaded)")
    image_height: int | None = Field(default=None, description="the most common image height (uploaded)")
    uniform_size: bool | None = Field(
        default=None, description="whether every image has that width and height (uploaded)"
    )
    skipped_reasons: dict[str, int] | None = Field(
        default=None, description="files left out per reason (uploaded), e.g. 'not an image'"
    )
    skipped_examples: list[SkippedFile] | None = Field(
        default=None, description="a few of the files left out, named as in the archive (uploaded)"
    )
