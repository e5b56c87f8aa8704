"""Devices, not log rows: collapse sightings into devices and judge them on a date.

Why: a phone that updates shows up as a new user-agent row while its old row stays in
the log. Counting rows would count the updated phone as still outdated; counting
devices at their newest versions does not.

The device rule:

* a device is one user (``user_id``, else ``user``) on one ``platform`` and one
  ``device_class``: a user with a phone and a laptop is two devices;
* ``sdk`` and ``bot`` clients are never devices, and rows naming no user are dropped
  (there is nobody to attribute them to);
* a row is active at date D when ``first_seen <= D`` and ``last_seen >= D - window``
  (whole UTC days); rows first seen after D are invisible at D;
* at D a device is at its newest versions among its active rows: the newest OS version
  by version order among ``exact`` evidence (falling back to the best evidence there is,
  ``lower-bound``, then ``frozen``, then ``absent``, which policy leaves unknown), and per
  ``client_product`` the newest client version (a bare major, as Chromium browsers
  now send, is judged as ``major`` evidence);
* each part is judged by ``policy.judge`` as of the date of its evidence, ``min(D,
  last_seen)``: we only know a version on the days we saw it, so a device last seen in
  March is judged against the releases of March, not of today;
* its ``verdict`` is ``policy.worst`` of its parts; ``unknown`` only when no part could
  be judged, and then ``reason`` joins every part's reason.

Limits: two identical phones of one user are one device; a user who signs in from a
colleague's laptop adds a device to their own name; a device whose user agent changes
platform or class (an iPad in desktop mode reports macOS) splits into two; an old row
stays active for the whole window after its last sighting, but never outranks a newer
version of the same device (a downgrade shows as the higher version until the old row
leaves the window); each source has its own user ids (Slack ``U...``, Okta object ids),
so one phone seen by two sources counts once per source unless their ids agree.

Examples:
    >>> import pandas as pd
    >>> facts = pd.DataFrame({"user_id": ["U1", "U1", "U1", "U2"], "user": ["a", "a", "a", "b"],
    ...     "platform": ["iOS", "iOS", "macOS", "Linux"], "device_class": ["phone", "phone", "desktop", "desktop"],
    ...     "client_kind": ["app", "app", "browser", "bot"]})
    >>> device_ids(facts).tolist()
    ['U1|iOS|phone', 'U1|iOS|phone', 'U1|macOS|desktop', 'U2|Linux|desktop']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fleetanalysis import catalog as releases
from fleetanalysis import policy as verdicts

# Catalog ids of each platform's OS. Linux and ChromeOS have no catalog: their OS part
# goes to policy under the platform's own name, which policy leaves unknown with its
# reason, so a Linux laptop's verdict rests on its browser alone.
OS_PRODUCT = {"iOS": "ios", "iPadOS": "ipados", "Android": "android", "macOS": "macos",
              "Windows": "windows"}
# Better evidence outranks a higher version: an exact 17.4 beats a frozen 10.15.7.
EVIDENCE_RANK = {"absent": 0, "frozen": 1, "lower-bound": 2, "exact": 3}
NOT_DEVICES = ("sdk", "bot")

DEVICE_COLUMNS = ["device_id", "user_id", "user", "platform", "device_class", "os_version",
                  "os_evidence", "clients", "os_verdict", "os_reason", "client_verdict", "verdict", "reason",
                  "target", "last_seen", "ip"]
SIGHTING_COLUMNS = ["device_id", "user_id", "user", "platform", "device_class", "os_product",
                    "os_version", "os_evidence", "client_kind", "client_family", "client_product",
                    "client_version", "first_seen", "last_seen", "first_day", "last_day", "ip"]


def device_ids(facts: pd.DataFrame) -> pd.Series:
    """The device of each row: ``user|platform|device_class`` (user = user_id, else user).

    Examples:
        >>> device_ids(pd.DataFrame({"user_id": [pd.NA], "user": ["b@x.org"],
        ...     "platform": ["Android"], "device_class": ["phone"]})).tolist()
        ['b@x.org|Android|phone']
    """
    person = facts["user_id"].astype("str").fillna(facts["user"].astype("str"))
    platform = facts["platform"].astype("str").fillna("other")
    device_class = facts["device_class"].astype("str").fillna("unknown")
    return (person + "|" + platform + "|" + device_class).rename("device_id")


def version_rank(versions: pd.Series) -> pd.Series:
    """Dense rank of versions in ``catalog.version_key`` order (``4.9 < 4.10``), -1 for NA.

    Text that holds no version ranks -1 with NA, below every version.

    Examples:
        >>> version_rank(pd.Series(["4.10", "4.9", pd.NA, "17.4.0", "17.4", "junk"])).tolist()
        [1, 0, -1, 2, 2, -1]
    """
    codes, _ = pd.factorize(releases.version_key(versions), sort=True)
    return pd.Series(codes, index=versions.index, dtype="int64")


def sightings(facts: pd.DataFrame) -> pd.DataFrame:
    """The rows of people's devices from client facts, with their ``device_id``.

    Drops ``sdk``/``bot`` clients and rows naming no user. Returns ``SIGHTING_COLUMNS``:
    the facts' columns plus ``device_id``, ``os_product`` (catalog id of the platform's
    OS, NA for Linux/ChromeOS/other) and ``first_day``/``last_day`` (naive UTC days,
    ``datetime64[us]``), sorted by device and first sighting.

    Examples:
        >>> facts = pd.DataFrame({"user_id": ["U1", "U1", pd.NA], "user": ["a", "a", pd.NA],
        ...     "platform": ["iOS", "iOS", "iOS"], "device_class": ["phone"] * 3,
        ...     "os_version": ["17.4", "17.4", "17.4"], "os_evidence": ["exact"] * 3,
        ...     "client_kind": ["app", "sdk", "app"], "client_family": ["Slack"] * 3,
        ...     "client_product": ["slack-ios"] * 3, "client_version": ["24.04"] * 3,
        ...     "first_seen": pd.to_datetime(["2026-03-01 23:30"] * 3, utc=True),
        ...     "last_seen": pd.to_datetime(["2026-03-02 08:00"] * 3, utc=True), "ip": ["10.0.0.1"] * 3})
        >>> seen = sightings(facts)
        >>> seen[["device_id", "os_product", "first_day"]].values.tolist()
        [['U1|iOS|phone', 'ios', Timestamp('2026-03-01 00:00:00')]]
    """
    human = ~facts["client_kind"].astype("str").isin(NOT_DEVICES)
    named = facts["user_id"].notna() | facts["user"].notna()
    rows = facts.loc[human & named]
    seen = pd.DataFrame({"device_id": device_ids(rows)}, index=rows.index)
    for column in ("user_id", "user", "platform", "device_class"):
        seen[column] = rows[column].astype("str")
    seen["os_product"] = seen["platform"].map(OS_PRODUCT).astype("str")
    for column in ("os_version", "os_evidence", "client_kind", "client_family", "client_product",
                   "client_version", "ip"):
        seen[column] = rows[column].astype("str")
    for column in ("first_seen", "last_seen"):
        seen[column] = rows[column]
    seen["first_day"] = _day(rows["first_seen"])
    seen["last_day"] = _day(rows["last_seen"])
    seen = seen.sort_values(["device_id", "first_seen"], kind="stable")
    return seen[SIGHTING_COLUMNS].reset_index(drop=True)


def _day(moments) -> pd.Series:
    """Naive UTC midnight of each moment (or of each date given)."""
    moments = pd.to_datetime(moments)
    if isinstance(moments, pd.Timestamp):
        moments = moments.tz_convert("UTC").tz_localize(None) if moments.tzinfo else moments
        return moments.normalize().as_unit("us")
    if getattr(moments.dt, "tz", None) is not None:
        moments = moments.dt.tz_convert("UTC").dt.tz_localize(None)
    return moments.dt.normalize().astype("datetime64[us]")


def snapshot(sightings: pd.DataFrame, catalog: pd.DataFrame, policy, as_of,
             window_days: int = 30) -> pd.DataFrame:
    """The devices seen in the ``window_days`` before ``as_of``, each at its newest versions.

    One row per device, ``DEVICE_COLUMNS``, sorted by ``device_id``; ``last_seen`` is its
    newest sighting up to the end of ``as_of`` and ``ip`` that of its newest row. Each device is judged
    as of the date of its evidence, ``min(as_of, last_seen)``: we know its versions only
    on the days we saw it, so a device quiet for three weeks is judged against the
    releases of three weeks ago, never called outdated by a release it could not have had.

    Examples:
        >>> from fleetanalysis import catalog as releases, policy
        >>> facts = pd.DataFrame({"user_id": ["U1", "U1"], "user": ["a@x.org"] * 2,
        ...     "platform": ["macOS"] * 2, "device_class": ["desktop"] * 2,
        ...     "os_version": ["14.4", "14.5"], "os_evidence": ["exact"] * 2,
        ...     "client_kind": ["browser"] * 2, "client_family": ["Firefox"] * 2,
        ...     "client_product": ["firefox"] * 2, "client_version": ["125.0", "126.0"],
        ...     "first_seen": pd.to_datetime(["2024-05-01", "2024-05-20"], utc=True),
        ...     "last_seen": pd.to_datetime(["2024-05-19", "2024-06-01"], utc=True),
        ...     "ip": ["10.0.0.1", "10.0.0.2"]})
        >>> devices = snapshot(sightings(facts), releases.load(), policy.load(), "2024-06-01")
        >>> devices[["device_id", "os_version", "clients", "ip"]].values.tolist()
        [['U1|macOS|desktop', '14.5', 'Firefox 126.0', '10.0.0.2']]
    """
    day = _day(pd.Timestamp(as_of))
    dates = pd.DatetimeIndex([day]).astype("datetime64[us]")
    active = ((sightings["first_day"] <= day)
              & (sightings["last_day"] >= day - pd.Timedelta(days=window_days))).to_numpy()
    rows = np.flatnonzero(active)
    devices = _devices(sightings, rows, np.zeros(len(rows), dtype="int64"), dates, catalog, policy)
    return devices.drop(columns="as_of")


def timeline(sightings: pd.DataFrame, catalog: pd.DataFrame, policy, start, end,
             freq: str = "W-SUN", window_days: int = 30) -> pd.DataFrame:
    """``snapshot`` at every date of ``pd.date_range(start, end, freq=freq)``, stacked.

    Returns ``as_of`` (``datetime64[us]``) followed by ``DEVICE_COLUMNS``, sorted by
    ``as_of`` then ``device_id``: the same rows ``snapshot`` gives for each date. It is
    computed at once rather than per date: every (row, date) pair where the row is
    active comes from interval arithmetic on the sorted dates, the newest versions come
    from one pass over those pairs, and ``policy.judge`` is called once over the distinct
    (product, version, evidence, date) parts.

    Examples:
        >>> from fleetanalysis import catalog as releases, policy
        >>> facts = pd.DataFrame({"user_id": ["U1", "U1"], "user": ["a@x.org"] * 2,
        ...     "platform": ["macOS"] * 2, "device_class": ["desktop"] * 2,
        ...     "os_version": ["14.4", "14.5"], "os_evidence": ["exact"] * 2,
        ...     "client_kind": ["browser"] * 2, "client_family": ["Firefox"] * 2,
        ...     "client_product": ["firefox"] * 2, "client_version": ["125.0", "126.0"],
        ...     "first_seen": pd.to_datetime(["2024-05-01", "2024-05-20"], utc=True),
        ...     "last_seen": pd.to_datetime(["2024-05-19", "2024-06-01"], utc=True),
        ...     "ip": ["10.0.0.1", "10.0.0.2"]})
        >>> weeks = timeline(sightings(facts), releases.load(), policy.load(), "2024-05-01", "2024-07-31")
        >>> weeks[["as_of", "os_version"]].astype(str).values.tolist()  # doctest: +NORMALIZE_WHITESPACE
        [['2024-05-05', '14.4'], ['2024-05-12', '14.4'], ['2024-05-19', '14.4'], ['2024-05-26', '14.5'],
         ['2024-06-02', '14.5'], ['2024-06-09', '14.5'], ['2024-06-16', '14.5'], ['2024-06-23', '14.5'],
         ['2024-06-30', '14.5']]
    """
    dates = pd.date_range(_day(pd.Timestamp(start)), _day(pd.Timestamp(end)), freq=freq)
    dates = pd.DatetimeIndex(dates.normalize()).astype("datetime64[us]")
    stamps = dates.asi8
    first = sightings["first_day"].to_numpy("datetime64[us]").astype("int64")
    reach = (sightings["last_day"] + pd.Timedelta(days=window_days)).to_numpy(
        "datetime64[us]").astype("int64")
    low = np.searchsorted(stamps, first, side="left")
    high = np.searchsorted(stamps, reach, side="right")
    spans = np.clip(high - low, 0, None)
    rows = np.repeat(np.arange(len(sightings)), spans)
    starts = np.repeat(low - np.cumsum(spans) + spans, spans)
    ks = starts + np.arange(len(rows))
    return _devices(sightings, rows, ks, dates, catalog, policy)


def _best_rows(groups: np.ndarray, n_groups: int, rows: np.ndarray, *ranks: np.ndarray) -> np.ndarray:
    """Per group, the sightings row that is greatest by ``ranks`` (most significant first).

    ``ranks`` are small non-negative integers per sightings row; ties go to the later
    row. The ranks are packed into one int64 per pair and reduced with one unordered
    maximum, so no sort over the pairs is needed.
    """
    n_rows = len(ranks[0]) if ranks else 1
    key = np.zeros(len(rows), dtype="int64")
    for rank, size in [*((rank[rows], int(rank.max(initial=0)) + 1) for rank in ranks), (rows, n_rows)]:
        if (int(key.max(initial=0)) + 1) * size >= 2**63:
            # Re-rank densely (order kept) rather than overflow on a very large store.
            key = pd.factorize(key, sort=True)[0]
        key = key * size + rank
    best = np.full(n_groups, -1, dtype="int64")
    np.maximum.at(best, groups, key)
    return best % n_rows


def _devices(sightings: pd.DataFrame, rows: np.ndarray, ks: np.ndarray,
             dates: pd.DatetimeIndex, catalog: pd.DataFrame, policy) -> pd.DataFrame:
    """Devices per (device, date) from active (row, date-index) pairs; ``as_of`` first.

    Works on integer codes of the sightings' text, so that strings are built once per
    distinct value and per distinct combination of a device's parts, not per device.
    """
    device_codes, device_names = pd.factorize(sightings["device_id"], sort=True)
    n_devices = max(len(device_names), 1)
    keys, dd = np.unique(ks * n_devices + device_codes[rows], return_inverse=True)
    dd = dd.ravel()
    n = len(keys)
    seen_rank = pd.factorize(sightings["last_seen"], sort=True)[0] + 1

    newest = _best_rows(dd, n, rows, seen_rank)
    as_of = dates[keys // n_devices]
    devices = pd.DataFrame({"as_of": as_of.astype("datetime64[us]")})
    devices["device_id"] = pd.array(device_names.take(keys % n_devices), dtype="str")
    for column in ("user_id", "user", "platform", "device_class", "last_seen", "ip"):
        devices[column] = sightings[column].take(newest).reset_index(drop=True)
    # A row seen until July still only speaks for the days up to a June date.
    day_end = pd.Series(as_of + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)).dt.tz_localize("UTC")
    devices["last_seen"] = devices["last_seen"].where(devices["last_seen"] <= day_end, day_end)
    # Dates of evidence: we know a version only up to the device's last sighting.
    last_day = sightings["last_day"].to_numpy("datetime64[us]")[newest]
    evidence_day = np.minimum(as_of.to_numpy("datetime64[us]"), last_day)

    evidence = sightings["os_evidence"].map(EVIDENCE_RANK).fillna(0).to_numpy("int64")
    os_rank = version_rank(sightings["os_version"]).to_numpy() + 1
    os_row = _best_rows(dd, n, rows, evidence, os_rank, seen_rank)
    devices["os_version"] = sightings["os_version"].take(os_row).reset_index(drop=True)
    devices["os_evidence"] = sightings["os_evidence"].fillna("absent").take(os_row).reset_index(drop=True)

    product_codes, products = pd.factorize(sightings["client_product"], sort=True)
    has_client = (product_codes[rows] >= 0) & sightings["client_version"].notna().to_numpy()[rows]
    client_rows = rows[has_client]
    client_group, groups = pd.factorize(dd[has_client] * max(len(products), 1) + product_codes[client_rows],
                                        sort=True)
    client_rank = version_rank(sightings["client_version"]).to_numpy() + 1
    client_row = _best_rows(client_group, len(groups), client_rows, client_rank, seen_rank)
    client_device = np.asarray(groups, dtype="int64") // max(len(products), 1)

    os_product = sightings["os_product"].fillna(sightings["platform"].str.lower())
    client_version = sightings["client_version"]
    # A bare major (Chromium's reduced user agent) can only be judged as a major.
    client_evidence = pd.Series(np.where(client_version.str.contains(".", regex=False).fillna(True),
                                         "exact", "major"), index=sightings.index, dtype="str")
    parts = [
        _Parts(np.arange(n), np.zeros(n, dtype="int64"), os_row, evidence_day,
               os_product, sightings["os_version"], sightings["os_evidence"].fillna("absent"),
               sightings["platform"]),
        _Parts(client_device, 1 + product_codes[client_row], client_row, evidence_day[client_device],
               sightings["client_product"], client_version, client_evidence,
               sightings["client_family"].fillna(sightings["client_product"])),
    ]
    judged, results = _judge_distinct(parts, catalog, policy)
    width = 1 + len(products)

    result_grid = np.full((n, width), -1, dtype="int64")
    for part, result in zip(parts, results):
        result_grid[part.device, part.slot] = result
    combo, first = _row_combinations(result_grid)
    summary = _summarise(result_grid[first], judged)
    for column in ("os_verdict", "os_reason", "client_verdict", "verdict", "reason", "target"):
        devices[column] = pd.array(summary[column], dtype="str").take(combo)

    client_part = parts[1]
    label_grid = np.full((n, width), -1, dtype="int64")
    label_grid[client_part.device, client_part.slot] = client_part.shown
    combo, first = _row_combinations(label_grid)
    names = client_part.shown_names
    text = ["; ".join(names[code] for code in row if code >= 0) or None for row in label_grid[first]]
    devices["clients"] = pd.array(text, dtype="str").take(combo)
    return devices[["as_of", *DEVICE_COLUMNS]]


class _Parts:
    """One kind of part (the OS, or the clients) of the devices, as integer codes.

    ``device``/``slot`` place each part in the device's row of parts; ``key`` is the
    distinct (product, version, evidence, date) it is judged as; ``shown`` codes the
    text naming it (``Chrome 124``).
    """

    def __init__(self, device, slot, row, day, product, version, evidence, label):
        self.device, self.slot = device, slot
        codes = [pd.factorize(column)[0][row] for column in (product, version, evidence)]
        label_codes, label_names = pd.factorize(label)
        day_codes, _ = pd.factorize(day)
        self.key = _combine([*codes, day_codes])
        self.distinct = np.unique(self.key, return_index=True)[1]
        self.frame = pd.DataFrame({
            "product": product.take(row[self.distinct]).to_numpy(),
            "version": version.take(row[self.distinct]).to_numpy(),
            "evidence": evidence.take(row[self.distinct]).to_numpy(),
            "as_of": day[self.distinct]}).astype({"product": "str", "version": "str", "evidence": "str"})
        self.label = label_codes[row]
        self.label_names = np.asarray(label_names, dtype=object)
        shown = _combine([self.label, codes[1]])
        shown_first = np.unique(shown, return_index=True)[1]
        self.shown = shown
        self.shown_names = [f"{self.label_names[self.label[i]]} {version.iloc[row[i]]}" for i in shown_first]


def _combine(codes: list[np.ndarray]) -> np.ndarray:
    """One dense code per distinct tuple of integer codes (NA codes -1 allowed)."""
    key = np.zeros(len(codes[0]) if codes else 0, dtype="int64")
    for column in codes:
        key = pd.factorize(key * (int(column.max(initial=0)) + 2) + column + 1, sort=True)[0]
    return key


def _row_combinations(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``grid``, the code of its distinct row; and one row index per code."""
    combo = _combine(list(grid.T))
    return combo, np.unique(combo, return_index=True)[1]


