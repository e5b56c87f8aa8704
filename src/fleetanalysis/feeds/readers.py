"""One reader per feed: what a feed answered (JSON, or HTML pages) as catalog overlay rows.

No network here: ``feeds.refresh`` fetches the answers and hands them to these readers,
so each reader is tested on the documented shapes alone. A reader raises ``FeedFailed``
when the answer does not have the shape its feed documents.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

from fleetanalysis.catalog import version_key
from fleetanalysis.days import utc_day

# endoflife.date lists every version these products are judged on (one per line).
ENDOFLIFE_COMPLETE = ("android",)
OVERLAY_COLUMNS = ["product", "version", "released", "line", "eol", "exploited", "offered", "source", "complete_until"]


class FeedFailed(Exception):
    """A feed could not be read or did not have the documented shape."""


def _frame(records: list[dict], source: str, checked: pd.Timestamp | None) -> pd.DataFrame:
    """Feed records as overlay rows, dropping any whose version or date cannot be read."""
    frame = pd.DataFrame(records, columns=["product", "version", "released", "line", "eol", "exploited", "offered"])
    for column in ("released", "eol"):
        frame[column] = utc_day(pd.to_datetime(frame[column], errors="coerce", utc=True, format="ISO8601"))
    # A feed that says nothing of ``offered`` leaves it unstated: the catalog's own line decides.
    frame = frame.astype({"product": "str", "version": "str", "line": "str", "exploited": "boolean",
                          "offered": "boolean", "released": "datetime64[us]", "eol": "datetime64[us]"})
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
# Microsoft's page says of a new-devices-only release (26H1, 2026) that it "is not designed as
# a feature update for existing devices" / "is not offered as an in-place update": one sentence
# naming the version, then a negated offer.
_NOT_OFFERED = re.compile(
    r"\bversion\s+(?P<release>\d{2}H\d)\b[^.]{0,200}?\b(?:not|isn['’]t|never)\b[^.]{0,80}?"
    r"(?:\b(?:offered|designed|available|intended)\s+as\s+an?\s+(?:in-place\s+|feature\s+)*update"
    r"|\ba\s+feature\s+update|\boffered\s+through\s+Windows\s+Update)", re.IGNORECASE)


def windows_releases(pages: Iterable[str], checked: pd.Timestamp) -> pd.DataFrame:
    """Overlay rows from Microsoft's Windows release information pages: every cumulative update.

    Each history table belongs to the ``Version 22H2 (OS build 19045)`` heading before it;
    its rows give ``Availability date`` and ``Build`` (and, on newer pages, ``Update type``).
    The version is ``10.0.<build>.<revision>``, the line ``<10 or 11> <release>`` as in the
    shipped ``windows.csv`` (builds from 22000 on are Windows 11). Optional previews are
    left out (see the module's notes); tables under no version heading (the summary at the
    top of the page) are skipped. A version the page says is not offered as an update to
    existing devices (``version 26H1 ... is not offered as an in-place update``) has its rows
    marked ``offered=False``; the others leave ``offered`` unstated.

    Examples:
        >>> page = ('<strong>Version 22H2 (OS build 19045)</strong><table id="historyTable_0">'
        ...         '<tr><th>Servicing option</th><th>Availability date</th><th>Build</th><th>KB article</th></tr>'
        ...         '<tr><td>General Availability Channel</td><td>2025-04-08</td><td>19045.5737</td>'
        ...         '<td>KB5055518</td></tr>'
        ...         '<tr><td>General Availability Channel</td><td>2025-03-25</td><td>19045.5679</td>'
        ...         '<td>KB5053643</td></tr></table>')
        >>> windows_releases([page], pd.Timestamp("2025-05-01"))[["version", "released", "line"]].astype(str).values.tolist()
        [['10.0.19045.5737', '2025-04-08', '10 22H2']]
        >>> note = "<p>Windows 11, version 26H1 is not offered as an in-place update on existing devices.</p>"
        >>> page = note + page.replace("22H2 (OS build 19045)", "26H1 (OS build 28000)").replace("19045.", "28000.")
        >>> windows_releases([page], pd.Timestamp("2025-05-01"))[["version", "line", "offered"]].values.tolist()
        [['10.0.28000.5737', '11 26H1', False]]
    """
    records = []
    for page in pages:
        text = _TAG.sub(lambda tag: " " * len(tag.group(0)), page)
        headings = [(match.start(), match["release"], match["build"]) for match in _WINDOWS_VERSION.finditer(text)]
        not_offered = {match["release"].upper() for match in _NOT_OFFERED.finditer(" ".join(text.split()))}
        if not headings:
            raise FeedFailed("not the Windows release information shape: no 'Version ... (OS build ...)' heading")
        for table in _TABLE.finditer(page):
            before = [heading for heading in headings if heading[0] < table.start()]
            if not before:
                continue
            _, release, build = before[-1]
            records += _windows_table(table["body"], release, build, offered=release.upper() not in not_offered)
    rows = _frame(records, "windows-release-information", checked)
    return rows.sort_values("released").drop_duplicates("version", keep="first").reset_index(drop=True)


def _windows_table(body: str, release: str, build: str, offered: bool) -> list[dict]:
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
                            "exploited": pd.NA, "offered": pd.NA if offered else False})
    return records

