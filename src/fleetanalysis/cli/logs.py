"""Logs in: ``demo``, ``ingest``, ``fetch`` and ``ua``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from fleetanalysis.cli import choices
from fleetanalysis.cli.arguments import active_settings, parse_date, parse_url, whole_number
from fleetanalysis.cli.output import print_merge, printable, write_rows, write_table
from fleetanalysis.errors import BadInput


def add_demo(commands) -> None:
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
    parser.add_argument("--seed", type=whole_number(0, 2**63 - 1), default=7, metavar="S",
                        help="random seed, a whole number >= 0 (default: 7)")
    parser.add_argument("--end", type=parse_date, metavar="DATE",
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


def add_ingest(commands) -> None:
    parser = commands.add_parser(
        "ingest", help="read sign-in logs into the Parquet access store",
        description="Read sign-in logs (Slack access or audit logs, Okta, Entra ID, Google Workspace "
                    "mobile, GitHub audit, any CSV with user, time and user agent; gzip, folders and "
                    "globs accepted) and merge them into the access store without double counting. "
                    "Prints rows read, loaded, rejected and merged as duplicates per file; rejected "
                    "rows and their reasons go to <store stem>-rejected.csv beside the store. A file "
                    "already ingested and unchanged since (size and mtime, else content hash, in "
                    "_manifest.json inside the store folder) is skipped without being read.")
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="log file, folder or glob (default: the logs in fleetanalysis.toml, or the "
                             "demo organisation under data/demo, written first if missing)")
    parser.add_argument("--format", choices=choices.FORMATS, help="skip detection and read every file as this format")
    parser.add_argument("--store", type=Path, metavar="FILE",
                        help="Parquet store (default: the settings' store, data/processed/access.parquet)")
    parser.add_argument("--user-column", metavar="NAME", help="CSV: column holding the user (default: guessed)")
    parser.add_argument("--time-column", metavar="NAME", help="CSV: column holding the time (default: guessed)")
    parser.add_argument("--ua-column", metavar="NAME", help="CSV: column holding the user agent (default: guessed)")
    parser.add_argument("--rescan", action="store_true",
                        help="read every file, also those the manifest lists as unchanged")
    parser.set_defaults(run=_run_ingest)


def check_store(store_path: Path) -> Path:
    """``store_path`` once the store and its rejected-rows CSV can both be written (else exit 2)."""
    from fleetanalysis import store
    from fleetanalysis.writing import check_writable

    store.check_writable(store_path)
    check_writable(store.rejected_path(store_path), "rejected-rows CSV")
    return store_path


def _run_ingest(args) -> int:
    from fleetanalysis import config, store
    from fleetanalysis.writing import check_folder

    settings = active_settings()
    paths = args.paths or settings.logs
    if not paths:
        # A settings file naming only a store (filled by `fetch`): nothing to read, nothing to
        # change, as long as that store is one.
        from fleetanalysis.store import dataset

        listed = f"no logs listed in {config.settings_path()} ([data] logs): nothing to ingest"
        if not settings.store.exists():
            raise BadInput(settings.store, f"{listed}, and no store here yet (list logs, or fill it with "
                           "`fleetanalysis fetch slack`)")
        if not settings.store.is_dir():
            dataset.check_file(settings.store)
        print(f"fleetanalysis: {listed}; {printable(settings.store)} is used as it is", file=sys.stderr)
        return 0
    # Your own files never go into the demo organisation's store.
    own = args.paths and settings.demo and args.store is None
    store_path = check_store(args.store or (config.load_settings().store if own else settings.store))
    if not args.paths and settings.demo:
        from fleetanalysis import demo

        print(f"{no_logs_configured()}: using the demo organisation in {config.DEMO_DIR}", file=sys.stderr)
        if not any(config.DEMO_DIR.glob("slack/*.json")):
            demo.write(check_folder(config.DEMO_DIR, "demo folder"))
            print(f"wrote demo data (a synthetic organisation: Slack access logs, directory, networks) "
                  f"to {config.DEMO_DIR}", file=sys.stderr)
    # Chunked: a log bigger than memory streams into the store (same store as sources.load + merge).
    counts, problems = store.ingest(store_path, paths, args.format, user_column=args.user_column,
                                    time_column=args.time_column, ua_column=args.ua_column, progress=True,
                                    rescan=args.rescan)
    print_merge(counts, problems, store_path)
    if own:
        print(f"fleetanalysis: no logs configured, so the other commands use the demo organisation: give them "
              f"--store {printable(store_path)}, or list the logs under [data] logs in fleetanalysis.toml",
              file=sys.stderr)
    if problems:
        # The files that could be read are in the store; a cron job must still see the rest.
        print(f"fleetanalysis: {len(problems)} of {len(problems) + len(counts)} files could not be read "
              "(named above); the others are in the store", file=sys.stderr)
        return 2
    return 0


def no_logs_configured() -> str:
    """Why the demo organisation is used, and where real logs are configured.

    >>> import os, unittest.mock
    >>> with unittest.mock.patch.dict(os.environ, {"FLEETANALYSIS_CONFIG": "/nowhere/fleetanalysis.toml"}):
    ...     no_logs_configured()
    "no logs configured: no /nowhere/fleetanalysis.toml (create it with [data] logs = [...], see README 'Point it at your logs')"
    """
    from fleetanalysis import config

    path = config.settings_path()
    if not path.exists():
        return f"no logs configured: no {path} (create it with [data] logs = [...], see README 'Point it at your logs')"
    return f"no logs configured in {path}: add [data] logs = [...] (see README 'Point it at your logs')"


def add_fetch(commands) -> None:
    from fleetanalysis import config

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
    slack.add_argument("--base-url", type=parse_url, metavar="URL", help="Slack Web API root (default: Slack's)")
    slack.add_argument("--raw-dir", type=Path, default=config.RAW_DIR / "slack", metavar="DIR",
                       help="where raw pages are saved (default: data/raw/slack)")
    slack.add_argument("--store", type=Path, metavar="FILE",
                       help="Parquet store (default: the settings' store, data/processed/access.parquet)")

    def pages(text: str) -> int:
        if not text.strip().isdigit() or int(text) < 1:
            raise argparse.ArgumentTypeError(f"not a whole number of pages >= 1: {text!r}")
        return int(text)

    slack.add_argument("--max-pages", type=pages, default=choices.SLACK_MAX_PAGES, metavar="N",
                       help="stop (store unchanged) if Slack still claims more after N pages "
                            "(default: %(default)s)")
    slack.add_argument("--if-configured", action="store_true",
                       help="for scheduled runs: with no token and no Slack logs configured, say the "
                            "fetch is skipped and exit 0 (a configured Slack source without its "
                            "token still fails, exit 2)")
    slack.set_defaults(run=_run_fetch_slack)
    parser.set_defaults(run=lambda args: parser.print_help() or 2)


def _run_fetch_slack(args) -> int:
    from fleetanalysis import config, fetch
    from fleetanalysis.writing import check_folder

    settings = config.load_settings()
    if args.if_configured and not os.environ.get(args.token_env, "").strip():
        configured = next((log for log in settings.logs if _covers(log, args.raw_dir)), None)
        if configured is None:
            print(f"skipping the Slack fetch: ${args.token_env} is unset and no log in "
                  f"{config.settings_path()} is under {args.raw_dir}", file=sys.stderr)
            return 0
        raise BadInput(f"${args.token_env}", "no Slack token",
                       f"the Slack logs {configured} in {config.settings_path()} need a user token "
                       "with the admin scope (xoxp-...)")
    store_path = check_store(args.store or settings.store)
    check_folder(args.raw_dir, "raw pages folder")
    result = fetch.fetch_slack(fetch.token_from_env(args.token_env), store_path, args.raw_dir,
                               base_url=args.base_url, max_pages=args.max_pages)
    print(f"fetched {result.requests} pages into {args.raw_dir}", file=sys.stderr)
    print_merge(result.counts, [], store_path)
    return 0


def _covers(log: Path, raw_dir: Path) -> bool:
    """True when the configured ``log`` (a folder, file or glob) reads pages saved in ``raw_dir``.

    >>> _covers(Path("/p/data/raw/slack/*.json"), Path("/p/data/raw/slack"))
    True
    >>> _covers(Path("/p/data/raw"), Path("/p/data/raw/slack")), _covers(Path("/p/data/raw/okta"), Path("/p/data/raw/slack"))
    (True, False)
    """
    parts = Path(log).parts
    fixed = Path(*parts[:next((at for at, part in enumerate(parts) if any(mark in part for mark in "*?[")),
                              len(parts))])
    here, there = fixed.resolve(), Path(raw_dir).resolve()
    return here == there or here.is_relative_to(there) or there.is_relative_to(here)


def add_ua(commands) -> None:
    parser = commands.add_parser(
        "ua", help="describe user agents given as arguments or read from stdin",
        description="Describe user-agent strings given as arguments, or else read one per line on "
                    "stdin, and write one row per string, in input order: platform, OS version and "
                    "how far it can be trusted, client, catalog product, device class, and the "
                    "reason where something cannot be read.")
    parser.add_argument("agents", nargs="*", metavar="AGENT",
                        help="user-agent strings (quote each one); none: read stdin")
    parser.add_argument("--format", choices=["csv", "json"], default="csv",
                        help="csv (formula-safe, default) or json (a list of objects, null for missing)")
    parser.set_defaults(run=_run_ua)


# Up to this many strings are described one by one without pandas (fleetanalysis ua
# answers in a fraction of a second); more go through clients.lookup with a progress bar.
UA_FEW = 10_000


def _run_ua(args) -> int:
    agents = args.agents or _stdin_lines()
    for number, agent in enumerate(agents, start=1):
        try:
            agent.encode("utf-8")
        except UnicodeEncodeError as error:
            where = f"argument {number}" if args.agents else f"stdin line {number}"
            raise BadInput(f"{where}: not UTF-8 (byte 0x{ord(agent[error.start]) & 0xFF:02x}); "
                           "pass UTF-8 text") from None
    if len(agents) > UA_FEW:
        from fleetanalysis import clients

        write_table(clients.lookup(agents, progress=True), args.format)
        return 0
    from fleetanalysis.clients import COLUMNS, describe_agent

    write_rows([{"user_agent": agent, **describe_agent(agent)} for agent in agents],
               ["user_agent", *COLUMNS], args.format)
    return 0


def _stdin_lines() -> list[str]:
    """stdin's lines (a last newline ends the last line), read as UTF-8, else exit 2."""
    try:
        # Bytes, not the text stream: under a C locale a bad byte would hide as a surrogate.
        text = sys.stdin.buffer.read().decode("utf-8-sig") if hasattr(sys.stdin, "buffer") else sys.stdin.read()
    except UnicodeDecodeError as error:
        line = error.object.count(b"\n", 0, error.start) + 1
        raise BadInput("stdin", f"line {line}",
                       f"not UTF-8 (byte 0x{error.object[error.start]:02x}); pass UTF-8 text") from None
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    return lines[:-1] if lines[-1] == "" else lines
