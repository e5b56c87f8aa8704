"""Rates for managers: shares of devices by verdict, an office league, the versions
devices are stuck on (time to patch, the security team's speed, is ``patching``).

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

import functools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from fleetanalysis import catalog as releases
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


def people(rows: pd.DataFrame) -> int:
    """How many people ``rows`` name: by user id, by user name where a log gives no id
    (Okta, Entra and CSV logs name people by email).

    Examples:
        >>> people(pd.DataFrame({"user_id": ["U1", "U1", None], "user": ["ann", "ann", "bo@x.io"]}))
        2
    """
    ids, names = rows["user_id"].astype("object"), rows["user"].astype("object")
    # A name is kept apart from an id that happens to read the same.
    return int(pd.concat([ids.dropna(), "name:" + names[ids.isna()].dropna().astype(str)]).nunique())


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
    not falling or fewer than 3 points are known), ``improving``, and ``first_rate`` and
    ``last_rate`` (the share behind at the first and last point used).

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
                      "weeks": weeks, "improving": bool(weeks == weeks),
                      "first_rate": float(rate[0]) if len(rate) else float("nan"),
                      "last_rate": float(rate[-1]) if len(rate) else float("nan")}, dtype="object")


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
    wanted = _wanted(behind)
    groups = wanted.groupby(["product", "major"], sort=False)
    table = groups.agg(devices=("device", "nunique"), version=("newest", "first")).reset_index()
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


def fix_targets(devices: pd.DataFrame) -> pd.Series:
    """Per device behind, the updates to install worded as the report's fix table words
    them, so a Slack nudge and the report name one version for one device.

    Each wanted update (``target``, as for ``fixes``) becomes the newest version wanted in
    its product and major group across the behind devices, ``or_newer``: a device judged on
    an older day is told the same release as the rest. NA for devices not behind, and
    for a behind device whose target names no product (kept as it is).

    Examples:
        >>> devices = pd.DataFrame({"verdict": ["outdated", "unsupported", "current"],
        ...     "target": ["Safari 26.5", "Safari 26.5.2; iOS 26.5", None]})
        >>> fix_targets(devices).tolist()
        ['Safari 26.5.2 or newer', 'Safari 26.5.2 or newer; iOS 26.5 or newer', <NA>]
    """
    behind = _counted(devices) & devices["verdict"].isin(BEHIND).to_numpy(dtype=bool)
    wanted = _wanted(devices[behind])
    named = (wanted["product"] + " " + or_newer(wanted["newest"])).groupby(wanted["device"], sort=False).agg(
        lambda texts: "; ".join(dict.fromkeys(texts)))
    found = pd.Series(pd.NA, index=range(len(devices)), dtype="string")
    found.iloc[np.flatnonzero(behind)[named.index.to_numpy(dtype="int64")]] = named.to_numpy(dtype=object)
    return found.set_axis(devices.index)


def or_newer(versions: pd.Series | str) -> pd.Series | str:
    """A version to install (a Series or one text), worded once for the report and the nudges alike.

    Examples:
        >>> or_newer(pd.Series(["26.5.2"])).tolist(), or_newer("Chrome 149")
        (['26.5.2 or newer'], 'Chrome 149 or newer')
    """
    if isinstance(versions, str):
        return f"{versions} or newer"
    return versions.astype("str") + " or newer"


def _wanted(behind: pd.DataFrame) -> pd.DataFrame:
    """Each update named in ``behind``'s ``target``: ``device`` (position in ``behind``),
    ``product``, ``version``, ``major``, ``key`` and ``newest`` (the newest version
    wanted in its product and major group)."""
    targets = behind["target"].astype("str").reset_index(drop=True)
    wanted = (targets.str.split("; ").explode().dropna()
              .str.strip().str.extract(r"^(?P<product>.+?) (?P<version>\d[^ ]*)$").dropna())
    wanted["device"] = wanted.index
    wanted = wanted.reset_index(drop=True)
    wanted["major"] = wanted["version"].str.split(".").str[0]
    wanted["key"] = releases.version_key(wanted["version"])
    newest = wanted.sort_values("key", na_position="first").groupby(["product", "major"]).tail(1)
    newest = newest.assign(version=[named_release(product, version) for product, version in
                                    zip(newest["product"], newest["version"])])
    return wanted.merge(newest[["product", "major", "version"]].rename(columns={"version": "newest"}),
                        on=["product", "major"], how="left")


def named_release(product: str, version: str) -> str:
    """A version worded as people know it: a Windows build with its release's name
    (``10.0.26100`` is ``11 24H2 (10.0.26100)``: nobody asked to install a build number
    would know it means Windows 11), from the shipped catalog's ``line`` of that build.
    Other products' versions, and builds the catalog does not name, stay as they are.

    Examples:
        >>> named_release("Windows", "10.0.26100.4946"), named_release("Windows", "10.0.99999")
        ('11 24H2 (10.0.26100.4946)', '10.0.99999')
        >>> named_release("Safari", "26.5.2")
        '26.5.2'
    """
    line = release_line(product, version)
    return f"{line} ({version})" if line else version


def release_line(product: str, version: str) -> str | None:
    """The name of the release a Windows build belongs to (``11 24H2``), None for other
    products and for builds the shipped catalog does not list.

    Examples:
        >>> release_line("Windows", "10.0.22621.525"), release_line("iOS", "17.4")
        ('11 22H2', None)
    """
    if product != "Windows" or not isinstance(version, str):
        return None
    return _windows_lines().get(_build(version))


def _build(version: str) -> str:
    """A Windows version cut to its build (``10.0.26100.4946`` -> ``10.0.26100``)."""
    return ".".join(version.split(".")[:3])


@functools.cache
def _windows_lines() -> dict[str, str]:
    """The release name (``line``) of each Windows build the shipped catalog lists (its
    Windows file alone: the names are facts of the shipped catalog, whatever is layered on)."""
    shipped = releases.load(files=[path for path in releases.shipped_files() if path.stem == "windows"],
                            updates=False)
    named = shipped[shipped["line"].notna()]
    return {_build(version): line for version, line in zip(named["version"].astype("str"), named["line"].astype("str"))}


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
