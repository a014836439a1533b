"""The in-memory image dataset every loader returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch


class DatasetError(ValueError):
    """A dataset cannot be loaded as asked; the message says why and what to do."""


@dataclass
class ImageDataset:
    """Images kept as uint8 (N, C, H, W) so 60k MNIST digits cost 47 MB, not 188 MB.

    Use `batch` to get float32 images in [-1, 1], the range the generators produce.
    """

    images: torch.Tensor
    labels: torch.Tensor | None
    class_names: tuple[str, ...]
    name: str
    skipped_files: int = 0

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise DatasetError(
                f"images must be a uint8 (N, C, H, W) tensor, got {self.images.dtype} "
                f"with shape {tuple(self.images.shape)}"
            )
        if self.labels is not None:
            if self.labels.dtype != torch.int64 or self.labels.shape != (len(self.images),):
                raise DatasetError(
                    f"labels must be int64 of shape ({len(self.images)},), got "
                    f"{self.labels.dtype} with shape {tuple(self.labels.shape)}"
                )
            if len(self.labels) and (
                int(self.labels.min()) < 0 or int(self.labels.max()) >= len(self.class_names)
            ):
                raise DatasetError(f"labels must lie in 0..{len(self.class_names) - 1} (one per class name)")

    @property
    def num_classes(self) -> int:
        """Number of classes, 0 when the dataset is unlabelled."""
        return 0 if self.labels is None else len(self.class_names)

    @property
    def image_size(self) -> int:
        """Side of the square images in pixels."""
        return int(self.images.shape[-1])

    @property
    def channels(self) -> int:
        """Channels per image (the C of ``(N, C, H, W)``)."""
        return int(self.images.shape[1])

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Images at `indices` as float32 in [-1, 1] (x / 127.5 - 1), and their labels.

        Conversion happens per batch so the whole dataset never exists in float32.
        """
        images = self.images[indices].to(torch.float32) / 127.5 - 1.0
        labels = None if self.labels is None else self.labels[indices]
        return images, labels
