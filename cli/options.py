"""What every `ganserve` command shares: the exit codes, ``--data-dir``, and how errors print.

Exit codes: 0 ok, 1 the command failed (a bad checkpoint, a refused name, a dead stack), 2 a
usage error (an unknown flag, a value of the wrong type), 130 interrupted by Ctrl-C.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

OK = 0
FAILURE = 1
USAGE = 2
INTERRUPTED = 130

F = TypeVar("F", bound=Callable[..., Any])


class CommandFailed(click.ClickException):
    """A command could not do its work: one line ``ganserve CMD: error: ...``, exit code 1."""

    exit_code = FAILURE

    def __init__(self, command: str, message: str) -> None:
        super().__init__(message)
        self.command = command

    def show(self, file: Any = None) -> None:
        """Print the one line on stderr."""
        print(f"ganserve {self.command}: error: {self.message}", file=file or sys.stderr)


def fails_cleanly(function: F) -> F:
    """Turn the library's errors into ``CommandFailed``: they carry precise messages
    (CheckpointError and DatasetError are ValueErrors) that a traceback would bury."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (ValueError, OSError) as error:
            name = click.get_current_context().info_name or "ganserve"
            raise CommandFailed(name, str(error)) from error

    return wrapper  # type: ignore[return-value]


def _inherit_data_dir(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    # `ganserve --data-dir D train` and `ganserve train --data-dir D` mean the same; the
    # command's own wins.
    if value is None and ctx.parent is not None:
        inherited = ctx.parent.params.get("data_dir")
        return inherited if isinstance(inherited, Path) else None
    return value


def data_dir_option(function: F) -> F:
    """``--data-dir``, the one way every command names the data folder (over GAN_DATA_DIR)."""
    return click.option(
        "--data-dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        callback=_inherit_data_dir,
        help="Data folder: models, jobs, datasets, the embedded Redis's files "
        "(overrides GAN_DATA_DIR; default: data).",
    )(function)
