"""The loaded generators: a bounded LRU cache of models ready to sample, one loader per file.

The registry (``registry.py``) decides which checkpoint file a request needs; this keeps what
was loaded from each file version and loads a file at most once at a time. A model is made in
both forms a request can ask for (``name`` and ``name@step``) when it loads, so a request takes
one as it is. A lookup that may not touch the disk (``cached_only``) answers ``NEEDS_DISK`` as
a value where memory is not enough, never as an exception.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import replace
from pathlib import Path
from typing import Final, Literal

from cachetools import LRUCache
from torch import nn

from app.services.models.entries import CheckpointEntry, FileKey, LoadedModel, ModelUnavailable
from app.services.models.files import CheckpointFiles
from common.redact import without_root
from models.checkpoint import CheckpointError
from models.inference import prepare_for_serving


class _Miss(enum.Enum):
    NEEDS_DISK = enum.auto()
    ABSENT = enum.auto()  # every checkpoint file listed was gone by the time it was looked at


NEEDS_DISK: Final = _Miss.NEEDS_DISK
NeedsDisk = Literal[_Miss.NEEDS_DISK]
ABSENT: Final = _Miss.ABSENT
Absent = Literal[_Miss.ABSENT]


def _as_asked(loaded: tuple[LoadedModel, LoadedModel], pinned: bool) -> LoadedModel:
    by_name, by_step = loaded
    return by_step if pinned else by_name


def _parameter_bytes(module: nn.Module) -> int:
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


class LoadedGenerators:
    """File version -> the model loaded from it, at most ``cache_size`` of them."""

    def __init__(self, files: CheckpointFiles, *, cache_size: int, device: str) -> None:
        self.files = files  # told when a file fails to load, or loads (its hash was checked)
        self.device = device
        self._lock = threading.Lock()
        # File version -> (the model as ``name`` serves it, as ``name@step`` does).
        self._loaded: LRUCache[FileKey, tuple[LoadedModel, LoadedModel]] = LRUCache(maxsize=cache_size)
        self._load_locks: dict[FileKey, threading.Lock] = {}  # one loader per file, while it loads

    def in_memory(self, key: FileKey, *, pinned: bool) -> LoadedModel | None:
        """The model loaded from this file version, if it is (then it serves: it loaded)."""
        with self._lock:
            loaded = self._loaded.get(key)
        return None if loaded is None else _as_asked(loaded, pinned)

    def load(
        self, name: str, root: Path, checkpoint: CheckpointEntry, *, pinned: bool, cached_only: bool
    ) -> LoadedModel | NeedsDisk:
        """The model of ``checkpoint``, loaded now if it is not in memory (unless ``cached_only``).

        Raises:
            ModelUnavailable: the file cannot be loaded (the message names it below ``root``).
        """
        if checkpoint.error is not None:
            raise ModelUnavailable(f"model {name!r}: {checkpoint.error}")
        key = checkpoint.file_key
        with self._lock:
            loaded = self._loaded.get(key)
            if loaded is None and cached_only:
                return NEEDS_DISK
            if loaded is None:
                key_lock = self._load_locks.setdefault(key, threading.Lock())
        if loaded is None:
            # One loader per file: concurrent first requests wait instead of loading twice.
            with key_lock:
                with self._lock:
                    loaded = self._loaded.get(key)
                if loaded is None:
                    loaded = self._load_file(name, root, checkpoint)
        return _as_asked(loaded, pinned)

    def _load_file(
        self, name: str, root: Path, checkpoint: CheckpointEntry
    ) -> tuple[LoadedModel, LoadedModel]:
        key = checkpoint.file_key
        try:
            # Inside the one-loader-per-file lock: the pass-size probe runs once per file, and
            # the first request does not pay for it (models.inference).
            generator, info = prepare_for_serving(checkpoint.path, device=self.device)
        except CheckpointError as error:
            message = without_root(str(error), root)
            self.files.update(key, load_error=message)
            with self._lock:
                self._load_locks.pop(key, None)
            raise ModelUnavailable(f"model {name!r}: {message}") from error
        by_name = LoadedModel(name, checkpoint.step, False, info, generator, _parameter_bytes(generator))
        loaded = (by_name, replace(by_name, pinned=True))
        self.files.update(key, verified=True)  # prepare_for_serving checked the content hash
        with self._lock:
            self._loaded[key] = loaded
            self._load_locks.pop(key, None)
        return loaded

    def models(self) -> list[LoadedModel]:
        """The generators held in memory, as ``name`` serves them."""
        with self._lock:
            return [by_name for by_name, _ in self._loaded.values()]
