"""Devices, not log rows: collapse sightings into devices and judge them on a date.

Why: a phone that updates shows up as a new user-agent row while its old row stays in
the log. Counting rows would count the updated phone as still outdated; counting
devices at their newest versions does not.

The device rule:

* a device is one person (``person`` where ``org.resolve_people`` added it, else
  ``user_id``, else ``user``) on one ``platform`` and one ``device_class``: a user with
  a phone and a laptop is two devices, a phone seen by Slack and by Okta is one;
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
* its ``verdict`` is ``policy.worst`` of its judged parts (a known problem is never hidden
  by a part that could not be judged); ``unknown`` only when no part could be judged, and
  then ``reason`` joins every part's reason. Otherwise ``reason`` gives the reasons of the
  parts that set the verdict, then names every part that could not be judged and why
  (``macOS not judged: version frozen in the user agent``): "current" means every part
  that could be judged is current, and the reason says which could not.

Limits: two identical phones of one user are one device; a user who signs in from a
colleague's laptop adds a device to their own name; a device whose user agent changes
platform or class (an iPad in desktop mode reports macOS) splits into two; an old row
stays active for the whole window after its last sighting, but never outranks a newer
version of the same device (a downgrade shows as the higher version until the old row
leaves the window); without ``person``, each source has its own user ids (Slack ``U...``,
Okta object ids), so one phone seen by two sources counts once per source.

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
from fleetanalysis.codes import Coded, best_rows, category, code_type, combine, dense, firsts, row_combinations

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
TIME_COLUMNS = ("first_seen", "last_seen")

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
    codes, names = _device_codes(_person(facts), Coded(facts["platform"]), Coded(facts["device_class"]))
    return pd.Series(names.take(codes, allow_fill=True), index=facts.index, name="device_id")


def _person(facts: pd.DataFrame) -> Coded:
    """Who each row is: the resolved ``person`` when given, else ``user_id``, else ``user``."""
    if "person" in facts:
        return Coded(facts["person"])
    return Coded(facts["user_id"]).fill(Coded(facts["user"]))


def _device_codes(person: Coded, platform: Coded,
                  device_class: Coded) -> tuple[np.ndarray, pd.api.extensions.ExtensionArray]:
    """Per row, the rank of its device id among the distinct ids (sorted, -1 naming nobody); and those ids."""
    platform = platform.fill_text("other")
    device_class = device_class.fill_text("unknown")
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
    ``datetime64[us]``), sorted by device and first sighting. The text columns are
    categoricals of ``str`` whose categories are the values used, sorted, so text facts
    and categorical facts give equal frames; no string is built per row, which at
    millions of rows is most of the time and memory sightings would otherwise take.

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
        >>> seen["platform"].cat.categories.tolist()
        ['iOS']
    """
    human = ~facts["client_kind"].isin(NOT_DEVICES).to_numpy(dtype=bool, na_value=False)
    person = _person(facts)
    named = person.codes >= 0
    kept = np.flatnonzero(human & named)
    coded = {column: Coded(facts[column]) for column in SIGHTING_COLUMNS
             if column in facts.columns and column not in TIME_COLUMNS}
    device, names = _device_codes(person, coded["platform"], coded["device_class"])
    device = device[kept]
    first = pd.DatetimeIndex(facts["first_seen"]).asi8[kept]
    # sort_values put a missing first sighting last; so do we.
    first = np.where(pd.isna(facts["first_seen"]).to_numpy()[kept], np.iinfo("int64").max, first)
    order = _device_order(device, first, len(names))
    at = kept[order]
    platform = coded["platform"]
    coded["os_product"] = platform.map(OS_PRODUCT.get)
    coded["device_id"] = Coded(codes=device[order], values=np.array([*names, None], dtype=object))
    seen = pd.DataFrame({"device_id": coded["device_id"].categorical(slice(None))})
    for column in SIGHTING_COLUMNS[1:]:
        if column in TIME_COLUMNS:
            seen[column] = facts[column].take(at).reset_index(drop=True)
        elif column in ("first_day", "last_day"):
            seen[column] = _day(seen[column.replace("day", "seen")])
        else:
            seen[column] = coded[column].categorical(kept, order)
    return seen[SIGHTING_COLUMNS]


