"""The ``fleetanalysis`` command: one subcommand per job, each a thin call into the package.

Exit status: 0 on success, 1 when a job fails, 2 on bad usage or unusable input, with a
one-line message naming the file and the problem (never a traceback for a user's mistake).

Examples:
    >>> main(["--version"])  # doctest: +ELLIPSIS
    fleetanalysis ...
    0
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from fleetanalysis import __version__
from fleetanalysis.errors import BadInput, JobFailed


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line, as every other bad input does."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _date(text: str):
    """A YYYY-MM-DD date option, as a UTC midnight timestamp."""
    import pandas as pd

    try:
        return pd.Timestamp(text).normalize().tz_localize(None)
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)") from None


# Each job adds its own subcommand with an ``_add_<name>(commands)`` function that sets
# ``run=`` to the function doing the work; ``COMMANDS`` lists them in ``--help`` order.


def _add_version(commands) -> None:
    parser = commands.add_parser("version", help="print the version and exit")
    parser.set_defaults(run=lambda args: print(f"fleetanalysis {__version__}"))


COMMANDS: list[Callable] = [_add_version]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with ``--help`` on every subcommand."""
    parser = _Parser(
        prog="fleetanalysis",
        description="Find outdated devices in SaaS sign-in logs: verdicts, fleet rates, reports, nudges.",
    )
    parser.add_argument("--version", action="version", version=f"fleetanalysis {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    for add in COMMANDS:
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:
        return int(stop.code or 0)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        status = args.run(args)
    except BadInput as problem:
        print(f"fleetanalysis: {problem}", file=sys.stderr)
        return 2
    except JobFailed as failure:
        print(f"fleetanalysis: {failure}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fleetanalysis: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
