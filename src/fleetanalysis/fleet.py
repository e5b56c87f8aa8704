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
# The columns that decide which of a device's active rows speaks for it (see _dominant).
RANKED_BY = ("device_id", "os_version", "os_evidence", "client_product", "client_version")
JUDGE_BATCH = 100_000

DEVICE_COLUMNS = ["device_id", "user_id", "user", "platform", "device_class", "os_version",
                  "os_evidence", "clients", "os_verdict", "os_reason", "client_verdict", "verdict", "reason",
                  "target", "last_seen", "ip"]
SIGHTING_COLUMNS = ["device_id", "user_id", "user", "platform", "device_class", "os_product",
                    "os_version", "os_evidence", "client_kind", "client_family", "client_product",
                    "client_version", "first_seen", "last_seen", "first_day", "last_day", "ip"]


def device_ids(facts: pd.DataFrame) -> pd.Series:
    """The device of each row: ``user|platform|device_class`` (user = user_id, else user).

    The text is built once per distinct (user, platform, class), not per row.

    Examples:
        >>> device_ids(pd.DataFrame({"user_id": [pd.NA], "user": ["b@x.org"],
        ...     "platform": ["Android"], "device_class": ["phone"]})).tolist()
        ['b@x.org|Android|phone']
    """
    codes, names = _device_codes(facts)
    return pd.Series(names.take(codes, allow_fill=True), index=facts.index, name="device_id")


