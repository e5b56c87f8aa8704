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
from pathlib import Path

from fleetanalysis import __version__
from fleetanalysis.config import MAX_DAYS
from fleetanalysis.errors import BadInput, JobFailed, filesystem_problem


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line, as every other bad input does."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _date(text: str):
    """A YYYY-MM-DD date option, as a UTC midnight timestamp."""
    import pandas as pd

    try:
        day = pd.Timestamp(text).normalize().tz_localize(None)
    except (ValueError, TypeError, OverflowError, AttributeError):  # AttributeError: NaT has no normalize
        day = pd.NaT
    if day is pd.NaT:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD, from 1678 to 2261)")
    return day


def _settings():
    """The settings in force (configured real data, else the demo), or exit 2 if unreadable."""
    from fleetanalysis import config

    try:
        return config.active_settings()
    except ValueError as problem:
        raise BadInput(str(problem)) from None


def _printable(text: object) -> str:
    r"""Text for a one-line terminal message: control, bidirectional and zero-width characters
    from file names or log content (ANSI escapes, newlines, U+202E) are shown as ``\xNN`` or
    ``\uNNNN`` instead of being acted on by the terminal (``writing.escape_controls``).

    >>> _printable("evil\x1b[31m.json")
    'evil\\x1b[31m.json'
    """
    from fleetanalysis.writing import escape_controls

    return escape_controls(str(text), one_line=True)


def _write_table(table, style: str) -> None:
    r"""``table`` on stdout, the one writer of the commands' tables: ``json`` (a list of
    objects, null for missing), ``csv`` (formula-safe) or ``table`` (aligned text); in
    every style text from the logs or the directory cannot act on the terminal.

    >>> import pandas as pd
    >>> _write_table(pd.DataFrame({"office": ["=1+1", "Oslo"], "n": [1, None]}), "csv")
    office,n
    '=1+1,1.0
    Oslo,
    >>> _write_table(pd.DataFrame({"office": ["\x1b[2J"]}), "table")
     office
    \x1b[2J
    """
    from fleetanalysis.writing import escape_controls, json_text, neutralise_formulas

    if style == "json":
        sys.stdout.write(json_text(table.astype(object).where(table.notna(), None).to_dict("records")))
    elif style == "csv":
        neutralise_formulas(table).to_csv(sys.stdout, index=False)
    else:
        print(table.map(lambda cell: escape_controls(cell) if isinstance(cell, str) else cell).to_string(index=False))


def _whole_number(low: int, high: int, unit: str = ""):
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


_DAYS = _whole_number(1, MAX_DAYS, " days")


def _url(text: str) -> str:
    """An http(s) base URL option (urllib raises ValueError deep in a request otherwise).

    >>> _url("notaurl")
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


def _seconds(text: str) -> float:
    """A timeout in seconds, more than 0 and at most an hour (socket timeouts overflow past ~292 years)."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range: use more than 0 and at most 3600 seconds")
    return seconds


# Each job adds its own subcommand with an ``_add_<name>(commands)`` function that sets
# ``run=`` to the function doing the work; ``COMMANDS`` lists them in ``--help`` order.


def _add_version(commands) -> None:
    parser = commands.add_parser("version", help="print the version and exit")
    parser.set_defaults(run=lambda args: print(f"fleetanalysis {__version__}"))


