"""Entry point of the `ganserve` command: engine commands and `up` (the whole stack)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from cli import engine_commands, sampling_commands, up


def build_parser() -> argparse.ArgumentParser:
    """The ``ganserve`` argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(prog="ganserve", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    engine_commands.add_train_parser(subparsers)
    engine_commands.add_import_parser(subparsers)
    sampling_commands.add_parsers(subparsers)
    up.add_up_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ganserve`` command in ``argv``; returns the exit code (2: library error, 130: Ctrl-C)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    handlers = {
        "train": engine_commands.run_train,
        "import": engine_commands.run_import,
        "sample": sampling_commands.run_sample,
        "interpolate": sampling_commands.run_interpolate,
        "evaluate": sampling_commands.run_evaluate,
        "info": sampling_commands.run_info,
        "export": sampling_commands.run_export,
    }
    if args.command == "up":
        return up.run_up(args)
    try:
        return handlers[args.command](args)
    except (ValueError, OSError) as error:
        # Library errors carry precise messages (CheckpointError, DatasetError are ValueErrors);
        # a traceback would bury them.
        print(f"ganserve {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
