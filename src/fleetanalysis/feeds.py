"""Refreshing the release catalog from public feeds, into an overlay the shipped files never see.

Five feeds, each read with the standard library (``urllib``) and a timeout:

* endoflife.date API v1, ``{base}/api/v1/products/{product}``: per line its end of support
  (``eolFrom``) and its newest release (``latest.name``, ``latest.date``). It does not list
  the releases in between, so it only vouches for completeness where each line is one
  version (Android).
* SOFA (macadmins), ``{base}/v1/ios_data_feed.json`` and ``{base}/v1/macos_data_feed.json``:
  every Apple security release (``OSVersions[].SecurityReleases[]``) with its
  ``ProductVersion``, ``ReleaseDate`` and ``ActivelyExploitedCVEs``.
* Chrome VersionHistory, ``{base}/v1/chrome/platforms/win/channels/stable/versions/all/releases``:
  every stable release with the time it started serving; pages follow ``nextPageToken``.
* Slack release notes, ``{base}/release-notes/{ios,android,mac,windows,linux}``: one
  ``<article>`` per release, ``<h2>Slack 4.41.105</h2>`` then ``<p>November 5, 2024</p>``;
  the page lists every release, so it vouches for completeness. Desktop versions take the
  latest date any of the three desktop pages gives (lenient, never harsher).
* Windows release information, ``{base}/en-us/windows/release-health/release-information``
  and ``.../windows11-release-information``: per ``Version 22H2 (OS build 19045)`` a
  history table of cumulative updates (availability date, build ``19045.5737``); rows
  become ``10.0.19045.5737`` in line ``10 22H2``. Optional previews (update type ``D``, or
  without that column any day but Patch Tuesday) are left out: a device on the month's
  security update must not look behind a preview it was never offered.

Rows go to ``data/processed/catalog-updates.csv`` (``catalog.UPDATES_FILE``), which
``catalog.load()`` reads over the shipped files. A feed that fails leaves its products'
rows as they were and is reported; the run fails only when every feed failed.

Examples:
    >>> payload = {"result": {"releases": [{"name": "15", "releaseDate": "2024-10-15",
    ...            "eolFrom": None, "isEol": False, "latest": {"name": "15", "date": "2024-10-15"}}]}}
    >>> endoflife_releases(payload, "android", pd.Timestamp("2024-11-01"))[["version", "line", "complete_until"]].astype(str).values.tolist()
    [['15', '15', '2024-11-01']]
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fleetanalysis import __version__
from fleetanalysis.catalog import PRODUCTS, UPDATES_FILE, load_releases_csv, version_key
from fleetanalysis.days import utc_day
from fleetanalysis.errors import BadInput, JobFailed
from fleetanalysis.writing import write_csv

DEFAULT_BASE_URLS = {
    "endoflife": "https://endoflife.date",
    "sofa": "https://sofafeed.macadmins.io",
    "chrome": "https://versionhistory.googleapis.com",
    "slack": "https://slack.com",
    "windows": "https://learn.microsoft.com",
}
# Our product id -> the feed's. Products absent here have no public feed we trust.
ENDOFLIFE_PRODUCTS = {"ios": "ios", "ipados": "ipados", "macos": "macos", "android": "android",
                      "firefox": "firefox", "safari": "safari"}
SOFA_PRODUCTS = {"ios": "ios", "ipados": "ios", "macos": "macos"}
CHROME_PRODUCTS = {"chrome": "win"}
# Our product -> the platforms of https://slack.com/release-notes/<platform> it is built from.
SLACK_PRODUCTS = {"slack-ios": ("ios",), "slack-android": ("android",),
                  "slack-desktop": ("mac", "windows", "linux")}
# Microsoft's release information pages, one per Windows generation.
WINDOWS_PAGES = {"windows": ("en-us/windows/release-health/release-information",
                             "en-us/windows/release-health/windows11-release-information")}
FEEDS = {"endoflife": ENDOFLIFE_PRODUCTS, "sofa": SOFA_PRODUCTS, "chrome": CHROME_PRODUCTS,
         "slack": SLACK_PRODUCTS, "windows": WINDOWS_PAGES}
# endoflife.date lists every version these products are judged on (one per line).
ENDOFLIFE_COMPLETE = ("android",)
OVERLAY_COLUMNS = ["product", "version", "released", "line", "eol", "exploited", "source", "complete_until"]
_CHROME_PAGES = 200


class FeedFailed(Exception):
    """A feed could not be read or did not have the documented shape."""


@dataclass
class FeedResult:
    """What one feed gave for one product: rows, or the problem that stopped it."""

    feed: str
    product: str
    url: str
    rows: pd.DataFrame | None = None
    problem: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the feed was read."""
        return self.problem is None


