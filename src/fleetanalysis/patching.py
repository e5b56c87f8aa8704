"""Time to patch, the security team's speed: for each release, the days until each
device that needed it ran it (``time_to_patch``), and per group the median days and the
share patched within grace (``patch_speed``).

Like every stage it takes and returns DataFrames: sightings (``fleet.sightings``) and the
release catalog in, one row per device and release out, counted per device, never per
log row. Censored devices (seen on an old version, not yet on the release) are kept and
marked, so the median is a Kaplan-Meier median rather than one of the fast ones only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from fleetanalysis import catalog as releases
from fleetanalysis import fleet
from fleetanalysis.codes import combine, pack, unpack, value_codes

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
    return unpack(pd.unique(pack(release[keep], device[run][keep], people)), people)


def _first_patch(runs: pd.DataFrame, due: pd.DataFrame, need_release: np.ndarray,
                 need_device: np.ndarray, people: int) -> np.ndarray:
    """Per needed pair, the first day (microseconds) the device ran the release or newer; ``_NEVER`` if not.

    A bare major reaches the releases of its own major and earlier ones.
    """
    products, names = pd.factorize(runs["product"])
    owner = pack(products, runs["device"].to_numpy(), people)
    query = pack(names.get_indexer(due["product"]).take(need_release), need_device, people)
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
    at = np.searchsorted(pack(owner, rank, width), pack(query_owner, query_rank, width), side="left")
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
