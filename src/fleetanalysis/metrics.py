"""Rates for managers and speed for the security team: shares of devices by verdict,
an office league, the versions devices are stuck on, and time to patch.

Every rate counts devices (``fleet.snapshot``/``fleet.timeline`` rows), never log rows.
Devices exempt on the frame's date (``org.assign`` sets ``exempt``) are left out of
rates and listed by ``exempt``. ``outdated_rate`` is (outdated + unsupported) over the
devices that could be judged: unknown devices are counted, but never in a rate, because
a device we cannot judge is neither up to date nor behind.

Examples:
    >>> import pandas as pd
    >>> devices = pd.DataFrame({"platform": ["iOS", "iOS", "Windows", "Windows"],
    ...                         "verdict": ["current", "outdated", "unknown", "grace"]})
    >>> status(devices)[["platform", "devices", "outdated", "unknown", "outdated_rate"]].values.tolist()
    [['Windows', 2, 0, 1, 0.0], ['iOS', 2, 1, 0, 0.5], ['Total', 4, 1, 1, 0.3333333333333333]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from fleetanalysis import catalog as releases
from fleetanalysis import fleet

VERDICTS = ["current", "grace", "outdated", "unsupported", "unknown"]
STATUS_COLUMNS = ["devices", *VERDICTS, "outdated_rate"]
TOTAL = "Total"
BEHIND = ("outdated", "unsupported")


def _counted(devices: pd.DataFrame) -> pd.DataFrame:
    """The devices that count in rates: all but those exempt on the frame's date."""
    if "exempt" in devices:
        return devices[~devices["exempt"].fillna(False).astype(bool)]
    return devices


def status(devices: pd.DataFrame, by: str | Sequence[str] = ("platform",)) -> pd.DataFrame:
    """Device counts per verdict and ``outdated_rate`` per group, with a ``Total`` row.

    ``by`` names columns of ``devices`` (``platform``, ``office``, ``department`` or
    several); a timeline (a frame with ``as_of``) is grouped by ``as_of`` first, with a
    ``Total`` row per date (``by=["as_of"]`` gives the totals alone, one row per date). Returns the group columns, then ``devices, current, grace,
    outdated, unsupported, unknown`` (int64) and ``outdated_rate`` (float, NaN when no
    device in the group could be judged). Exempt devices are left out; an empty snapshot
    still gets its ``Total`` row, with zeros.

    Examples:
        >>> devices = pd.DataFrame({"as_of": pd.to_datetime(["2026-01-04"] * 2 + ["2026-01-11"]),
        ...     "platform": ["iOS", "macOS", "iOS"], "office": ["Oslo", "Lima", "Oslo"],
        ...     "verdict": ["unsupported", "current", "current"], "exempt": [False, False, True]})
        >>> table = status(devices, by=["platform", "office"])
        >>> table[["platform", "office", "devices", "outdated_rate"]].values.tolist()
        [['iOS', 'Oslo', 1, 1.0], ['macOS', 'Lima', 1, 0.0], ['Total', 'Total', 2, 0.5], ['Total', 'Total', 0, nan]]
        >>> table["as_of"].dt.strftime("%Y-%m-%d").tolist()
        ['2026-01-04', '2026-01-04', '2026-01-04', '2026-01-11']
    """
    by = [column for column in ([by] if isinstance(by, str) else by) if column != "as_of"]
    dated = ["as_of"] if "as_of" in devices else []
    counted = _counted(devices)
    keys = dated + by
    frame = counted[keys].astype({column: "str" for column in by}).fillna(
        {column: "(none)" for column in by})
    frame["verdict"] = pd.Categorical(counted["verdict"].fillna("unknown"), categories=VERDICTS)
    if dated:
        frame["as_of"] = counted["as_of"]
    counts = _verdict_counts(frame, keys)
    totals = _verdict_counts(frame, dated)
    if dated:
        # A date whose every device is exempt still gets its Total row, with zeros.
        all_dates = pd.DataFrame({"as_of": pd.Series(devices["as_of"].unique()).sort_values()})
        totals = all_dates.merge(totals, on="as_of", how="left").fillna(
            {column: 0 for column in VERDICTS})
    for column in by:
        totals[column] = TOTAL
    table = pd.concat([counts, totals[counts.columns]], ignore_index=True) if by else totals
    if dated and by:
        table["_total"] = table[by[0]].eq(TOTAL) & ~table.index.isin(range(len(counts)))
        table = table.sort_values(["as_of", "_total"], kind="stable").drop(columns="_total")
    table = table.astype({column: "int64" for column in VERDICTS})
    table["devices"] = table[VERDICTS].sum(axis=1).astype("int64")
    judged = table["devices"] - table["unknown"]
    behind = table["outdated"] + table["unsupported"]
    table["outdated_rate"] = (behind / judged.where(judged > 0)).astype("float64")
    return table[keys + STATUS_COLUMNS].reset_index(drop=True)


