"""The dataset routes, as calls: upload an archive of images, list the uploaded datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from client.calls import Call, json_object, listing


def upload_dataset(name: str, path: str | Path) -> Call[dict[str, Any]]:
    """Upload a .zip/.tar/.tar.gz of images (class folders become labels).

    Returns:
        What the upload found: ``images``, ``class_names``, ``skipped`` and more.
    """
    return Call("POST", "/datasets", json_object, form={"name": name}, upload=Path(path))


def datasets() -> Call[list[dict[str, Any]]]:
    """Uploaded datasets."""
    return listing("GET", "/datasets", "datasets")
