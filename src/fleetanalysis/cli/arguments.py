"""The option types and shared options of the commands, and the settings in force.

Building the parser imports nothing heavy (no pandas, numpy or pyarrow): a type that needs
pandas imports it when a value is parsed, and the names the parser offers come from
``choices``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from fleetanalysis.config import DEFAULT_WINDOW_DAYS, WINDOW_DAYS
from fleetanalysis.errors import BadInput


class Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line, as every other bad input does, and names an
    option it does not know as such (``unrecognized option --bogus``) in every command,
    rather than as an unexpected argument or a bad value of the next positional.

    >>> parser = Parser(prog="demo")
    >>> _ = parser.add_argument("--days", type=int)
    >>> parser.parse_args(["--days", "3", "--bogus=2"])
    Traceback (most recent call last):
    ...
    SystemExit: 2
    """

    def parse_known_args(self, args=None, namespace=None):
        self._given = list(sys.argv[1:] if args is None else args)
        namespace, extras = super().parse_known_args(args, namespace)
        unknown = next((text for text in extras if self._unknown_option(text)), None)
        if unknown is not None:
            self.error(f"unrecognized option {unknown.split('=', 1)[0]}")
        return namespace, extras

    def error(self, message: str) -> None:  # type: ignore[override]
        # After an unknown option argparse may complain about what follows it (nudges reads
        # "--bogus 3" as the action "3"): the unknown option is the mistake to name.
        unknown = self._first_unknown_option()
        if unknown is not None:
            message = f"unrecognized option {unknown.split('=', 1)[0]}"
        self.exit(2, f"{self.prog}: {message} (see --help)\n")

    def _unknown_option(self, text: str) -> bool:
        """Whether ``text`` looks like an option and none of this parser's (or an abbreviation of one)."""
        if len(text) < 2 or text[0] not in self.prefix_chars or re.fullmatch(r"-\d+(\.\d*)?|-\.\d+", text):
            return False
        name = text.split("=", 1)[0]
        known = self._option_string_actions
        return name not in known and not (self.allow_abbrev and name.startswith("--")
                                          and any(option.startswith(name) for option in known))

    def _first_unknown_option(self) -> str | None:
        """The first option this parser was given and does not know (for a parser with
        subcommands, before the subcommand's name: the rest is the subcommand's)."""
        commands = any(isinstance(action, argparse._SubParsersAction) for action in self._actions)
        given = iter(getattr(self, "_given", []))
        for text in given:
            if text == "--" or (commands and text[:1] not in self.prefix_chars):
                return None
            if self._unknown_option(text):
                return text
            action = self._option_string_actions.get(text)
            if action is not None and action.nargs is None and "=" not in text:
                next(given, None)  # the option's value
        return None


def parse_date(text: str):
    """A YYYY-MM-DD date option, as a UTC midnight timestamp.

    The years every pandas can hold (nanosecond timestamps) are named only for a date
    outside them that this pandas cannot hold.

    >>> parse_date("2026-02-30")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: not a date: '2026-02-30' (use YYYY-MM-DD)
    """
    import re

    import pandas as pd

    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)")
    try:
        day = pd.Timestamp(text.strip()).normalize().tz_localize(None)
    except (ValueError, TypeError, OverflowError, AttributeError):  # AttributeError: NaT has no normalize
        day = pd.NaT
    if day is pd.NaT:
        year = int(text.strip()[:4])
        hint = "YYYY-MM-DD" if 1678 <= year <= 2261 else "a date from 1678 to 2261"
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use {hint})")
    return day


def whole_number(low: int, high: int, unit: str = ""):
    """An argparse type: a whole number from ``low`` to ``high``, else one line naming the range."""

    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{number} is out of range: use {low} to {high}{unit}")
        return number

    return parse


DAYS = whole_number(*WINDOW_DAYS, " days")


def parse_url(text: str) -> str:
    """An http(s) base URL option (urllib raises ValueError deep in a request otherwise).

    >>> parse_url("notaurl")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: not an http(s) URL: 'notaurl' (e.g. https://slack.com/api/)
    """
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"not an http(s) URL: {text!r} (e.g. https://slack.com/api/)")
    return text


def parse_seconds(text: str) -> float:
    """A timeout in seconds, more than 0 and at most an hour (socket timeouts overflow past ~292 years)."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range: use more than 0 and at most 3600 seconds")
    return seconds


def fleet_options(parser) -> None:
    """The options of every command that judges the fleet (``status``, ``devices``, ``nudges``,
    ``report``), declared once: an option added here reaches them all, and
    ``config.fleet_inputs`` (or the report notebook's parameter of the same name) takes it.
    Each defaults to None, meaning the settings' value (``fleetanalysis.toml``, else the demo).
    """
    group = parser.add_argument_group(
        "fleet options", "what to judge, and when (each defaults to fleetanalysis.toml's, else the demo "
                         "organisation's)")
    group.add_argument("--store", type=Path, metavar="FILE", help="Parquet access store")
    group.add_argument("--as-of", type=parse_date, metavar="DATE",
                       help="the date to judge, YYYY-MM-DD (default: the newest last_seen in the store)")
    group.add_argument("--directory", type=Path, metavar="FILE",
                       help="directory CSV: user_id, email, office, department[, ownership][, exempt_until]")
    group.add_argument("--networks", type=Path, metavar="FILE", help="CSV of cidr, office (fallback by IP)")
    group.add_argument("--policy", type=Path, metavar="FILE", help="policy TOML read over the shipped one")
    group.add_argument("--catalog", type=Path, metavar="FILE",
                       help="your own releases CSV, read over the shipped catalog")
    group.add_argument("--window-days", type=DAYS, metavar="N",
                       help=f"a device counts when seen in the N days before the date, {WINDOW_DAYS[0]} to {WINDOW_DAYS[1]} "
                            f"(default: {DEFAULT_WINDOW_DAYS})")


# The destinations of ``fleet_options``: the keyword arguments of ``config.fleet_inputs``.
FLEET_OPTIONS = ("store", "as_of", "directory", "networks", "policy", "catalog", "window_days")


def given_fleet_options(args) -> dict:
    """The fleet options given on the command line, by name (those left out are absent)."""
    return {name: getattr(args, name) for name in FLEET_OPTIONS if getattr(args, name) is not None}


def active_settings():
    """The settings in force (configured real data, else the demo), or exit 2 if unreadable."""
    from fleetanalysis import config

    try:
        return config.active_settings()
    except ValueError as problem:
        raise BadInput(str(problem)) from None