def _judge_distinct(parts: list[_Parts], catalog: pd.DataFrame, policy) -> tuple[pd.DataFrame, list]:
    """Judge every distinct part of every kind in one ``policy.judge`` call.

    Returns the distinct answers (``verdict, reason, target`` and ``label``, the platform
    or client family naming the target) and, per kind, each part's row among them.
    """
    distinct = pd.concat([part.frame for part in parts], ignore_index=True)
    judged = verdicts.judge(distinct, catalog, policy).reset_index(drop=True)
    judged = judged[["verdict", "reason", "target"]].astype("str")
    judged_at, labels, label_names, offset = [], [], [], 0
    for part in parts:
        judged_at.append(offset + np.searchsorted(part.key[part.distinct], part.key))
        labels.append(np.maximum(part.label, 0) + len(label_names))
        label_names.extend(part.label_names)
        offset += len(part.frame)
    at, label = np.concatenate(judged_at), np.concatenate(labels)
    # Parts judged on different days mostly get the same answer: code the answers.
    answer = _combine([pd.factorize(judged[column])[0] for column in judged.columns])
    codes = _combine([answer[at], label])
    first = np.unique(codes, return_index=True)[1]
    ends = np.cumsum([len(part.key) for part in parts])
    results = np.split(codes, ends[:-1])
    found = judged.take(at[first]).reset_index(drop=True)
    found["label"] = pd.array(np.asarray(label_names, dtype=object)[label[first]], dtype="str")
    return found, results


