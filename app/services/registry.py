"""Model registry: models are folders of checkpoints, found by scanning on every lookup.

``<models_dir>/<name>/checkpoints/step-*.safetensors`` (models trained here) and the same under
``pretrained_dir`` (shipped, read-only). Scanning costs directory listings plus header reads,
and headers are cached by (path, mtime, size), so a model written by a job shows up without a
restart and ``model=name`` picks up a newer checkpoint as soon as its file is renamed into place.

A broken checkpoint (corrupt, tampered with, or not safetensors at all) is recorded as an
``error`` on its model and never raised out of a listing; serving ``name`` falls back to the
newest checkpoint that loads, while ``name@step`` on a broken one is refused.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import overload

from torch import nn

from common.names import is_valid_name
from common.names import parse_model_ref as parse_name_ref
from models.checkpoint import (
    CheckpointError,
    CheckpointInfo,
    load_checkpoint,
    read_checkpoint_info,
)
from models.inference import prepare_for_serving
from models.training import run_files

_FileKey = tuple[Path, int, int]  # (path, mtime_ns, size): changes whenever the file is replaced
_PATHS_MAX = 65_536


class InvalidModelRef(ValueError):
    """A ``model`` parameter that is neither ``name`` nor ``name@step``."""


class UnknownModel(LookupError):
    """No model (or no such checkpoint of a model) by that name."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ModelUnavailable(RuntimeError):
    """The model exists but none of the requested checkpoints can be loaded."""


class _NeedsDisk(Exception):
    """Raised inside ``acquire(cached_only=True)`` when the answer needs a file read."""


@dataclass(frozen=True)
class CheckpointEntry:
    """One checkpoint file as the scan saw it."""

    step: int
    path: Path
    file_key: _FileKey
    info: CheckpointInfo | None
    error: str | None


@dataclass(frozen=True)
class ModelEntry:
    """One model folder and its checkpoints, oldest first."""

    name: str
    source: str  # "trained" | "pretrained"
    directory: Path
    checkpoints: tuple[CheckpointEntry, ...]

    @property
    def latest(self) -> CheckpointEntry:
        return self.checkpoints[-1]

    def checkpoint(self, step: int) -> CheckpointEntry | None:
        return next((c for c in self.checkpoints if c.step == step), None)

    @property
    def error(self) -> str | None:
        """Why the newest checkpoint cannot be served, if it cannot."""
        return self.latest.error

    @property
    def created_at(self) -> float:
        return min(c.file_key[1] for c in self.checkpoints) / 1e9


@dataclass(frozen=True)
class LoadedModel:
    """A generator ready for sampling, with what it was loaded from."""

    name: str
    step: int
    pinned: bool
    info: CheckpointInfo
    generator: nn.Module
    parameter_bytes: int

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.step}"


