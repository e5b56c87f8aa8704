"""The dedupe rule of the access store: which rows are the same evidence, and which wins.

Two rows are the same evidence only when they are the same event (docs/pipeline.md,
section 1). Rows with an ``event_id`` are unique by ``EVENT_IDENTITY``; rows without one
by ``(source, user_id, user, ip, user_agent)`` and the UTC month of ``first_seen``, so an
id-less row sums up one month of a device at most and lives in that month's partition.
The newest row by ``last_seen`` wins, with the key's earliest ``first_seen``. ``key_hashes`` gives each row's key and id as 64-bit
hashes that do not depend on the rows around it, so the store can tell which of its
partitions a new row may meet without reading them.

Examples:
    >>> frame = conform(pd.DataFrame({"source": ["okta", "okta"], "event_id": ["e1", "e1"],
    ...     "user": ["ann", "ann"], "user_agent": ["UA", "UA"]}))
    >>> keys(frame).tolist()
    [0, 0]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fleetanalysis.codes import combine as combine_codes
from fleetanalysis.sources.schema import COLUMNS, conform

# What makes two rows with the same event id the same event; other columns (the OS a
# source reports, a count) describe the event and may be filled in by a later export.
EVENT_IDENTITY = ["source", "event_id", "user_id", "user", "ip", "user_agent", "first_seen"]
# What makes two rows without an event id the same evidence, with the UTC month of their
# first_seen (``first_months``): their times grow within it. A Slack aggregate re-fetched
# keeps its date_first, so its month.
PLAIN_IDENTITY = ["source", "user_id", "user", "ip", "user_agent"]


def first_months(access: pd.DataFrame) -> np.ndarray:
    """The UTC month of each row's ``first_seen`` as months since 1970 (int64; missing
    times share the smallest int64).

    Examples:
        >>> first_months(conform(pd.DataFrame({"first_seen": ["1970-02-28T23:59:59Z", "2026-06-01T00:00:00Z", None]}))).tolist()
        [1, 677, -9223372036854775808]
    """
    times = access["first_seen"]
    if not isinstance(times.dtype, pd.DatetimeTZDtype):
        times = pd.to_datetime(times, utc=True)
    return times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[M]").astype("int64")


def key_hashes(access: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(key, id)`` of each access row as uint64 hashes: equal ``keys`` give equal key
    hashes, equal ``(source, event_id)`` equal id hashes (0 for rows without an id).

    A hash stands for its row whatever else was read with it, so hashes kept from one run
    compare with the next; two keys may share a hash, never one key two hashes.

    Examples:
        >>> frame = conform(pd.DataFrame({"source": ["csv"] * 3, "user": ["ann"] * 3, "user_agent": ["UA"] * 3,
        ...     "first_seen": ["2024-05-01T00:00:00Z", "2024-05-31T00:00:00Z", "2024-06-01T00:00:00Z"]}))
        >>> key, ids = key_hashes(frame)
        >>> bool(key[0] == key[1]), bool(key[1] == key[2]), ids.tolist()
        (True, False, [0, 0, 0])
    """
    by_event = access["event_id"].notna().to_numpy()
    hashes = {name: _value_hashes(access[name]) for name in PLAIN_IDENTITY}
    key = _combined([*hashes.values(), _value_hashes(pd.Series(first_months(access)))])
    if by_event.any():
        hashes.update({name: _value_hashes(access[name]) for name in ("event_id", "first_seen")})
        key = np.where(by_event, _combined([hashes[name] for name in EVENT_IDENTITY]), key)
    return key, id_hashes(access)


def id_hashes(access: pd.DataFrame) -> np.ndarray:
    """The id hash of ``key_hashes`` alone, from ``source`` and ``event_id``: 0 for rows
    without an id."""
    ids = _combined([_value_hashes(access["source"]), _value_hashes(access["event_id"])])
    return np.where(access["event_id"].notna().to_numpy(), ids, np.uint64(0))