def concat_sightings(pieces) -> pd.DataFrame:
    """Sightings of several pieces (partitions, chunks) as one frame, dtypes kept.

    ``pd.concat`` turns categoricals whose categories differ into ``str``; here each
    categorical column gets the sorted union of the values the pieces use, so the result
    is what ``sightings`` of all the rows would hold, whatever the partitioning. Other
    columns (``newest``, ``rows`` of the Dask pieces) concatenate as ``pd.concat`` does.

    Examples:
        >>> one = pd.DataFrame({"platform": pd.Categorical(["iOS"]), "rows": [1]})
        >>> two = pd.DataFrame({"platform": pd.Categorical(["macOS", "Android"]), "rows": [2, 3]})
        >>> both = concat_sightings([one, two])
        >>> both["platform"].cat.categories.tolist(), both["platform"].tolist()
        (['Android', 'iOS', 'macOS'], ['iOS', 'macOS', 'Android'])
    """
    pieces = list(pieces)
    columns = dict.fromkeys(column for piece in pieces for column in piece.columns)
    shared = {}
    for column in columns:
        present = [piece[column] for piece in pieces if column in piece.columns]
        if not any(isinstance(values.dtype, pd.CategoricalDtype) for values in present):
            continue
        used = [values.cat.remove_unused_categories().cat.categories
                if isinstance(values.dtype, pd.CategoricalDtype) else values.dropna().unique()
                for values in present]
        text = pd.Series(np.concatenate([np.asarray(values, dtype=object) for values in used]),
                         dtype="object").astype("str")
        shared[column] = pd.CategoricalDtype(pd.Index(pd.factorize(text, sort=True)[1], dtype="str"))
    return pd.concat([piece.astype({column: dtype for column, dtype in shared.items() if column in piece.columns})
                      for piece in pieces], ignore_index=True)


def _device_order(device: np.ndarray, first: np.ndarray, n_devices: int) -> np.ndarray:
    """The stable order of rows by device, then first sighting (``np.lexsort`` order).

    Both keys packed into one int64 sort in half the time of a two-key ``lexsort``;
    a span of times too wide to pack falls back to it.
    """
    if not len(first):
        return np.zeros(0, dtype="int64")
    low, high = int(first.min()), int(first.max())
    span = high - low + 1
    if span * max(n_devices, 1) >= 2**63:
        return np.lexsort((first, device))
    return np.argsort(device * span + (first - low), kind="stable")


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
    devices = _devices(sightings, rows, np.zeros(len(rows), dtype="int64"), dates, catalog, policy,
                       _seen_rank(sightings, rows))
    return devices.drop(columns="as_of")