def parse_model_ref(ref: str) -> tuple[str, int | None]:
    """Split ``name`` or ``name@step``; raises :class:`InvalidModelRef` on anything else."""
    parsed = parse_name_ref(ref)
    if parsed is None:
        raise InvalidModelRef(f"invalid model {ref!r}; expected a model name or name@step")
    return parsed


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
        self.cache_size = cache_size
        self.device = device
        self._lock = threading.Lock()
        self._headers: dict[Path, tuple[_FileKey, CheckpointInfo | str]] = {}
        self._load_errors: dict[_FileKey, str] = {}
        self._loaded: OrderedDict[_FileKey, LoadedModel] = OrderedDict()
        self._load_locks: dict[_FileKey, threading.Lock] = {}
        self._verified: set[_FileKey] = set()  # content hash checked and matching
        # (root, name) -> model folder, (model folder, step) -> checkpoint file
        self._paths: dict[tuple[Path, str | int], Path] = {}

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
                entry = self._read_model(name, root / name, source)
                if entry is not None:
                    found[name] = self._verify_newest(entry)
        self._forget_missing({c.path for m in found.values() for c in m.checkpoints})
        return [found[name] for name in sorted(found)]

    def _forget_missing(self, present: set[Path]) -> None:
        # Header entries of deleted checkpoints would otherwise accumulate forever.
        with self._lock:
            for path in [p for p in self._headers if p not in present]:
                del self._headers[path]
            for key in [k for k in self._load_errors if k[0] not in present]:
                del self._load_errors[key]
            self._verified = {key for key in self._verified if key[0] in present}

    def _verify_newest(self, model: ModelEntry) -> ModelEntry:
        """Check the content hash of the checkpoint ``name`` serves, once per file version.

        A header can be intact while the weights were altered or cut; without this, such a
        model would look healthy in listings until the first request tried to load it.
        Only the newest file is read (listings stay cheap for models with many checkpoints);
        older ones are verified when a pinned request loads them.
        """
        newest = model.latest
        with self._lock:
            done = newest.error is not None or newest.file_key in self._verified
        if done:
            return model
        try:
            load_checkpoint(newest.path, verify=True)
        except CheckpointError as error:
            message = _relative_message(str(error), newest.path, model.directory.parent)
            with self._lock:
                self._load_errors[newest.file_key] = message
            broken = replace(newest, info=None, error=message)
            return replace(model, checkpoints=(*model.checkpoints[:-1], broken))
        with self._lock:
            self._verified.add(newest.file_key)
        return model

    def find(self, name: str, *, cached_only: bool = False) -> ModelEntry | None:
        """The model called ``name``, or None (also for names that could never be valid)."""
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
        self, name: str, directory: Path, source: str, *, cached_only: bool = False
    ) -> ModelEntry | None:
        steps = run_files.checkpoint_steps(directory)
        checkpoints = []
        for step in steps:
            path = self._checkpoint_path(directory, step)
            try:
                stat = os.stat(path)
            except OSError:
                continue  # replaced or removed between the listing and now
            key: _FileKey = (path, stat.st_mtime_ns, stat.st_size)
            info, error = self._header(key, directory.parent, cached_only=cached_only)
            checkpoints.append(CheckpointEntry(step, path, key, info, error))
        if not checkpoints:
            return None  # a run that has not written its first checkpoint is not a model yet
        return ModelEntry(name, source, directory, tuple(checkpoints))

    # Paths are built once: in GET /sample's lookup, joining them cost more than the stats.
    def _model_dir(self, root: Path, name: str) -> Path:
        return self._memo_path((root, name), lambda: root / name)

    def _checkpoint_path(self, directory: Path, step: int) -> Path:
        return self._memo_path((directory, step), lambda: run_files.checkpoint_path(directory, step))

    def _memo_path(self, key: tuple[Path, str | int], build: Callable[[], Path]) -> Path:
        path = self._paths.get(key)
        if path is None:
            if len(self._paths) >= _PATHS_MAX:
                self._paths.clear()  # names asked for once, deleted checkpoints: bounded
            path = self._paths[key] = build()
        return path

    def _header(
        self, key: _FileKey, root: Path, *, cached_only: bool = False
    ) -> tuple[CheckpointInfo | None, str | None]:
        path = key[0]
        with self._lock:
            cached = self._headers.get(path)
            load_error = self._load_errors.get(key)
        if cached is not None and cached[0] == key:
            result = cached[1]
        elif cached_only:
            raise _NeedsDisk
        else:
            try:
                result = read_checkpoint_info(path)
            except CheckpointError as error:
                result = _relative_message(str(error), path, root)
            with self._lock:
                self._headers[path] = (key, result)
        if load_error is not None:
            return None, load_error
        if isinstance(result, str):
            return None, result
        return result, None

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
        try:
            return self._acquire(ref, cached_only=cached_only)
        except _NeedsDisk:
            return None

    def _acquire(self, ref: str, *, cached_only: bool) -> LoadedModel:
        name, step = parse_model_ref(ref)
        model = self.find(name, cached_only=cached_only)
        if model is None:
            raise UnknownModel(f"unknown model {name!r}")
        if step is not None:
            checkpoint = model.checkpoint(step)
            if checkpoint is None:
                raise UnknownModel(f"model {name!r} has no checkpoint at step {step}")
            return self._load(model, checkpoint, pinned=True, cached_only=cached_only)
        newest_error = model.error
        for checkpoint in reversed(model.checkpoints):
            if checkpoint.error is None:
                try:
                    return self._load(model, checkpoint, pinned=False, cached_only=cached_only)
                except ModelUnavailable:
                    with self._lock:
                        newest_error = newest_error or self._load_errors.get(checkpoint.file_key)
        raise ModelUnavailable(f"model {name!r} has no loadable checkpoint: {newest_error}")

    def _load(
        self,
        model: ModelEntry,
        checkpoint: CheckpointEntry,
        *,
        pinned: bool,
        cached_only: bool = False,
    ) -> LoadedModel:
        if checkpoint.error is not None:
            raise ModelUnavailable(f"model {model.name!r}: {checkpoint.error}")
        key = checkpoint.file_key
        with self._lock:
            loaded = self._cached(key)
            if loaded is None and cached_only:
                raise _NeedsDisk
            if loaded is None:
                key_lock = self._load_locks.setdefault(key, threading.Lock())
        if loaded is None:
            # One loader per file: concurrent first requests wait instead of loading twice.
            with key_lock:
                with self._lock:
                    loaded = self._cached(key)
                if loaded is None:
                    loaded = self._load_file(model, checkpoint)
        return LoadedModel(
            loaded.name, loaded.step, pinned, loaded.info, loaded.generator, loaded.parameter_bytes
        )

    def _cached(self, key: _FileKey) -> LoadedModel | None:
        loaded = self._loaded.get(key)
        if loaded is not None:
            self._loaded.move_to_end(key)
        return loaded

    def _load_file(self, model: ModelEntry, checkpoint: CheckpointEntry) -> LoadedModel:
        key = checkpoint.file_key
        try:
            # Inside the one-loader-per-file lock: the pass-size probe runs once per file, and
            # the first request does not pay for it (models.inference).
            generator, info = prepare_for_serving(checkpoint.path, device=self.device)
        except CheckpointError as error:
            message = _relative_message(str(error), checkpoint.path, model.directory.parent)
            with self._lock:
                self._load_errors[key] = message
                self._load_locks.pop(key, None)
            raise ModelUnavailable(f"model {model.name!r}: {message}") from error
        loaded = LoadedModel(model.name, checkpoint.step, False, info, generator, _parameter_bytes(generator))
        with self._lock:
            self._verified.add(key)  # prepare_for_serving checked the content hash
            self._loaded[key] = loaded
            while len(self._loaded) > self.cache_size:
                self._loaded.popitem(last=False)
            self._load_locks.pop(key, None)
        return loaded

    def loaded_models(self) -> list[LoadedModel]:
        """The generators currently held in memory (for metrics)."""
        with self._lock:
            return list(self._loaded.values())


def _relative_message(message: str, path: Path, root: Path) -> str:
    # Engine messages start with the absolute path; clients only need the model-relative one.
    try:
        shown = str(path.relative_to(root))
    except ValueError:
        shown = path.name
    return message.replace(str(path), shown)