def _add_nudges(commands) -> None:
    parser = commands.add_parser(
        "nudges", help="plan (or --send) Slack DMs asking owners of outdated devices to update",
        description="Plan one Slack message per person whose devices are outdated past grace "
                    "(never unknown, grace or exempt), naming each device, the version to install "
                    "and how. A dry run printing the plan is the default; --send delivers it, "
                    "recording every message in a SQLite state file before and after sending, so "
                    "nobody is messaged twice within the cooldown unless their device list changed. "
                    "--as-of also sets the cooldown's clock (default: now). The Slack token is read "
                    "from the environment variable --token-env names. `nudges outcomes` prints, "
                    "instead, what the nudges recorded in the state achieved: share of nudged devices "
                    "updated within 3, 7 and 14 days and median days to update, per wave, office and "
                    "nth nudge, beside behind devices nobody nudged (an observational comparison).")
    parser.add_argument("action", nargs="?", choices=["plan", "outcomes"], default="plan",
                        help="plan (default: plan, or send with --send) or outcomes (no names are printed)")
    _fleet_options(parser)
    parser.add_argument("--devices", type=Path, metavar="FILE",
                        help="devices table (Parquet or CSV, docs/pipeline.md 5-6) instead of the store")
    parser.add_argument("--history", type=Path, metavar="FILE",
                        help="outcomes: verdict history (Parquet or CSV: as_of, device_id, verdict[, office]) "
                             "instead of judging the store once a day since the first nudge")
    parser.add_argument("--send", action="store_true", help="send the messages (default: dry run)")
    parser.add_argument("--state", type=Path, metavar="FILE",
                        help="SQLite state file (default: data/processed/nudges.sqlite)")
    parser.add_argument("--token-env", default="SLACK_BOT_TOKEN", metavar="NAME",
                        help="environment variable holding the Slack bot token (default: %(default)s)")
    parser.add_argument("--base-url", type=_url, metavar="URL", help="Slack Web API base URL (default: Slack's)")
    parser.add_argument("--max", type=_whole_number(0, 1_000_000), default=50, metavar="N",
                        help="send at most N messages (default: 50)")
    parser.add_argument("--cooldown-days", type=_whole_number(0, MAX_DAYS, " days"), default=7, metavar="D",
                        help="no second message within D days unless the device list changed (default: 7)")
    parser.add_argument("--stop-after", type=_whole_number(1, 1000), metavar="N",
                        help="send no more to a person after N DMs they did not answer (default: no limit)")
    parser.add_argument("--opt-out", type=Path, metavar="FILE",
                        help="text file of user ids / emails never to message, one a line, # comments")
    parser.add_argument("--format", choices=["table", "json", "csv"], default="table",
                        help="table (default), json, or formula-safe csv")
    parser.add_argument("--league-channel", metavar="ID", help="post the office league here once per ISO week")
    parser.add_argument("--league", type=Path, metavar="FILE",
                        help="league table (Parquet or CSV, metrics.league) to post (default: this "
                             "week against the week before, from the store)")
    parser.set_defaults(run=_run_nudges)


def _nudges_league(run):
    """metrics.league of the office shares at the run's date against a week before."""
    import pandas as pd

    from fleetanalysis import metrics

    week_before = run.as_of - pd.Timedelta(days=7)
    return metrics.league(pd.concat([run.devices_at(week_before).assign(as_of=week_before),
                                     run.devices.assign(as_of=run.as_of)], ignore_index=True))


def _run_nudge_outcomes(args) -> int:
    from fleetanalysis import nudges, outcomes

    state_path = args.state or nudges.DEFAULT_STATE
    messages = nudges.read_history(state_path)
    if messages is None:
        raise BadInput(state_path, "no nudge state yet (send nudges with `fleetanalysis nudges --send` first)")
    if args.history is not None:
        history = outcomes.read_history(args.history)
    else:
        history = outcomes.daily_history(_fleet_at(args), messages)
    table = outcomes.breakdown(outcomes.follow(messages, history, answers=nudges.read_answers(state_path)))
    sys.stdout.write(outcomes.render(table, args.format))
    warning = outcomes.habituation(table)
    if warning:
        print(f"fleetanalysis: warning: {warning}", file=sys.stderr)
    return 0


