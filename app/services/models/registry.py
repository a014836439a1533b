"""Model registry: models are folders of checkpoints, found by scanning on every lookup.

``<models_dir>/<name>/checkpoints/step-*.safetensors`` (models trained here) and the same under
``pretrained_dir`` (shipped, read-only). Scanning costs directory listings plus header reads,
and what is known of each file is cached by (path, mtime, size), so a model written by a job
shows up without a restart and ``model=name`` picks up a newer checkpoint as soon as its file
is renamed into place.

A broken checkpoint (corrupt, tampered with, or not safetensors at all) is recorded as an
``error`` on its model and never raised out of a listing; serving ``name`` falls back to the
newest checkpoint that loads, while ``name@step`` on a broken one is refused.

Two caches, both bounded LRU maps: what is known of each checkpoint file (its header or why it
is unreadable, a load error, whether its content hash was verified), and the loaded generators.
A lookup that may not touch the disk (``cached_only``, for the event loop) answers
``NEEDS_DISK`` where the caches are not enough, as a value, never as an exception.
"""

from __future__ import annotations

import enum
import os
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Literal, overload

from cachetools import LRUCache
from torch import nn

from app.services.models.entries import (
    CheckpointEntry,
    FileKey,
    LoadedModel,
    ModelEntry,
    ModelUnavailable,
    UnknownModel,
    parse_model_ref,
)
from app.services.models.files import CheckpointFiles
from common.names import is_valid_name
from common.redact import without_root
from models.checkpoint import CheckpointError, CheckpointInfo, load_checkpoint, read_checkpoint_info
from models.inference import prepare_for_serving
from models.training import run_files

# Far above any real number of checkpoints and model names; keeps names asked for once (or
# files since deleted) from growing the caches for the life of the process.
_FILES_MAX = 65_536


class _Miss(enum.Enum):
    NEEDS_DISK = enum.auto()


NEEDS_DISK = _Miss.NEEDS_DISK
NeedsDisk = Literal[_Miss.NEEDS_DISK]


def _parameter_bytes(module: nn.Module) -> int:
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