def _verdict_counts(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Devices per verdict (one column each) per group of ``keys``; one row when no keys."""
    if not keys:
        counts = frame["verdict"].value_counts().reindex(VERDICTS, fill_value=0)
        return pd.DataFrame([counts.to_numpy()], columns=VERDICTS)
    counts = frame.groupby(keys + ["verdict"], observed=True, sort=True).size()
    wide = counts.unstack("verdict", fill_value=0).reindex(columns=VERDICTS, fill_value=0)
    wide.columns = list(wide.columns.astype("str"))
    return wide.reset_index()


def exempt(devices: pd.DataFrame) -> pd.DataFrame:
    """The devices left out of rates because they are exempt on the frame's date.

    Examples:
        >>> devices = pd.DataFrame({"device_id": ["U1|iOS|phone", "U2|iOS|phone"],
        ...     "verdict": ["outdated", "current"], "exempt": [True, False],
        ...     "exempt_until": pd.to_datetime(["2026-12-31", pd.NaT])})
        >>> exempt(devices)["device_id"].tolist()
        ['U1|iOS|phone']
    """
    if "exempt" not in devices:
        return devices.iloc[0:0]
    return devices[devices["exempt"].fillna(False).astype(bool)].reset_index(drop=True)


def league(timeline: pd.DataFrame, as_of=None) -> pd.DataFrame:
    """Offices ranked by the share of judged devices up to date (current or grace).

    At ``as_of`` (default: the newest date of the timeline), with ``change`` = the share
    now minus the share at the timeline's previous date (NaN for an office absent then).
    Columns ``rank, office, devices, judged, up_to_date, share, change``. A snapshot
    (no ``as_of`` column) gives ``change`` NaN throughout. Exempt devices are left out.

    Examples:
        >>> weeks = pd.DataFrame({"as_of": pd.to_datetime(["2026-01-04"] * 2 + ["2026-01-11"] * 3),
        ...     "office": ["Oslo", "Lima", "Oslo", "Lima", "Lima"],
        ...     "verdict": ["outdated", "current", "current", "current", "outdated"]})
        >>> league(weeks)[["rank", "office", "share", "change"]].values.tolist()
        [[1, 'Oslo', 1.0, 1.0], [2, 'Lima', 0.5, -0.5]]
    """
    frame = _counted(timeline)
    if "as_of" not in frame:
        frame = frame.assign(as_of=pd.Timestamp(0))
    dates = pd.Series(frame["as_of"].unique()).sort_values().reset_index(drop=True)
    when = dates.iloc[-1] if as_of is None else pd.Timestamp(as_of)
    earlier = dates[dates < when]
    table = status(frame, by="office")
    table = table[table["office"] != TOTAL]
    table["judged"] = table["devices"] - table["unknown"]
    table["up_to_date"] = table["current"] + table["grace"]
    table["share"] = table["up_to_date"] / table["judged"].where(table["judged"] > 0)
    now = table[table["as_of"] == when].set_index("office")
    before = (table[table["as_of"] == earlier.iloc[-1]].set_index("office")["share"]
              if len(earlier) else pd.Series(dtype="float64"))
    now["change"] = now["share"] - before.reindex(now.index)
    now = now.sort_values(["share", "judged"], ascending=[False, False], na_position="last")
    now["rank"] = now["share"].rank(method="min", ascending=False).astype("Int64")
    now = now.reset_index()
    return now[["rank", "office", "devices", "judged", "up_to_date", "share", "change"]].astype(
        {"devices": "int64", "judged": "int64", "up_to_date": "int64", "share": "float64",
         "change": "float64"})


def stuck_versions(devices: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """The OS versions most outdated (or unsupported) devices are stuck on.

    Counts devices whose ``os_verdict`` is outdated or unsupported, per ``platform`` and
    ``os_version``; ``share`` is of all such devices. On a timeline, the newest date is
    used. Client versions are not counted here: a device row names its clients in one
    text column, and the OS is what blocks most updates.

    Examples:
        >>> devices = pd.DataFrame({"platform": ["iOS", "iOS", "iOS", "Android"],
        ...     "os_version": ["16.7", "16.7", "17.5", "12"],
        ...     "os_verdict": ["outdated", "unsupported", "current", "outdated"]})
        >>> stuck_versions(devices).values.tolist()
        [['iOS', '16.7', 2, 0.6666666666666666], ['Android', '12', 1, 0.3333333333333333]]
    """
    frame = _counted(devices)
    if "as_of" in frame and len(frame):
        frame = frame[frame["as_of"] == frame["as_of"].max()]
    behind = frame[frame["os_verdict"].isin(BEHIND)]
    counts = behind.groupby(["platform", "os_version"], sort=False).size().rename("devices")
    table = counts.reset_index().sort_values(["devices", "platform", "os_version"],
                                             ascending=[False, True, True], kind="stable")
    table["share"] = table["devices"] / max(len(behind), 1)
    return table.head(top).reset_index(drop=True).astype(
        {"platform": "str", "os_version": "str", "devices": "int64", "share": "float64"})


PATCH_COLUMNS = ["product", "line", "version", "released", "device_id", "user_id", "user",
                 "platform", "ip", "days", "patched"]


def time_to_patch(sightings: pd.DataFrame, catalog: pd.DataFrame, start=None, end=None,
                  window_days: int = 30) -> pd.DataFrame:
    """Days from each release to each device that needed it running it (or something newer).

    For every release of an OS or client product released between ``start`` and ``end``
    (default: the span of the sightings), the devices that needed it are those seen on an
    older version of the same product within ``window_days`` before the release (for an
    OS: of the same line, since an iOS 16 device is patched by 16.x, not 17.x; a client
    has one line). ``days`` runs from the release to the device's first sighting on that
    version or newer (``patched`` true), else to its last sighting (``patched`` false:
    censored, it may still patch). OS versions count only on ``exact`` evidence; a
    client seen only by its major (Chrome ``124``) is behind a release of a later major
    only, and reaches it on the first sighting of that major or a later one.
    Returns ``PATCH_COLUMNS``; ``org.assign`` adds offices, ``patch_speed`` summarises.

    Examples:
        >>> catalog = pd.DataFrame({"product": ["ios"] * 3, "version": ["17.4", "17.5", "16.7.8"],
        ...     "released": pd.to_datetime(["2024-03-05", "2024-05-13", "2024-05-13"]),
        ...     "line": ["17", "17", "16"]})
        >>> seen = pd.DataFrame({"device_id": ["A", "A", "B"], "user_id": ["A", "A", "B"],
        ...     "user": ["a", "a", "b"], "platform": ["iOS"] * 3, "ip": [pd.NA] * 3,
        ...     "os_product": ["ios"] * 3, "os_version": ["17.4", "17.5", "17.4.1"],
        ...     "os_evidence": ["exact"] * 3, "client_product": [pd.NA] * 3, "client_version": [pd.NA] * 3,
        ...     "first_day": pd.to_datetime(["2024-04-01", "2024-05-20", "2024-04-01"]),
        ...     "last_day": pd.to_datetime(["2024-05-19", "2024-06-30", "2024-06-10"])})
        >>> time_to_patch(seen, catalog)[["version", "device_id", "days", "patched"]].values.tolist()
        [['17.5', 'A', 7, True], ['17.5', 'B', 28, False]]
    """
    os_rows = sightings[sightings["os_evidence"].eq("exact").fillna(False)
                        & sightings["os_product"].notna()]
    client_rows = sightings[sightings["client_product"].notna() & sightings["client_version"].notna()]
    runs = pd.concat([
        pd.DataFrame({"row": os_rows.index, "product": os_rows["os_product"],
                      "version": os_rows["os_version"]}),
        pd.DataFrame({"row": client_rows.index, "product": client_rows["client_product"],
                      "version": client_rows["client_version"]}),
    ], ignore_index=True).astype({"product": "str", "version": "str"})
    for column in ("device_id", "first_day", "last_day"):
        runs[column] = sightings[column].reindex(runs["row"]).to_numpy()
    runs["key"] = releases.version_key(runs["version"])
    runs = runs.dropna(subset=["key"])
    # Chrome 124 (a reduced user agent) is behind 125.0.x but says nothing about 124.0.x.
    runs["major_only"] = ~runs["version"].str.contains(".", regex=False)

    span_start = runs["first_day"].min() if start is None else pd.Timestamp(start)
    span_end = runs["last_day"].max() if end is None else pd.Timestamp(end)
    shipped = catalog[["product", "line", "version", "released"]].astype(
        {"product": "str", "line": "str", "version": "str"}).copy()
    shipped["released"] = pd.to_datetime(shipped["released"]).astype("datetime64[us]")
    shipped["key"] = releases.version_key(shipped["version"])
    os_products = set(fleet.OS_PRODUCT.values())
    shipped["line_start"] = shipped.groupby(["product", "line"])["key"].transform("min")
    shipped.loc[~shipped["product"].isin(os_products), "line_start"] = ""
    due = shipped[(shipped["released"] >= span_start) & (shipped["released"] <= span_end)
                  & shipped["product"].isin(runs["product"].unique())]

    pairs = due.merge(runs, on="product", suffixes=("", "_seen"))
    older = pairs[_before(pairs) & (pairs["key_seen"] >= pairs["line_start"])
                  & (pairs["first_day"] <= pairs["released"])
                  & (pairs["last_day"] >= pairs["released"] - pd.Timedelta(days=window_days))]
    needed = older[["product", "line", "version", "key", "released", "device_id"]].drop_duplicates()

    newer = runs[["product", "device_id", "key", "major_only", "first_day"]].rename(
        columns={"key": "key_seen"})
    reached = needed.merge(newer, on=["product", "device_id"])
    reached = reached[~_before(reached)]
    first_patch = reached.groupby(["product", "version", "device_id"])["first_day"].min()
    device_last = sightings.groupby("device_id")["last_day"].max()

    patches = needed.drop(columns="key").reset_index(drop=True)
    found = first_patch.reindex(pd.MultiIndex.from_frame(patches[["product", "version", "device_id"]]))
    patches["patched"] = found.notna().to_numpy()
    until = found.to_numpy().astype("datetime64[us]")
    last = np.minimum(device_last.reindex(patches["device_id"]).to_numpy().astype("datetime64[us]"),
                      np.datetime64(span_end, "us"))
    until = np.where(patches["patched"], until, last)
    patches["days"] = np.maximum((until - patches["released"].to_numpy()) // np.timedelta64(1, "D"), 0)
    newest = sightings.sort_values("last_day", kind="stable").drop_duplicates("device_id", keep="last")
    person = newest.set_index("device_id")[["user_id", "user", "platform", "ip"]]
    patches = patches.join(person, on="device_id")
    patches = patches.sort_values(["released", "product", "version", "device_id"], kind="stable")
    return patches[PATCH_COLUMNS].reset_index(drop=True).astype(
        {"product": "str", "line": "str", "version": "str", "device_id": "str", "user_id": "str",
         "user": "str", "platform": "str", "ip": "str", "days": "int64", "patched": "bool"})


def _before(pairs: pd.DataFrame) -> pd.Series:
    """Whether the version seen (``key_seen``) is older than the release (``key``).

    A major-only version is compared on majors: it is behind a later major only.
    """
    seen, release = pairs["key_seen"], pairs["key"]
    majors = pairs["major_only"]
    return (seen.where(~majors, releases.major_key(seen))
            < release.where(~majors, releases.major_key(release))).fillna(False)


def patch_speed(patches: pd.DataFrame, by: str | Sequence[str] = ("platform",),
                grace_days: int = 14) -> pd.DataFrame:
    """Median days to patch and the share patched within ``grace_days``, per group.

    ``median_days`` is the Kaplan-Meier median, so devices that have not patched yet
    (censored) pull it up instead of being dropped; NaN when fewer than half ever patch.
    ``within_grace`` is the share patched within the grace days among the pairs whose
    outcome is known (patched, or watched for at least ``grace_days``). Columns: the
    group columns, ``needed`` (device x release pairs), ``patched``, ``median_days``,
    ``within_grace``.

    Examples:
        >>> patches = pd.DataFrame({"platform": ["iOS"] * 4, "days": [3, 10, 30, 5],
        ...                         "patched": [True, True, False, False]})
        >>> patch_speed(patches, grace_days=7).values.tolist()
        [['iOS', 4, 2, 10.0, 0.3333333333333333]]
    """
    by = [by] if isinstance(by, str) else list(by)
    rows = []
    for group, part in patches.groupby(by, sort=True, dropna=False):
        days = part["days"].to_numpy()
        patched = part["patched"].to_numpy(dtype=bool)
        known = patched | (days >= grace_days)
        in_time = (patched & (days <= grace_days)).sum()
        rows.append([*(group if isinstance(group, tuple) else (group,)), len(part), int(patched.sum()),
                     _median_survival(days, patched),
                     in_time / known.sum() if known.any() else np.nan])
    table = pd.DataFrame(rows, columns=by + ["needed", "patched", "median_days", "within_grace"])
    return table.astype({"needed": "int64", "patched": "int64", "median_days": "float64",
                         "within_grace": "float64"})


def _median_survival(days: np.ndarray, patched: np.ndarray) -> float:
    """Kaplan-Meier median time to the event; NaN when the curve never falls to one half."""
    survival = 1.0
    for moment in np.unique(days[patched]):
        at_risk = (days >= moment).sum()
        events = (patched & (days == moment)).sum()
        survival *= 1 - events / at_risk
        if survival <= 0.5:
            return float(moment)
    return float("nan")