def timeline(sightings: pd.DataFrame, catalog: pd.DataFrame, policy, start, end,
             freq: str = "W-SUN", window_days: int = 30) -> pd.DataFrame:
    """``snapshot`` at every date of ``pd.date_range(start, end, freq=freq)``, stacked.

    Returns ``as_of`` (``datetime64[us]``) followed by ``DEVICE_COLUMNS``, sorted by
    ``as_of`` then ``device_id``: the same rows ``snapshot`` gives for each date, with the
    text columns as categoricals (categories sorted; a year of weekly rows repeats each
    device's text dozens of times, so it is held once per distinct value). It is
    computed at once rather than per date: every (row, date) pair where the row is
    active comes from interval arithmetic on the sorted dates, the newest versions come
    from one pass over those pairs, and ``policy.judge`` is called once over the distinct
    (product, version, evidence, epoch) parts (see ``_epochs``).

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
    candidates = np.flatnonzero(high > low)
    seen_rank = _seen_rank(sightings, candidates)
    kept, low, high = _dominant(sightings, candidates, low, high, seen_rank)
    spans = high - low
    rows = np.repeat(kept, spans)
    starts = np.repeat(low - np.cumsum(spans) + spans, spans)
    ks = starts + np.arange(len(rows))
    return _devices(sightings, rows, ks, dates, catalog, policy, seen_rank, categorical=True)


def _dominant(sightings: pd.DataFrame, rows: np.ndarray, low: np.ndarray, high: np.ndarray,
              seen_rank: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Of ``rows``, active from date index ``low`` to before ``high``, those that can decide
    a device on some date, in ascending order, with the dates they can decide it on.

    Every choice ``_devices`` makes among a device's active rows (its newest row, its
    newest OS, its newest client per product) ranks them by OS or client version and
    evidence, then by ``seen_rank``. Rows of one device with the same versions and
    evidence (``RANKED_BY``) tie on all but the last, so on a date where a better one of
    them (seen later) is active, a row wins no choice: dropping it from that date changes
    no answer. A row seen later is active at least as late (``high`` grows with
    ``last_seen``), so a row is beaten from the earliest ``low`` of the better rows of
    its group on; it keeps only the dates before. A device signing in daily on one
    version thus expands to one row per date, not to every event of the window.
    """
    group = combine([pd.factorize(sightings[column])[0][rows] for column in RANKED_BY], sort=False)
    size = len(seen_rank) + 1
    # Best first within each group: seen_rank is unique, so the order is total.
    order = np.argsort(group * size + size - 1 - seen_rank[rows])
    group, rows, low, high = group[order], rows[order], low[rows][order], high[rows][order]
    # A running minimum of low over the better rows, restarting at each group: each
    # group's values are shifted below all earlier groups' so one accumulate does it.
    shift = int(high.max(initial=0)) + 2
    shifted = np.minimum.accumulate(low - group * shift)
    starts = np.concatenate([[True], group[1:] != group[:-1]])
    better_low = np.where(starts, shift, np.concatenate([[0], shifted[:-1]]) + group * shift)
    high = np.minimum(high, better_low)
    kept = np.flatnonzero(high > low)
    ascending = np.argsort(rows[kept])
    return rows[kept][ascending], low[kept][ascending], high[kept][ascending]


