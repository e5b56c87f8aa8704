"""Charts for the reports: each function takes a metrics frame and returns a matplotlib Figure.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot, no global state, rendered
by Agg), carry a title, labelled axes and an alt text that says what the chart shows in
words (``alt_text(fig)``). Notebooks display them with :func:`show`, which embeds the PNG
as an ``<img>`` whose alt attribute is escaped.

Input frames use the columns of ``metrics.status`` (``devices, current, grace, outdated,
unsupported, unknown, outdated_rate`` per group, a ``Total`` row that charts leave out),
stacked over dates with an ``as_of`` column for the trends.

Examples:
    >>> status = pd.DataFrame({"platform": ["iOS", "Windows", "Total"],
    ...                        "devices": [10, 4, 14], "outdated_rate": [0.1, 0.5, 0.21]})
    >>> fig = rates(status, "platform")
    >>> alt_text(fig)
    'Outdated rate by platform, worst first: Windows 50% (4 devices), iOS 10% (10 devices).'
    >>> to_png(fig)[:4]
    b'\\x89PNG'
"""

from __future__ import annotations

import base64
import html
import io
import warnings

import numpy as np
import pandas as pd
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from fleetanalysis.show import counted
from fleetanalysis.writing import escape_controls

VERDICT_COLOURS = {
    "current": "#2e7d32",
    "grace": "#f9a825",
    "outdated": "#c62828",
    "unsupported": "#6d0f0f",
    "unknown": "#9e9e9e",
}
GOAL_COLOUR = "#37474f"
TOTAL_LABEL = "Total"


def alt_text(fig: Figure) -> str:
    """The alt text a chart function gave the figure (matplotlib has no field of its own).

    Examples:
        >>> alt_text(Figure())
        ''
    """
    # A Figure built without pyplot never uses its label, so it carries the alt text.
    return fig.get_label()


def to_png(fig: Figure, dpi: int = 110) -> bytes:
    """Render the figure as PNG bytes with the Agg renderer.

    Examples:
        >>> to_png(Figure(figsize=(1, 1)))[:4]
        b'\\x89PNG'
    """
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # Matplotlib's notes for developers (a glyph its font lacks, a layout it could not
        # fit) would print into the report, paths and all: the tables and alt text carry
        # every name, whatever the chart's font can draw.
        warnings.filterwarnings("ignore", message=r"(Glyph \d+ .*missing from font|constrained_layout)",
                                category=UserWarning)
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def img_tag(fig: Figure) -> str:
    """An ``<img>`` element with the figure as inline PNG and its escaped alt text.

    Examples:
        >>> fig = Figure(figsize=(1, 1), label='Rate in "<Berlin>"')
        >>> img_tag(fig)[:80]
        '<img alt="Rate in &quot;&lt;Berlin&gt;&quot;" src="data:image/png;base64,iVBORw0'
    """
    data = base64.b64encode(to_png(fig)).decode("ascii")
    return f'<img alt="{html.escape(escape_controls(alt_text(fig)), quote=True)}" src="data:image/png;base64,{data}">'


def show(fig: Figure) -> None:
    """Display the figure in a notebook as an ``<img>`` with alt text (and a plain PNG fallback).

    Examples:
        >>> show(Figure(figsize=(1, 1), label="empty"))  # doctest: +ELLIPSIS
        <IPython.core.display.HTML object>
    """
    from IPython.display import HTML, display

    display(HTML(img_tag(fig)))


def _groups(status: pd.DataFrame, by: str) -> pd.DataFrame:
    """The rows of one grouping, without the Total row and without a rate to show."""
    rows = status[status[by].astype("str") != TOTAL_LABEL]
    return rows[rows["outdated_rate"].notna()]