def _summarise(grid: np.ndarray, judged: pd.DataFrame) -> dict[str, list]:
    """Verdicts, reason and target of each distinct row of part results (slot 0 is the OS)."""
    verdict = judged["verdict"].to_numpy(dtype=object)
    columns = {f"part{slot}": [verdict[code] if code >= 0 else None for code in grid[:, slot]]
               for slot in range(grid.shape[1])}
    table = pd.DataFrame(columns, index=range(len(grid)), dtype="object")
    clients = table.drop(columns="part0")
    has_client = (grid[:, 1:] >= 0).any(axis=1)
    worst = verdicts.worst(table).astype("str").to_numpy(dtype=object)
    reason = judged["reason"].to_numpy(dtype=object)
    summary = {"os_verdict": table["part0"].tolist(),
               # Why the OS itself was or wasn't judged, even when a browser or app carried
               # the device's verdict: the report's data-quality note counts these.
               "os_reason": [reason[code] if code >= 0 else None for code in grid[:, 0]],
               "client_verdict": np.where(has_client, verdicts.worst(clients).astype("str")
                                          .to_numpy(dtype=object), None).tolist(),
               "verdict": worst.tolist(), "reason": [], "target": []}
    target = judged["target"].to_numpy(dtype=object)
    label = judged["label"].to_numpy(dtype=object)
    for row, device_verdict in zip(grid, worst):
        codes = [code for code in row if code >= 0]
        telling = [code for code in codes if device_verdict == "unknown" or verdict[code] == device_verdict]
        reasons = list(dict.fromkeys(reason[code] for code in telling if isinstance(reason[code], str)))
        targets = list(dict.fromkeys(f"{label[code]} {target[code]}" for code in telling
                                     if device_verdict != "unknown" and isinstance(target[code], str)))
        summary["reason"].append("; ".join(reasons) or None)
        summary["target"].append("; ".join(targets) or None)
    return summary
