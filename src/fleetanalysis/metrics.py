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
from fleetanalysis.codes import combine, firsts, value_codes
from fleetanalysis.org import UNKNOWN_OFFICE

VERDICTS = ["current", "grace", "outdated", "unsupported", "unknown"]
STATUS_COLUMNS = ["devices", *VERDICTS, "outdated_rate"]
TOTAL = "Total"
BEHIND = ("outdated", "unsupported")


def _counted(devices: pd.DataFrame) -> np.ndarray:
    """Which rows count in rates: all but those exempt on the frame's date."""
    if "exempt" not in devices:
        return np.ones(len(devices), dtype=bool)
    return ~devices["exempt"].fillna(False).to_numpy(dtype=bool)


def status(devices: pd.DataFrame, by: str | Sequence[str] = ("platform",)) -> pd.DataFrame:
    """Device counts per verdict and ``outdated_rate`` per group, with a ``Total`` row.

    ``by`` names columns of ``devices`` (``platform``, ``office``, ``department`` or
    several); a timeline (a frame with ``as_of``) is grouped by ``as_of`` first, with a
    ``Total`` row per date (``by=["as_of"]`` gives the totals alone, one row per date). Returns the group columns, then ``devices, current, grace,
    outdated, unsupported, unknown`` (int64) and ``outdated_rate`` (float, NaN when no
    device in the group could be judged). Exempt devices are left out; an empty snapshot
    still gets its ``Total`` row, with zeros. Rows are counted on integer codes, so the
    cost grows with rows only by a few array passes, and with distinct groups otherwise.

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
    keys = dated + by
    counts = _verdict_counts(devices, keys)
    if by:
        totals = counts.groupby(dated, sort=True)[VERDICTS].sum().reset_index() if dated else (
            pd.DataFrame([counts[VERDICTS].sum().to_numpy()], columns=VERDICTS))
    else:
        totals = counts
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


def _verdict_counts(devices: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Counted devices per verdict (one column each) per group of ``keys``, sorted by them.

    Group columns other than ``as_of`` are compared as text, NA as ``"(none)"``; one row
    when there are no keys. Rows with a verdict outside ``VERDICTS`` or no date are not
    counted.
    """
    verdict = _verdict_codes(devices["verdict"])
    columns = [_key_codes(devices[column], text=column != "as_of") for column in keys]
    kept = _counted(devices) & (verdict >= 0)
    for codes, _ in columns:
        kept &= codes >= 0
    group = combine([codes[kept] for codes, _ in columns], sort=False) if keys else np.zeros(int(kept.sum()), "int64")
    first = firsts(group)
    labels = [values.take(codes[kept][first]) for codes, values in columns]
    size = len(first) if keys else 1
    counts = np.bincount(group * len(VERDICTS) + verdict[kept], minlength=size * len(VERDICTS))
    table = pd.DataFrame(counts.reshape(size, len(VERDICTS)), columns=VERDICTS, dtype="int64")
    for column, label in zip(keys, labels):
        table.insert(keys.index(column), column, label)
    if keys:
        table = table.sort_values(keys, kind="stable", ignore_index=True)
    return table


def _verdict_codes(verdicts: pd.Series) -> np.ndarray:
    """Each row's position in ``VERDICTS`` (NA is unknown), -1 for anything else."""
    codes, values = value_codes(verdicts)
    names = pd.Index(np.asarray(values, dtype=object)).fillna("unknown")
    return pd.Index(VERDICTS).get_indexer(names).take(codes)


def _key_codes(column: pd.Series, text: bool) -> tuple[np.ndarray, pd.Index]:
    """Each row's code in ``column`` and the distinct values; -1 for a missing date.

    A text key (any column but ``as_of``) is compared as ``str``, with NA as ``"(none)"``,
    so a categorical column groups exactly as its text would.
    """
    if not text:
        codes, values = pd.factorize(column)
        return codes, pd.Index(values)
    codes, values = value_codes(column)
    names = pd.Index(values.astype("str")).fillna("(none)")
    # Two values may read the same as text (NA and "(none)", 1 and "1"): one group.
    merged, values = pd.factorize(names)
    return merged.take(codes), values


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


