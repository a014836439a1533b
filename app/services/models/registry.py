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
is unreadable, a load error, whether its content hash was verified: ``files.py``), and the
loaded generators (``loaded.py``). A lookup that may not touch the disk (``cached_only``, for
the event loop) answers ``NEEDS_DISK`` where the caches are not enough, as a value, never as an
exception.

``GET /sample`` acquires on every request, so :meth:`ModelRegistry.acquire` does no more than
it must: the folder's listing (``run_files``, one ``stat`` while the folder is unchanged) and a
``stat`` of each checkpoint it considers, newest first, until one serves. For a model in memory
that is one file and one cache lookup, however many checkpoints it has: a file version that
loaded serves, so its header is not consulted again. The ``stat`` is what notices a file
replaced in place, so it is never skipped. Listings (:meth:`ModelRegistry.list_models`,
:meth:`ModelRegistry.find`) see every checkpoint.
"""

from __future__ import annotations

import functools
import os
from dataclasses import replace
from pathlib import Path
from typing import overload

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
from app.services.models.loaded import ABSENT, NEEDS_DISK, Absent, LoadedGenerators, NeedsDisk
from common.names import is_valid_name
from common.redact import without_root
from models.checkpoint import CheckpointError, CheckpointInfo, load_checkpoint, read_checkpoint_info
from models.training import run_files

# Far above any real number of checkpoints and model names; keeps names asked for once (or
# files since deleted) from growing the caches for the life of the process.
_FILES_MAX = 65_536


# (root, name) -> model folder and (model folder, step) -> checkpoint file, built once: in
# GET /sample's lookup, joining paths cost more than the stats. Pure functions of their
# arguments, so one cache serves every registry; functools' LRU is bounded and thread-safe
# without a lock of ours.
@functools.lru_cache(maxsize=_FILES_MAX)
def _model_dir(root: Path, name: str) -> Path:
    return root / name


@functools.lru_cache(maxsize=_FILES_MAX)
def _checkpoint_path(directory: Path, step: int) -> Path:
    return run_files.checkpoint_path(directory, step)


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
        self._files = CheckpointFiles(maxsize=_FILES_MAX)
        self._generators = LoadedGenerators(self._files, cache_size=cache_size, device=device)

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
                entry = self._read_model(name, root, root / name, source)
                if entry is not None:
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
        if not is_valid_name(name):
            return None
        for root, source in self.roots:
            # No is_dir() first: a missing folder lists no checkpoints and reads as no model
            # all the same.
            entry = self._read_model(name, root, _model_dir(root, name), source)
            if entry is not None:
                return entry
        return None

    def name_taken(self, name: str) -> bool:
        """Whether a model folder called ``name`` exists, even one without checkpoints yet."""
        return any((root / name).exists() for root, _ in self.roots)

    def _read_model(self, name: str, root: Path, directory: Path, source: str) -> ModelEntry | None:
        checkpoints = []
        for step in run_files.checkpoint_steps(directory):
            key = self._file_key(directory, step)
            if key is None:
                continue
            checkpoint = self._checkpoint(root, step, key, cached_only=False)
            if isinstance(checkpoint, CheckpointEntry):
                checkpoints.append(checkpoint)
        if not checkpoints:
            return None  # a run that has not written its first checkpoint is not a model yet
        return ModelEntry(name, source, directory, tuple(checkpoints))

    def _file_key(self, directory: Path, step: int) -> FileKey | None:
        """The checkpoint file of ``step`` as it is now, or None if it is gone."""
        path = _checkpoint_path(directory, step)
        try:
            stat = os.stat(path)
        except OSError:
            return None  # replaced or removed between the listing and now
        return (path, stat.st_mtime_ns, stat.st_size)

    def _checkpoint(
        self, root: Path, step: int, key: FileKey, *, cached_only: bool
    ) -> CheckpointEntry | NeedsDisk:
        """What is known of one checkpoint file version (its header, read once)."""
        known = self._header(key, root, cached_only=cached_only)
        if known is NEEDS_DISK:
            return NEEDS_DISK
        info, error = known
        return CheckpointEntry(step, key[0], key, info, error)

    def _header(
        self, key: FileKey, root: Path, *, cached_only: bool
    ) -> tuple[CheckpointInfo | None, str | None] | NeedsDisk:
        state = self._files.state(key)
        header = state.header
        if header is None:
            if cached_only:
                return NEEDS_DISK
            try:
                header = with_training_time(read_checkpoint_info(key[0]))
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

        The model is the one :meth:`find` gives, but only the checkpoints the answer needs are
        looked at, newest first (the module doc says why).

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
        name, step = parse_model_ref(ref)  # a valid name, or InvalidModelRef
        for root, _ in self.roots:
            directory = _model_dir(root, name)
            # No is_dir() first: a missing folder lists no steps (one failed stat) all the same.
            steps = run_files.checkpoint_steps(directory)
            if not steps:
                continue  # no such folder, or no checkpoint in it yet: no model here
            if step is None:
                found = self._acquire_newest(name, root, directory, steps, cached_only=cached_only)
            else:
                found = self._acquire_step(name, root, directory, steps, step, cached_only=cached_only)
            if found is NEEDS_DISK:
                return None
            if found is not ABSENT:
                return found
        raise UnknownModel(f"unknown model {name!r}")

    def _acquire_newest(
        self, name: str, root: Path, directory: Path, steps: list[int], *, cached_only: bool
    ) -> LoadedModel | NeedsDisk | Absent:
        newest_error: str | None = None
        present = False
        for step in reversed(steps):
            key = self._file_key(directory, step)
            if key is None:
                continue
            in_memory = self._generators.in_memory(key, pinned=False)
            if in_memory is not None:
                return in_memory  # it loaded, so it serves: the usual request ends here
            checkpoint = self._checkpoint(root, step, key, cached_only=cached_only)
            if checkpoint is NEEDS_DISK:
                return NEEDS_DISK
            if not present:
                present, newest_error = True, checkpoint.error
            if checkpoint.error is None:
                try:
                    return self._generators.load(
                        name, root, checkpoint, pinned=False, cached_only=cached_only
                    )
                except ModelUnavailable:
                    newest_error = newest_error or self._files.state(key).load_error
        if not present:
            return ABSENT
        raise ModelUnavailable(f"model {name!r} has no loadable checkpoint: {newest_error}")

    def _acquire_step(
        self, name: str, root: Path, directory: Path, steps: list[int], step: int, *, cached_only: bool
    ) -> LoadedModel | NeedsDisk | Absent:
        key = self._file_key(directory, step) if step in steps else None
        if key is None:
            # As in a listing: a folder whose every file is gone is no model.
            if not any(self._file_key(directory, other) for other in steps):
                return ABSENT
            raise UnknownModel(f"model {name!r} has no checkpoint at step {step}")
        in_memory = self._generators.in_memory(key, pinned=True)
        if in_memory is not None:
            return in_memory
        checkpoint = self._checkpoint(root, step, key, cached_only=cached_only)
        if checkpoint is NEEDS_DISK:
            return NEEDS_DISK
        return self._generators.load(name, root, checkpoint, pinned=True, cached_only=cached_only)

    def loaded_models(self) -> list[LoadedModel]:
        """The generators currently held in memory (for metrics)."""
        return self._generators.models()


def with_training_time(info: CheckpointInfo) -> CheckpointInfo:
    """``info`` with its ``trained_at``: the header's, or for a file from before headers stored
    it (the shipped models' among them), the time its run's metrics log gives its step. Read
    once per file version, like the header itself."""
    if info.trained_at is not None:
        return info
    # <model>/checkpoints/step-N.safetensors: the run folder is two levels up.
    logged = run_files.logged_times(info.path.parent.parent).get(info.step)
    return info if logged is None else replace(info, trained_at=logged)