def _dates(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows whose ``as_of`` is a date (a Total row is not), sorted by date."""
    dated = frame.assign(as_of=pd.to_datetime(frame["as_of"].astype("object"), errors="coerce"))
    return dated[dated["as_of"].notna()].sort_values("as_of")


def _percent(value: float) -> str:
    return "no judged devices" if pd.isna(value) else f"{value:.0%}"


def _label(name: object) -> str:
    r"""A name as matplotlib text: a ``$`` would start mathtext (and ``$\x$`` fail to draw);
    control and bidirectional characters are shown, never obeyed.

    Examples:
        >>> _label("$\\something$ office")
        '\\$\\something\\$ office'
        >>> _label("Oslo\u202e")
        'Oslo\\u202e'
    """
    return escape_controls(str(name)).replace("$", r"\$")


def _rate_limit(worst: float) -> float:
    """The top of a rate axis: a little above the worst value, on a round step, at most 100%.

    Examples:
        >>> _rate_limit(0.13), _rate_limit(0.02), _rate_limit(0.96), _rate_limit(float("nan"))
        (0.15, 0.05, 1.0, 0.05)
    """
    if not worst == worst or worst <= 0:
        return 0.05
    step = 0.05 if worst < 0.3 else 0.1
    return round(min(1.0, float(np.ceil(worst * 1.1 / step - 1e-9)) * step), 2)


def _rate_room(ax, top: float) -> None:
    """A rate axis from 0 to ``top`` with a little room at both ends: a line at 100% (every
    device behind) or on the 0% goal stays in sight instead of on the frame."""
    ax.set_ylim(-0.03 * top, 1.03 * top)


def _percent_axis(axis) -> None:
    """Ticks on a rate axis at whole percents that print exactly (1, 2 or 5 times a power of
    ten: never 2.5% shown rounded as 2%); a rate axis spans at least 5% (``_rate_limit``), so
    six bins keep every step at 1% or more."""
    axis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
    axis.set_major_formatter(PercentFormatter(1.0, decimals=0))


def _date_ticks(ax, dates: pd.Series) -> None:
    """Put the x ticks on the dates drawn (every k-th when there are many), as day and month."""
    shown = pd.DatetimeIndex(pd.Series(dates).drop_duplicates().sort_values())
    if not len(shown):
        return
    every = int(np.ceil(len(shown) / 8))
    # Keep the newest date labelled: it is the report's as-of date.
    picked = shown[::-1][::every][::-1]
    ax.set_xticks(picked, [f"{day:%-d %b}" for day in picked])
    ax.set_xlim(shown[0] - pd.Timedelta(days=3), shown[-1] + pd.Timedelta(days=3))


def trend(history: pd.DataFrame, goal: float = 0.0) -> Figure:
    """The share of judged devices behind (outdated or unsupported) week by week, goal dashed.

    ``history`` has ``as_of`` and ``outdated_rate`` (one row per date, e.g.
    ``metrics.status(timeline, by=["as_of"])``). A point is drawn for every date with a
    rate (the alt text counts them, as ``metrics.projection``'s ``points`` does); ticks
    sit on the points and the axis ends a little above the worst week.

    Examples:
        >>> history = pd.DataFrame({"as_of": pd.to_datetime(["2026-01-04", "2026-01-11", "2026-01-18"]),
        ...                         "outdated_rate": [0.3, float("nan"), 0.2]})
        >>> alt_text(trend(history))
        'Share of judged devices behind, 2 weekly points: 30% on 2026-01-04, 20% on 2026-01-18; goal 0%.'
    """
    dated = _dates(history)
    dated = dated[dated["outdated_rate"].notna()]
    behind = dated["outdated_rate"].astype("float64")
    fig = Figure(figsize=(8, 3.2), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(dated["as_of"], behind, marker="o", markersize=4, color=VERDICT_COLOURS["outdated"],
            label="behind")
    ax.axhline(goal, color=GOAL_COLOUR, linestyle="--", linewidth=1, label=f"goal {goal:.0%}")
    _rate_room(ax, _rate_limit(float(behind.max()) if len(behind) else float("nan")))
    _percent_axis(ax.yaxis)
    ax.set(title="Devices behind on updates", xlabel="week ending",
           ylabel="share of judged devices")
    _date_ticks(ax, dated["as_of"])
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    if len(dated):
        first, last = dated.iloc[0], dated.iloc[-1]
        fig.set_label(
            f"Share of judged devices behind, {len(dated)} weekly point{'s' if len(dated) != 1 else ''}: "
            f"{_percent(first['outdated_rate'])} on {first['as_of']:%Y-%m-%d}, "
            f"{_percent(last['outdated_rate'])} on {last['as_of']:%Y-%m-%d}; goal {goal:.0%}.")
    else:
        fig.set_label("Share of judged devices behind: no data.")
    return fig


def rates(status: pd.DataFrame, by: str) -> Figure:
    """Horizontal bars of the outdated rate per group (``by``: ``platform``, ``office``), worst on top.

    ``status`` is ``metrics.status(devices, by=[by])``; each bar is labelled with its devices.

    Examples:
        >>> status = pd.DataFrame({"office": ["Berlin", "Oslo"], "devices": [5, 8],
        ...                        "outdated_rate": [0.2, 0.25]})
        >>> alt_text(rates(status, "office"))
        'Outdated rate by office, worst first: Oslo 25% (8 devices), Berlin 20% (5 devices).'
    """
    rows = _groups(status, by).sort_values("outdated_rate", ascending=True)
    fig = Figure(figsize=(7, 0.6 + 0.38 * max(len(rows), 2)), layout="constrained")
    ax = fig.add_subplot()
    labels = [_label(name) for name in rows[by].astype("str")]
    bars = ax.barh(labels, rows["outdated_rate"].astype("float64"), color=VERDICT_COLOURS["outdated"])
    ax.bar_label(bars, labels=[f"{rate:.0%}  ({counted(n, 'device')})" for rate, n in
                               zip(rows["outdated_rate"], rows["devices"])], padding=3, fontsize=8)
    # Room on the right for the labels; the axis follows the worst group, not 100%.
    ax.set_xlim(0, _rate_limit(float(rows["outdated_rate"].max()) if len(rows) else float("nan")) * 1.3)
    _percent_axis(ax.xaxis)
    ax.set(title=f"Devices behind by {by}", xlabel="share of judged devices outdated or unsupported",
           ylabel=by.capitalize())
    ax.grid(axis="x", alpha=0.3)
    worst = rows.iloc[::-1]
    fig.set_label(f"Outdated rate by {by}, worst first: " + ", ".join(
        f"{name} {_percent(rate)} ({counted(n, 'device')})"
        for name, rate, n in zip(worst[by].astype("str"), worst["outdated_rate"], worst["devices"])) + ".")
    return fig


def office_trend(history: pd.DataFrame, top: int = 8, leave_out: tuple = ("Unknown office",)) -> Figure:
    """The outdated rate over time, one line per office (the ``top`` offices by devices).

    ``history`` has ``as_of``, ``office``, ``outdated_rate`` and ``devices``
    (``metrics.status(timeline, by=["as_of", "office"])``). ``leave_out`` offices (devices
    no directory or network placed: few, and their rate jumps) are not drawn.

    Examples:
        >>> history = pd.DataFrame({"as_of": pd.to_datetime(["2026-01-04"] * 2 + ["2026-01-11"] * 2),
        ...     "office": ["Oslo", "Lima"] * 2, "devices": [4, 3, 4, 3], "outdated_rate": [0.5, 0.2, 0.25, 0.1]})
        >>> alt_text(office_trend(history))
        'Outdated rate by office from 2026-01-04 to 2026-01-11: Oslo 50% to 25%, Lima 20% to 10%.'
    """
    dated = _dates(history)
    dated = dated[~dated["office"].astype("str").isin([TOTAL_LABEL, *leave_out])
                  & dated["outdated_rate"].notna()]
    largest = (dated.groupby("office", observed=True)["devices"].max()
               .sort_values(ascending=False).head(top).index)
    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.add_subplot()
    words = []
    for office in largest:
        line = dated[dated["office"] == office]
        ax.plot(line["as_of"], line["outdated_rate"].astype("float64"), marker="o", markersize=3,
                label=_label(office))
        words.append(f"{office} {_percent(line['outdated_rate'].iloc[0])} to "
                     f"{_percent(line['outdated_rate'].iloc[-1])}")
    ax.axhline(0, color=GOAL_COLOUR, linestyle="--", linewidth=1, label="goal 0%")
    shown = dated[dated["office"].isin(largest)]
    _rate_room(ax, _rate_limit(float(shown["outdated_rate"].max()) if len(shown) else float("nan")))
    _percent_axis(ax.yaxis)
    ax.set(title="Devices behind by office over time", xlabel="week ending",
           ylabel="share of judged devices behind")
    _date_ticks(ax, dated["as_of"])
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    span = (f" from {dated['as_of'].min():%Y-%m-%d} to {dated['as_of'].max():%Y-%m-%d}"
            if len(dated) else "")
    fig.set_label(f"Outdated rate by office{span}: " + (", ".join(words) or "no data") + ".")
    return fig


def heatmap(status: pd.DataFrame) -> Figure:
    """A heat map of the outdated rate, offices down, platforms across, rates written in the cells.

    ``status`` is ``metrics.status(devices, by=["office", "platform"])``; empty cells are grey.

    Examples:
        >>> status = pd.DataFrame({"office": ["Oslo", "Oslo", "Lima"], "platform": ["iOS", "macOS", "iOS"],
        ...                        "devices": [3, 2, 4], "outdated_rate": [0.0, 0.5, 0.25]})
        >>> alt_text(heatmap(status))
        'Outdated rate by office and platform; highest: Oslo macOS 50%, Lima iOS 25%, Oslo iOS 0%.'
    """
    rows = status[(status["office"].astype("str") != TOTAL_LABEL)
                  & (status["platform"].astype("str") != TOTAL_LABEL)]
    grid = rows.pivot_table(index="office", columns="platform", values="outdated_rate",
                            aggfunc="first", observed=True, dropna=False).astype("float64")
    grid = grid.loc[grid.mean(axis=1).sort_values(ascending=False).index]
    fig = Figure(figsize=(1.6 + 0.9 * max(grid.shape[1], 2), 1.2 + 0.4 * max(grid.shape[0], 2)),
                 layout="constrained")
    ax = fig.add_subplot()
    scale = LinearSegmentedColormap.from_list(
        "verdicts", [VERDICT_COLOURS["current"], VERDICT_COLOURS["grace"], VERDICT_COLOURS["outdated"]],
    ).with_extremes(bad=VERDICT_COLOURS["unknown"])
    values = grid.to_numpy()
    # A fleet at 20% outdated is in trouble: the scale tops out near the worst cell, not at 100%.
    top = max(0.1, np.ceil(np.nanmax(values, initial=0) * 10) / 10)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=scale, vmin=0, vmax=top, aspect="auto")
    for (i, j), value in np.ndenumerate(values):
        middle = not np.isnan(value) and 0.3 < value / top < 0.75  # amber: dark text reads better
        ax.text(j, i, "–" if np.isnan(value) else f"{value:.0%}", ha="center", va="center",
                fontsize=8, color="black" if middle else "white")
    ax.set_xticks(range(grid.shape[1]), [_label(name) for name in grid.columns], rotation=30, ha="right")
    ax.set_yticks(range(grid.shape[0]), [_label(name) for name in grid.index])
    ax.set(title="Devices behind by office and platform", xlabel="Platform", ylabel="Office")
    fig.colorbar(image, ax=ax, format=PercentFormatter(1.0, decimals=0), label="share behind")
    ranked = rows.dropna(subset=["outdated_rate"]).sort_values("outdated_rate", ascending=False).head(5)
    fig.set_label("Outdated rate by office and platform; highest: " + (", ".join(
        f"{office} {platform} {_percent(rate)}" for office, platform, rate in
        zip(ranked["office"], ranked["platform"], ranked["outdated_rate"])) or "no data") + ".")
    return fig


def time_to_patch(patches: pd.DataFrame) -> Figure:
    """A histogram of days from a release to the devices installing it.

    ``patches`` is ``patching.time_to_patch(...)``: one row per device and release it
    needed, with ``days`` and ``patched`` (bool). Pairs not patched yet are censored:
    counted in the title, not drawn.

    Examples:
        >>> patches = pd.DataFrame({"days": [1, 3, 8, 30, 12], "patched": [True] * 4 + [False]})
        >>> alt_text(time_to_patch(patches))
        'Days to patch: median 5.5 days, 75% within 13.5 days, 4 updates; 1 update still pending.'
    """
    days = pd.to_numeric(patches["days"], errors="coerce").astype("float64")
    patched = (patches["patched"].fillna(False).astype(bool) if "patched" in patches
               else days.notna())
    done, waiting = days[patched].dropna(), int((~patched).sum())
    fig = Figure(figsize=(7, 3.4), layout="constrained")
    ax = fig.add_subplot()
    if len(done):
        ax.hist(done, bins=min(30, max(5, len(done) // 3)), color=VERDICT_COLOURS["current"],
                edgecolor="white")
        ax.axvline(done.median(), color=GOAL_COLOUR, linestyle="--", linewidth=1,
                   label=f"median {done.median():.1f} days")
        ax.legend(frameon=False)
    ax.set(title=f"Time to patch ({waiting:,} updates still pending)",
           xlabel="days from release to update", ylabel="updates")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="y", alpha=0.3)
    pending = f"{waiting:,} update{'s' if waiting != 1 else ''} still pending"
    if len(done):
        fig.set_label(f"Days to patch: median {done.median():.1f} days, 75% within "
                      f"{done.quantile(0.75):.1f} days, {len(done):,} updates; {pending}.")
    else:
        fig.set_label(f"Days to patch: no updates seen; {pending}.")
    return fig


def verdict_mix(status: pd.DataFrame, by: str) -> Figure:
    """Stacked bars of each group's devices by verdict, in the verdict colours.

    Examples:
        >>> status = pd.DataFrame({"platform": ["iOS"], "devices": [10], "current": [6], "grace": [1],
        ...                        "outdated": [2], "unsupported": [0], "unknown": [1]})
        >>> alt_text(verdict_mix(status, "platform"))
        'Devices by verdict and platform: iOS 6 current, 1 grace, 2 outdated, 0 unsupported, 1 unknown.'
    """
    rows = status[status[by].astype("str") != TOTAL_LABEL].sort_values("devices")
    fig = Figure(figsize=(7, 0.8 + 0.38 * max(len(rows), 2)), layout="constrained")
    ax = fig.add_subplot()
    left = np.zeros(len(rows))
    labels = [_label(name) for name in rows[by].astype("str")]
    for verdict, colour in VERDICT_COLOURS.items():
        counts = rows[verdict].astype("float64").fillna(0).to_numpy()
        ax.barh(labels, counts, left=left, color=colour, label=verdict)
        left += counts
    ax.set(title=f"Devices by verdict and {by}", xlabel="devices", ylabel=by.capitalize())
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    # Beside the bars, never over them.
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=8)
    fig.set_label(f"Devices by verdict and {by}: " + "; ".join(
        f"{row[by]} " + ", ".join(f"{int(row[verdict])} {verdict}" for verdict in VERDICT_COLOURS)
        for _, row in rows.iloc[::-1].iterrows()) + ".")
    return fig


def nudge_effect(table: pd.DataFrame, within: int = 7) -> Figure:
    """Bars of the share of devices updated within ``within`` days after a nudge: by the
    nth nudge a person had (habituation shows as shorter bars), beside devices nobody nudged.

    ``table`` is ``outcomes.breakdown(...)``; a share nothing is known about yet is left out.

    Examples:
        >>> table = pd.DataFrame({"breakdown": ["all", "nth nudge", "nth nudge"], "value": ["", "1st", "2nd"],
        ...     "group": ["not nudged (observational)", "nudged", "nudged"], "devices": [9, 5, 4],
        ...     "within_7d": [0.2, 0.6, 0.25]})
        >>> alt_text(nudge_effect(table))
        'Updated within 7 days: after a 1st nudge 60% (5 devices), after a 2nd nudge 25% (4 devices), not nudged 20% (9 devices).'
    """
    column = f"within_{within}d"
    nth = table[(table["breakdown"] == "nth nudge") & (table["group"] == "nudged")]
    control = table[(table["breakdown"] == "all") & (table["group"] != "nudged")]
    labels = [f"after a {value} nudge" for value in nth["value"]] + ["not nudged"] * len(control)
    rows = pd.DataFrame({"label": labels, "share": pd.concat([nth[column], control[column]]).astype("float64").to_numpy(),
                         "devices": pd.concat([nth["devices"], control["devices"]]).to_numpy()}).dropna()
    fig = Figure(figsize=(7, 0.8 + 0.45 * max(len(rows), 2)), layout="constrained")
    ax = fig.add_subplot()
    colours = [VERDICT_COLOURS["unknown"] if label == "not nudged" else VERDICT_COLOURS["current"]
               for label in rows["label"]]
    bars = ax.barh(rows["label"][::-1], rows["share"][::-1], color=colours[::-1])
    ax.bar_label(bars, labels=[f"{share:.0%}  ({counted(n, 'device')})" for share, n in
                               zip(rows["share"][::-1], rows["devices"][::-1])], padding=3, fontsize=8)
    ax.set_xlim(0, 1.25)  # room for the labels; the axis itself stops at 100%
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1])
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set(title=f"Devices updated within {within} days of a nudge", xlabel=f"share updated within {within} days")
    ax.grid(axis="x", alpha=0.3)
    fig.set_label(f"Updated within {within} days: " + ", ".join(
        f"{label} {_percent(share)} ({counted(n, 'device')})" for label, share, n in
        zip(rows["label"], rows["share"], rows["devices"])) + ".")
    return fig
