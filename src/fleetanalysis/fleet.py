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
  ``lower-bound`` or ``lower-bound-in-line``, then ``frozen``, then ``absent``, which policy leaves unknown), and per
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
from pandas.api.types import union_categoricals

from fleetanalysis import judging
from fleetanalysis.codes import Coded, code_type, combine, pack, unpack
from fleetanalysis.days import utc_day
# The devices' columns, evidence ranks and version order are part of fleet's contract; the
# engine that computes them keeps them.
from fleetanalysis.judging import DEVICE_COLUMNS, EVIDENCE_RANK, version_rank  # noqa: F401

# Catalog ids of each platform's OS. Linux and ChromeOS have no catalog: their OS part
# goes to policy under the platform's own name, which policy leaves unknown with its
# reason, so a Linux laptop's verdict rests on its browser alone.
OS_PRODUCT = {"iOS": "ios", "iPadOS": "ipados", "Android": "android", "macOS": "macos",
              "Windows": "windows"}
NOT_DEVICES = ("sdk", "bot")
# The columns that decide which of a device's active rows speaks for it (see _dominant).
RANKED_BY = ("device_id", "os_version", "os_evidence", "client_product", "client_version")
TIME_COLUMNS = ("first_seen", "last_seen")
# The columns judging.devices reads: the timeline copies only these of the rows it keeps.
ENGINE_COLUMNS = ("device_id", "user_id", "user", "platform", "device_class", "os_product", "os_version",
                  "os_evidence", "client_family", "client_product", "client_version", "last_seen", "last_day", "ip")

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
    combo, distinct = pd.factorize(pack(pack(person.codes + 1, platform.codes + 1, places), device_class.codes + 1,
                                        kinds))
    who_where, kind = unpack(distinct, kinds)
    who, where = unpack(who_where, places)
    text = [None if name is None else f"{name}|{place}|{sort}" for name, place, sort in
            zip(person.values[who - 1], platform.values[where - 1], device_class.values[kind - 1])]
    # Equal text from different parts (a user id that is also someone's login) is one device.
    ranks, names = pd.factorize(pd.array(text, dtype="str"), sort=True)
    return ranks.astype("int64")[combo], pd.array(names, dtype="str")


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
    # The ids' spare last slot (NA) appended to one array: a Python pass over tens of
    # thousands of ids costs more than the rest of the column.
    coded["device_id"] = Coded(codes=device[order], values=np.append(names.to_numpy(dtype=object), None))
    seen = pd.DataFrame({"device_id": coded["device_id"].categorical(slice(None))})
    for column in SIGHTING_COLUMNS[1:]:
        if column in TIME_COLUMNS:
            seen[column] = facts[column].take(at).reset_index(drop=True)
        elif column in ("first_day", "last_day"):
            seen[column] = utc_day(seen[column.replace("day", "seen")])
        else:
            seen[column] = coded[column].categorical(kept, order)
    return seen[SIGHTING_COLUMNS]