def _run_nudges(args) -> int:
    import pandas as pd

    from fleetanalysis import nudges
    from fleetanalysis.writing import check_writable

    if args.action == "outcomes":
        return _run_nudge_outcomes(args)
    now = pd.Timestamp.now(tz="UTC")
    state_path = args.state or nudges.DEFAULT_STATE
    if args.send:
        check_writable(state_path, "nudge state")
    league = nudges.read_table(args.league, "league") if args.league is not None else None
    if args.devices is not None:
        devices = nudges.read_table(args.devices)
        if args.league_channel and league is None:
            raise BadInput("--league", "give the league table to post with --league-channel and --devices")
    else:
        run = _fleet_at(args)
        devices, day = run.devices, run.as_of
        if args.league_channel and league is None:
            league = _nudges_league(run)
        print(f"devices seen in the {args.window_days} days before {day:%Y-%m-%d}: {len(devices)}",
              file=sys.stderr)
    opt_out = nudges.read_opt_out(args.opt_out) if args.opt_out else None
    as_of = now if args.as_of is None else args.as_of.tz_localize("UTC")
    if not args.send:
        planned = nudges.plan(devices, nudges.read_history(state_path), as_of,
                              args.cooldown_days, args.max, opt_out, nudges.read_answers(state_path),
                              args.stop_after)
        sys.stdout.write(nudges.render(planned, args.format))
        if args.league_channel:
            print(nudges.league_message(league)[0], file=sys.stderr)
        print(f"dry run: {planned['action'].eq('send').sum()} to send, "
              f"{planned['action'].eq('skip').sum()} skipped; add --send to deliver", file=sys.stderr)
        return 0
    client = nudges.slack_client(args.token_env, args.base_url)
    with nudges.State(state_path) as state:
        resolved = nudges.resolve(client, state, now)
        if any(resolved.values()):
            print("earlier unconfirmed messages: " + ", ".join(f"{outcome} {count}" for outcome, count
                                                               in resolved.items()), file=sys.stderr)
        planned = nudges.plan(devices, state.history(), as_of, args.cooldown_days, args.max, opt_out,
                              state.answers(), args.stop_after)
        result = nudges.send(planned, client, state, now, args.cooldown_days, progress=None)
        sys.stdout.write(nudges.render(result, args.format))
        if args.league_channel:
            print(f"league: {nudges.post_league(league, client, state, args.league_channel, now)}",
                  file=sys.stderr)
    counts = result["outcome"].value_counts()
    print(", ".join(f"{outcome} {counts.get(outcome, 0)}"
                    for outcome in ("sent", "failed", "unconfirmed", "skipped")), file=sys.stderr)
    return 1 if counts.get("failed", 0) or counts.get("unconfirmed", 0) else 0


def _add_slack_events(commands) -> None:
    parser = commands.add_parser(
        "slack-events", help="receive Slack button presses on nudges (Updated, snooze, Not my device)",
        description="Serve Slack's interactivity requests: point the Slack app's Interactivity Request "
                    "URL at this address (behind your HTTPS proxy). Every request must carry a valid "
                    "signature (the app's signing secret, read from the environment variable "
                    "--secret-env names) no older than five minutes and never seen before; answers are "
                    "recorded once in the nudge state, which the next plan honours. Stop with Ctrl-C.")
    parser.add_argument("--port", type=_whole_number(1, 65535), required=True, metavar="N", help="TCP port")
    parser.add_argument("--host", default="127.0.0.1", metavar="ADDRESS",
                        help="address to listen on (default: %(default)s; a proxy forwards Slack's requests)")
    parser.add_argument("--state", type=Path, metavar="FILE",
                        help="SQLite nudge state (default: data/processed/nudges.sqlite)")
    parser.add_argument("--secret-env", default="SLACK_SIGNING_SECRET", metavar="NAME",
                        help="environment variable holding the app's signing secret (default: %(default)s)")
    parser.set_defaults(run=_run_slack_events)