def league(timeline: pd.DataFrame, as_of=None, unplaced: str = UNKNOWN_OFFICE) -> pd.DataFrame:
    """Offices ranked by the share of judged devices up to date (current or grace).

    At ``as_of`` (default: the newest date of the timeline), with ``change`` = the share
    now minus the share at the timeline's previous date (NaN for an office absent then).
    Columns ``rank, office, devices, judged, up_to_date, behind, share, change``; ``share``
    is ``1 - outdated_rate`` of ``status(..., by="office")`` on the same date. The
    ``unplaced`` office (devices no directory or network placed) is listed last with no
    rank: it is not an office anyone can lead. A snapshot (no ``as_of`` column) gives
    ``change`` NaN throughout. Exempt devices are left out.

    Examples:
        >>> weeks = pd.DataFrame({"as_of": pd.to_datetime(["2026-01-04"] * 2 + ["2026-01-11"] * 4),
        ...     "office": ["Oslo", "Lima", "Oslo", "Lima", "Lima", "Unknown office"],
        ...     "verdict": ["outdated", "current", "current", "current", "outdated", "current"]})
        >>> league(weeks)[["rank", "office", "share", "change"]].values.tolist()
        [[1, 'Oslo', 1.0, 1.0], [2, 'Lima', 0.5, -0.5], [<NA>, 'Unknown office', 1.0, nan]]
    """
    frame = timeline if "as_of" in timeline else timeline.assign(as_of=pd.Timestamp(0))
    counted = frame["as_of"][_counted(frame)]
    dates = pd.Series(counted.unique()).sort_values().reset_index(drop=True)
    when = dates.iloc[-1] if as_of is None else pd.Timestamp(as_of)
    earlier = dates[dates < when]
    table = status(frame, by="office")
    table = table[table["office"] != TOTAL]
    table["judged"] = table["devices"] - table["unknown"]
    table["up_to_date"] = table["current"] + table["grace"]
    table["behind"] = table["outdated"] + table["unsupported"]
    table["share"] = table["up_to_date"] / table["judged"].where(table["judged"] > 0)
    now = table[table["as_of"] == when].set_index("office")
    before = (table[table["as_of"] == earlier.iloc[-1]].set_index("office")["share"]
              if len(earlier) else pd.Series(dtype="float64"))
    now["change"] = now["share"] - before.reindex(now.index)
    now["_apart"] = now.index == unplaced
    now = now.sort_values(["_apart", "share", "judged"], ascending=[True, False, False],
                          na_position="last")
    ranked = now["share"].where(~now["_apart"])
    now["rank"] = ranked.rank(method="min", ascending=False).astype("Int64")
    now = now.reset_index()
    return now[["rank", "office", "devices", "judged", "up_to_date", "behind", "share", "change"]].astype(
        {"devices": "int64", "judged": "int64", "up_to_date": "int64", "behind": "int64",
         "share": "float64", "change": "float64"})


def headline(history: pd.DataFrame) -> pd.Series:
    """The figures of a report's first line: devices behind now, and a week and a month ago.

    ``history`` is ``status(timeline, by=["as_of"])`` (one ``Total`` row per date); the
    newest date is "now". ``behind`` = outdated + unsupported, ``behind_share`` =
    ``outdated_rate`` (behind over judged devices), and ``share_up_to_date`` its
    complement. ``change_week`` and ``change_month`` are ``behind_share`` now minus on the
    date 7 and 28 days earlier (NaN when the history has no such date or nothing was
    judged then), so a change always compares two dates of one timeline.

    Examples:
        >>> history = pd.DataFrame({"as_of": pd.to_datetime(["2026-01-04", "2026-01-25", "2026-02-01"]),
        ...     "devices": [10, 10, 12], "unknown": [0, 0, 2], "outdated": [3, 2, 1],
        ...     "unsupported": [0, 0, 0], "outdated_rate": [0.3, 0.2, 0.1]})
        >>> figures = headline(history)
        >>> figures[["devices", "judged", "behind", "behind_share"]].tolist()
        [12, 10, 1, 0.1]
        >>> round(figures["change_week"], 3), round(figures["change_month"], 3)
        (-0.1, -0.2)
    """
    dated = history.assign(as_of=pd.to_datetime(history["as_of"])).set_index("as_of").sort_index()
    now = dated.iloc[-1]
    rate = dated["outdated_rate"].astype("float64")

    def change(days: int) -> float:
        then = now.name - pd.Timedelta(days=days)
        return float(rate.iloc[-1] - rate[then]) if then in rate.index else float("nan")

    behind = int(now["outdated"] + now["unsupported"])
    return pd.Series({
        "as_of": now.name, "devices": int(now["devices"]), "judged": int(now["devices"] - now["unknown"]),
        "behind": behind, "behind_share": float(rate.iloc[-1]), "share_up_to_date": float(1 - rate.iloc[-1]),
        "change_week": change(7), "change_month": change(28)}, dtype="object")