def fetch_json(url: str, timeout: float = 20.0):
    """GET ``url`` and decode JSON; any failure is a ``FeedFailed`` naming the URL.

    Examples:
        >>> fetch_json("http://127.0.0.1:9/none.json", timeout=0.5)
        Traceback (most recent call last):
        ...
        fleetanalysis.feeds.FeedFailed: http://127.0.0.1:9/none.json: ...
    """
    body = _fetch(url, timeout, "application/json")
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FeedFailed(f"{url}: not JSON ({error.__class__.__name__})") from None


def fetch_html(url: str, timeout: float = 20.0) -> str:
    """GET ``url`` as text (a release-notes page); any failure is a ``FeedFailed`` naming the URL.

    Examples:
        >>> fetch_html("http://127.0.0.1:9/release-notes/ios", timeout=0.5)
        Traceback (most recent call last):
        ...
        fleetanalysis.feeds.FeedFailed: http://127.0.0.1:9/release-notes/ios: ...
    """
    body = _fetch(url, timeout, "text/html")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise FeedFailed(f"{url}: not UTF-8 text") from None


def _fetch(url: str, timeout: float, accept: str) -> bytes:
    request = urllib.request.Request(url, headers={
        "User-Agent": f"fleetanalysis/{__version__} (catalog update)", "Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        raise FeedFailed(f"{url}: HTTP {error.code}") from None
    except urllib.error.URLError as error:
        raise FeedFailed(f"{url}: {error.reason}") from None
    except (TimeoutError, OSError) as error:
        raise FeedFailed(f"{url}: {error.__class__.__name__} ({error})") from None


def _frame(records: list[dict], source: str, checked: pd.Timestamp | None) -> pd.DataFrame:
    """Feed records as overlay rows, dropping any whose version or date cannot be read."""
    frame = pd.DataFrame(records, columns=["product", "version", "released", "line", "eol", "exploited"])
    for column in ("released", "eol"):
        frame[column] = utc_day(pd.to_datetime(frame[column], errors="coerce", utc=True, format="ISO8601"))
    frame = frame.astype({"product": "str", "version": "str", "line": "str", "exploited": "boolean",
                          "released": "datetime64[us]", "eol": "datetime64[us]"})
    frame = frame[version_key(frame["version"]).notna() & frame["released"].notna() & frame["line"].notna()]
    frame = frame.assign(source=source, complete_until=checked)
    return frame.astype({"source": "str", "complete_until": "datetime64[us]"})[OVERLAY_COLUMNS].reset_index(drop=True)


def endoflife_releases(payload, product: str, checked: pd.Timestamp) -> pd.DataFrame:
    """Overlay rows from an endoflife.date v1 product answer: each line's newest release and end of support.

    Examples:
        >>> payload = {"result": {"releases": [
        ...     {"name": "17", "releaseDate": "2023-09-18", "eolFrom": "2025-09-15", "isEol": True,
        ...      "latest": {"name": "17.7.2", "date": "2024-11-19"}}]}}
        >>> endoflife_releases(payload, "ios", pd.Timestamp("2026-01-01"))[["version", "eol"]].astype(str).values.tolist()
        [['17.7.2', '2025-09-15']]
    """
    try:
        lines = payload["result"]["releases"]
        records = []
        for line in lines:
            name = str(line["name"])
            latest = line.get("latest") or {}
            common = {"product": product, "line": name, "eol": line.get("eolFrom"), "exploited": pd.NA}
            if product in ENDOFLIFE_COMPLETE and line.get("releaseDate"):
                records.append({**common, "version": name, "released": line["releaseDate"]})
            if latest.get("name") and latest.get("date"):
                records.append({**common, "version": str(latest["name"]), "released": latest["date"]})
    except (KeyError, TypeError, AttributeError) as error:
        raise FeedFailed(f"not the endoflife.date v1 shape (missing {error})") from None
    rows = _frame(records, "endoflife.date", checked if product in ENDOFLIFE_COMPLETE else None)
    return rows.drop_duplicates("version", keep="last").reset_index(drop=True)


def sofa_releases(payload, product: str, checked: pd.Timestamp) -> pd.DataFrame:
    """Overlay rows from a SOFA v1 feed: every security release, flagged where it fixed exploited CVEs.

    For ``ipados`` only releases whose name mentions iPadOS are kept.

    Examples:
        >>> payload = {"OSVersions": [{"OSVersion": "Sequoia 15", "SecurityReleases": [
        ...     {"UpdateName": "macOS Sequoia 15.1", "ProductVersion": "15.1",
        ...      "ReleaseDate": "2024-10-28T00:00:00Z", "ActivelyExploitedCVEs": []}]}]}
        >>> sofa_releases(payload, "macos", pd.Timestamp("2024-11-01"))[["version", "line", "exploited"]].values.tolist()
        [['15.1', '15', False]]
    """
    try:
        records = []
        for os_version in payload["OSVersions"]:
            named = re.search(r"(\d+)\s*$", str(os_version.get("OSVersion", "")))
            for release in os_version.get("SecurityReleases") or []:
                version = str(release["ProductVersion"])
                title = f"{release.get('UpdateName', '')} {release.get('ProductName', '')}"
                if product == "ipados" and "ipados" not in title.lower():
                    continue
                records.append({
                    "product": product, "version": version, "released": release["ReleaseDate"],
                    "line": named.group(1) if named else version.split(".")[0], "eol": None,
                    "exploited": bool(release.get("ActivelyExploitedCVEs")),
                })
    except (KeyError, TypeError, AttributeError) as error:
        raise FeedFailed(f"not the SOFA v1 shape (missing {error})") from None
    rows = _frame(records, "sofa", checked)
    return rows.sort_values("released").drop_duplicates("version", keep="first").reset_index(drop=True)


def chrome_releases(pages: Iterable, checked: pd.Timestamp) -> pd.DataFrame:
    """Overlay rows from Chrome VersionHistory release pages: each version dated by when it first served.

    Examples:
        >>> page = {"releases": [
        ...     {"version": "124.0.6367.60", "serving": {"startTime": "2024-04-16T18:02:11Z"}},
        ...     {"version": "124.0.6367.60", "serving": {"startTime": "2024-04-17T01:00:00Z"}}]}
        >>> chrome_releases([page], pd.Timestamp("2024-05-01"))[["version", "released", "line"]].astype(str).values.tolist()
        [['124.0.6367.60', '2024-04-16', '124']]
    """
    try:
        records = [
            {"product": "chrome", "version": str(release["version"]), "released": release["serving"]["startTime"],
             "line": str(release["version"]).split(".")[0], "eol": None, "exploited": pd.NA}
            for page in pages for release in page.get("releases") or []
        ]
    except (KeyError, TypeError, AttributeError) as error:
        raise FeedFailed(f"not the VersionHistory shape (missing {error})") from None
    rows = _frame(records, "chrome-versionhistory", checked)
    return rows.sort_values("released").drop_duplicates("version", keep="first").reset_index(drop=True)


# One release of a Slack release-notes page: the version heading, then the date paragraph.
_SLACK_RELEASE = re.compile(
    r"<h2[^>]*>\s*Slack\s+(?P<version>\d+(?:\.\d+)+)\s*</h2>\s*(?:<!--.*?-->\s*)*"
    r"<p[^>]*>\s*(?P<date>[^<]*?)\s*</p>", re.IGNORECASE | re.DOTALL)


def slack_releases(pages: dict[str, str], product: str, checked: pd.Timestamp) -> pd.DataFrame:
    """Overlay rows from Slack release-notes pages (platform -> HTML), complete to ``checked``.

    A version on several pages (the desktop app ships to Mac, Windows and Linux) takes the
    latest of its dates: a date later than the true one only makes judging more lenient.
    Line = the first two parts (``4.41``, ``25.10``).

    Examples:
        >>> page = ('<article><a name="11727"></a><h2 class="u-flex">Slack 4.41.105</h2>'
        ...         '<p>November 5, 2024</p><h3>Bug Fixes</h3><ul><li>...</li></ul></article>')
        >>> slack_releases({"mac": page}, "slack-desktop", pd.Timestamp("2024-12-01"))[
        ...     ["version", "released", "line"]].astype(str).values.tolist()
        [['4.41.105', '2024-11-05', '4.41']]
    """
    records = []
    for platform, page in pages.items():
        found = [(match["version"], match["date"]) for match in _SLACK_RELEASE.finditer(page)]
        if not found:
            raise FeedFailed(f"not the Slack release-notes shape: no '<h2>Slack <version></h2>' on the {platform} page")
        for version, date in found:
            released = pd.to_datetime(date, format="%B %d, %Y", errors="coerce")
            records.append({"product": product, "version": version, "released": released,
                            "line": ".".join(version.split(".")[:2]), "eol": None, "exploited": pd.NA})
    rows = _frame(records, "slack-release-notes", checked)
    return rows.sort_values("released").drop_duplicates("version", keep="last").reset_index(drop=True)


_WINDOWS_VERSION = re.compile(r"Version\s+(?P<release>\w+)\s*(?:\([^)]*?\)\s*)?\(OS\s+build\s+(?P<build>\d{5})\)",
                              re.IGNORECASE)
_TABLE = re.compile(r"<table\b[^>]*>(?P<body>.*?)</table>", re.IGNORECASE | re.DOTALL)
_ROW = re.compile(r"<tr\b[^>]*>(?P<cells>.*?)</tr>", re.IGNORECASE | re.DOTALL)
_CELL = re.compile(r"<t(?P<kind>[hd])\b[^>]*>(?P<text>.*?)</t[hd]>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_BUILD = re.compile(r"\b(?P<build>\d{5})\.(?P<revision>\d+)\b")


def windows_releases(pages: Iterable[str], checked: pd.Timestamp) -> pd.DataFrame:
    """Overlay rows from Microsoft's Windows release information pages: every cumulative update.

    Each history table belongs to the ``Version 22H2 (OS build 19045)`` heading before it;
    its rows give ``Availability date`` and ``Build`` (and, on newer pages, ``Update type``).
    The version is ``10.0.<build>.<revision>``, the line ``<10 or 11> <release>`` as in the
    shipped ``windows.csv`` (builds from 22000 on are Windows 11). Optional previews are
    left out (see the module's notes); tables under no version heading (the summary at the
    top of the page) are skipped.

    Examples:
        >>> page = ('<strong>Version 22H2 (OS build 19045)</strong><table id="historyTable_0">'
        ...         '<tr><th>Servicing option</th><th>Availability date</th><th>Build</th><th>KB article</th></tr>'
        ...         '<tr><td>General Availability Channel</td><td>2025-04-08</td><td>19045.5737</td>'
        ...         '<td>KB5055518</td></tr>'
        ...         '<tr><td>General Availability Channel</td><td>2025-03-25</td><td>19045.5679</td>'
        ...         '<td>KB5053643</td></tr></table>')
        >>> windows_releases([page], pd.Timestamp("2025-05-01"))[["version", "released", "line"]].astype(str).values.tolist()
        [['10.0.19045.5737', '2025-04-08', '10 22H2']]
    """
    records = []
    for page in pages:
        headings = [(match.start(), match["release"], match["build"]) for match in _WINDOWS_VERSION.finditer(_TAG.sub(
            lambda tag: " " * len(tag.group(0)), page))]
        if not headings:
            raise FeedFailed("not the Windows release information shape: no 'Version ... (OS build ...)' heading")
        for table in _TABLE.finditer(page):
            before = [heading for heading in headings if heading[0] < table.start()]
            if not before:
                continue
            _, release, build = before[-1]
            records += _windows_table(table["body"], release, build)
    rows = _frame(records, "windows-release-information", checked)
    return rows.sort_values("released").drop_duplicates("version", keep="first").reset_index(drop=True)


def _windows_table(body: str, release: str, build: str) -> list[dict]:
    """The cumulative updates of one history table that a device is offered as a matter of course."""
    header, records = None, []
    for row in _ROW.finditer(body):
        cells = [(cell["kind"].lower(), " ".join(_TAG.sub(" ", cell["text"]).split())) for cell in _CELL.finditer(row["cells"])]
        if cells and all(kind == "h" for kind, _ in cells):
            header = [text.lower() for _, text in cells]
            continue
        if header is None or "build" not in header or "availability date" not in header:
            continue
        values = dict(zip(header, (text for _, text in cells)))
        released = pd.to_datetime(values.get("availability date", ""), format="%Y-%m-%d", errors="coerce")
        if pd.isna(released):
            continue
        kind = values.get("update type")
        if kind is not None:
            # "2025-03 D" is the optional preview of the month; B (security) and OOB are offered to all.
            if re.search(r"\bD\b", kind):
                continue
        elif not (released.day_of_week == 1 and 8 <= released.day <= 14):
            continue
        for match in _BUILD.finditer(values.get("build", "")):
            if match["build"] != build:
                continue
            generation = "11" if int(build) >= 22000 else "10"
            records.append({"product": "windows", "version": f"10.0.{build}.{match['revision']}",
                            "released": released, "line": f"{generation} {release}", "eol": None,
                            "exploited": pd.NA})
    return records


def plan(products: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """The (feed, product) pairs to read for ``products`` (all with a feed when None).

    Products without a public feed raise ``BadInput`` when asked for by name.

    Examples:
        >>> plan(["ios", "chrome", "slack-ios"])
        [('endoflife', 'ios'), ('sofa', 'ios'), ('chrome', 'chrome'), ('slack', 'slack-ios')]
    """
    wanted = list(products) if products else [p for p in PRODUCTS if any(p in table for table in FEEDS.values())]
    pairs = []
    for product in wanted:
        if product not in PRODUCTS:
            raise BadInput("--product", product, f"unknown product (one of {', '.join(PRODUCTS)})")
        found = [(feed, product) for feed, table in FEEDS.items() if product in table]
        if not found:
            raise BadInput("--product", product, "no public feed for this product; add its releases to your own catalog CSV")
        pairs += found
    return pairs


def refresh(products: Iterable[str] | None = None, base_urls: dict[str, str] | None = None,
            timeout: float = 20.0, today: pd.Timestamp | None = None, progress=None,
            budget: float | None = None) -> list[FeedResult]:
    """Read every planned feed; each result has rows or the problem that stopped it.

    ``progress`` wraps the list of (feed, product) pairs (e.g. ``tqdm``). ``budget`` bounds
    the whole refresh in seconds: no request waits past it, and feeds not reached in time
    fail with "time budget spent", so an offline scheduled run goes on within seconds.

    Examples:
        >>> [result.problem for result in refresh(["android"], {"endoflife": "http://127.0.0.1:9"}, timeout=0.5)]
        ['http://127.0.0.1:9/api/v1/products/android: ...']
    """
    if not timeout > 0:
        raise BadInput("--timeout", "", f"must be more than 0 seconds, not {timeout}")
    if budget is not None and not budget > 0:
        raise BadInput("--budget", "", f"must be more than 0 seconds, not {budget}")
    bases = {**DEFAULT_BASE_URLS, **{k: v for k, v in (base_urls or {}).items() if v}}
    checked = utc_day(pd.Timestamp(today) if today is not None else pd.Timestamp.now(tz="UTC"))
    deadline = None if budget is None else time.monotonic() + budget
    fetched: dict[str, object] = {}

    def get(url, fetch=fetch_json):
        if url not in fetched:
            left = timeout if deadline is None else min(timeout, deadline - time.monotonic())
            try:
                if left <= 0:
                    raise FeedFailed(f"{url}: time budget spent")
                fetched[url] = fetch(url, left) if deadline is None else _within(left, fetch, url, left)
            except FeedFailed as failure:
                fetched[url] = failure
        if isinstance(fetched[url], FeedFailed):
            raise fetched[url]
        return fetched[url]

    results = []
    pairs = plan(products)
    for feed, product in (progress(pairs) if progress else pairs):
        base = bases[feed].rstrip("/")
        urls = _urls(feed, product, base)
        result = FeedResult(feed, product, urls[0])
        try:
            if feed == "endoflife":
                rows = endoflife_releases(get(urls[0]), product, checked)
            elif feed == "sofa":
                rows = sofa_releases(get(urls[0]), product, checked)
            elif feed == "chrome":
                rows = chrome_releases(_pages(urls[0], get), checked)
            elif feed == "slack":
                pages = {url.rsplit("/", 1)[-1]: get(url, fetch_html) for url in urls}
                rows = slack_releases(pages, product, checked)
            else:
                rows = windows_releases([get(url, fetch_html) for url in urls], checked)
            if rows.empty:
                raise FeedFailed("no releases in the answer")
            result.rows = rows
        except FeedFailed as failure:
            text = str(failure)
            result.problem = text if text.startswith(base) else f"{result.url}: {text}"
        results.append(result)
    return results


def _within(seconds: float, fetch, url: str, timeout: float):
    """``fetch(url, timeout)``, abandoned after ``seconds``: a socket timeout does not cover
    the name lookup, which on a machine without network can block far longer."""
    answer: list = []

    def run():
        try:
            answer.append(fetch(url, timeout))
        except FeedFailed as failure:
            answer.append(failure)

    # A daemon thread: one stuck in a name lookup must not keep the process alive.
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    if not answer:
        raise FeedFailed(f"{url}: time budget spent")
    if isinstance(answer[0], FeedFailed):
        raise answer[0]
    return answer[0]


def _urls(feed: str, product: str, base: str) -> list[str]:
    """The addresses one (feed, product) reads; the first names it in messages."""
    if feed == "endoflife":
        return [f"{base}/api/v1/products/{urllib.parse.quote(ENDOFLIFE_PRODUCTS[product])}"]
    if feed == "sofa":
        return [f"{base}/v1/{SOFA_PRODUCTS[product]}_data_feed.json"]
    if feed == "chrome":
        return [f"{base}/v1/chrome/platforms/{CHROME_PRODUCTS[product]}/channels/stable/versions/all/releases"]
    if feed == "slack":
        return [f"{base}/release-notes/{platform}" for platform in SLACK_PRODUCTS[product]]
    return [f"{base}/{path}" for path in WINDOWS_PAGES[product]]


def _pages(url: str, get) -> list:
    pages, token = [], None
    for _ in range(_CHROME_PAGES):
        page = get(url if token is None else f"{url}?{urllib.parse.urlencode({'pageToken': token})}")
        if not isinstance(page, dict):
            raise FeedFailed("not the VersionHistory shape (not an object)")
        pages.append(page)
        token = page.get("nextPageToken")
        if not token:
            return pages
    raise FeedFailed(f"more than {_CHROME_PAGES} pages")


def merge_updates(existing: pd.DataFrame | None, results: list[FeedResult]) -> pd.DataFrame:
    """The overlay after a refresh: old rows, with every successful feed's rows over them.

    Products whose feeds failed keep their old rows. A line's end of support stated by
    any feed is kept for all of the line's rows.

    Examples:
        >>> rows = pd.DataFrame({"product": ["ios"], "version": ["17.7.2"], "released": [pd.Timestamp("2024-11-19")],
        ...                      "line": ["17"], "eol": [pd.NaT], "exploited": [pd.NA], "source": ["sofa"],
        ...                      "complete_until": [pd.Timestamp("2026-01-01")]})
        >>> merge_updates(None, [FeedResult("sofa", "ios", "u", rows=rows)])["version"].tolist()
        ['17.7.2']
    """
    frames = [] if existing is None or existing.empty else [existing[OVERLAY_COLUMNS]]
    frames += [result.rows for result in results if result.ok and result.rows is not None]
    if not frames:
        return pd.DataFrame(columns=OVERLAY_COLUMNS)
    merged = pd.concat(frames, ignore_index=True)
    line_eol = merged.groupby(["product", "line"])["eol"].transform("max")
    merged = merged.assign(eol=line_eol).drop_duplicates(["product", "version"], keep="last")
    merged["_key"] = version_key(merged["version"])
    return merged.sort_values(["product", "_key"]).drop(columns="_key").reset_index(drop=True)


def read_overlay(path: str | os.PathLike) -> pd.DataFrame | None:
    """The overlay file as overlay rows (``complete_until`` per product), or None when absent.

    Examples:
        >>> read_overlay("/nonexistent/catalog-updates.csv") is None
        True
    """
    if not Path(path).exists():
        return None
    rows = load_releases_csv(path)
    coverage = pd.Series(rows.attrs.get("complete_until", {}), dtype="datetime64[us]")
    return rows.assign(complete_until=coverage.reindex(rows["product"]).to_numpy())[OVERLAY_COLUMNS]


def update(out: str | os.PathLike = UPDATES_FILE, products: Iterable[str] | None = None,
           base_urls: dict[str, str] | None = None, timeout: float = 20.0, today: pd.Timestamp | None = None,
           progress=None, budget: float | None = None) -> list[FeedResult]:
    """Refresh the overlay file ``out`` atomically from the feeds and return what each feed did.

    Raises ``JobFailed`` (listing the problems) when every feed failed; the file is then untouched.

    Examples:
        >>> import pathlib, tempfile
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "catalog-updates.csv"
        >>> update(out, ["chrome"], {"chrome": "http://127.0.0.1:9"}, timeout=0.5)
        Traceback (most recent call last):
        ...
        fleetanalysis.errors.JobFailed: catalog update: every feed failed: http://127.0.0.1:9/v1/chrome/...
        >>> out.exists()
        False
    """
    results = refresh(products, base_urls, timeout, today, progress, budget)
    if not any(result.ok for result in results):
        raise JobFailed("catalog update: every feed failed: " + "; ".join(result.problem for result in results))
    merged = merge_updates(read_overlay(out), results)
    write_csv(merged, out, date_format="%Y-%m-%d")
    return results
