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

Each feed's answer becomes rows in ``feeds.readers`` (no network there); this module fetches,
plans and merges. Rows go to ``data/processed/catalog-updates.csv`` (``catalog.UPDATES_FILE``), which
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
from fleetanalysis.feeds.readers import (
    OVERLAY_COLUMNS,
    FeedFailed,
    chrome_releases,
    endoflife_releases,
    slack_releases,
    sofa_releases,
    windows_releases,
)
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
_CHROME_PAGES = 200


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
        fleetanalysis.feeds.readers.FeedFailed: http://127.0.0.1:9/none.json: ...
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
        fleetanalysis.feeds.readers.FeedFailed: http://127.0.0.1:9/release-notes/ios: ...
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