def _run_slack_events(args) -> int:
    import os

    from fleetanalysis import answers, nudges

    secret = os.environ.get(args.secret_env, "").strip()
    if not secret:
        raise BadInput(f"${args.secret_env}", "no Slack signing secret",
                       "set it to the app's Signing Secret (Basic Information page)")
    state_path = args.state or nudges.DEFAULT_STATE
    with nudges.State(state_path, lock=False):
        pass  # created (or upgraded) now, so that a bad path is one line before serving
    try:
        server = answers.server(state_path, secret, args.host, args.port)
    except OSError as error:
        raise BadInput(f"{args.host}:{args.port}", "cannot listen", error.strerror or type(error).__name__) from None
    print(f"slack-events: listening on http://{args.host}:{server.server_address[1]}/ "
          f"for Slack interactivity requests (Ctrl-C stops)", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _add_ua(commands) -> None:
    parser = commands.add_parser(
        "ua", help="describe user agents read from stdin",
        description="Read user-agent strings, one per line, on stdin and write one row per line, "
                    "in input order: platform, OS version and how far it can be trusted, client, "
                    "catalog product, device class, and the reason where something cannot be read.")
    parser.add_argument("--format", choices=["csv", "json"], default="csv",
                        help="csv (formula-safe, default) or json (a list of objects, null for missing)")
    parser.set_defaults(run=_run_ua)


def _run_ua(args) -> int:
    from fleetanalysis import clients

    try:
        # Bytes, not the text stream: under a C locale a bad byte would hide as a surrogate.
        text = sys.stdin.buffer.read().decode("utf-8-sig") if hasattr(sys.stdin, "buffer") else sys.stdin.read()
    except UnicodeDecodeError as error:
        line = error.object.count(b"\n", 0, error.start) + 1
        raise BadInput("stdin", f"line {line}",
                       f"not UTF-8 (byte 0x{error.object[error.start]:02x}); pass UTF-8 text") from None
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    table = clients.lookup(lines[:-1] if lines[-1] == "" else lines, progress=True)
    _write_table(table, args.format)
    return 0

def _add_ingest(commands) -> None:
    from fleetanalysis.sources import FORMATS

    parser = commands.add_parser(
        "ingest", help="read sign-in logs into the Parquet access store",
        description="Read sign-in logs (Slack access or audit logs, Okta, Entra ID, Google Workspace "
                    "mobile, GitHub audit, any CSV with user, time and user agent; gzip, folders and "
                    "globs accepted) and merge them into the access store without double counting. "
                    "Prints rows read, loaded, rejected and merged as duplicates per file; rejected "
                    "rows and their reasons go to <store stem>-rejected.csv beside the store. A file "
                    "already ingested and unchanged since (size and mtime, else content hash, in "
                    "<store stem>-manifest.json) is skipped without being read.")
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="log file, folder or glob (default: the logs in fleetanalysis.toml, or the "
                             "demo organisation under data/demo, written first if missing)")
    parser.add_argument("--format", choices=list(FORMATS), help="skip detection and read every file as this format")
    parser.add_argument("--store", type=Path, metavar="FILE",
                        help="Parquet store (default: the settings' store, data/processed/access.parquet)")
    parser.add_argument("--user-column", metavar="NAME", help="CSV: column holding the user (default: guessed)")
    parser.add_argument("--time-column", metavar="NAME", help="CSV: column holding the time (default: guessed)")
    parser.add_argument("--ua-column", metavar="NAME", help="CSV: column holding the user agent (default: guessed)")
    parser.add_argument("--rescan", action="store_true",
                        help="read every file, also those the manifest lists as unchanged")
    parser.set_defaults(run=_run_ingest)


def _print_merge(counts, problems, store_path) -> None:
    from fleetanalysis import store

    unchanged = counts["unchanged"].tolist() if "unchanged" in counts else [False] * len(counts)
    for row, skipped in zip(counts.itertuples(index=False), unchanged):
        if skipped:
            print(f"{_printable(row.file)}: {row.format}: unchanged, skipped (read 0 this run)")
            continue
        print(f"{_printable(row.file)}: {row.format}: read {row.read}, loaded {row.loaded}, "
              f"rejected {row.rejected}, duplicates {row.duplicates}")
    if len(counts) > 1:
        total = counts[["read", "loaded", "rejected", "duplicates"]].sum()
        skipped = f" ({sum(unchanged)} unchanged, skipped)" if any(unchanged) else ""
        print(f"total: {len(counts)} files{skipped}: read {total['read']}, loaded {total['loaded']}, "
              f"rejected {total['rejected']}, duplicates {total['duplicates']} -> {store_path}")
    for problem in problems:
        print(f"fleetanalysis: {_printable(problem)}", file=sys.stderr)
    for row in counts[counts["conflicts"] > 0].itertuples(index=False):
        print(f"{_printable(row.file)}: {row.conflicts} id conflicts (rows reusing the event id of a "
              "different event, kept as separate events)", file=sys.stderr)
    if counts["rejected"].sum():
        print(f"rejected rows and reasons: {store.rejected_path(store_path)}", file=sys.stderr)


def _check_store(store_path: Path) -> Path:
    """``store_path`` once the store and its rejected-rows CSV can both be written (else exit 2)."""
    from fleetanalysis import store
    from fleetanalysis.writing import check_writable

    store.check_writable(store_path)
    check_writable(store.rejected_path(store_path), "rejected-rows CSV")
    return store_path