def projection(history: pd.DataFrame, recent: int = 8) -> pd.Series:
    """How long until no judged device is behind, at the pace of the last ``recent`` points.

    ``history`` as for :func:`headline`. The pace is the least-squares slope of
    ``outdated_rate`` per week over the newest ``recent`` dates that have a rate.
    Returns ``points`` (dates with a rate: the points a trend chart draws), ``used``
    (those the pace is fitted on), ``per_week`` (change of the behind share per week),
    ``weeks`` (to reach zero, rounded up; 0 when nothing is behind, NaN when the share is
    not falling or fewer than 3 points are known) and ``improving``.

    Examples:
        >>> history = pd.DataFrame({"as_of": pd.date_range("2026-01-04", periods=4, freq="7D"),
        ...                         "outdated_rate": [0.20, 0.17, 0.14, 0.11]})
        >>> found = projection(history)
        >>> int(found["points"]), int(found["weeks"]), bool(found["improving"])
        (4, 4, True)
        >>> bool(projection(history.assign(outdated_rate=[0.1, 0.1, 0.12, 0.12]))["improving"])
        False
    """
    dated = history.assign(as_of=pd.to_datetime(history["as_of"])).sort_values("as_of")
    known = dated[dated["outdated_rate"].notna()]
    used = known.tail(recent)
    rate = used["outdated_rate"].to_numpy(dtype="float64")
    per_week, weeks = float("nan"), float("nan")
    if len(used) >= 2:
        elapsed = (used["as_of"] - used["as_of"].iloc[0]).dt.days.to_numpy(dtype="float64") / 7
        per_week = float(np.polyfit(elapsed, rate, 1)[0])
    if len(rate) and rate[-1] == 0:
        weeks = 0.0
    elif len(used) >= 3 and per_week < -1e-9:
        weeks = float(np.ceil(rate[-1] / -per_week))
    return pd.Series({"points": len(known), "used": len(used), "per_week": per_week,
                      "weeks": weeks, "improving": bool(weeks == weeks)}, dtype="object")


def fixes(devices: pd.DataFrame, top: int = 5) -> pd.DataFrame:
    """The updates that would bring the most devices that are behind up to date.

    Reads ``target`` (``fleet.snapshot``: the versions to install for the parts that gave
    a device its verdict, e.g. ``iOS 26.5.2; Chrome 149``) of the outdated and unsupported
    devices, and groups the wanted versions by product (the name the user agent gives:
    ``macOS``, ``Safari``, ``Chrome``) and major version, naming the newest version
    wanted in the group: installing it satisfies every device of the group. Columns
    ``product, version, devices`` (behind devices wanting it), ``covered`` (behind devices
    every one of whose wanted updates is in this row or a row above) and ``behind`` (all
    behind devices), the ``top`` groups wanting most devices first. Exempt devices are
    left out; a behind device without a target is in ``behind`` only.

    Examples:
        >>> devices = pd.DataFrame({"verdict": ["outdated", "outdated", "unsupported", "current"],
        ...     "target": ["Safari 26.5", "Safari 26.5.2; iOS 26.5", "Chrome 149", None]})
        >>> fixes(devices).values.tolist()
        [['Safari', '26.5.2', 2, 1, 3], ['Chrome', '149', 1, 2, 3], ['iOS', '26.5', 1, 3, 3]]
    """
    behind = devices[_counted(devices) & devices["verdict"].isin(BEHIND).to_numpy(dtype=bool)]
    wanted = (behind["target"].astype("str").str.split("; ").explode().dropna()
              .str.strip().str.extract(r"^(?P<product>.+?) (?P<version>\d[^ ]*)$").dropna())
    wanted["device"] = wanted.index
    wanted = wanted.reset_index(drop=True)
    wanted["major"] = wanted["version"].str.split(".").str[0]
    wanted["key"] = releases.version_key(wanted["version"])
    groups = wanted.groupby(["product", "major"], sort=False)
    table = groups.agg(devices=("device", "nunique")).reset_index()
    newest = wanted.sort_values("key", na_position="first").groupby(["product", "major"]).tail(1)
    table = table.merge(newest[["product", "major", "version"]], on=["product", "major"])
    table = table.sort_values(["devices", "product", "major"], ascending=[False, True, True],
                              kind="stable").head(top).reset_index(drop=True)
    needs = wanted.groupby("device")[["product", "major"]].apply(
        lambda rows: set(zip(rows["product"], rows["major"])))
    covered, chosen = [], set()
    for product, major in zip(table["product"], table["major"]):
        chosen.add((product, major))
        covered.append(int(sum(need <= chosen for need in needs)))
    table["covered"] = covered
    table["behind"] = len(behind)
    return table[["product", "version", "devices", "covered", "behind"]].astype(
        {"product": "str", "version": "str", "devices": "int64", "covered": "int64", "behind": "int64"})


