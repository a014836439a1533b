"""The datasets a job can train on: the engine's builtin ones and uploaded folders.

An uploaded dataset is ``<datasets_dir>/<name>/`` (images, one subfolder per class when
labelled) plus a hidden ``.ganserve-dataset.json`` with what the upload reported; the engine's
folder loader ignores hidden files. Installation unpacks into a hidden temporary folder inside
``datasets_dir`` and renames it into place, so a dataset is either complete or absent.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.services.datasets.archives import extract_archive

# The one rule for telling a dead process from a live one by what names it; the lease's takeovers
# rest on it, and stale upload folders are judged the same way.
from common.holders import holder_is_dead, process_namespace
from common.names import is_valid_name
from models.data import (
    BUILTIN_DATASETS,
    DOWNLOADABLE_DATASETS,
    FOLDER_DEFAULT_FORMAT,
    native_format,
)
from models.data.facts import NATIVE_CLASS_NAMES, DataFacts, native_facts

METADATA_FILE = ".ganserve-dataset.json"
TEMPORARY_PREFIX = ".upload-"
# The engine's name for "a directory of images"; clients use uploaded names instead.
RESERVED_NAMES = frozenset({*BUILTIN_DATASETS, *DOWNLOADABLE_DATASETS, "folder"})
# Format the folder loader defaults to when a job leaves image_size/channels unset.
UPLOADED_NATIVE_FORMAT = FOLDER_DEFAULT_FORMAT
# Temporary folders older than this were left by a crash, not by an upload in progress.
STALE_TEMPORARY_SECONDS = 6 * 3600


class DatasetExists(FileExistsError):
    """The name is taken (by a builtin or an uploaded dataset)."""


@dataclass(frozen=True)
class DatasetFacts:
    """What validation needs to know about a dataset a job names."""

    name: str
    kind: str  # builtin | downloadable | uploaded
    image_size: int  # what the loader makes of the images when a job names no size
    channels: int
    num_classes: int
    # What a recipe chooses from (models.training.recipes): the images' own format and count.
    data: DataFacts


class DatasetCatalog:
    """Lists, installs and deletes datasets under ``datasets_dir``."""

    def __init__(self, datasets_dir: Path) -> None:
        self.datasets_dir = datasets_dir
        self._install_lock = threading.Lock()

    def builtin(self) -> list[dict[str, Any]]:
        """The engine's datasets, with their native format and classes."""
        out = []
        for kind, names in (("builtin", BUILTIN_DATASETS), ("downloadable", DOWNLOADABLE_DATASETS)):
            for name in names:
                size, channels = native_format(name)
                classes = list(NATIVE_CLASS_NAMES.get(name, ()))
                out.append(
                    {
                        "name": name,
                        "kind": kind,
                        "image_size": size,
                        "channels": channels,
                        "num_classes": len(classes),
                        "class_names": classes,
                    }
                )
        return out

    def uploaded(self) -> list[dict[str, Any]]:
        """Uploaded datasets, sorted by name."""
        if not self.datasets_dir.is_dir():
            return []
        return [
            self._describe(entry)
            for entry in sorted(self.datasets_dir.iterdir())
            if entry.is_dir() and is_valid_name(entry.name) and entry.name not in RESERVED_NAMES
        ]

    def folder(self, name: str) -> Path | None:
        """The folder of uploaded dataset ``name``, if it exists."""
        if not is_valid_name(name) or name in RESERVED_NAMES:
            return None
        path = self.datasets_dir / name
        return path if path.is_dir() else None

    def facts(self, name: str) -> DatasetFacts | None:
        """Format and class count of a dataset a job may name, or None if there is none."""
        if name in BUILTIN_DATASETS or name in DOWNLOADABLE_DATASETS:
            size, channels = native_format(name)
            kind = "builtin" if name in BUILTIN_DATASETS else "downloadable"
            data = native_facts(name)
            return DatasetFacts(name, kind, size, channels, data.num_classes, data)
        folder = self.folder(name)
        if folder is None:
            return None
        described = self._describe(folder)
        classes = len(described["class_names"])
        size, channels = UPLOADED_NATIVE_FORMAT
        width, height = described.get("image_width"), described.get("image_height")
        side = min(width, height) if isinstance(width, int) and isinstance(height, int) else None
        data = DataFacts(side, described.get("channels"), described.get("images"), classes)
        return DatasetFacts(name, "uploaded", size, channels, classes, data)

    def class_names(self, name: str) -> list[str]:
        """Class names of a dataset, [] for an unlabelled or unknown one."""
        if name in NATIVE_CLASS_NAMES:
            return list(NATIVE_CLASS_NAMES[name])
        folder = self.folder(name)
        return list(self._describe(folder)["class_names"]) if folder is not None else []

    def _describe(self, folder: Path) -> dict[str, Any]:
        try:
            metadata = json.loads((folder / METADATA_FILE).read_text())
        except (OSError, ValueError):
            # Put there by hand: classes follow the folder loader's rule (top-level subfolders).
            metadata = {
                "class_names": sorted(
                    p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
                )
            }
        classes = list(metadata.get("class_names") or [])
        width, height = metadata.get("image_width"), metadata.get("image_height")
        uniform = metadata.get("uniform_size")
        return {
            "name": folder.name,
            "kind": "uploaded",
            # The native format, as for a builtin dataset, when the images have one.
            "image_size": width if uniform and width == height else None,
            "channels": metadata.get("channels"),
            "images": metadata.get("images"),
            "skipped": metadata.get("skipped"),
            "num_classes": len(classes),
            "class_names": classes,
            "created_at": metadata.get("created_at"),
            # Records written before uploads were checked image by image lack these: None.
            "class_counts": metadata.get("class_counts"),
            "image_width": width,
            "image_height": height,
            "uniform_size": uniform,
            "skipped_reasons": metadata.get("skipped_reasons"),
            "skipped_examples": metadata.get("skipped_examples"),
        }

    # -- changes -------------------------------------------------------------------------------
    def check_new_name(self, name: str) -> None:
        """Raise ValueError for an invalid name, DatasetExists for a taken one."""
        if not is_valid_name(name):
            raise ValueError(
                "dataset name must be 1-64 characters of letters, digits, '.', '_' or '-' "
                "and start with a letter or digit"
            )
        if name in RESERVED_NAMES or (self.datasets_dir / name).exists():
            raise DatasetExists(f"dataset {name!r} already exists")

    def temporary_folder(self) -> Path:
        """A fresh hidden folder inside ``datasets_dir`` (same filesystem: renames are atomic).

        Its name carries the owner (``.upload-<hex>-<pid>-<namespace>-<host>``), so that a
        restarted API can tell a dead process's leftovers from another live process's upload in
        progress.
        """
        self.datasets_dir.mkdir(parents=True, exist_ok=True)
        path = self.datasets_dir / _temporary_name()
        path.mkdir()
        return path

    def remove_stale_temporaries(self, max_age: float = STALE_TEMPORARY_SECONDS) -> None:
        """Delete upload and deletion folders a crashed process left behind (called at startup):
        at once when their owner was a process on this machine that no longer runs, else
        (another host or PID namespace sharing the folder, or a name without the namespace,
        from before it was recorded) once they are ``max_age`` seconds old."""
        if not self.datasets_dir.is_dir():
            return
        cutoff = time.time() - max_age
        for entry in self.datasets_dir.glob(f"{TEMPORARY_PREFIX}*"):
            try:
                if _owner_is_gone(entry.name) or entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry, ignore_errors=True)
            except OSError:
                continue

    def install(
        self,
        archive: Path,
        name: str,
        work_dir: Path,
        *,
        max_unpacked_bytes: int,
        max_members: int,
    ) -> dict[str, Any]:
        """Unpack ``archive`` into ``work_dir`` and rename the result to ``<datasets_dir>/name``.

        Raises:
            ArchiveError: the archive is unsafe, cut short or holds no readable image.
            DatasetExists: ``name`` was taken meanwhile.
        """
        self.check_new_name(name)
        unpacked = work_dir / "data"
        report = extract_archive(
            archive, unpacked, max_unpacked_bytes=max_unpacked_bytes, max_members=max_members
        )
        metadata = {
            "images": report.images,
            "skipped": report.skipped,
            "class_names": list(report.classes),
            "class_counts": report.class_counts,
            "image_width": report.image_width,
            "image_height": report.image_height,
            "uniform_size": report.uniform_size,
            "channels": report.channels,
            "skipped_reasons": report.skipped_reasons,
            "skipped_examples": report.skipped_examples,
            "created_at": time.time(),
        }
        (unpacked / METADATA_FILE).write_text(json.dumps(metadata))
        target = self.datasets_dir / name
        # The lock closes the gap between the existence check and the rename within this
        # process; os.rename alone would silently replace an empty folder of the same name.
        with self._install_lock:
            if target.exists():
                raise DatasetExists(f"dataset {name!r} already exists")
            os.rename(unpacked, target)
        return self._describe(target)

    def delete(self, name: str) -> None:
        """Remove uploaded dataset ``name`` (rename away first, so it vanishes atomically)."""
        folder = self.folder(name)
        if folder is None:
            raise FileNotFoundError(name)
        trash = self.datasets_dir / _temporary_name()
        os.rename(folder, trash)
        shutil.rmtree(trash, ignore_errors=True)


def _temporary_name() -> str:
    # The lease's holder fields (host:pid:namespace:random, common.holders.holder_token) with the
    # hostname last, since it may hold "-", and "-" between them: ":" is no portable file name.
    return f"{TEMPORARY_PREFIX}{uuid.uuid4().hex}-{os.getpid()}-{process_namespace()}-{socket.gethostname()}"


def _owner_is_gone(name: str) -> bool:
    """Whether a temporary folder's name says it belongs to a process of this machine that has
    exited, by the lease's rule (``common.holders.holder_is_dead``: same host, boot and PID
    namespace, and no such process or only its zombie). Unknown owners (other hosts or
    namespaces, unparsable or older names) are never judged gone."""
    parts = name[len(TEMPORARY_PREFIX) :].split("-", 3)
    if len(parts) != 4:
        return False
    random_part, pid, namespace, host = parts
    return holder_is_dead(f"{host}:{pid}:{namespace}:{random_part}")