def _value_hashes(values: pd.Series) -> np.ndarray:
    """A uint64 hash of each value that depends on the value alone (missing ones share one),
    hashing each distinct value once."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = pd.Series(values.array.asi8)
    codes, distinct = pd.factorize(values, use_na_sentinel=True)
    # Text and numbers hash apart however pandas stores them: by their text.
    found = pd.util.hash_array(np.asarray(distinct.astype("str"), dtype=object), categorize=False)
    return np.append(found, np.uint64(0x9E3779B97F4A7C15))[codes]


def _combined(hashes: list[np.ndarray]) -> np.ndarray:
    """One hash from several per-column hashes (order matters)."""
    out = np.full(len(hashes[0]), np.uint64(0x345678), dtype="uint64")
    with np.errstate(over="ignore"):
        for found in hashes:
            out = (out ^ found) * np.uint64(1000003) + np.uint64(82520)
    return out


def keys(access: pd.DataFrame) -> pd.Series:
    """The dedupe key of each access row as an integer: equal keys mean the same evidence.

    Rows with an ``event_id`` are keyed by ``EVENT_IDENTITY`` (the id and who, where,
    with what and when), the others by ``(source, user_id, user, ip, user_agent)`` and
    the UTC month of ``first_seen``, missing values included.

    Examples:
        >>> frame = conform(pd.DataFrame({"source": ["okta", "okta", "okta", "okta", "csv"],
        ...     "event_id": ["e1", "e1", "e1", None, None], "ip": ["192.0.2.1", "192.0.2.1", "192.0.2.2", None, None],
        ...     "user": ["ann"] * 5, "user_agent": ["UA"] * 5}))
        >>> keys(frame).tolist()
        [0, 0, 1, 2, 3]
    """
    by_event = access["event_id"].notna().to_numpy()
    codes = {}
    for column in EVENT_IDENTITY:
        found = _codes(access[column])
        # Rows without an id are keyed by who, where and with what alone: their time grows.
        codes[column] = np.where(~by_event, -2, found) if column in ("event_id", "first_seen") else found
    # ... within the month of their first sighting, so one row spans a month at most.
    codes["month"] = np.where(by_event, -2, pd.factorize(first_months(access))[0])
    return pd.Series(_group_codes(codes), index=access.index)


def _codes(values: pd.Series) -> np.ndarray:
    """One integer per distinct value of ``values`` (missing ones -1): a categorical's own
    codes, times by their integer value (factorising Timestamps would make one object each)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy().astype("int64")
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return pd.factorize(values.array.asi8)[0]
    return pd.factorize(values, use_na_sentinel=True)[0]


def _id_keys(access: pd.DataFrame) -> pd.Series:
    """``(source, event_id)`` of each row as an integer; -1 for rows without an id."""
    codes = {column: _codes(access[column]) for column in ("source", "event_id")}
    found = _group_codes(codes)
    return pd.Series(np.where(access["event_id"].notna().to_numpy(), found, -1), index=access.index)


def _group_codes(codes: dict[str, np.ndarray]) -> np.ndarray:
    """One integer per distinct combination of the integer ``codes`` columns (each >= -2),
    numbered in order of first appearance.

    Examples:
        >>> _group_codes({"a": np.array([0, 1, 0, -1]), "b": np.array([5, 5, 5, 5])}).tolist()
        [0, 1, 0, 2]
    """
    if not codes:
        return np.zeros(0, dtype="int64")
    # -2 (a column that is not part of this row's key) and -1 (missing) stay apart:
    # shifted by one they are the NA code -1 and a code of their own for ``combine``.
    key = combine_codes([np.asarray(column, dtype="int64") + 1 for column in codes.values()], sort=False)
    # ``combine`` numbers in any order; the keys are numbered as they first appear.
    return pd.factorize(key)[0].astype("int64")


def id_conflicts(access: pd.DataFrame) -> pd.DataFrame:
    """The access rows that share ``(source, event_id)`` with a row of another event.

    Both rows are kept in the store (nothing is lost); this lists them for data
    quality, sorted by ``source, event_id, first_seen``.

    Examples:
        >>> frame = conform(pd.DataFrame({"source": ["okta"] * 3, "event_id": ["e1", "e1", "e2"],
        ...     "user": ["ann@example.com", "bo@example.com", "ann@example.com"], "user_agent": ["UA"] * 3,
        ...     "first_seen": ["2024-05-01T10:00:00Z"] * 3}))
        >>> id_conflicts(frame)[["event_id", "user"]].values.tolist()
        [['e1', 'ann@example.com'], ['e1', 'bo@example.com']]
    """
    ids = _id_keys(access)
    shared = ids.ne(-1) & ids.duplicated(keep=False)
    return access[shared.to_numpy()].sort_values(["source", "event_id", "first_seen"], kind="stable")