def select(devices: pd.DataFrame, **criteria) -> pd.DataFrame:
    """The devices matching every criterion given (``None`` matches all), compared as text.

    Criteria name columns (``platform``, ``office``, ``department``, ``user``, ``verdict``);
    ``verdict="behind"`` means outdated or unsupported.

    Examples:
        >>> devices = pd.DataFrame({"platform": ["iOS", "iPadOS", "iOS"], "office": ["Oslo", "Oslo", "Lima"],
        ...                         "verdict": ["outdated", "outdated", "current"]})
        >>> select(devices, platform="iOS", office=None, verdict="behind").index.tolist()
        [0]
    """
    keep = pd.Series(True, index=devices.index)
    for column, wanted in criteria.items():
        if wanted is None:
            continue
        values = devices[column].astype("str")
        keep &= values.isin(BEHIND) if column == "verdict" and wanted == "behind" else values.eq(str(wanted))
    return devices[keep.to_numpy(dtype=bool)]


def on_version(devices: pd.DataFrame, version: str) -> pd.DataFrame:
    """The devices running one product's version: ``"iOS 17.5"`` or ``"Chrome 124"``.

    The product is a platform (then ``os_version`` must equal the version: iPadOS 17.5 is
    not iOS 17.5) or a browser or app as ``clients`` names it (``Chrome 124; Slack 4.38``).

    Examples:
        >>> devices = pd.DataFrame({"platform": ["iOS", "iPadOS", "macOS"], "os_version": ["17.5", "17.5", "14"],
        ...                         "clients": ["Slack 24.05", None, "Chrome 124; Safari 17.5"]})
        >>> on_version(devices, "iOS 17.5").index.tolist(), on_version(devices, "Safari 17.5").index.tolist()
        ([0], [2])
    """
    product, _, number = str(version).strip().rpartition(" ")
    on_os = devices["platform"].astype("str").eq(product) & devices["os_version"].astype("str").eq(number)
    listed = "; " + devices["clients"].astype("str").fillna("") + ";"
    in_clients = listed.str.contains(f"; {product} {number};", regex=False)
    return devices[(on_os | in_clients).fillna(False).to_numpy(dtype=bool)]


