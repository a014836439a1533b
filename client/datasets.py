"""The client's dataset routes: upload an archive of images, list the uploaded datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from client.transport import Transport, listed_items


class DatasetRoutes(Transport):
    """``/datasets``: the methods of :class:`client.GanServeClient` for uploaded datasets."""

    def upload_dataset(self, name: str, path: str | Path) -> dict[str, Any]:
        """Upload a .zip/.tar/.tar.gz of images (class folders become labels)."""
        path = Path(path)
        with path.open("rb") as file:
            files = {"file": (path.name, file, "application/octet-stream")}
            return self._object("POST", "/datasets", data={"name": name}, files=files)

    def datasets(self) -> list[dict[str, Any]]:
        """Uploaded datasets."""
        return listed_items(self._json("GET", "/datasets"), "datasets")