def _used_text(values: pd.Series) -> pd.Categorical | pd.Series:
    """The values a piece uses as a categorical of text: a categorical's own categories (work
    per category, not per row), other columns' values turned to text."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        used = values.cat.remove_unused_categories()
        names = used.cat.categories
        return used if names.dtype == "str" else used.cat.rename_categories(names.astype("str"))
    return pd.Categorical(values.astype("str").where(values.notna()),
                          categories=pd.Index(values.dropna().astype("str").unique(), dtype="str"))


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
        # Each piece's values as text categories, then their sorted union.
        as_text = [_used_text(values) for values in present]
        shared[column] = pd.CategoricalDtype(union_categoricals(as_text, sort_categories=True).categories)
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
    return np.argsort(pack(device, first - low, span), kind="stable")


def _example_facts() -> pd.DataFrame:
    """Client facts of one Mac seen twice, for the examples: macOS 14.4 with Firefox 125.0
    from 2024-05-01 to 05-19, then 14.5 with Firefox 126.0 from 05-20 to 06-01.

    >>> _example_facts()[["os_version", "client_version"]].values.tolist()
    [['14.4', '125.0'], ['14.5', '126.0']]
    """
    return pd.DataFrame({
        "user_id": ["U1", "U1"], "user": ["a@x.org"] * 2, "platform": ["macOS"] * 2,
        "device_class": ["desktop"] * 2, "os_version": ["14.4", "14.5"], "os_evidence": ["exact"] * 2,
        "client_kind": ["browser"] * 2, "client_family": ["Firefox"] * 2, "client_product": ["firefox"] * 2,
        "client_version": ["125.0", "126.0"],
        "first_seen": pd.to_datetime(["2024-05-01", "2024-05-20"], utc=True),
        "last_seen": pd.to_datetime(["2024-05-19", "2024-06-01"], utc=True),
        "ip": ["10.0.0.1", "10.0.0.2"]})

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
        >>> facts = _example_facts()  # one Mac seen on macOS 14.4 with Firefox 125, then 14.5 with 126
        >>> devices = snapshot(sightings(facts), releases.load(), policy.load(), "2024-06-01")
        >>> devices[["device_id", "os_version", "clients", "ip"]].values.tolist()
        [['U1|macOS|desktop', '14.5', 'Firefox 126.0', '10.0.0.2']]
    """
    day = utc_day(pd.Timestamp(as_of))
    dates = pd.DatetimeIndex([day]).astype("datetime64[us]")
    active = ((sightings["first_day"] <= day)
              & (sightings["last_day"] >= day - pd.Timedelta(days=window_days))).to_numpy()
    rows = np.flatnonzero(active)
    devices = judging.devices(sightings, rows, np.zeros(len(rows), dtype="int64"), dates, catalog, policy,
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
    from one pass over those pairs, each (device, date) is judged per cell (its parts and
    their products' epochs on its evidence day, ``judging._cells``), and ``policy.judge`` is
    called once over the distinct (product, version, evidence, epoch) parts.

    Examples:
        >>> from fleetanalysis import catalog as releases, policy
        >>> facts = _example_facts()  # one Mac seen on macOS 14.4 with Firefox 125, then 14.5 with 126
        >>> weeks = timeline(sightings(facts), releases.load(), policy.load(), "2024-05-01", "2024-07-31")
        >>> weeks[["as_of", "os_version"]].astype(str).values.tolist()  # doctest: +NORMALIZE_WHITESPACE
        [['2024-05-05', '14.4'], ['2024-05-12', '14.4'], ['2024-05-19', '14.4'], ['2024-05-26', '14.5'],
         ['2024-06-02', '14.5'], ['2024-06-09', '14.5'], ['2024-06-16', '14.5'], ['2024-06-23', '14.5'],
         ['2024-06-30', '14.5']]
    """
    dates = pd.date_range(utc_day(pd.Timestamp(start)), utc_day(pd.Timestamp(end)), freq=freq)
    dates = pd.DatetimeIndex(dates.normalize()).astype("datetime64[us]")
    # Each row is active from the first date on or after its first day to the last date
    # within the window after its last day.
    low = _date_index(sightings["first_day"], dates, "left")
    high = _date_index(sightings["last_day"], dates, "right", shift_days=window_days)
    candidates = np.flatnonzero(high > low)
    seen_rank = _seen_rank(sightings, candidates)
    kept, low, high = _dominant(sightings, candidates, low, high, seen_rank)
    # Only the kept rows speak for a device on some date (a third of a per-event log's):
    # the engine's passes over every sightings row then cost that much less.
    sightings, seen_rank = sightings[list(ENGINE_COLUMNS)].take(kept).reset_index(drop=True), seen_rank[kept]
    spans = high - low
    rows = np.repeat(np.arange(len(kept)), spans)
    starts = np.repeat(low - np.cumsum(spans) + spans, spans)
    ks = starts + np.arange(len(rows))
    return judging.devices(sightings, rows, ks, dates, catalog, policy, seen_rank, categorical=True)


def _date_index(days: pd.Series, dates: pd.DatetimeIndex, side: str, shift_days: int = 0) -> np.ndarray:
    """``np.searchsorted(dates, days + shift_days, side)`` for midnight ``days``, answered per
    distinct day: a log spans hundreds of days, a per-event table millions of rows, so a
    table of the days' answers and one gather beat a binary search per row.

    Examples:
        >>> days = pd.Series(pd.to_datetime(["2024-05-01", "2024-05-05", "2024-05-06"]))
        >>> dates = pd.DatetimeIndex(pd.to_datetime(["2024-05-05", "2024-05-12"]))
        >>> _date_index(days, dates, "left").tolist(), _date_index(days, dates, "right", 6).tolist()
        ([0, 0, 1], [1, 1, 2])
    """
    day = 86_400 * 10**6  # microseconds
    moments = days.to_numpy("datetime64[us]").view("int64")
    known = moments != np.iinfo("int64").min
    whole, rest = np.divmod(moments, day)
    # The dates are midnights (``timeline`` normalises them): whole days since 1970.
    stamps = np.asarray(dates.values.astype("datetime64[D]")).view("int64")
    earliest = int(whole.min(where=known, initial=np.iinfo("int64").max)) if known.any() else 0
    span = int(whole.max(where=known, initial=earliest)) - earliest + 1
    if rest.any(where=known) or span > 4 * len(whole) + 10_000:
        # Not midnights, or days too far apart for a table: a binary search per row.
        found = np.searchsorted(stamps * day, moments + shift_days * day, side=side)
    else:
        answers = np.searchsorted(stamps, earliest + shift_days + np.arange(span), side=side)
        whole -= earliest
        whole[~known] = 0
        found = answers.astype(code_type(len(stamps) + 1))[whole]
    # A missing day is active on no date, as a binary search of NaT (the int64 minimum) says.
    found[~known] = 0
    return found


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
    # Groups numbered in order of first appearance: the sightings are sorted by device, so
    # the codes run device by device and the sort below meets long runs (timsort). Every
    # array here has a row per sighting (9.5 million at 10M events): each is as narrow as
    # its values allow, since a fresh wide one costs more in page faults than its pass.
    group = combine([_codes_at(sightings[column], rows) for column in RANKED_BY], sort=False)
    group = group.astype(code_type(int(group.max(initial=0)) + 1), copy=False)
    size = int(seen_rank.max(initial=0)) + 1
    # Best first within each group: seen_rank is unique per device, so the order is total.
    key = pack(group, size - 1, size)
    key -= seen_rank[rows]
    order = np.argsort(key, kind="stable")
    del key
    dates = code_type(int(high.max(initial=0)) + 2)
    group, rows = group[order], rows[order]
    low, high = low.astype(dates)[rows], high.astype(dates)[rows]
    del order
    # A running minimum of low over the better rows, restarting at each group: each
    # group's values are shifted below all earlier groups' so one accumulate does it.
    shift = int(high.max(initial=0)) + 2
    offset = group.astype(code_type(shift * (int(group.max(initial=0)) + 1)))
    offset *= shift
    shifted = low - offset
    np.minimum.accumulate(shifted, out=shifted)
    starts = np.empty(len(group), dtype=bool)
    starts[:1] = True
    np.not_equal(group[1:], group[:-1], out=starts[1:])
    # The better rows' minimum, back in date indexes (shift where there is none).
    better_low = np.empty_like(shifted)
    better_low[:1] = shift
    better_low[1:] = shifted[:-1]
    better_low += offset
    better_low[starts] = shift
    # Positions, not a mask: four selections by one mask cost more than one pass to find them.
    kept = np.flatnonzero(np.minimum(high, better_low) > low)
    rows, low, high = rows.take(kept), low.take(kept), np.minimum(high.take(kept), better_low.take(kept))
    # Back to ascending rows by marking them in an array of the sightings' size: no sort.
    present = np.zeros(len(sightings), dtype=bool)
    present[rows] = True
    ascending = np.flatnonzero(present)
    place = np.empty(len(sightings), dtype=code_type(len(rows)))
    place[rows] = np.arange(len(rows))
    at = place[ascending]
    return ascending, low[at].astype("int64"), high[at].astype("int64")


def _codes_at(column: pd.Series, rows: np.ndarray) -> np.ndarray:
    """``Coded(column).codes[rows]``, gathered from a categorical's own narrow codes: no int64
    copy of a column of every sighting (9.5 million rows at 10M events) to read some of them."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy()[rows]
    return Coded(column).codes[rows]


def _seen_rank(sightings: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """Per sightings row, its place among ``rows`` (ascending) in the order of device, then
    ``last_seen``, then row (from 1; missing first; 0 for rows not among them).

    Unique, so of two rows of one device the greater rank is the newer row, and of two
    seen at the same moment the later one, as every choice among a device's rows breaks
    ties; choices never compare rows of different devices. Sightings come sorted by device
    and first sighting, so the packed key is nearly sorted and a stable sort (timsort) of
    it costs little more than one pass.
    """
    device = _codes_at(sightings["device_id"], rows).astype("int64")
    # Gathers of their own, worked on in place: each is a row per sighting.
    seen = pd.DatetimeIndex(sightings["last_seen"]).asi8[rows]
    missing = seen == np.iinfo("int64").min
    low = int(seen.min(where=~missing, initial=np.iinfo("int64").max))
    high = int(seen.max(where=~missing, initial=np.iinfo("int64").min))
    low, high = (low, high) if low <= high else (0, 0)
    # A missing time (NaT) sorts first, as the earliest.
    seen[missing] = low - 1
    span = high - low + 2
    if span * (int(device.max(initial=0)) + 2) >= 2**63:
        order = np.lexsort((seen, device))
    else:
        device += 1
        device *= span
        seen -= low - 1
        device += seen
        order = np.argsort(device, kind="stable")
    # Narrow: written at every row of the sightings, fresh pages and all.
    rank = np.zeros(len(sightings), dtype=code_type(len(rows) + 1))
    rank[rows[order]] = np.arange(1, len(rows) + 1, dtype=rank.dtype)
    return rank