class ModelRegistry:
    """Finds models on disk and keeps a bounded LRU cache of loaded generators."""

    def __init__(
        self, models_dir: Path, pretrained_dir: Path | None, *, cache_size: int, device: str
    ) -> None:
        # Trained models come first: a name present in both places is the local one.
        self.roots: list[tuple[Path, str]] = [(models_dir, "trained")]
        if pretrained_dir is not None:
            self.roots.append((pretrained_dir, "pretrained"))
        self.device = device
        self._lock = threading.Lock()
        self._files = CheckpointFiles(maxsize=_FILES_MAX)
        self._loaded: LRUCache[FileKey, LoadedModel] = LRUCache(maxsize=cache_size)
        self._load_locks: dict[FileKey, threading.Lock] = {}  # one loader per file, while it loads
        # (root, name) -> model folder, (model folder, step) -> checkpoint file: in GET /sample's
        # lookup, joining paths cost more than the stats.
        self._paths: LRUCache[tuple[Path, str | int], Path] = LRUCache(maxsize=_FILES_MAX)

    # -- discovery -----------------------------------------------------------------------------
    def list_models(self) -> list[ModelEntry]:
        """Every model with at least one checkpoint file, sorted by name."""
        found: dict[str, ModelEntry] = {}
        for root, source in self.roots:
            try:
                names = sorted(os.listdir(root))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for name in names:
                if name in found or not is_valid_name(name):
                    continue
                # Anything but a folder holding checkpoints reads as no model.
                entry = self._read_model(name, root / name, source, cached_only=False)
                if isinstance(entry, ModelEntry):
                    found[name] = self._verify_newest(entry)
        # What is known of deleted checkpoints would otherwise fill the cache.
        self._files.forget_all_but({c.path for m in found.values() for c in m.checkpoints})
        return [found[name] for name in sorted(found)]

    def _verify_newest(self, model: ModelEntry) -> ModelEntry:
        """Check the content hash of the checkpoint ``name`` serves, once per file version.

        A header can be intact while the weights were altered or cut; without this, such a
        model would look healthy in listings until the first request tried to load it.
        Only the newest file is read (listings stay cheap for models with many checkpoints);
        older ones are verified when a pinned request loads them.
        """
        newest = model.latest
        if newest.error is not None or self._files.state(newest.file_key).verified:
            return model
        try:
            load_checkpoint(newest.path, verify=True)
        except CheckpointError as error:
            message = without_root(str(error), model.directory.parent)
            self._files.update(newest.file_key, load_error=message)
            broken = replace(newest, info=None, error=message)
            return replace(model, checkpoints=(*model.checkpoints[:-1], broken))
        self._files.update(newest.file_key, verified=True)
        return model

    def find(self, name: str) -> ModelEntry | None:
        """The model called ``name``, or None (also for names that could never be valid)."""
        found = self._find(name, cached_only=False)
        return found if isinstance(found, ModelEntry) else None

    def _find(self, name: str, *, cached_only: bool) -> ModelEntry | NeedsDisk | None:
        if not is_valid_name(name):
            return None
        for root, source in self.roots:
            # No is_dir() first: a missing folder lists no checkpoints and reads as no model
            # all the same, and that stat was a large part of GET /sample's model lookup.
            entry = self._read_model(name, self._model_dir(root, name), source, cached_only=cached_only)
            if entry is not None:
                return entry
        return None

    def name_taken(self, name: str) -> bool:
        """Whether a model folder called ``name`` exists, even one without checkpoints yet."""
        return any((root / name).exists() for root, _ in self.roots)

    def _read_model(
        self, name: str, directory: Path, source: str, *, cached_only: bool
    ) -> ModelEntry | NeedsDisk | None:
        checkpoints = []
        for step in run_files.checkpoint_steps(directory):
            path = self._checkpoint_path(directory, step)
            try:
                stat = os.stat(path)
            except OSError:
                continue  # replaced or removed between the listing and now
            key: FileKey = (path, stat.st_mtime_ns, stat.st_size)
            known = self._header(key, directory.parent, cached_only=cached_only)
            if known is NEEDS_DISK:
                return NEEDS_DISK
            info, error = known
            checkpoints.append(CheckpointEntry(step, path, key, info, error))
        if not checkpoints:
            return None  # a run that has not written its first checkpoint is not a model yet
        return ModelEntry(name, source, directory, tuple(checkpoints))

    def _model_dir(self, root: Path, name: str) -> Path:
        return self._memo_path((root, name), lambda: root / name)

    def _checkpoint_path(self, directory: Path, step: int) -> Path:
        return self._memo_path((directory, step), lambda: run_files.checkpoint_path(directory, step))

    def _memo_path(self, key: tuple[Path, str | int], build: Callable[[], Path]) -> Path:
        with self._lock:
            path = self._paths.get(key)
            if path is None:
                path = self._paths[key] = build()
        return path

    def _header(
        self, key: FileKey, root: Path, *, cached_only: bool
    ) -> tuple[CheckpointInfo | None, str | None] | NeedsDisk:
        state = self._files.state(key)
        header = state.header
        if header is None:
            if cached_only:
                return NEEDS_DISK
            try:
                header = read_checkpoint_info(key[0])
            except CheckpointError as error:
                header = without_root(str(error), root)
            self._files.update(key, header=header)
        if state.load_error is not None:
            return None, state.load_error
        if isinstance(header, str):
            return None, header
        return header, None

    # -- loading -------------------------------------------------------------------------------
    @overload
    def acquire(self, ref: str) -> LoadedModel: ...

    @overload
    def acquire(self, ref: str, *, cached_only: bool) -> LoadedModel | None: ...

    def acquire(self, ref: str, *, cached_only: bool = False) -> LoadedModel | None:
        """Resolve ``name`` (newest loadable checkpoint) or ``name@step`` and load it.

        Args:
            ref: ``name`` or ``name@step``.
            cached_only: answer only from memory plus a directory scan (listing and stat, no
                file reads) and return None where that is not enough: a checkpoint not loaded
                yet, or a header not read yet. Cheap enough for the event loop.

        Raises:
            InvalidModelRef: ``ref`` is malformed.
            UnknownModel: no such model or checkpoint.
            ModelUnavailable: the checkpoint(s) exist but cannot be loaded.
        """
        name, step = parse_model_ref(ref)
        model = self._find(name, cached_only=cached_only)
        if model is NEEDS_DISK:
            return None
        if model is None:
            raise UnknownModel(f"unknown model {name!r}")
        if step is not None:
            checkpoint = model.checkpoint(step)
            if checkpoint is None:
                raise UnknownModel(f"model {name!r} has no checkpoint at step {step}")
            loaded = self._load(model, checkpoint, pinned=True, cached_only=cached_only)
            return None if loaded is NEEDS_DISK else loaded
        newest_error = model.error
        for checkpoint in reversed(model.checkpoints):
            if checkpoint.error is None:
                try:
                    loaded = self._load(model, checkpoint, pinned=False, cached_only=cached_only)
                except ModelUnavailable:
                    newest_error = newest_error or self._files.state(checkpoint.file_key).load_error
                    continue
                return None if loaded is NEEDS_DISK else loaded
        raise ModelUnavailable(f"model {name!r} has no loadable checkpoint: {newest_error}")

    def _load(
        self, model: ModelEntry, checkpoint: CheckpointEntry, *, pinned: bool, cached_only: bool
    ) -> LoadedModel | NeedsDisk:
        if checkpoint.error is not None:
            raise ModelUnavailable(f"model {model.name!r}: {checkpoint.error}")
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
                    loaded = self._load_file(model, checkpoint)
        return replace(loaded, pinned=pinned)

    def _load_file(self, model: ModelEntry, checkpoint: CheckpointEntry) -> LoadedModel:
        key = checkpoint.file_key
        try:
            # Inside the one-loader-per-file lock: the pass-size probe runs once per file, and
            # the first request does not pay for it (models.inference).
            generator, info = prepare_for_serving(checkpoint.path, device=self.device)
        except CheckpointError as error:
            message = without_root(str(error), model.directory.parent)
            self._files.update(key, load_error=message)
            with self._lock:
                self._load_locks.pop(key, None)
            raise ModelUnavailable(f"model {model.name!r}: {message}") from error
        loaded = LoadedModel(model.name, checkpoint.step, False, info, generator, _parameter_bytes(generator))
        self._files.update(key, verified=True)  # prepare_for_serving checked the content hash
        with self._lock:
            self._loaded[key] = loaded
            self._load_locks.pop(key, None)
        return loaded

    def loaded_models(self) -> list[LoadedModel]:
        """The generators currently held in memory (for metrics)."""
        with self._lock:
            return list(self._loaded.values())
