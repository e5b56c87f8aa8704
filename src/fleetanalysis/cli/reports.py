"""Reports: ``report`` (a notebook published as HTML) and ``schedule`` (the weekly job)."""

from __future__ import annotations

import sys
from pathlib import Path

from fleetanalysis.cli.arguments import fleet_options, given_fleet_options
from fleetanalysis.cli.fleet import fleet_inputs, write_missing_demo
from fleetanalysis.cli.output import printable


def add_report(commands) -> None:
    from fleetanalysis import config

    parser = commands.add_parser(
        "report", help="run a report notebook and publish it as HTML",
        description="Run a notebook (default: notebooks/report.ipynb, the management report) with "
                    "papermill on the access store, export it as HTML without code to "
                    "<out>/<as-of>/<notebook>.html with the executed notebook beside it, update "
                    "<out>/index.html and point <out>/latest at it. Store, directory, networks and "
                    "policy default to fleetanalysis.toml, else to the demo data. A failing cell "
                    "exits 1 naming the cell and keeps the executed notebook in <out>/failed/; "
                    "earlier reports are left untouched. The last line printed is the HTML path.")
    fleet_options(parser)
    parser.add_argument("--out", type=Path, default=config.REPORTS_DIR, metavar="DIR",
                        help=f"folder of the reports (default: {config.REPORTS_DIR})")
    parser.add_argument("--notebook", default="report", metavar="NAME",
                        help="a notebook in notebooks/ by name (report, explore) or a path (default: report)")
    parser.add_argument("--names", action="store_true",
                        help="show people's names and emails (the management report leaves them out)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"),
                        help="set any notebook parameter, e.g. -p weeks 52 (numbers, true/false, null, text)")
    parser.set_defaults(run=_run_report)


def _run_report(args) -> int:
    from fleetanalysis import policy, reporting
    from fleetanalysis.writing import check_folder

    # Before the notebook runs for minutes (or demo data is written): an unwritable --out,
    # or a date folder that is a link, fails now.
    check_folder(args.out, "reports folder")
    if args.as_of is not None:
        reporting.page_folder(args.out, f"{args.as_of:%Y-%m-%d}", args.names)

    # The fleet options reach the notebook's parameters of the same names; those left out
    # are resolved in the notebook, from the same settings (config.fleet_inputs).
    inputs = fleet_inputs(args)
    parameters = given_fleet_options(args)
    as_of = parameters.pop("as_of", None)
    if args.names:
        parameters["names"] = True
    parameters.update({name: reporting.parameter_value(value) for name, value in args.parameter})
    reporting.check_parameters(args.notebook, parameters)
    # A policy file or directory the notebook would refuse after minutes is refused now, as
    # status does; the directory's notes (a person listed twice) reach this terminal, not the page.
    policy.load(inputs.policy)
    if inputs.directory is not None:
        from fleetanalysis import org

        org.load_directory(inputs.directory)
    if "store" not in parameters:
        write_missing_demo(inputs)
    # So is a store that is no store (a settings file naming some other file).
    if inputs.store is not None and Path(inputs.store).is_file():
        from fleetanalysis.store import dataset

        dataset.check_file(Path(inputs.store))

    def stage(line: str) -> None:
        print(f"fleetanalysis: {printable(line)}", file=sys.stderr, flush=True)

    page = reporting.run(args.notebook, args.out, as_of, parameters,
                         progress=sys.stderr.isatty(), stages=stage)
    print(page)
    return 0


def add_schedule(commands) -> None:
    from fleetanalysis import schedule

    parser = commands.add_parser(
        "schedule", help="print a weekly cron line or systemd units for fetch, ingest and report",
        description="Print what to install to run `make weekly` (fetch the Slack access logs, ingest, "
                    "write the report) once a week in this checkout, with absolute paths. Nothing is "
                    "installed. Tokens are read at run time from the environment file (NAME=value "
                    "lines, e.g. the Slack token variables the fetch and nudges commands name); "
                    "create it yourself with mode 600 (install -m 600 /dev/null FILE). "
                    "cron: add the line with `crontab -e`. systemd: save the two units under "
                    "~/.config/systemd/user/ and run `systemctl --user enable --now "
                    "fleetanalysis-weekly.timer`; Persistent=true runs a missed week at the next start.")
    parser.add_argument("--print", dest="kind", choices=["cron", "systemd"], required=True,
                        help="cron: one crontab line; systemd: a service and a timer unit")
    parser.add_argument("--weekday", default="mon", metavar="DAY",
                        help="day of the week: mon, tue, wed, thu, fri, sat or sun (default: mon)")
    parser.add_argument("--time", default="06:00", metavar="HH:MM",
                        help="local time of day, 24-hour (default: 06:00)")
    parser.add_argument("--env-file", type=Path, default=schedule.DEFAULT_ENV_FILE, metavar="FILE",
                        help=f"environment file holding the tokens (default: {schedule.DEFAULT_ENV_FILE})")
    parser.set_defaults(run=_run_schedule)


def _run_schedule(args) -> int:
    from fleetanalysis import schedule

    if args.kind == "cron":
        print(schedule.cron_entry(args.weekday, args.time, args.env_file))
        return 0
    for name, unit in schedule.systemd_units(args.weekday, args.time, args.env_file).items():
        print(f"# ~/.config/systemd/user/{name}")
        print(unit)
    return 0
