"""What the registry knows of each checkpoint file version, in one bounded LRU map."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from cachetools import LRUCache

from app.services.models.entries import FileKey
from models.checkpoint import CheckpointInfo


@dataclass(frozen=True)
class FileState:
    """What is known of one version of a checkpoint file (nothing yet, by default)."""

    key: FileKey
    header: CheckpointInfo | str | None = None  # str: why the header is unreadable
    load_error: str | None = None
    verified: bool = False  # content hash checked and matching


class CheckpointFiles:
    """File versions -> :class:`FileState`; a replaced file (new mtime or size) starts afresh."""

    def __init__(self, maxsize: int) -> None:
        self._lock = threading.Lock()
        self._states: LRUCache[Path, FileState] = LRUCache(maxsize=maxsize)

    def state(self, key: FileKey) -> FileState:
        """What is known of this exact version of the file."""
        with self._lock:
            state = self._states.get(key[0])
        return state if state is not None and state.key == key else FileState(key)

    def update(
        self,
        key: FileKey,
        *,
        header: CheckpointInfo | str | None = None,
        load_error: str | None = None,
        verified: bool = False,
    ) -> None:
        """Record what was learnt of one file version."""
        with self._lock:
            state = self._states.get(key[0])
            if state is None or state.key != key:
                state = FileState(key)
            self._states[key[0]] = FileState(
                key,
                header if header is not None else state.header,
                load_error if load_error is not None else state.load_error,
                state.verified or verified,
            )

    def forget_all_but(self, present: set[Path]) -> None:
        """Drop what is known of files no longer present."""
        with self._lock:
            for path in [p for p in self._states if p not in present]:
                del self._states[path]
