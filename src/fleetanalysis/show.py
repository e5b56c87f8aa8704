"""Notebook display helpers: sentences, tables and the headline, made safe for log text.

The notebooks (``notebooks/report.ipynb``, ``notebooks/explore.ipynb``) call these to show
figures to people: :func:`say` for a Markdown sentence, :func:`tidy` then :func:`table` or
:func:`interactive` for a table, and :func:`record_headline` for the bundle that
``reporting`` reads back when it lists the report in the index. Every text value that may
come from the logs is escaped here, so a notebook never has to think about it.

Examples:
    >>> points(0.05), product_names("ios 17.4")
    ('+5.0 pts', 'iOS 17.4')
"""

from __future__ import annotations

import html
import re

import pandas as pd

# The output metadata key that marks the headline bundle among a notebook's outputs.
HEADLINE_KEY = "fleetanalysis"
HEADLINE_MIME = "application/json"
# Markdown's punctuation, and what starts a bare link: a scheme's colon, "www." and an
# email's "@" (nbconvert and JupyterLab link them, so a directory's office name could put a
# clickable address in the management report).
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-!|~$:@]|(?<=www)\.)", re.IGNORECASE)


def record_headline(share: float | None, as_of, devices: int | None = None, *,
                    behind: int | None = None, names: bool = False, demo: bool = False) -> None:
    """Display the headline bundle a notebook leaves for the index (call it in the notebook).

    ``share`` is the share of judged devices that are up to date (0..1), ``as_of`` the
    date the report describes, ``devices`` the judged devices (the headline's "of N"),
    ``behind`` the devices outdated or unsupported, and ``names`` whether the page names
    people: such a page is never listed in the index; ``demo`` whether it describes the demo organisation (marked so in the index, and never
    ``latest`` once a report on real logs exists).

    Examples:
        >>> record_headline(0.91, "2026-06-28", 120, behind=9)
        {'application/json': {'share': 0.91, 'as_of': '2026-06-28', 'devices': 120, 'behind': 9, 'names': False, 'demo': False}}
    """
    from IPython.display import display

    figures = {
        "share": None if share is None or pd.isna(share) else float(share),
        "as_of": pd.Timestamp(as_of).date().isoformat(),
        "devices": None if devices is None else int(devices),
        "behind": None if behind is None else int(behind),
        "names": bool(names),
        "demo": bool(demo),
    }
    display({HEADLINE_MIME: figures}, raw=True,
            metadata={HEADLINE_KEY: "headline"})


