"""Reports: ``report`` (a notebook published as HTML) and ``schedule`` (the weekly job)."""

from __future__ import annotations

import sys
from pathlib import Path

from fleetanalysis.cli.arguments import active_settings, parse_date
from fleetanalysis.cli.output import printable
from fleetanalysis.errors import BadInput


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
    parser.add_argument("--as-of", type=parse_date, metavar="DATE",
                        help="the date the report describes, YYYY-MM-DD (default: the newest evidence)")
    parser.add_argument("--store", type=Path, metavar="FILE", help="Parquet access store to report on")
    parser.add_argument("--directory", type=Path, metavar="FILE",
                        help="directory CSV: user_id, email, office, department")
    parser.add_argument("--networks", type=Path, metavar="FILE", help="CSV of cidr, office")
    parser.add_argument("--policy", type=Path, metavar="FILE", help="policy TOML read over the shipped one")
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
    from fleetanalysis import config, reporting
    from fleetanalysis.writing import check_folder

    # Before the notebook runs for minutes (or demo data is written): an unwritable --out,
    # or a date folder that is a link, fails now.
    check_folder(args.out, "reports folder")
    if args.as_of is not None:
        reporting.own_folder(args.out, f"{args.as_of:%Y-%m-%d}")

    chosen = {"store": args.store, "directory": args.directory, "networks": args.networks,
              "policy": args.policy}
    parameters = {name: value for name, value in chosen.items() if value is not None}
    for name, path in parameters.items():
        if not path.exists():
            raise BadInput(path, f"no such {name} file")
    if args.names:
        parameters["names"] = True
    parameters.update({name: reporting.parameter_value(value) for name, value in args.parameter})

    def stage(line: str) -> None:
        print(f"fleetanalysis: {printable(line)}", file=sys.stderr, flush=True)

    reporting.check_parameters(args.notebook, parameters)
    settings = active_settings()
    if args.store is None and settings.demo and not settings.store.exists():
        from fleetanalysis import demo

        stage(f"no logs configured: writing demo data (a synthetic organisation) to {config.DEMO_DIR} "
              f"and ingesting it into {settings.store}")
        demo.ensure_store()
    page = reporting.run(args.notebook, args.out, args.as_of, parameters,
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
