"""Entry point of the `ganserve` command: the engine's commands, `doctor` and `up` (the whole stack).

Built on click: every command and flag has help (``ganserve COMMAND --help``), shell completion
comes from click (``ganserve completion bash``), and the exit codes are in ``cli.options``: 0 ok,
1 failure, 2 usage error, 130 interrupted.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import click

from cli import doctor, engine_commands, sampling_commands, up
from cli.options import INTERRUPTED, OK, data_dir_option


def _version() -> str:
    try:
        return version("ganserve")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


@click.group(
    "ganserve",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Exit codes: 0 ok, 1 the command failed, 2 usage error, 130 interrupted (Ctrl-C). "
    'Shell completion: eval "$(ganserve completion bash)" (or zsh, fish).',
)
@click.version_option(_version(), "--version", prog_name="ganserve", message="%(prog)s %(version)s")
@data_dir_option
def ganserve(data_dir: Path | None) -> None:
    """Train GANs, sample them, and serve them over HTTP (`ganserve up`)."""


@ganserve.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion_command(shell: str) -> int:
    """Print the completion script for SHELL; e.g. eval "$(ganserve completion bash)" in ~/.bashrc."""
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None  # the choice lists only shells click supports
    print(completer(ganserve, {}, "ganserve", "_GANSERVE_COMPLETE").source())
    return OK


for command in (
    engine_commands.train_command,
    engine_commands.import_command,
    *sampling_commands.COMMANDS,
    doctor.doctor_command,
    up.up_command,
):
    ganserve.add_command(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ganserve`` command in ``argv`` (default: the process's); returns the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = ganserve.main(
            args=list(argv) if argv is not None else None, prog_name="ganserve", standalone_mode=False
        )
    except click.ClickException as error:  # a usage error (2) or CommandFailed (1)
        error.show()
        return error.exit_code
    except click.Abort:  # Ctrl-C outside the commands that handle it themselves
        print("ganserve: interrupted", file=sys.stderr)
        return INTERRUPTED
    return result if isinstance(result, int) else OK


if __name__ == "__main__":
    sys.exit(main())