def _run_ingest(args) -> int:
    from fleetanalysis import config, store

    from fleetanalysis.writing import check_folder

    settings = _settings()
    paths = args.paths or settings.logs
    store_path = _check_store(args.store or settings.store)
    if not args.paths and settings.demo:
        from fleetanalysis import demo

        print(f"no logs configured in {config.settings_path().name}: using the demo organisation "
              f"in {config.DEMO_DIR}", file=sys.stderr)
        if not any(config.DEMO_DIR.glob("slack/*.json")):
            demo.write(check_folder(config.DEMO_DIR, "demo folder"))
            print(f"wrote demo data (a synthetic organisation: Slack access logs, directory, networks) "
                  f"to {config.DEMO_DIR}", file=sys.stderr)
    # Chunked: a log bigger than memory streams into the store (same store as sources.load + merge).
    counts, problems = store.ingest(store_path, paths, args.format, user_column=args.user_column,
                                    time_column=args.time_column, ua_column=args.ua_column, progress=True,
                                    rescan=args.rescan)
    _print_merge(counts, problems, store_path)
    return 0


def _add_fetch(commands) -> None:
    from fleetanalysis import config, fetch

    parser = commands.add_parser("fetch", help="pull sign-in logs from a SaaS API into the store",
                                 description="Pull sign-in logs from a SaaS API, keep the raw pages, "
                                             "and merge them into the access store.")
    apis = parser.add_subparsers(title="sources", metavar="SOURCE", parser_class=type(parser))
    slack = apis.add_parser(
        "slack", help="Slack team.accessLogs (needs a user token with admin scope, paid plan)",
        description="Pull Slack team.accessLogs newer than the store already holds (beyond Slack's "
                    "100-page window by moving 'before' back), honouring rate limits (a wait over a "
                    "minute stops the run); save each raw page under --raw-dir, then merge them into "
                    "the store. A server that repeats pages or never stops paging fails the fetch. "
                    "The token is read from the environment and never written anywhere.")
    slack.add_argument("--token-env", default="SLACK_USER_TOKEN", metavar="NAME",
                       help="environment variable holding the Slack user token (default: %(default)s)")
    slack.add_argument("--base-url", type=_url, metavar="URL", help="Slack Web API root (default: Slack's)")
    slack.add_argument("--raw-dir", type=Path, default=config.RAW_DIR / "slack", metavar="DIR",
                       help="where raw pages are saved (default: data/raw/slack)")
    slack.add_argument("--store", type=Path, metavar="FILE",
                       help="Parquet store (default: the settings' store, data/processed/access.parquet)")

    def pages(text: str) -> int:
        if not text.strip().isdigit() or int(text) < 1:
            raise argparse.ArgumentTypeError(f"not a whole number of pages >= 1: {text!r}")
        return int(text)

    slack.add_argument("--max-pages", type=pages, default=fetch.MAX_PAGES, metavar="N",
                       help="stop (store unchanged) if Slack still claims more after N pages "
                            "(default: %(default)s)")
    slack.set_defaults(run=_run_fetch_slack)
    parser.set_defaults(run=lambda args: parser.print_help() or 2)


def _run_fetch_slack(args) -> int:
    from fleetanalysis import config, fetch

    from fleetanalysis.writing import check_folder

    store_path = _check_store(args.store or config.load_settings().store)
    check_folder(args.raw_dir, "raw pages folder")
    result = fetch.fetch_slack(fetch.token_from_env(args.token_env), store_path, args.raw_dir,
                               base_url=args.base_url, max_pages=args.max_pages)
    print(f"fetched {result.requests} pages into {args.raw_dir}", file=sys.stderr)
    _print_merge(result.counts, [], store_path)
    return 0


