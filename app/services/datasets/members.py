"""Archive members as the extraction rules see them, and the rules for their names."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from common.names import is_valid_class_name

_DRIVE = re.compile(r"[A-Za-z]:")


class ArchiveError(ValueError):
    """The upload is not an acceptable dataset archive; the message says why."""


@dataclass
class Member:
    """One archive entry, reduced to what the extraction rules need."""

    name: str
    size: int
    is_dir: bool
    open: Callable[[], IO[bytes]]


def safe_parts(name: str) -> list[str]:
    """The path components of a member name; raises ArchiveError for absolute or escaping paths."""
    # Backslashes count as separators too: a Windows unpacker would honour them.
    unified = name.replace("\\", "/")
    if unified.startswith("/") or _DRIVE.match(unified):
        raise ArchiveError(f"archive member {name!r} has an absolute path; not allowed")
    parts = [part for part in unified.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"archive member {name!r} points outside the archive; not allowed")
    if any("\x00" in part for part in parts):
        raise ArchiveError(f"archive member {name!r} has a NUL byte in its name")
    # Folder names become class names: any printable text, but no control characters.
    if not all(is_valid_class_name(part) for part in parts):
        raise ArchiveError(f"archive member {name!r} has a control character in its name; not allowed")
    return parts


def ignored(parts: list[str]) -> bool:
    """macOS resource forks and hidden files: not data, not worth counting as skipped."""
    return not parts or parts[0] == "__MACOSX" or any(part.startswith(".") for part in parts)