def combine(existing: pd.DataFrame, new: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Merge ``new`` access rows into ``existing``: ``(merged, duplicate, conflict)``.

    ``duplicate`` (aligned with ``new``) is True for rows that merged into an existing
    row or an earlier row of the same batch; ``conflict`` for rows kept although an
    existing or earlier row has their event id (a different event reusing it).

    Examples:
        >>> old = conform(pd.DataFrame({"source": ["okta"], "event_id": ["e1"], "user_agent": ["UA"],
        ...     "first_seen": ["2024-05-01T00:00:00Z"], "last_seen": ["2024-05-01T00:00:00Z"]}))
        >>> other = old.assign(user="bo@example.com")
        >>> merged, duplicate, conflict = combine(old, pd.concat([old, other], ignore_index=True))
        >>> len(merged), duplicate.tolist(), conflict.tolist()
        (2, [True, False], [False, True])
    """
    existing, new = conform(existing), conform(new)
    both = pd.concat([existing, new], ignore_index=True)
    both["_order"] = np.arange(len(both))
    merged, duplicate, conflict, _ = _newest(both)
    merged = merged.sort_values(["first_seen", "_order"], kind="stable")
    return (_sorted_categories(conform(merged.drop(columns="_order"))),
            duplicate.iloc[len(existing):].reset_index(drop=True), conflict.iloc[len(existing):].reset_index(drop=True))


def _sorted_categories(access: pd.DataFrame) -> pd.DataFrame:
    """The text categoricals with only the values used, sorted: one store, one layout,
    however its rows were gathered."""
    out = access.copy()
    for column in [name for name, dtype in COLUMNS.items() if dtype == "category"]:
        values = out[column].cat.remove_unused_categories()
        out[column] = values.cat.reorder_categories(values.cat.categories.sort_values())
    return out


def _newest(both: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, pd.Series, np.ndarray]:
    """One row per dedupe key of ``both`` (access rows plus their ``_order``): ``(rows,
    duplicate, conflict, winners)``, ``winners`` the positions in ``both`` of the rows.

    The newest row by ``(last_seen, _order)`` wins, with the key's earliest
    ``first_seen``; ``duplicate`` flags rows whose key came earlier in ``both``, and
    ``conflict`` rows that are kept although an earlier row had their event id. Both
    rules are associative, so merging chunk by chunk gives what merging once gives.
    """
    key = keys(both).to_numpy()
    duplicate = pd.Series(pd.Index(key).duplicated(keep="first"))
    ids = _id_keys(both).reset_index(drop=True)
    conflict = ids.ne(-1) & ids.duplicated(keep="first") & ~duplicate
    # On integer times, missing ones (NaT) last as pandas sorts them; groups numbered 0..n-1.
    first = _times(both["first_seen"])
    last = _times(both["last_seen"])
    earliest = np.full(int(key.max(initial=-1)) + 1, np.iinfo("int64").max)
    np.minimum.at(earliest, key, first)
    # On equal last_seen the later row (the newer export) wins: the last of its key in this order.
    order = np.lexsort((both["_order"].to_numpy(), last, key))
    ends = np.flatnonzero(np.append(key[order][1:] != key[order][:-1], len(key) > 0))
    winners = order[ends]
    newest = both.take(winners)
    newest["first_seen"] = pd.array(np.where(earliest[key[winners]] == _LAST, np.iinfo("int64").min,
                                             earliest[key[winners]]).astype("datetime64[us]"),
                                    dtype="datetime64[us]").tz_localize("UTC")
    return newest, duplicate, conflict, winners


_LAST = np.iinfo("int64").max


def _times(values: pd.Series) -> np.ndarray:
    """UTC times as int64 microseconds, missing ones greatest (sorted last, never a minimum)."""
    if not isinstance(values.dtype, pd.DatetimeTZDtype):
        values = pd.to_datetime(values, utc=True)
    micros = values.astype("datetime64[us, UTC]").array.asi8
    return np.where(micros == np.iinfo("int64").min, _LAST, micros)