def _seen_rank(sightings: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """Per sightings row, its place among ``rows`` (ascending) in the order of ``last_seen``
    then row (from 1; missing first; 0 for rows not among them).

    Unique, so a greater rank is the newer row, and of two rows seen at the same moment
    the later one, as every choice among a device's rows breaks ties.
    """
    order = np.argsort(pd.DatetimeIndex(sightings["last_seen"]).asi8[rows], kind="stable")
    rank = np.zeros(len(sightings), dtype="int64")
    rank[rows[order]] = np.arange(1, len(rows) + 1)
    return rank


def _devices(sightings: pd.DataFrame, rows: np.ndarray, ks: np.ndarray, dates: pd.DatetimeIndex,
             catalog: pd.DataFrame, policy, seen_rank: np.ndarray, categorical: bool = False) -> pd.DataFrame:
    """Devices per (device, date) from active (row, date-index) pairs; ``as_of`` first.

    Works on integer codes of the sightings' text, so that strings are built once per
    distinct value and per distinct combination of a device's parts, not per row or device.
    With ``categorical`` the text columns are categoricals (``category``), else ``str``.
    """
    def text(codes: np.ndarray, values) -> pd.api.extensions.ExtensionArray:
        if categorical:
            return category(codes, values)
        return pd.array(np.asarray(values, dtype=object), dtype="str").take(codes, allow_fill=True)

    device_codes, device_names = pd.factorize(sightings["device_id"], sort=True)
    n_devices = max(len(device_names), 1)
    dd, keys = dense(ks * n_devices + device_codes[rows], len(dates) * n_devices)
    n = len(keys)

    newest = best_rows(dd, n, rows, seen_rank)
    as_of = dates[keys // n_devices]
    devices = pd.DataFrame({"as_of": as_of.astype("datetime64[us]")})
    devices["device_id"] = text(keys % n_devices, device_names)
    coded = {column: Coded(sightings[column]) for column in ("user_id", "user", "platform", "device_class",
                                                              "os_version", "client_version", "ip")}
    for column in ("user_id", "user", "platform", "device_class"):
        devices[column] = text(coded[column].codes[newest], coded[column].values)
    # A row seen until July still only speaks for the days up to a June date.
    day_end = pd.Series(as_of + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)).dt.tz_localize("UTC")
    last_seen = sightings["last_seen"].take(newest).reset_index(drop=True)
    devices["last_seen"] = last_seen.where(last_seen <= day_end, day_end)
    devices["ip"] = text(coded["ip"].codes[newest], coded["ip"].values)
    # Dates of evidence: we know a version only up to the device's last sighting.
    last_day = sightings["last_day"].to_numpy("datetime64[us]")[newest]
    evidence_day = np.minimum(as_of.to_numpy("datetime64[us]"), last_day)

    platform, os_version = coded["platform"], coded["os_version"]
    os_evidence = Coded(sightings["os_evidence"]).fill_text("absent")
    evidence = np.array([*(EVIDENCE_RANK.get(value, 0) for value in os_evidence.values[:-1]), 0])
    os_rank = _ranks(os_version, rows)
    os_row = best_rows(dd, n, rows, evidence[os_evidence.codes], os_rank, seen_rank)
    devices["os_version"] = text(os_version.codes[os_row], os_version.values)
    devices["os_evidence"] = text(os_evidence.codes[os_row], os_evidence.values)

    # Sorted, so that a device's clients read in product order.
    product = Coded(sightings["client_product"], sort=True)
    products = product.values[:-1]
    product_codes = product.codes
    client_version = coded["client_version"]
    has_client = (product_codes[rows] >= 0) & (client_version.codes[rows] >= 0)
    client_rows = rows[has_client]
    client_group, groups = pd.factorize(dd[has_client] * max(len(products), 1) + product_codes[client_rows])
    client_row = best_rows(client_group, len(groups), client_rows, _ranks(client_version, client_rows), seen_rank)
    client_device = np.asarray(groups, dtype="int64") // max(len(products), 1)

    os_product = Coded(sightings["os_product"]).fill(platform.map(str.lower))
    # A bare major (Chromium's reduced user agent) can only be judged as a major.
    client_evidence = client_version.map(lambda version: "exact" if "." in version else "major")
    # Many dates put each version in many epochs: judging each version class once per
    # epoch then pays; one date has a few evidence days, which judge collapses itself.
    collapse = len(dates) > 1
    parts = [
        _Parts(np.arange(n), np.zeros(n, dtype="int64"), os_row, evidence_day,
               os_product, os_version, os_evidence, platform, catalog, policy, collapse),
        _Parts(client_device, 1 + product_codes[client_row], client_row, evidence_day[client_device],
               product, client_version, client_evidence, Coded(sightings["client_family"]).fill(product),
               catalog, policy, collapse),
    ]
    judged, results = _judge_distinct(parts, catalog, policy)
    width = 1 + len(products)

    combo, grid = row_combinations(n, width, [(part.device, part.slot, result)
                                               for part, result in zip(parts, results)])
    summary = _summarise(grid, judged)
    for column in ("os_verdict", "os_reason", "client_verdict", "verdict", "reason", "target"):
        devices[column] = text(combo, summary[column])

    client_part = parts[1]
    combo, grid = row_combinations(n, width, [(client_part.device, client_part.slot, client_part.shown)])
    names = client_part.shown_names
    labels = ["; ".join(names[code] for code in row if code >= 0) or None for row in grid.tolist()]
    devices["clients"] = text(combo, labels)
    return devices[["as_of", *DEVICE_COLUMNS]]


def _ranks(versions: Coded, rows: np.ndarray) -> np.ndarray:
    """Per row, 1 + the rank of its version among those of ``rows`` in ``version_rank``
    order (0 for NA, and for versions only other rows hold), ranked per distinct version."""
    used = np.flatnonzero(np.bincount(versions.codes[rows] + 1, minlength=len(versions.values))[1:])
    ranks = np.zeros(len(versions.values), dtype="int64")
    ranks[used] = version_rank(pd.Series(versions.values[used], dtype="str")).to_numpy() + 1
    return ranks[versions.codes]


class _Parts:
    """One kind of part (the OS, or the clients) of the devices, as integer codes.

    ``device``/``slot`` place each part in the device's row of parts; ``key`` codes the
    distinct (product, version, evidence, epoch) it is judged as (dense, from 0; with
    ``collapse``, the version is its class, see ``_alike_versions``) and
    ``frame`` holds one row per key, in key order; ``shown`` codes the
    text naming it (``Chrome 124``).
    """

    def __init__(self, device, slot, row, day, product: Coded, version: Coded, evidence: Coded,
                 label: Coded, catalog: pd.DataFrame, policy, collapse: bool):
        self.device, self.slot = device, slot
        evidence = evidence.merged()
        codes = [column.codes[row] for column in (product, version, evidence)]
        if collapse:
            epoch, start = _epochs(codes[0], product, day, catalog, policy)
            alike, alike_names = _alike_versions(codes, row, product, version, evidence, catalog, policy)
        else:
            # policy.judge finds the epochs of a few hundred distinct days itself.
            epoch, start = pd.factorize(day, use_na_sentinel=False)[0], day
            alike, alike_names = codes[1], pd.array(version.values[:-1], dtype="str")
        self.key = combine([codes[0], alike, codes[2], epoch], sort=False)
        self.distinct = firsts(self.key)
        at = row[self.distinct]
        self.frame = pd.DataFrame({"product": product.text(at), "version": alike_names.take(alike[self.distinct], allow_fill=True),
                                   "evidence": evidence.text(at), "as_of": start[self.distinct]})
        self.label = label.codes[row]
        self.label_names = label.values[:-1]
        self.shown = combine([self.label, codes[1]], sort=False)
        first = firsts(self.shown)
        self.shown_names = [f"{name} {number}" for name, number in
                            zip(self.label_names[self.label[first]], version.values[codes[1][first]])]


def _alike_versions(codes: list[np.ndarray], row: np.ndarray, product: Coded, version: Coded, evidence: Coded,
                    catalog: pd.DataFrame, policy) -> tuple[np.ndarray, pd.api.extensions.ExtensionArray]:
    """Per part, a code of the version ``policy.judge`` answers it exactly like on every day
    (``policy.equivalent_version``), and those versions' text.

    Builds between the same two releases of a line are judged alike, so parts that differ
    only in such a build are judged once: thousands of Chrome builds times dozens of
    epochs come down to a few hundred judgements. Worked out per distinct (product,
    version, evidence), not per part.
    """
    triple = combine(codes, sort=False)
    first = firsts(triple)
    at = row[first]
    alike = verdicts.equivalent_version(pd.DataFrame({"product": product.text(at), "version": version.text(at),
                                                      "evidence": evidence.text(at)}), catalog, policy)
    alike_codes, names = pd.factorize(alike, use_na_sentinel=True)
    return alike_codes[triple], pd.array(np.asarray(names, dtype=object), dtype="str")


def _epochs(product_codes: np.ndarray, product: Coded, day: np.ndarray, catalog: pd.DataFrame,
            policy) -> tuple[np.ndarray, np.ndarray]:
    """Per part, a code of the epoch its evidence day falls in and that epoch's first day.

    ``policy.judge`` answers every version of a product alike on all days of an epoch
    (``policy.equivalent_day``), so parts that differ only in their day within one epoch
    are judged once: a year of weekly dates comes down to a few epochs per product.
    Epochs are found per distinct (product, day), a few thousand, not per part.
    """
    # Day numbers from the earliest: a small range, coded with no hashing.
    number = day.astype("datetime64[D]").astype("int64")
    known = ~np.isnat(day)
    number = np.where(known, number - (number[known].min() if known.any() else 0), -1)
    pair = combine([product_codes, number], sort=False)
    first = firsts(pair)
    names = pd.array(product.values[product_codes[first]], dtype="str")
    start = verdicts.equivalent_day(names, day[first], catalog, policy)
    epoch = pd.factorize(start, use_na_sentinel=False)[0]
    return epoch[pair], start[pair]


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
        judged_at.append(offset + part.key)
        labels.append(np.maximum(part.label, 0) + len(label_names))
        label_names.extend(part.label_names)
        offset += len(part.frame)
    at, label = np.concatenate(judged_at), np.concatenate(labels)
    # Parts judged in different epochs mostly get the same answer: code the answers.
    answer = combine([pd.factorize(judged[column])[0] for column in judged.columns], sort=False)
    codes = combine([answer[at], label], sort=False)
    first = firsts(codes)
    ends = np.cumsum([len(part.key) for part in parts])
    results = np.split(codes, ends[:-1])
    found = judged.take(at[first]).reset_index(drop=True)
    found["label"] = pd.array(np.asarray(label_names, dtype=object)[label[first]], dtype="str")
    return found, results


def _summarise(grid: np.ndarray, judged: pd.DataFrame) -> dict[str, list]:
    """Verdicts, reason and target of each distinct row of part results (slot 0 is the OS)."""
    # A trailing None answers the empty cells (code -1).
    verdict = np.append(judged["verdict"].to_numpy(dtype=object), None)
    table = pd.DataFrame({f"part{slot}": verdict[grid[:, slot]] for slot in range(grid.shape[1])},
                         index=range(len(grid)), dtype="object")
    clients = table.drop(columns="part0")
    has_client = (grid[:, 1:] >= 0).any(axis=1)
    worst = verdicts.worst(table).astype("str").to_numpy(dtype=object)
    reason = [text if isinstance(text, str) else None for text in judged["reason"].to_numpy(dtype=object)]
    summary = {"os_verdict": table["part0"].tolist(),
               # Why the OS itself was or wasn't judged, even when a browser or app carried
               # the device's verdict: the report's data-quality note counts these.
               "os_reason": np.append(np.asarray(reason, dtype=object), None)[grid[:, 0]].tolist(),
               "client_verdict": np.where(has_client, verdicts.worst(clients).astype("str")
                                          .to_numpy(dtype=object), None).tolist(),
               "verdict": worst.tolist(), "reason": [], "target": []}
    labels = judged["label"].to_numpy(dtype=object)
    target = [f"{label} {text}" if isinstance(text, str) else None
              for label, text in zip(labels, judged["target"].to_numpy(dtype=object))]
    # A part that could not be judged is named with why, whatever the others say: a device
    # is never "current" (or only "outdated" for its OS) with its browser silently unjudged.
    unjudged = [f"{label} not judged: {text}" if isinstance(text, str) else f"{label} not judged"
                for label, text in zip(labels, reason)]
    for row, device_verdict in zip(grid.tolist(), worst.tolist()):
        unknown = device_verdict == "unknown"
        telling = [code for code in row if code >= 0 and (unknown or verdict[code] == device_verdict)]
        reasons = dict.fromkeys(reason[code] for code in telling if reason[code] is not None)
        if not unknown:
            reasons.update(dict.fromkeys(unjudged[code] for code in row if code >= 0 and verdict[code] == "unknown"))
        targets = {} if unknown else dict.fromkeys(target[code] for code in telling if target[code] is not None)
        summary["reason"].append("; ".join(reasons) or None)
        summary["target"].append("; ".join(targets) or None)
    return summary