def _device_codes(facts: pd.DataFrame) -> tuple[np.ndarray, pd.api.extensions.ExtensionArray]:
    """Per row, the rank of its device id among the distinct ids (sorted, -1 naming nobody); and those ids."""
    person = _Coded(facts["user_id"]).fill(_Coded(facts["user"]))
    platform = _Coded(facts["platform"]).fill_text("other")
    device_class = _Coded(facts["device_class"]).fill_text("unknown")
    # One integer per (person, platform, class), hashed once; the text is built per distinct one.
    places, kinds = len(platform.values) + 1, len(device_class.values) + 1
    combo, distinct = pd.factorize(((person.codes + 1) * places + platform.codes + 1) * kinds
                                   + device_class.codes + 1)
    text = [None if who is None else f"{who}|{where}|{kind}" for who, where, kind in
            zip(person.values[distinct // kinds // places - 1], platform.values[distinct // kinds % places - 1],
                device_class.values[distinct % kinds - 1])]
    # Equal text from different parts (a user id that is also someone's login) is one device.
    ranks, names = pd.factorize(pd.array(text, dtype="str"), sort=True)
    return ranks.astype("int64")[combo], pd.array(names, dtype="str")


def version_rank(versions: pd.Series) -> pd.Series:
    """Dense rank of versions in ``catalog.version_key`` order (``4.9 < 4.10``), -1 for NA.

    Text that holds no version ranks -1 with NA, below every version. Each distinct
    version is ranked once.

    Examples:
        >>> version_rank(pd.Series(["4.10", "4.9", pd.NA, "17.4.0", "17.4", "junk"])).tolist()
        [1, 0, -1, 2, 2, -1]
    """
    codes, uniques = pd.factorize(versions)
    ranks, _ = pd.factorize(releases.version_key(pd.Series(uniques, dtype="str")), sort=True)
    # A trailing -1 answers the missing values (code -1).
    ranks = np.append(ranks.astype("int64"), -1)
    return pd.Series(ranks[codes], index=versions.index, dtype="int64")


def sightings(facts: pd.DataFrame) -> pd.DataFrame:
    """The rows of people's devices from client facts, with their ``device_id``.

    Drops ``sdk``/``bot`` clients and rows naming no user. Returns ``SIGHTING_COLUMNS``:
    the facts' columns plus ``device_id``, ``os_product`` (catalog id of the platform's
    OS, NA for Linux/ChromeOS/other) and ``first_day``/``last_day`` (naive UTC days,
    ``datetime64[us]``), sorted by device and first sighting. Sorting and device ids work
    on integer codes; text is taken per row only once, for the output.

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
    human = ~facts["client_kind"].isin(NOT_DEVICES).to_numpy(dtype=bool, na_value=False)
    named = (facts["user_id"].notna() | facts["user"].notna()).to_numpy(dtype=bool)
    kept = np.flatnonzero(human & named)
    device, names = _device_codes(facts)
    device = device[kept]
    first = pd.DatetimeIndex(facts["first_seen"]).asi8[kept]
    # sort_values put a missing first sighting last; so do we.
    first[pd.isna(facts["first_seen"]).to_numpy()[kept]] = np.iinfo("int64").max
    order = np.lexsort((first, device))
    at = kept[order]
    platform = _Coded(facts["platform"])
    # Per platform, its OS product; the last slot (no product) answers a missing platform.
    products = pd.array([OS_PRODUCT.get(name) for name in platform.values[:-1]] + [None], dtype="str")
    product_of = np.where(platform.codes < 0, len(products) - 1, platform.codes)
    seen = pd.DataFrame({"device_id": names.take(device[order])})
    for column in SIGHTING_COLUMNS[1:]:
        if column == "os_product":
            seen[column] = pd.Series(products.take(product_of[at]))
        elif column in ("first_seen", "last_seen"):
            seen[column] = facts[column].take(at).reset_index(drop=True)
        elif column in ("first_day", "last_day"):
            seen[column] = _day(seen[column.replace("day", "seen")])
        else:
            seen[column] = _text(facts[column], at)
    return seen[SIGHTING_COLUMNS]


def _text(column: pd.Series, rows: np.ndarray) -> pd.Series:
    """``column`` at ``rows`` as ``str``, converted per distinct value, not per row.

    Text is gathered from the distinct values rather than from the column itself: a
    loaded column is an arrow array in many chunks, and gathering across them costs
    tens of times more than gathering from one small array.
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes, distinct = column.cat.codes.to_numpy(), column.cat.categories
    else:
        codes, distinct = pd.factorize(column)
    distinct = pd.array(pd.Series(distinct, dtype="object").astype("str"), dtype="str")
    return pd.Series(distinct.take(codes[rows], allow_fill=True))


class _Coded:
    """A column as integer codes (-1 for NA) and its distinct values, NA last.

    ``values[codes]`` is the column again, ``None`` where it was missing; work done on
    ``values`` is done once per distinct value.
    """

    def __init__(self, column=None, *, sort: bool = False, codes=None, values=None):
        if column is not None:
            codes, uniques = pd.factorize(column, sort=sort)
            values = np.array([*np.asarray(uniques, dtype=object), None], dtype=object)
        self.codes, self.values = np.asarray(codes, dtype="int64"), values

    def at(self, rows) -> np.ndarray:
        """The values of ``rows`` (``None`` for NA)."""
        return self.values[self.codes[rows]]

    def fill(self, other: _Coded) -> _Coded:
        """``self`` where present, else ``other``."""
        size = len(self.values) - 1
        codes = np.where(self.codes >= 0, self.codes, np.where(other.codes >= 0, other.codes + size, -1))
        return _Coded(codes=codes, values=np.concatenate([self.values[:-1], other.values]))

    def fill_text(self, text: str) -> _Coded:
        """``self`` where present, else ``text``."""
        size = len(self.values) - 1
        return _Coded(codes=np.where(self.codes >= 0, self.codes, size),
                      values=np.array([*self.values[:-1], text, None], dtype=object))

    def map(self, function) -> _Coded:
        """``function`` of each distinct present value (NA stays NA)."""
        return _Coded(codes=self.codes,
                      values=np.array([*(function(value) for value in self.values[:-1]), None], dtype=object))


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
    kept = _dominant(sightings, np.flatnonzero(high > low), low, high)
    spans = high[kept] - low[kept]
    rows = np.repeat(kept, spans)
    starts = np.repeat(low[kept] - np.cumsum(spans) + spans, spans)
    ks = starts + np.arange(len(rows))
    return _devices(sightings, rows, ks, dates, catalog, policy)


def _dominant(sightings: pd.DataFrame, rows: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Of ``rows``, those that can decide a device on some date: in ascending order.

    Every choice ``_devices`` makes among a device's active rows (its newest row, its
    newest OS, its newest client per product) ranks them by OS or client version and
    evidence, then by ``last_seen``, then takes the later row. Rows of one device with
    the same versions and evidence (``RANKED_BY``), active at the same dates (date indices
    ``low`` to ``high``), tie on everything but the last two, so on every date one of
    them, seen last, wins each choice over the others: dropping the others changes no
    answer, and leaves fewer (row, date) pairs to expand. This keeps a timeline's cost
    near the number of distinct versions per device and week, not of events.
    """
    group = _combine([*(pd.factorize(sightings[column])[0][rows] for column in RANKED_BY),
                      low[rows], high[rows]], sort=False)
    return np.sort(_best_rows(group, int(group.max(initial=-1)) + 1, rows, _seen_rank(sightings)))


def _seen_rank(sightings: pd.DataFrame) -> np.ndarray:
    """Per row, the rank of its ``last_seen`` among all rows' (ties equal; missing lowest)."""
    return pd.factorize(pd.DatetimeIndex(sightings["last_seen"]).asi8, sort=True)[0] + 1


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
    distinct value and per distinct combination of a device's parts, not per row or device.
    """
    device_codes, device_names = pd.factorize(sightings["device_id"], sort=True)
    n_devices = max(len(device_names), 1)
    # Hashing the pairs and sorting only the distinct (date, device) keys costs far less
    # than sorting every pair.
    dd, keys = pd.factorize(ks * n_devices + device_codes[rows], sort=True)
    n = len(keys)
    seen_rank = _seen_rank(sightings)

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

    platform = _Coded(sightings["platform"])
    os_version = _Coded(sightings["os_version"])
    os_evidence = _Coded(sightings["os_evidence"]).fill_text("absent")
    evidence = np.array([*(EVIDENCE_RANK.get(value, 0) for value in os_evidence.values[:-1]), 0])
    os_rank = _ranks(os_version)
    os_row = _best_rows(dd, n, rows, evidence[os_evidence.codes], os_rank, seen_rank)
    devices["os_version"] = pd.array(os_version.at(os_row), dtype="str")
    devices["os_evidence"] = pd.array(os_evidence.at(os_row), dtype="str")

    # Sorted, so that a device's clients read in product order.
    product = _Coded(sightings["client_product"], sort=True)
    products = product.values[:-1]
    product_codes = product.codes
    client_version = _Coded(sightings["client_version"])
    has_client = (product_codes[rows] >= 0) & (client_version.codes[rows] >= 0)
    client_rows = rows[has_client]
    client_group, groups = pd.factorize(dd[has_client] * max(len(products), 1) + product_codes[client_rows],
                                        sort=True)
    client_row = _best_rows(client_group, len(groups), client_rows, _ranks(client_version), seen_rank)
    client_device = np.asarray(groups, dtype="int64") // max(len(products), 1)

    os_product = _Coded(sightings["os_product"]).fill(platform.map(str.lower))
    # A bare major (Chromium's reduced user agent) can only be judged as a major.
    client_evidence = client_version.map(lambda version: "exact" if "." in version else "major")
    parts = [
        _Parts(np.arange(n), np.zeros(n, dtype="int64"), os_row, evidence_day,
               os_product, os_version, os_evidence, platform),
        _Parts(client_device, 1 + product_codes[client_row], client_row, evidence_day[client_device],
               product, client_version, client_evidence, _Coded(sightings["client_family"]).fill(product)),
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
    for column in ("user_id", "user", "platform", "device_class", "ip"):
        devices[column] = devices[column].astype("str")
    return devices[["as_of", *DEVICE_COLUMNS]]


def _ranks(versions: _Coded) -> np.ndarray:
    """Per row, 1 + the ``version_rank`` of its version (0 for NA), ranked per distinct version."""
    ranks = version_rank(pd.Series(versions.values, dtype="str")).to_numpy() + 1
    return ranks[versions.codes]


class _Parts:
    """One kind of part (the OS, or the clients) of the devices, as integer codes.

    ``device``/``slot`` place each part in the device's row of parts; ``key`` is the
    distinct (product, version, evidence, date) it is judged as; ``shown`` codes the
    text naming it (``Chrome 124``).
    """

    def __init__(self, device, slot, row, day, product: _Coded, version: _Coded, evidence: _Coded,
                 label: _Coded):
        self.device, self.slot = device, slot
        codes = [column.codes[row] for column in (product, version, evidence)]
        day_codes, _ = pd.factorize(day)
        self.key = _combine([*codes, day_codes])
        self.distinct = np.unique(self.key, return_index=True)[1]
        at = row[self.distinct]
        self.frame = pd.DataFrame({
            "product": pd.array(product.at(at), dtype="str"),
            "version": pd.array(version.at(at), dtype="str"),
            "evidence": pd.array(evidence.at(at), dtype="str"),
            "as_of": day[self.distinct]})
        self.label = label.codes[row]
        self.label_names = label.values[:-1]
        shown = _combine([self.label, codes[1]])
        shown_first = np.unique(shown, return_index=True)[1]
        self.shown = shown
        self.shown_names = [f"{self.label_names[self.label[i]]} {version.values[codes[1][i]]}"
                            for i in shown_first]


def _combine(codes: list[np.ndarray], sort: bool = True) -> np.ndarray:
    """One dense code per distinct tuple of integer codes (NA codes -1 allowed); in tuple
    order with ``sort``, else in order of first appearance (cheaper)."""
    key = np.zeros(len(codes[0]) if codes else 0, dtype="int64")
    for column in codes:
        key = pd.factorize(key * (int(column.max(initial=0)) + 2) + column + 1, sort=sort)[0]
    return key


def _row_combinations(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``grid``, the code of its distinct row; and one row index per code."""
    combo = _combine(list(grid.T))
    return combo, np.unique(combo, return_index=True)[1]


def _judge_distinct(parts: list[_Parts], catalog: pd.DataFrame, policy) -> tuple[pd.DataFrame, list]:
    """Judge every distinct part of every kind with ``policy.judge``, ``JUDGE_BATCH`` at a time.

    Returns the distinct answers (``verdict, reason, target`` and ``label``, the platform
    or client family naming the target) and, per kind, each part's row among them.
    """
    distinct = pd.concat([part.frame for part in parts], ignore_index=True)
    # Each part is judged on its own, so batches give the same answers; they bound the
    # memory policy needs for a year of weekly dates to one batch's worth.
    judged = pd.concat([verdicts.judge(distinct.iloc[start:start + JUDGE_BATCH], catalog, policy)
                        [["verdict", "reason", "target"]].astype("str")
                        for start in range(0, max(len(distinct), 1), JUDGE_BATCH)], ignore_index=True)
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