def escape_text(value: object) -> str:
    r"""Make log text inert in Markdown: HTML-escaped, and Markdown's punctuation backslashed.

    html.escape alone leaves ``[x](javascript:...)`` links and emphasis live, and a ``$``
    would start TeX math in JupyterLab.

    Examples:
        >>> print(escape_text("<b>[x](javascript:alert(1))</b>"))
        &lt;b&gt;\[x\]\(javascript\:alert\(1\)\)&lt;/b&gt;
        >>> print(escape_text("O'Brien Street"))
        O&#x27;Brien Street
        >>> print(escape_text("Reset at https://evil.example or www.evil.example"))
        Reset at https\://evil.example or www\.evil.example
    """
    from fleetanalysis.writing import escape_controls

    # Backslashes first: backslashing the ``#`` of the ``&#x27;`` html.escape writes would
    # show an apostrophe as ``&#x27;``. Bidirectional overrides are shown, never obeyed.
    return html.escape(_MARKDOWN_PUNCTUATION.sub(r"\\\1", escape_controls(str(value))), quote=True)


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` and ``noun``, plural unless one: "1 device", "1,204 devices".

    Examples:
        >>> counted(1, "device"), counted(1204, "device"), counted(0, "person", "people")
        ('1 device', '1,204 devices', '0 people')
    """
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"


def say(template: str, **values) -> None:
    """Display a Markdown sentence in a notebook, with every text value escaped.

    Numbers keep their format specs (``{share:.0%}``); strings go through :func:`escape_text`.

    Examples:
        >>> say("**{share:.0%}** of devices in {office} are up to date.", share=0.5, office="<Oslo>")
        <IPython.core.display.Markdown object>
    """
    from IPython.display import Markdown, display

    safe = {name: escape_text(value) if isinstance(value, str) else value
            for name, value in values.items()}
    display(Markdown(template.format(**safe)))


# Column names as a reader says them; a column not listed is shown with its first letter
# capitalised and underscores as spaces.
HEADERS = {
    "rank": "Rank", "office": "Office", "department": "Department", "platform": "Platform",
    "devices": "Devices", "judged": "Judged", "up_to_date": "Up to date", "behind": "Behind",
    "share": "Share up to date", "change": "Change since last week", "os_version": "OS version",
    "os_verdict": "OS verdict", "clients": "Browsers and apps", "verdict": "Verdict",
    "reason": "Why", "target": "Update to", "last_seen": "Last seen", "user": "Person",
    "needed": "Updates needed", "patched": "Installed", "median_days": "Median days to install",
    "within_grace": "Installed within grace", "outdated_rate": "Share behind", "current": "Current",
    "grace": "In grace", "outdated": "Outdated", "unsupported": "Unsupported", "unknown": "Unknown",
    "first_seen": "First seen", "source": "Log", "product": "Product", "version": "Version",
}
# Catalog product ids as their vendors write the product.
PRODUCT_NAMES = {
    "ios": "iOS", "ipados": "iPadOS", "macos": "macOS", "android": "Android", "windows": "Windows",
    "windows-enterprise": "Windows Enterprise",
    "chrome": "Chrome", "firefox-esr": "Firefox ESR", "firefox": "Firefox", "safari": "Safari",
    "edge": "Edge", "slack-desktop": "Slack desktop", "slack-ios": "Slack for iOS",
    "slack-android": "Slack for Android", "edge-legacy": "Edge Legacy (EdgeHTML)",
    "internet-explorer": "Internet Explorer",
}
_PRODUCT_ID = re.compile(r"(?<![\w.-])(" + "|".join(sorted(map(re.escape, PRODUCT_NAMES), key=len, reverse=True))
                         + r")(?![\w-])")


def product_names(text: object) -> str:
    """Text with catalog product ids (``macos 14``) written as vendors write them (``macOS 14``).

    Examples:
        >>> product_names("catalog covers ios only until 2025-08-31; firefox-esr 115 and slack-ios")
        'catalog covers iOS only until 2025-08-31; Firefox ESR 115 and Slack for iOS'
    """
    return _PRODUCT_ID.sub(lambda found: PRODUCT_NAMES[found[1]], str(text))


def tidy(frame: pd.DataFrame, *, percent=(), changes=(), dates=(), decimals: int = 0,
         headers: dict | None = None) -> pd.DataFrame:
    """A frame for reading: rates as ``12%``, changes as ``+3 pts``, dates as ``2026-06-30``,
    no NaN (``–``), and column headers in words (``HEADERS``, then ``headers``).

    Examples:
        >>> frame = pd.DataFrame({"office": ["Oslo", "Lima"], "share": [0.931, float("nan")],
        ...     "change": [0.02, float("nan")], "last_seen": pd.to_datetime(["2026-06-30 10:12", None])})
        >>> tidy(frame, percent=["share"], changes=["change"], dates=["last_seen"]).values.tolist()
        [['Oslo', '93%', '+2.0 pts', '2026-06-30'], ['Lima', '–', '–', '–']]
        >>> list(tidy(frame).columns)
        ['Office', 'Share up to date', 'Change since last week', 'Last seen']
    """
    shown = frame.copy()
    for column in percent:
        shown[column] = shown[column].astype("float64").map(
            lambda value: "–" if pd.isna(value) else f"{value:.{decimals}%}")
    for column in changes:
        shown[column] = shown[column].astype("float64").map(lambda value: "–" if pd.isna(value) else points(value))
    for column in dates:
        when = pd.to_datetime(shown[column], utc=True, errors="coerce")
        shown[column] = when.dt.strftime("%Y-%m-%d").fillna("–")
    shown = shown.astype(object).where(shown.notna(), "–")
    names = {**HEADERS, **(headers or {})}
    return shown.rename(columns=lambda column: names.get(column, str(column).replace("_", " ").capitalize()))


def synthetic_note(products, catalog: pd.DataFrame) -> str:
    """The one sentence that says the demo's Slack mobile app versions (``products``) are
    synthetic, naming how far the catalog lists each: the CLI and the report say the same.

    Examples:
        >>> from fleetanalysis import catalog
        >>> synthetic_note(["slack-ios"], catalog.load(updates=False))  # doctest: +ELLIPSIS
        "the demo's Slack mobile app versions are synthetic, newer than the releases the catalog lists (slack-ios until 20...): they count as unknown and those devices are judged on their OS"
    """
    from fleetanalysis.catalog import coverage

    until = coverage(catalog)
    listed = ", ".join(f"{product} until {until[product]:%Y-%m-%d}" for product in products)
    return (f"the demo's Slack mobile app versions are synthetic, newer than the releases the catalog lists "
            f"({listed}): they count as unknown and those devices are judged on their OS")


def catalog_behind(run, demo: bool = False) -> None:
    """Display the products the logs show in versions newer than any release ``run.catalog``
    knows (``analysis.Analysis.stale``): a table, as the catalog is behind the logs. On the
    demo (``demo``: ``config.FleetInputs.demo``) the Slack mobile app versions are synthetic
    by design, with no dated release list to refresh from: one sentence says so instead,
    as ``fleetanalysis status`` does. Nothing when the catalog knows every version seen.
    """
    stale = run.stale
    by_design = []
    if demo:
        from fleetanalysis.demo import SYNTHETIC

        by_design = [product for product in sorted(SYNTHETIC) if product in set(stale["product"].astype("str"))]
    if by_design:
        note = product_names(synthetic_note(by_design, run.catalog))
        say("**Demo data:** {note} (the table above shows what the catalog covers).", note=note[0].upper() + note[1:])
    stale = stale[~stale["product"].astype("str").isin(by_design)]
    if len(stale):
        newer = stale.groupby("product", observed=True).agg(versions=("version", "size"),
                                                             known=("newest_known", "first")).reset_index()
        newer["product"] = newer["product"].astype("str").map(product_names)
        say("**Catalog behind the logs:** these products appear in versions newer than any release the "
            "catalog knows; those versions are judged unknown until the catalog is refreshed.")
        table(tidy(newer, headers={"versions": "Versions newer than the catalog", "known": "Newest release it knows"}))


def points(change: float) -> str:
    """A change of a share in percentage points, as a reader says it.

    Examples:
        >>> points(0.0123), points(-0.0004), points(float("nan"))
        ('+1.2 pts', 'no change', 'no data')
    """
    if pd.isna(change):
        return "no data"
    return "no change" if round(change * 100, 1) == 0 else f"{change * 100:+.1f} pts"


def behind_change(change: float) -> str:
    """A change of the share of devices behind, saying which way is better.

    Examples:
        >>> behind_change(-0.018), behind_change(0.004), behind_change(0.0), behind_change(float("nan"))
        ('down 1.8 pts (better)', 'up 0.4 pts (worse)', 'no change', 'no data')
    """
    said = points(change)
    if said in {"no change", "no data"}:
        return said
    return f"down {said[1:]} (better)" if change < 0 else f"up {said[1:]} (worse)"


def pace_words(pace: pd.Series) -> str:
    """The projection of ``metrics.projection`` as a sentence.

    Examples:
        >>> pace_words(pd.Series({"weeks": 6.0, "used": 8, "improving": True}))
        'At the pace of the last 8 weeks, every judged device is up to date in about 6 weeks.'
        >>> pace_words(pd.Series({"weeks": float("nan"), "used": 8, "improving": False}))
        'Not improving: the share behind has not fallen over the last 8 weeks.'
        >>> pace_words(pd.Series({"weeks": float("nan"), "used": 8, "improving": False,
        ...                       "first_rate": 0.035, "last_rate": 0.061}))
        'Not improving: over the last 8 weeks the share behind went from 3.5% to 6.1%.'
        >>> pace_words(pd.Series({"weeks": float("nan"), "used": 2, "improving": False}))
        'Too few weeks of history (2) to project a trend.'
    """
    if pace["weeks"] == 0:
        return "Every judged device is up to date."
    if pace["improving"]:
        weeks = int(pace["weeks"])
        return (f"At the pace of the last {pace['used']} weeks, every judged device is up to date "
                f"in about {weeks} week{'s' if weeks != 1 else ''}.")
    if pace["used"] < 3:
        return f"Too few weeks of history ({pace['used']}) to project a trend."
    first, last = pace.get("first_rate", float("nan")), pace.get("last_rate", float("nan"))
    if pd.notna(first) and pd.notna(last):
        # The numbers, so that a fall since last week beside it reads as one week against eight.
        return (f"Not improving: over the last {pace['used']} weeks the share behind went from "
                f"{first:.1%} to {last:.1%}.")
    return f"Not improving: the share behind has not fallen over the last {pace['used']} weeks."


def interactive(frame: pd.DataFrame, **options) -> None:
    """Display a frame as a table readers can sort, search and page (itables, offline).

    The DataTables code is embedded in the notebook (``connected=False``), so the exported
    HTML works without the network; cells are HTML-escaped (itables' default).

    Examples:
        >>> interactive(pd.DataFrame({"office": ["<b>Oslo</b>"]}))  # doctest: +ELLIPSIS
        <IPython.core.display.HTML object>
        ...
    """
    import itables

    global _ITABLES_READY
    if not _ITABLES_READY:
        itables.init_notebook_mode(all_interactive=False, connected=False)
        _ITABLES_READY = True
    itables.show(visible(frame), display_logo_when_loading=False, showIndex=False,
                 **{"lengthMenu": [10, 25, 100], **options})


_ITABLES_READY = False


def table(frame: pd.DataFrame, **to_html) -> None:
    """Display a frame as an HTML table with every cell escaped (log text is attacker-shaped).

    Pass a :func:`tidy` frame for people to read; ``to_html`` options go to pandas
    (``table_id`` names the table for tests and styles).

    Examples:
        >>> table(pd.DataFrame({"office": ["<script>x</script>"]}))
        <IPython.core.display.HTML object>
    """
    from IPython.display import HTML, display

    options = {"index": False, "na_rep": "–", "border": 0, **to_html, "escape": True}
    display(HTML(visible(frame).to_html(**options)))


def visible(frame: pd.DataFrame) -> pd.DataFrame:
    r"""``frame`` with control, bidirectional and zero-width characters in its text cells
    shown as ``\uNNNN`` (``writing.escape_controls``): an RTL override in a user name must
    not reverse the rest of a table row.

    Examples:
        >>> visible(pd.DataFrame({"user": ["ann\u202egpj.exe", "bo"], "devices": [1, 2]}))["user"].tolist()
        ['ann\\u202egpj.exe', 'bo']
    """
    from fleetanalysis.writing import CONTROL, change_text_cells, escape_controls

    return change_text_cells(frame, CONTROL.search, escape_controls)
