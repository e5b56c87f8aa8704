"""The ``fleetanalysis`` command: one subcommand per job, each a thin call into the package.

One module per group of commands, in the order data flows: ``logs`` (demo, ingest, fetch,
ua), ``releases`` (catalog), ``fleet`` (status, devices), ``reports`` (report, schedule) and
``nudging`` (nudges, slack-events); ``arguments`` holds the option types and the fleet
options they share, ``output`` what they print. Building the parser imports no pandas:
each command imports what it needs when it runs, so ``--help`` and ``--version`` are instant.

Exit status: 0 on success, 1 when a job fails, 2 on bad usage or unusable input, with a
one-line message naming the file and the problem (never a traceback for a user's mistake);
130 on Ctrl-C, 143 on SIGTERM and 129 on SIGHUP, after the job's clean-up has run
(``stopping``).

Examples:
    >>> main(["--version"])  # doctest: +ELLIPSIS
    fleetanalysis ...
    0
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable, Iterator, Sequence

from fleetanalysis import __version__
from fleetanalysis.cli import fleet, logs, nudging, releases, reports
from fleetanalysis.cli.arguments import Parser
from fleetanalysis.cli.output import printable
from fleetanalysis.cli.stopping import Stopped, received, stop_on_signals
from fleetanalysis.errors import BadInput, JobFailed, filesystem_problem

# Each job adds its own subcommand with an ``add_<name>(commands)`` function that sets
# ``run=`` to the function doing the work; ``COMMANDS`` lists them in ``--help`` order.


def _add_version(commands) -> None:
    parser = commands.add_parser("version", help="print the version and exit")
    parser.set_defaults(run=lambda args: print(f"fleetanalysis {__version__}"))


COMMANDS: list[Callable] = [
    # In the order data flows: logs in, client facts, releases, the fleet, reports, nudges.
    logs.add_demo, logs.add_ingest, logs.add_fetch, logs.add_ua, releases.add_catalog, fleet.add_status,
    fleet.add_devices, reports.add_report, reports.add_schedule, nudging.add_nudges, nudging.add_slack_events,
    _add_version,
]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with ``--help`` on every subcommand."""
    parser = Parser(
        prog="fleetanalysis",
        description="Find outdated devices in SaaS sign-in logs: verdicts, fleet rates, reports, nudges.",
    )
    parser.add_argument("--version", action="version", version=f"fleetanalysis {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=Parser)
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
        with _notes_on_stderr(), stop_on_signals():
            return _run(args)
    except Stopped as stop:  # landed as the job ended, before the handlers were put back
        print(f"fleetanalysis: {stop}", file=sys.stderr)
        return stop.status


class _Notes(logging.Handler):
    """The package's notes (INFO and up: which CSV columns were guessed, ...) on stderr,
    one terminal-safe line each; the package itself only logs them."""

    def emit(self, record: logging.LogRecord) -> None:
        print(printable(record.getMessage()), file=sys.stderr)


@contextlib.contextmanager
def _notes_on_stderr() -> Iterator[None]:
    package = logging.getLogger("fleetanalysis")
    notes, level = _Notes(logging.INFO), package.level
    package.addHandler(notes)
    package.setLevel(logging.INFO)
    try:
        yield
    finally:
        package.removeHandler(notes)
        package.setLevel(level)


def _run(args: argparse.Namespace) -> int:
    """``args.run(args)``, with the user's mistakes as one line and an exit status."""
    try:
        status = args.run(args)
    except BaseException as error:  # noqa: BLE001 - every way out gets its status; the rest re-raised
        return _exit_status(error)
    return int(status or 0)


def _exit_status(error: BaseException) -> int:
    """The exit status for a job that raised ``error``, after its one line on stderr."""
    stopped = received()
    if stopped is not None:
        # Whatever the signal's exception became on its way out (a library may wrap it), the
        # job ended because it was asked to stop.
        print(f"fleetanalysis: {stopped}", file=sys.stderr)
        return stopped.status
    if isinstance(error, BrokenPipeError):
        return 0
    if isinstance(error, KeyboardInterrupt):
        print("fleetanalysis: interrupted", file=sys.stderr)
        return 130
    if isinstance(error, (BadInput, JobFailed)):
        print(f"fleetanalysis: {printable(error)}", file=sys.stderr)
        return 2 if isinstance(error, BadInput) else 1
    # Disk full, read-only, no permission, a folder for a file: the user's to fix.
    problem = filesystem_problem(error) if isinstance(error, OSError) else None
    if problem is None:
        raise error
    print(f"fleetanalysis: {printable(problem)}", file=sys.stderr)
    return 2