def version_history(sightings: pd.DataFrame, user: str) -> pd.DataFrame:
    """One person's versions over time: when each device of theirs ran each OS and client version.

    ``user`` is matched against ``user`` or ``user_id`` of ``fleet.sightings`` rows.
    Columns ``platform, device_class, os_version, client, first_day, last_day``, one row per
    distinct (device, OS version, client version), in the order they were first seen.

    Examples:
        >>> seen = pd.DataFrame({"user": ["ana@x.org"] * 3, "user_id": ["U1"] * 3, "platform": ["iOS"] * 3,
        ...     "device_class": ["phone"] * 3, "os_version": ["17.4", "17.4", "17.5"],
        ...     "client_product": ["slack-ios"] * 3, "client_version": ["24.04", "24.04", "24.05"],
        ...     "first_day": pd.to_datetime(["2024-04-01", "2024-04-09", "2024-05-20"]),
        ...     "last_day": pd.to_datetime(["2024-04-08", "2024-05-19", "2024-06-01"])})
        >>> version_history(seen, "U1")[["os_version", "client", "first_day"]].astype("str").values.tolist()
        [['17.4', 'slack-ios 24.04', '2024-04-01'], ['17.5', 'slack-ios 24.05', '2024-05-20']]
    """
    mine = sightings[sightings["user"].astype("str").eq(user) | sightings["user_id"].astype("str").eq(user)]
    client = (mine["client_product"].astype("str") + " " + mine["client_version"].astype("str")).where(
        mine["client_product"].notna() & mine["client_version"].notna())
    rows = pd.DataFrame({"platform": mine["platform"].astype("str"), "device_class": mine["device_class"].astype("str"),
                         "os_version": mine["os_version"].astype("str"), "client": client.astype("str"),
                         "first_day": mine["first_day"], "last_day": mine["last_day"]})
    keys = ["platform", "device_class", "os_version", "client"]
    spans = rows.groupby(keys, dropna=False, sort=False).agg(first_day=("first_day", "min"),
                                                            last_day=("last_day", "max")).reset_index()
    return spans.sort_values(["first_day", *keys], kind="stable", ignore_index=True)


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
    counted = _counted(devices)
    if "as_of" in devices and counted.any():
        dates = devices["as_of"]
        counted &= (dates == dates[counted].max()).to_numpy(dtype=bool, na_value=False)
    counted &= devices["os_verdict"].isin(BEHIND).to_numpy(dtype=bool)
    # As text: a categorical column would otherwise sort by its category order.
    behind = devices.loc[counted, ["platform", "os_version"]].astype("str")
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
    Sightings of one version on one device are merged into the spans they cover and each
    span finds its releases by date, so memory grows with the pairs returned, not with
    sightings times releases.

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
    device, device_names = value_codes(sightings["device_id"])
    people = max(len(device_names), 1)
    runs = _version_runs(sightings, device)
    span_start = runs["first_day"].min() if start is None else pd.Timestamp(start)
    span_end = runs["last_day"].max() if end is None else pd.Timestamp(end)
    due = _due(catalog, runs, span_start, span_end)
    runs, due = _rank_versions(runs, due)
    need_release, need_device = _needed(runs, due, people, window_days)
    order = np.lexsort((_text_rank(pd.DataFrame({"device_id": device_names}))[need_device],
                        _text_rank(due[["released", "product", "version"]])[need_release]))
    need_release, need_device = need_release[order], need_device[order]

    released = due["released"].to_numpy().view("int64")[need_release]
    reached = _first_patch(runs, due, need_release, need_device, people)
    patched = reached < _NEVER
    last_day = sightings["last_day"].to_numpy().astype("datetime64[us]").view("int64")
    device_last = pd.Series(last_day).groupby(device).max().reindex(range(people)).to_numpy()
    watched_until = pd.DatetimeIndex([span_end]).as_unit("us").asi8[0]
    until = np.where(patched, reached, np.minimum(device_last[need_device], watched_until))

    newest = _newest_rows(device, last_day, people)[need_device]
    patches = due[["product", "line", "version", "released"]].take(need_release).reset_index(drop=True)
    patches["device_id"] = pd.Series(pd.Index(device_names).take(need_device), dtype="str")
    for column in ("user_id", "user", "platform", "ip"):
        patches[column] = pd.Series(sightings[column].array.take(newest), dtype="str")
    patches["days"] = np.maximum((until - released) // _DAY, 0)
    patches["patched"] = patched
    return patches[PATCH_COLUMNS].astype(
        {"product": "str", "line": "str", "version": "str", "device_id": "str", "user_id": "str",
         "user": "str", "platform": "str", "ip": "str", "days": "int64", "patched": "bool"})


_NEVER = np.iinfo("int64").max
_DAY = 24 * 3600 * 10**6  # microseconds


def _version_runs(sightings: pd.DataFrame, device: np.ndarray) -> pd.DataFrame:
    """The sightings as runs of one product's version on a device.

    Columns ``product`` (str), ``key`` (``catalog.version_key``), ``major_only`` (the
    version names a major alone), ``device`` (code), ``first_day``, ``last_day``; OS
    versions on ``exact`` evidence only; rows whose version has no key are left out.
    """
    os_rows = sightings["os_evidence"].eq("exact").fillna(False) & sightings["os_product"].notna()
    client_rows = sightings["client_product"].notna() & sightings["client_version"].notna()
    pieces = []
    for rows, product, version in ((os_rows, "os_product", "os_version"),
                                   (client_rows, "client_product", "client_version")):
        rows = rows.to_numpy(dtype=bool)
        codes, texts = value_codes(sightings[version])
        texts = pd.Series(texts, dtype="str")
        # Chrome 124 (a reduced user agent) is behind 125.0.x but says nothing about 124.0.x.
        major_only = ~texts.str.contains(".", regex=False).fillna(False).to_numpy(dtype=bool)
        pieces.append(pd.DataFrame({
            "product": sightings[product][rows].astype("str").reset_index(drop=True),
            "key": releases.version_key(texts).array.take(codes[rows]),
            "major_only": major_only.take(codes[rows]),
            "device": device[rows],
            "first_day": sightings["first_day"].to_numpy().astype("datetime64[us]")[rows],
            "last_day": sightings["last_day"].to_numpy().astype("datetime64[us]")[rows]}))
    return pd.concat(pieces, ignore_index=True).dropna(subset=["key"]).reset_index(drop=True)


def _due(catalog: pd.DataFrame, runs: pd.DataFrame, start, end) -> pd.DataFrame:
    """The releases between ``start`` and ``end`` of the products seen in ``runs``.

    Columns ``product, line, version, released, key, line_start`` (the first key of the
    line for an OS, ``""`` for a client, which has one line); versions with no key left out.
    """
    shipped = catalog[["product", "line", "version", "released"]].astype(
        {"product": "str", "line": "str", "version": "str"}).copy()
    shipped["released"] = pd.to_datetime(shipped["released"]).astype("datetime64[us]")
    shipped["key"] = releases.version_key(shipped["version"])
    os_products = set(fleet.OS_PRODUCT.values())
    shipped["line_start"] = shipped.groupby(["product", "line"])["key"].transform("min")
    shipped.loc[~shipped["product"].isin(os_products), "line_start"] = ""
    due = shipped[(shipped["released"] >= start) & (shipped["released"] <= end)
                  & shipped["product"].isin(runs["product"].unique())]
    # A release that cannot be ordered is behind nothing and ahead of nothing.
    return due.dropna(subset=["key"]).drop_duplicates(
        ["product", "line", "version", "key", "released"]).reset_index(drop=True)


def _rank_versions(runs: pd.DataFrame, due: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Runs and releases with integer ranks of their keys: ``rank``, ``major`` (and ``line_rank``).

    Keys compare as text; ranking each distinct key once lets millions of pairs compare
    integers instead.
    """
    ranked = pd.Index(pd.concat([runs["key"], due["key"], due["line_start"]]).dropna().unique()).sort_values()
    majors = pd.factorize(releases.major_key(pd.Series(ranked, dtype="str")), sort=True)[0]
    codes, keys = pd.factorize(runs["key"])
    seen, shipped = ranked.get_indexer(keys).take(codes), ranked.get_indexer(due["key"])
    return (runs.assign(rank=seen, major=majors.take(seen)),
            due.assign(rank=shipped, major=majors.take(shipped),
                       line_rank=ranked.get_indexer(due["line_start"])))


def _needed(runs: pd.DataFrame, due: pd.DataFrame, people: int, window_days: int) -> tuple[np.ndarray, ...]:
    """The (release row, device) pairs where the device was behind the release when it shipped.

    A device seen on a version is behind each later release (of the same line, for an
    OS) shipped while it ran that version or up to ``window_days`` after. Runs on one
    version merge into spans and each span finds its releases by date, so the work grows
    with spans and the releases within them, not with sightings times releases.
    """
    products, names = pd.factorize(runs["product"])
    release_product = names.get_indexer(due["product"])
    released = due["released"].to_numpy().view("int64")
    seen, seen_major, major_only = (runs[column].to_numpy() for column in ("rank", "major", "major_only"))
    device = runs["device"].to_numpy()
    reach = (runs["last_day"] + pd.Timedelta(days=window_days)).to_numpy().view("int64")
    span_run, span_begin, span_end = _spans(combine([products, device, seen, major_only.astype("int64")], sort=False),
                                            runs["first_day"].to_numpy().view("int64"), reach)
    pair_release, pair_run = [np.zeros(0, dtype="int64")], [np.zeros(0, dtype="int64")]
    for product in range(len(names)):
        ships = np.flatnonzero(release_product == product)
        ships = ships[np.argsort(released[ships], kind="stable")]
        mine = np.flatnonzero(products[span_run] == product)
        low = np.searchsorted(released[ships], span_begin[mine], side="left")
        count = np.searchsorted(released[ships], span_end[mine], side="right") - low
        within = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        pair_release.append(ships[np.repeat(low, count) + within])
        pair_run.append(np.repeat(span_run[mine], count))
    release, run = np.concatenate(pair_release), np.concatenate(pair_run)
    behind = np.where(major_only[run], seen_major[run] < due["major"].to_numpy()[release],
                      seen[run] < due["rank"].to_numpy()[release])
    keep = behind & (seen[run] >= due["line_rank"].to_numpy()[release])
    needed = pd.unique(release[keep] * people + device[run][keep])
    return needed // people, needed % people


def _first_patch(runs: pd.DataFrame, due: pd.DataFrame, need_release: np.ndarray,
                 need_device: np.ndarray, people: int) -> np.ndarray:
    """Per needed pair, the first day (microseconds) the device ran the release or newer; ``_NEVER`` if not.

    A bare major reaches the releases of its own major and earlier ones.
    """
    products, names = pd.factorize(runs["product"])
    owner = products * people + runs["device"].to_numpy()
    query = names.get_indexer(due["product"]).take(need_release) * people + need_device
    first = runs["first_day"].to_numpy().view("int64")
    major_only = runs["major_only"].to_numpy(dtype=bool)
    earliest = [_earliest_from(owner[rows], runs[column].to_numpy()[rows], first[rows], query,
                               due[column].to_numpy()[need_release])
                for rows, column in ((~major_only, "rank"), (major_only, "major"))]
    return np.minimum(*earliest)


def _spans(kind: np.ndarray, begin: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, ...]:
    """Merge the closed intervals ``[begin, end]`` of each kind where they overlap.

    Returns, per merged span, one row of the span (for its kind), its begin and its end.
    """
    order = np.lexsort((begin, kind))
    kind, begin, end = kind[order], begin[order], end[order]
    reach = pd.Series(end).groupby(kind, sort=False).cummax().to_numpy()
    fresh = np.ones(len(kind), dtype=bool)
    fresh[1:] = (kind[1:] != kind[:-1]) | (begin[1:] > reach[:-1])
    starts = np.flatnonzero(fresh)
    stops = np.append(starts[1:] - 1, len(kind) - 1)[:len(starts)]
    return order[starts], begin[starts], reach[stops]


def _earliest_from(owner: np.ndarray, rank: np.ndarray, day: np.ndarray,
                   query_owner: np.ndarray, query_rank: np.ndarray) -> np.ndarray:
    """Per query, the earliest ``day`` of its owner's rows ranked at or above its rank.

    ``_NEVER`` when the owner has no such row.
    """
    if not len(owner):
        return np.full(len(query_owner), _NEVER, dtype="int64")
    order = np.lexsort((rank, owner))
    owner, rank, day = owner[order], rank[order], day[order]
    # Read backwards, a running minimum per owner is the earliest day at this rank or above.
    earliest = pd.Series(day[::-1]).groupby(owner[::-1], sort=False).cummin().to_numpy()[::-1]
    width = int(max(rank.max(), query_rank.max(initial=0))) + 1
    at = np.searchsorted(owner * width + rank, query_owner * width + query_rank, side="left")
    inside = at < len(owner)
    at = np.minimum(at, len(owner) - 1)
    return np.where(inside & (owner[at] == query_owner), earliest[at], _NEVER)


def _newest_rows(device: np.ndarray, last_day: np.ndarray, devices: int) -> np.ndarray:
    """Per device code, the row of its newest sighting (the later row on a tie)."""
    order = np.lexsort((np.arange(len(device)), last_day, device))
    ends = np.flatnonzero(np.append(device[order][1:] != device[order][:-1], True)) if len(order) else order
    newest = np.zeros(devices, dtype="int64")
    newest[device[order[ends]]] = order[ends]
    return newest


def _text_rank(frame: pd.DataFrame) -> np.ndarray:
    """Each row's place when the frame is sorted (stably) by all its columns."""
    order = frame.reset_index(drop=True).sort_values(list(frame.columns), kind="stable").index.to_numpy()
    rank = np.empty(len(order), dtype="int64")
    rank[order] = np.arange(len(order))
    return rank


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