def _add_report(commands) -> None:
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
    parser.add_argument("--as-of", type=_date, metavar="DATE",
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
        print(f"fleetanalysis: {_printable(line)}", file=sys.stderr, flush=True)

    reporting.check_parameters(args.notebook, parameters)
    settings = _settings()
    if args.store is None and settings.demo and not settings.store.exists():
        from fleetanalysis import demo

        stage(f"no logs configured: writing demo data (a synthetic organisation) to {config.DEMO_DIR} "
              f"and ingesting it into {settings.store}")
        demo.ensure_store()
    page = reporting.run(args.notebook, args.out, args.as_of, parameters,
                         progress=sys.stderr.isatty(), stages=stage)
    print(page)
    return 0


def _add_schedule(commands) -> None:
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


def _add_demo(commands) -> None:
    from fleetanalysis import config

    parser = commands.add_parser(
        "demo", help="write a synthetic organisation's logs, directory and networks",
        description="Write a realistic synthetic organisation as real-format files: Slack "
                    "team.accessLogs pages, directory.csv, networks.csv and a README. Every OS, "
                    "browser and Slack desktop version in a user agent is a release the catalog lists "
                    "on or before that day; a Slack mobile app's own versions are synthetic where the "
                    "catalog has no dated list of them, as the README says. "
                    "The same seed gives the same bytes.")
    parser.add_argument("--out", type=Path, default=config.DEMO_DIR, metavar="DIR",
                        help=f"folder to write (default: {config.DEMO_DIR})")
    parser.add_argument("--users", type=int, default=300, metavar="N", help="people in the organisation (default: 300)")
    parser.add_argument("--weeks", type=int, default=26, metavar="W", help="weeks of logs (default: 26)")
    parser.add_argument("--seed", type=_whole_number(0, 2**63 - 1), default=7, metavar="S",
                        help="random seed, a whole number >= 0 (default: 7)")
    parser.add_argument("--end", type=_date, metavar="DATE",
                        help="last day of the logs (default: the date the release catalog is complete until)")
    parser.set_defaults(run=_run_demo)


def _run_demo(args) -> int:
    from fleetanalysis import config, demo, store
    from fleetanalysis.writing import check_folder

    check_folder(args.out, "demo folder")
    written = demo.write(args.out, users=args.users, weeks=args.weeks, seed=args.seed, end=args.end)
    print(f"wrote {len(written['slack'])} access-log page(s), {written['directory'].name}, "
          f"{written['networks'].name} and {written['readme'].name} to {args.out}")
    if args.out.resolve() == config.DEMO_DIR.resolve():
        # The demo store is derived from these files: a new organisation must not be merged
        # into the old one's rows, so it is rebuilt by the next ingest.
        store.remove(config.DEMO_STORE)
    return 0


def _add_catalog(commands) -> None:
    from fleetanalysis import catalog, feeds

    parser = commands.add_parser(
        "catalog", help="show the release catalog on a date, or update it from public feeds",
        description="The dated release catalog the verdicts are judged against: the shipped files, "
                    "the overlay written by 'catalog update', and your own CSV ([data] catalog in "
                    "fleetanalysis.toml).")
    parser.set_defaults(run=lambda args: parser.print_help() or 2)
    actions = parser.add_subparsers(title="actions", metavar="ACTION")
    show = actions.add_parser(
        "show", help="per product line, the newest release on a date and whether the line was supported",
        description="For each line of each product: the newest version released on or before the "
                    "date, its release date, and whether the line was still supported that day.")
    show.add_argument("--product", choices=catalog.PRODUCTS, metavar="P", help="only this product")
    show.add_argument("--as-of", type=_date, metavar="DATE", help="the date (default: today, UTC)")
    show.add_argument("--format", choices=["table", "csv", "json"], default="table",
                      help="output format (default: table); json is a list of objects with the keys "
                           "product, line, latest, released, supported")
    show.set_defaults(run=_run_catalog_show)
    coverage = actions.add_parser(
        "coverage", help="per product, the date the catalog lists every release up to",
        description="For each product: the date up to which the catalog (shipped files, overlay and "
                    "your own CSV) lists every release, whether a source vouches for that date, and "
                    "the newest release it knows. Evidence dated later cannot be judged.")
    coverage.add_argument("--format", choices=["table", "csv", "json"], default="table",
                          help="output format (default: table)")
    coverage.set_defaults(run=_run_catalog_coverage)
    update = actions.add_parser(
        "update", help="refresh releases from endoflife.date, SOFA, Chrome, Slack and Microsoft",
        description="Read public release feeds (endoflife.date API v1; Apple releases from the SOFA "
                    "feed; Chrome's VersionHistory API; Slack's release notes for iOS, Android, Mac, "
                    "Windows and Linux; Microsoft's Windows 10/11 release information with every "
                    "cumulative-update build) and write the rows to an overlay file that "
                    "the catalog reads over the shipped data; the shipped files are never edited. "
                    "A feed that fails leaves its products as they were and is reported; the exit "
                    "status is 1 only when every feed failed.")
    update.add_argument("--product", action="append", choices=catalog.PRODUCTS, metavar="P",
                        help="refresh only this product (repeatable; default: every product with a feed)")
    for feed, base in feeds.DEFAULT_BASE_URLS.items():
        update.add_argument(f"--base-url-{feed}", type=_url, metavar="URL", default=base,
                            help=f"base URL of the {feed} feed (default: {base})")
    update.add_argument("--out", type=Path, default=catalog.UPDATES_FILE, metavar="FILE",
                        help=f"overlay file to write (default: {catalog.UPDATES_FILE})")
    update.add_argument("--timeout", type=_seconds, default=20.0, metavar="SECONDS",
                        help="give up on a feed after this many seconds (default: 20)")
    update.add_argument("--budget", type=float, metavar="SECONDS",
                        help="give up on the whole refresh after this many seconds (default: no limit)")
    update.add_argument("--if-online", action="store_true",
                        help="for scheduled runs: print one summary line, and exit 0 when no feed "
                             "answers (offline), keeping the catalog as it is")
    update.set_defaults(run=_run_catalog_update)


def _run_catalog_show(args) -> int:
    import pandas as pd

    from fleetanalysis import catalog
    from fleetanalysis.writing import escape_controls

    releases = catalog.load(extra=_settings().catalog)
    if args.product:
        releases = releases[releases["product"] == args.product]
    day = args.as_of if args.as_of is not None else pd.Timestamp.now(tz="UTC").tz_localize(None).normalize()
    for product, until in catalog.coverage(releases).items():
        if day > until:
            print(f"fleetanalysis: catalog covers {product} only until {until.date()}", file=sys.stderr)
    # Versions and lines from the user's own catalog CSV are shown, not acted on, by a terminal.
    print(escape_controls(catalog.format_lines(catalog.as_of(releases, day), args.format)))
    return 0


def _run_catalog_update(args) -> int:
    from tqdm import tqdm

    from fleetanalysis import feeds
    from fleetanalysis.writing import check_writable

    check_writable(args.out, "catalog overlay")
    bases = {feed: getattr(args, f"base_url_{feed}") for feed in feeds.DEFAULT_BASE_URLS}
    progress = None if args.if_online else (lambda pairs: tqdm(pairs, desc="feeds", unit="feed", disable=None))
    try:
        results = feeds.update(out=args.out, products=args.product, base_urls=bases, timeout=args.timeout,
                               progress=progress, budget=args.budget)
    except JobFailed:
        if not args.if_online:
            raise
        print("fleetanalysis: catalog update: no feed answered (offline?); the catalog stays as it was",
              file=sys.stderr)
        return 0
    if args.if_online:
        read = [result for result in results if result.ok]
        print(f"catalog update: {len(read)} of {len(results)} feed(s) read, "
              f"{sum(len(result.rows) for result in read)} release(s); wrote {args.out}")
        return 0
    for result in results:
        if result.ok:
            print(f"{result.feed} {result.product}: {len(result.rows)} release(s)")
        else:
            print(f"fleetanalysis: {result.feed} {result.product} failed: {_printable(result.problem)}",
                  file=sys.stderr)
    print(f"wrote {args.out}")
    return 0


def _run_catalog_coverage(args) -> int:
    from fleetanalysis import catalog
    from fleetanalysis.writing import neutralise_formulas

    table = catalog.coverage_table(catalog.load(extra=_settings().catalog))
    text = table.assign(**{column: table[column].dt.strftime("%Y-%m-%d")
                           for column in ("complete_until", "newest_released")})
    if args.format == "json":
        print(text.to_json(orient="records"))
    elif args.format == "csv":
        print(neutralise_formulas(text).to_csv(index=False), end="")
    else:
        print(text.to_string(index=False))
    return 0


def _fleet_options(parser) -> None:
    """The options every command that judges the fleet from the store shares."""
    parser.add_argument("--store", type=Path, metavar="FILE",
                        help="Parquet access store (default: the settings' store)")
    parser.add_argument("--as-of", type=_date, metavar="DATE",
                        help="the date to judge, YYYY-MM-DD (default: the newest last_seen in the store)")
    parser.add_argument("--directory", type=Path, metavar="FILE",
                        help="directory CSV: user_id, email, office, department[, ownership][, exempt_until]")
    parser.add_argument("--networks", type=Path, metavar="FILE", help="CSV of cidr, office (fallback by IP)")
    parser.add_argument("--policy", type=Path, metavar="FILE", help="policy TOML read over the shipped one")
    parser.add_argument("--window-days", type=_DAYS, default=30, metavar="N",
                        help="a device counts when seen in the N days before the date, 1 to 36500 "
                             "(default: 30)")


def _fleet_at(args):
    """The run's ``analysis.Analysis`` from the shared fleet options."""
    from fleetanalysis import analysis

    if getattr(args, "engine", "pandas") == "dask":
        from fleetanalysis import scale

        return scale.prepare(args.store, args.directory, args.networks, args.policy, args.as_of,
                             args.window_days, scheduler=args.scheduler, progress=True)
    run = analysis.prepare(args.store, args.directory, args.networks, args.policy, args.as_of,
                           args.window_days, progress=True)
    for warning in run.stale_warnings():
        print(f"fleetanalysis: warning: {warning}", file=sys.stderr)
    return run


def _add_status(commands) -> None:
    parser = commands.add_parser(
        "status", help="share of devices current, grace, outdated, unsupported, unknown per group",
        description="Count devices (not log rows) seen in the window before the date, by verdict, "
                    "per platform, office, department or platform x office, with a Total row. "
                    "outdated_rate is (outdated + unsupported) over the devices that could be "
                    "judged; exempt devices are left out. JSON is a list of objects with the group "
                    "keys and devices, current, grace, outdated, unsupported, unknown, outdated_rate.")
    _fleet_options(parser)
    parser.add_argument("--by", default="platform",
                        choices=["platform", "office", "department", "platform,office"],
                        help="group devices by (default: platform)")
    parser.add_argument("--format", choices=["table", "csv", "json"], default="table",
                        help="output format (default: table)")
    parser.add_argument("--engine", choices=["pandas", "dask"], default="pandas",
                        help="pandas (default) or dask: read the store (a Parquet file, a folder of "
                             "Parquet access tables or raw logs) per partition on a Dask cluster "
                             "(needs pip install 'fleetanalysis[scale]')")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="with --engine dask: the Dask scheduler, e.g. tcp://10.0.0.5:8786 "
                             "(default: a local cluster of 2 workers)")
    parser.set_defaults(run=_run_status)


