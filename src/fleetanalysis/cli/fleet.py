"""The fleet from the store: ``status`` and ``devices`` (and the run ``nudges`` judges)."""

from __future__ import annotations

import sys

from fleetanalysis.cli.arguments import active_settings, fleet_options, given_fleet_options
from fleetanalysis.cli.choices import ENGINES
from fleetanalysis.cli.output import printable, write_table


def fleet_inputs(args):
    """The run's ``config.FleetInputs``: the fleet options given over the settings, checked."""
    from fleetanalysis import config

    return config.fleet_inputs(**given_fleet_options(args), settings=active_settings())


def write_missing_demo(inputs) -> bool:
    """Write and ingest the demo organisation, saying so, when it is the store and missing
    (a fresh clone): the one place a command makes demo data for a run. True when written
    (then the inputs are resolved again: the demo's directory and networks exist now)."""
    from fleetanalysis import config, demo

    if not inputs.demo or inputs.store.exists():
        return False
    print(f"fleetanalysis: no logs configured: writing demo data (a synthetic organisation) to "
          f"{printable(config.DEMO_DIR)} and ingesting it into {printable(inputs.store)}",
          file=sys.stderr, flush=True)
    demo.ensure_store(config.DEMO_DIR, inputs.store)
    return True


def fleet_at(args, judges=None):
    """The run's ``analysis.Analysis`` from the shared fleet options; ``judges="as_of"``
    for a command that judges its one date only (then only the rows it can see are read)."""
    from fleetanalysis import analysis

    inputs = fleet_inputs(args)
    if write_missing_demo(inputs):
        inputs = fleet_inputs(args)
    run = analysis.prepare(inputs, progress=True, judges=judges, engine=getattr(args, "engine", "pandas"),
                           scheduler=getattr(args, "scheduler", None))
    for line in catalog_notes(run, inputs.demo):
        print(f"fleetanalysis: {line}", file=sys.stderr)
    ends = evidence_end(run) if inputs.as_of is not None else None
    if ends is not None:
        print(f"fleetanalysis: note: the evidence in {printable(run.store)} ends on {ends:%Y-%m-%d}, "
              f"before the as-of date {run.as_of:%Y-%m-%d}: only devices seen in the "
              f"{run.window_days} days before it count", file=sys.stderr)
    return run


def evidence_end(run):
    """The day of the newest evidence in the run's store when it is before ``as_of``, else None.

    A date after the data (a typo, a stale export) otherwise shows a fleet of 0 devices
    with no hint why. The store is read again (its ``last_seen`` only) just when the rows
    the run read end before ``as_of``: a run on one date reads no rows first seen after it.
    """
    import pandas as pd

    from fleetanalysis import store as access_store
    from fleetanalysis.days import utc_day

    seen = run.sightings["last_day"].max() if len(run.sightings) else pd.NaT
    if pd.notna(seen) and utc_day(seen) >= run.as_of:
        return None
    newest = access_store.read(run.store, ["last_seen"])["last_seen"].max()
    return utc_day(newest) if pd.notna(newest) and utc_day(newest) < run.as_of else None


def catalog_notes(run, demo: bool) -> list[str]:
    """What to say about products the logs show newer than the catalog: a warning per product
    (the catalog is behind: refresh it), except that the demo's Slack mobile app versions
    are synthetic by design (no dated release list ships for them), which one note says."""
    warnings = run.stale_warnings()
    if not demo:
        return [f"warning: {line}" for line in warnings]
    from fleetanalysis.demo import SYNTHETIC

    by_design = [product for product in sorted(SYNTHETIC) if any(f" {product}: " in line for line in warnings)]
    lines = [f"warning: {line}" for line in warnings
             if not any(f" {product}: " in line for product in by_design)]
    if by_design:
        from fleetanalysis.show import synthetic_note

        lines.append(f"note: {synthetic_note(by_design, run.catalog)} "
                     "('fleetanalysis catalog coverage' shows what the catalog covers)")
    return lines


# The columns status can group devices by (metrics.status takes any of them, combined).
GROUPS = ("platform", "office", "department")


