"""Releases: ``catalog show``, ``catalog coverage`` and ``catalog update``."""

from __future__ import annotations

import sys
from pathlib import Path

from fleetanalysis.cli import choices
from fleetanalysis.cli.arguments import active_settings, parse_date, parse_seconds, parse_url
from fleetanalysis.cli.output import printable, write_table
from fleetanalysis.errors import JobFailed


def add_catalog(commands) -> None:
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
                    "date, its release date, whether the line was still supported that day, and "
                    "whether it is offered as an update (false: a line for new devices only, such as "
                    "Windows 11 26H1, which no device on another line is asked to install).")
    show.add_argument("--product", choices=choices.PRODUCTS, metavar="P", help="only this product")
    show.add_argument("--as-of", type=parse_date, metavar="DATE", help="the date (default: today, UTC)")
    show.add_argument("--format", choices=["table", "csv", "json"], default="table",
                      help="output format (default: table); json is a list of objects with the keys "
                           "product, line, latest, released, supported, offered")
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
    update.add_argument("--product", action="append", choices=choices.PRODUCTS, metavar="P",
                        help="refresh only this product (repeatable; default: every product with a feed)")
    for feed, base in choices.FEED_BASE_URLS.items():
        update.add_argument(f"--base-url-{feed}", type=parse_url, metavar="URL", default=base,
                            help=f"base URL of the {feed} feed (default: {base})")
    update.add_argument("--out", type=Path, default=choices.CATALOG_UPDATES_FILE, metavar="FILE",
                        help=f"overlay file to write (default: {choices.CATALOG_UPDATES_FILE})")
    update.add_argument("--timeout", type=parse_seconds, default=20.0, metavar="SECONDS",
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

    releases = catalog.load(extra=active_settings().catalog)
    if args.product:
        releases = releases[releases["product"] == args.product]
    day = args.as_of if args.as_of is not None else pd.Timestamp.now(tz="UTC").tz_localize(None).normalize()
    behind = catalog.coverage(releases).loc[lambda until: until < day].sort_values()
    if len(behind) == 1:
        print(f"fleetanalysis: catalog covers {behind.index[0]} only until {behind.iloc[0]:%Y-%m-%d}", file=sys.stderr)
    elif len(behind):
        # One line: the table is what was asked for; 'catalog coverage' has the dates.
        print(f"fleetanalysis: the catalog's lists of {len(behind)} products end before {day:%Y-%m-%d} "
              f"(the oldest: {behind.index[0]}, complete until {behind.iloc[0]:%Y-%m-%d}); "
              "'fleetanalysis catalog coverage' lists each", file=sys.stderr)
    lines = catalog.as_of(releases, day)
    # JSON keeps the flags booleans; text and CSV read "true"/"false".
    flags = {flag: lines[flag].astype(bool) if args.format == "json" else lines[flag].map({True: "true", False: "false"})
             for flag in ("supported", "offered")}
    shown = lines.assign(released=lines["released"].dt.strftime("%Y-%m-%d"), **flags)
    write_table(shown[["product", "line", "latest", "released", "supported", "offered"]], args.format,
                empty="(no releases on that date)")
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
            print(f"fleetanalysis: {result.feed} {result.product} failed: {printable(result.problem)}",
                  file=sys.stderr)
    print(f"wrote {args.out}")
    return 0


def _run_catalog_coverage(args) -> int:
    from fleetanalysis import catalog

    table = catalog.coverage_table(catalog.load(extra=active_settings().catalog))
    write_table(table.assign(**{column: table[column].dt.strftime("%Y-%m-%d")
                                for column in ("complete_until", "newest_released")}), args.format)
    return 0