def _run_status(args) -> int:
    from fleetanalysis import metrics

    run = _fleet_at(args)
    devices, day = run.devices, run.as_of
    table = metrics.status(devices, by=args.by.split(","))
    header = (f"devices seen in the {args.window_days} days before {day:%Y-%m-%d}: "
              f"{len(devices)} ({len(metrics.exempt(devices))} exempt, left out)")
    if args.format == "table":
        print(header)
        table = table.assign(outdated_rate=table["outdated_rate"].map(
            lambda rate: "n/a" if rate != rate else f"{rate:.1%}"))
    else:
        print(header, file=sys.stderr)
    _write_table(table, args.format)
    return 0


def _add_devices(commands) -> None:
    parser = commands.add_parser(
        "devices", help="one row per device: user, office, platform, versions, verdict, reason",
        description="List the devices seen in the window before the date, each at its newest "
                    "versions: user, office, platform, OS version, clients, verdict, reason and the "
                    "version to install. CSV is formula-safe; JSON is a list of objects.")
    _fleet_options(parser)
    parser.add_argument("--format", choices=["csv", "json"], default="csv",
                        help="csv (formula-safe, default) or json (null for missing)")
    parser.set_defaults(run=_run_devices)


def _run_devices(args) -> int:
    run = _fleet_at(args)
    devices, day = run.devices, run.as_of
    columns = ["user", "user_id", "office", "department", "platform", "device_class", "os_version",
               "os_evidence", "clients", "verdict", "reason", "target", "last_seen", "exempt"]
    table = devices[columns].assign(last_seen=devices["last_seen"].dt.strftime("%Y-%m-%d"))
    print(f"devices seen in the {args.window_days} days before {day:%Y-%m-%d}: {len(table)}",
          file=sys.stderr)
    _write_table(table, args.format)
    return 0


COMMANDS: list[Callable] = [
    # In the order data flows: logs in, client facts, releases, the fleet, reports, nudges.
    _add_demo, _add_ingest, _add_fetch, _add_ua, _add_catalog, _add_status, _add_devices,
    _add_report, _add_schedule, _add_nudges, _add_slack_events, _add_version,
]


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
        print(f"fleetanalysis: {_printable(problem)}", file=sys.stderr)
        return 2
    except JobFailed as failure:
        print(f"fleetanalysis: {_printable(failure)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fleetanalysis: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as error:
        # Disk full, read-only, no permission, a folder for a file: the user's to fix.
        problem = filesystem_problem(error)
        if problem is None:
            raise
        print(f"fleetanalysis: {_printable(problem)}", file=sys.stderr)
        return 2
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