def groups(text: str) -> list[str]:
    """A ``--by`` value: groups from ``GROUPS`` joined by commas, each once.

    >>> groups("platform,office")
    ['platform', 'office']
    >>> groups("platform+office")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: not a group: 'platform+office' (use platform, office or department; join several with commas, e.g. platform,office)
    """
    import argparse

    found = [part.strip() for part in text.split(",")]
    wrong = next((part for part in found if part not in GROUPS), None)
    if wrong is not None or len(set(found)) < len(found):
        problem = f"not a group: {wrong!r}" if wrong is not None else f"a group given twice: {text!r}"
        raise argparse.ArgumentTypeError(f"{problem} (use platform, office or department; join several with "
                                         "commas, e.g. platform,office)")
    return found


def add_status(commands) -> None:
    parser = commands.add_parser(
        "status", help="share of devices current, grace, outdated, unsupported, unknown per group",
        description="Count devices (not log rows) seen in the window before the date, by verdict, "
                    "per platform, office or department or a combination of them (--by platform,office), "
                    "with a Total row. "
                    "outdated_rate is (outdated + unsupported) over the devices that could be "
                    "judged; exempt devices are left out. JSON is a list of objects with the group "
                    "keys and devices, current, grace, outdated, unsupported, unknown, outdated_rate.")
    fleet_options(parser)
    parser.add_argument("--by", type=groups, action="extend", metavar="GROUP[,GROUP]",
                        help=f"group devices by {', '.join(GROUPS[:-1])} or {GROUPS[-1]} (default: platform); "
                             "join several with commas (or repeat --by) for one row per combination, "
                             "e.g. platform,office")
    parser.add_argument("--format", choices=["table", "csv", "json"], default="table",
                        help="output format (default: table)")
    parser.add_argument("--engine", choices=ENGINES, default="pandas",
                        help="pandas (default): read the window's rows into memory at once; "
                             "partitions: read the store (a Parquet file, a folder of Parquet access "
                             "tables or raw logs) one partition after another in this process, for a "
                             "store bigger than memory; dask: those partitions on a Dask cluster "
                             "(needs pip install 'fleetanalysis[scale]'). All three print the same table")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="with --engine dask: the Dask scheduler, e.g. tcp://10.0.0.5:8786 "
                             "(default: a local cluster of 2 workers)")
    parser.set_defaults(run=_run_status)


def _run_status(args) -> int:
    from fleetanalysis import metrics
    from fleetanalysis.errors import BadInput

    by = args.by or ["platform"]
    if len(set(by)) < len(by):
        raise BadInput("--by", f"a group given twice: {','.join(by)} (give each of platform, office, department once)")
    if args.scheduler is not None and args.engine != "dask":
        raise BadInput("--scheduler", f"{args.scheduler}: a Dask scheduler is only used with --engine dask")
    run = fleet_at(args, judges="as_of")
    devices, day = run.devices, run.as_of
    table = metrics.status(devices, by=by)
    header = (f"devices seen in the {run.window_days} days before {day:%Y-%m-%d}: "
              f"{len(devices)} ({len(metrics.exempt(devices))} exempt, left out)")
    if args.format == "table":
        print(header)
        table = table.assign(outdated_rate=table["outdated_rate"].map(
            lambda rate: "n/a" if rate != rate else f"{rate:.1%}"))
        # The Total row (the last) reads "Total" once; csv and json keep it in every group
        # column, for a program to select.
        table = table.astype({column: "string" for column in by[1:]})
        table.loc[table.index[-1], by[1:]] = ""
    else:
        print(header, file=sys.stderr)
    write_table(table, args.format)
    return 0


def add_devices(commands) -> None:
    parser = commands.add_parser(
        "devices", help="one row per device: user, office, platform, versions, verdict, reason",
        description="List the devices seen in the window before the date, each at its newest "
                    "versions: user, office, platform, OS version, clients, verdict, reason and the "
                    "version to install. CSV is formula-safe; JSON is a list of objects.")
    fleet_options(parser)
    parser.add_argument("--format", choices=["csv", "json"], default="csv",
                        help="csv (formula-safe, default) or json (null for missing)")
    parser.set_defaults(run=_run_devices)


def _run_devices(args) -> int:
    run = fleet_at(args, judges="as_of")
    devices, day = run.devices, run.as_of
    columns = ["user", "user_id", "office", "department", "platform", "device_class", "os_version",
               "os_evidence", "clients", "verdict", "reason", "target", "last_seen", "exempt"]
    table = devices[columns].assign(last_seen=devices["last_seen"].dt.strftime("%Y-%m-%d"))
    print(f"devices seen in the {run.window_days} days before {day:%Y-%m-%d}: {len(table)}",
          file=sys.stderr)
    write_table(table, args.format)
    return 0
