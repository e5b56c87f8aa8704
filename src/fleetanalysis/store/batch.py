"""One write to the store: new rows merged into the partitions they meet, and no others.

A ``Batch`` holds in memory only the partitions a new row can meet: the one it belongs
in (its month and source), where any row with its dedupe key is, since the key holds the
source and the month of ``first_seen``; and those where a row with its event id already
is (found from the id columns of the store, hashed by ``dedupe.id_hashes``: a hash match
loads the partition, and the merge itself compares the real values). They are loaded
before the rows that need them are merged, so each piece is merged exactly as it would
be into the whole store: same rows kept, same duplicates and conflicts counted.
Existing rows come before every new row (their ``_order`` is negative), as in a merge
into the whole store.

Loaded rows stay Arrow, unhashed, until a new row meets them. A generic CSV's groups
(``add_groups``: one per key, no event ids) arriving while every held row is still Arrow
are merged there: each meets at most one stored row of its key, found by comparing the
key's values over both sides at once (integer codes, no hash of either side), and the
newer of the two wins as ``dedupe._newest`` would choose. Anything else (event ids, rows
already in pandas) goes through ``_newest`` in pandas, the loaded rows hashed then.

Examples:
    >>> import pathlib, tempfile
    >>> from fleetanalysis.sources.schema import SOURCES, conform
    >>> store = pathlib.Path(tempfile.mkdtemp()) / "access.parquet"
    >>> rows = conform(pd.DataFrame({"source": ["csv"] * 3, "user": ["ann"] * 3, "user_agent": ["UA"] * 3,
    ...     "first_seen": ["2026-05-01T00:00:00Z", "2026-05-20T00:00:00Z", "2026-06-01T00:00:00Z"]}))
    >>> first = Batch(store)
    >>> first.add(rows[:1])[0].tolist()
    [False]
    >>> first.write({})
    >>> second = Batch(store)
    >>> second.add(rows[1:])[0].tolist(), sorted(second.loaded)
    ([True, False], [('2026-05', 'csv')])
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fleetanalysis.codes import combine as combine_codes
from fleetanalysis.sources import concat_access
from fleetanalysis.sources.schema import SOURCES, conform
from fleetanalysis.store import dataset
from fleetanalysis.store.dedupe import (_LAST, EVENT_IDENTITY, PLAIN_IDENTITY, _newest, _times, first_months, id_hashes,
                                        key_hashes)

# Existing rows are ordered before any new row.
_EXISTING_ORDER = -(2**62)
# The month ``first_months`` gives a row without a first_seen.
_NO_MONTH = np.iinfo("int64").min


class Batch:
    """The rows of one write: loaded partitions plus new rows, deduplicated as they come."""

    def __init__(self, store: Path):
        self.store = Path(store)
        self.stored = set(dataset.parts(self.store)) if self.store.is_dir() else set()
        self.loaded: set[dataset.Part] = set()
        self.merged = conform(pd.DataFrame()).assign(_order=np.zeros(0, dtype="int64"))
        # The key and id hashes (``key_hashes``) of the rows of ``merged``, kept beside them;
        # None until a merge needs them (a file into an empty store never does).
        self.hashes: tuple[np.ndarray, np.ndarray] | None = None
        self.taken = 0
        # Loaded rows no new row has met yet, as read (Arrow, with ``_order``): written back
        # as they are, never turned into pandas. ``kept_hashes`` are the hashes of the first
        # of them, completed (``_kept_hashes``) only when a merge needs them: a CSV's groups
        # are paired with the kept rows by their values instead (``_merge_into_kept``).
        self.kept: pa.Table | None = None
        self.kept_hashes = (np.zeros(0, dtype="uint64"), np.zeros(0, dtype="uint64"))
        self._existing = _EXISTING_ORDER
        # Per source: the id hashes of the stored rows, and their months.
        self._index: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def state(self) -> tuple:
        """What ``restore`` goes back to (a file that fails midway adds nothing)."""
        return self.merged, self.hashes, set(self.loaded), self.taken, self.kept, self.kept_hashes

    def restore(self, state: tuple) -> None:
        self.merged, self.hashes, self.loaded, self.taken = state[0], state[1], set(state[2]), state[3]
        self.kept, self.kept_hashes = state[4], state[5]

    def add(self, access: pd.DataFrame, order: np.ndarray | None = None) -> tuple[pd.Series, pd.Series]:
        """Merge ``access`` rows in; ``(duplicate, conflict)`` of each, as ``combine`` gives them.

        ``order`` places them among the rows of their file (``_order``; by default after every row taken).
        """
        if order is None:
            order = np.arange(len(access), dtype="int64") + self.taken
            self.taken += len(access)
        return self._merge(conform(access).assign(_order=np.asarray(order, dtype="int64")), distinct=False)

    def add_groups(self, access: pd.DataFrame, order: np.ndarray, rows: int) -> int:
        """Merge rows already one per dedupe key, without event ids (``store.bulk_csv``'s
        groups of ``rows`` rows, each with the ``_order`` of its newest row); how many of
        those rows merged into another row."""
        duplicate, _ = self._merge(access.assign(_order=np.asarray(order, dtype="int64")), distinct=True)
        return rows - len(access) + int(duplicate.sum())

    def _merge(self, access: pd.DataFrame, distinct: bool) -> tuple[pd.Series, pd.Series]:
        """``add`` of rows with their ``_order``; ``distinct`` when no two of them share a
        key and none has an id: only those meeting a held row are merged then."""
        key, ids = (None, np.zeros(len(access), dtype="uint64")) if distinct else key_hashes(access)
        self._load(self._meets(access, ids) - self.loaded)
        if distinct and self.merged.empty and self.kept is not None and self.kept.num_rows:
            found = self._merge_into_kept(access)
            if found is not None:
                return found
        if self.kept is not None and self.kept.num_rows:
            if key is None:
                key, ids = key_hashes(access)
            self._take_kept(key, ids)
        if distinct and self.merged.empty:
            # Nothing they could meet: no hashing, no merging.
            self.merged, self.hashes = access, None
            return pd.Series(np.zeros(len(access), dtype=bool)), pd.Series(np.zeros(len(access), dtype=bool))
        if key is None:
            key, ids = key_hashes(access)
        # Only the rows sharing a key or an id hash with the new ones can merge with them or
        # make them conflicts; the others stay as they are, without the cost of ``_newest``.
        held_key, held_id = self._hashes()
        meets = pd.Index(held_key).isin(key)
        if (ids != 0).any():
            meets |= (held_id != 0) & pd.Index(held_id).isin(ids[ids != 0])
        touch = pd.Index(key).isin(held_key[meets]) if distinct else np.ones(len(access), dtype=bool)
        both = _stacked([self.merged[meets], access[touch]])
        merged, duplicate, conflict, winners = _newest(both)
        # Back to the access dtypes (the merged first_seen comes as Timestamps), so that the
        # rows hash and write as stored rows do.
        merged = conform(merged).assign(_order=merged["_order"].to_numpy())
        self.merged = _stacked([self.merged[~meets], merged, access[~touch]])
        # A merged row has the hashes of every row of its key.
        self.hashes = tuple(np.concatenate([held[~meets], np.concatenate([held[meets], new[touch]])[winners],
                                            new[~touch]]) for held, new in zip(self.hashes, (key, ids)))
        fresh = slice(len(duplicate) - int(touch.sum()), None)
        flags = [np.zeros(len(access), dtype=bool) for _ in range(2)]
        for flag, found in zip(flags, (duplicate, conflict)):
            flag[touch] = found.iloc[fresh].to_numpy(dtype=bool)
        return pd.Series(flags[0]), pd.Series(flags[1])

    def _merge_into_kept(self, access: pd.DataFrame) -> tuple[pd.Series, pd.Series] | None:
        """``_merge`` of distinct id-less rows while every held row is still kept (Arrow):
        each new row meets at most one kept row, found by the values of its key
        (``_plain_key_codes``: neither side is hashed), so the newest of the two wins
        without turning the kept rows into pandas; None, nothing changed, when a key is
        met twice (the general path then compares every row).

        The winner is the row with the later ``last_seen`` (a missing one latest), the new
        row on a tie, as ``_newest`` orders them; it takes the earlier ``first_seen``. A
        kept winner stays in ``kept`` (its new ``first_seen`` is in the same month), a new
        one goes to ``merged``.
        """
        if access["event_id"].notna().any():
            return None
        kept_keys, new_keys = _plain_key_codes(self.kept, access)
        new_keys = pd.Index(new_keys)
        if not new_keys.is_unique:
            return None
        partner = new_keys.get_indexer(kept_keys)
        hit = np.flatnonzero(partner >= 0)
        pair = partner[hit]
        if np.bincount(pair, minlength=1).max() > 1:
            return None
        # Only the two times of the rows that pair are looked at.
        held = self.kept.select(["first_seen", "last_seen"]).take(pa.array(hit)).to_pandas()
        new_wins = _times(access["last_seen"])[pair] >= _times(held["last_seen"])
        earliest = np.minimum(_times(access["first_seen"])[pair], _times(held["first_seen"]))
        first_type = self.kept.schema.field("first_seen").type
        # Kept winners: their first_seen replaced in place; kept losers dropped.
        winning = np.zeros(self.kept.num_rows, dtype=bool)
        winning[hit[~new_wins]] = True
        first = pc.replace_with_mask(self.kept.column("first_seen").combine_chunks(), pa.array(winning),
                                     _timestamps(earliest[~new_wins], first_type))
        stays = np.ones(self.kept.num_rows, dtype=bool)
        stays[hit[new_wins]] = False
        kept = self.kept.set_column(self.kept.schema.get_field_index("first_seen"), "first_seen", first)
        self.kept = kept.filter(pa.array(stays))
        # The hashes known cover the first kept rows: they keep those that stay.
        self.kept_hashes = tuple(known[stays[:len(known)]] for known in self.kept_hashes)
        # New winners take the earliest first_seen; new losers are dropped.
        times = access["first_seen"].array.asi8.copy()
        times[pair[new_wins]] = np.where(earliest[new_wins] == _LAST, np.iinfo("int64").min, earliest[new_wins])
        stays = np.ones(len(access), dtype=bool)
        stays[pair[~new_wins]] = False
        self.merged = access.assign(first_seen=pd.array(times.astype("datetime64[us]"), dtype="datetime64[us]")
                                    .tz_localize("UTC"))
        # The newest week's rows usually all win: no copy then.
        if not stays.all():
            self.merged = self.merged[stays].reset_index(drop=True)
        self.hashes = None
        duplicate = np.zeros(len(access), dtype=bool)
        duplicate[pair] = True
        return pd.Series(duplicate), pd.Series(np.zeros(len(access), dtype=bool))

    def _take_kept(self, key: np.ndarray, ids: np.ndarray) -> None:
        """Move the kept rows sharing a key or id hash with new rows into ``merged``."""
        kept_key, kept_id = self._kept_hashes()
        hit = pd.Index(kept_key).isin(key)
        if (ids != 0).any():
            hit |= (kept_id != 0) & pd.Index(kept_id).isin(ids[ids != 0])
        if not hit.any():
            return
        rows = self.kept.filter(pa.array(hit))
        frame = conform(rows.to_pandas()).assign(_order=rows.column("_order").to_numpy())
        if self.hashes is not None or self.merged.empty:
            held = self.hashes if self.hashes is not None else (np.zeros(0, dtype="uint64"),) * 2
            self.hashes = tuple(np.concatenate([found[hit], mine]) for found, mine in zip(self.kept_hashes, held))
        self.merged = _stacked([frame, self.merged])
        self.kept = self.kept.filter(pa.array(~hit))
        self.kept_hashes = (kept_key[~hit], kept_id[~hit])

    def _kept_hashes(self) -> tuple[np.ndarray, np.ndarray]:
        """``kept_hashes`` of every kept row, the missing ones computed now."""
        known = len(self.kept_hashes[0])
        if self.kept is not None and known < self.kept.num_rows:
            # Only the key columns go to pandas, for their hashes.
            found = key_hashes(self.kept.slice(known).select(list(EVENT_IDENTITY)).to_pandas())
            self.kept_hashes = tuple(np.concatenate([mine, new]) for mine, new in zip(self.kept_hashes, found))
        return self.kept_hashes

    def _hashes(self) -> tuple[np.ndarray, np.ndarray]:
        """``hashes``, computed now if a merge did not need them before."""
        if self.hashes is None:
            self.hashes = key_hashes(self.merged) if len(self.merged) else (np.zeros(0, dtype="uint64"),) * 2
        return self.hashes

    def _meets(self, access: pd.DataFrame, ids: np.ndarray) -> set[dataset.Part]:
        """The stored partitions rows of ``access`` (with their ``id_hashes``) may merge
        with or belong in."""
        if access.empty or not self.stored:
            return set()
        # Sources as their codes (``conform``'s categorical), months as integers: a name is
        # made per distinct pair, not per row.
        source = access["source"]
        codes = source.cat.codes.to_numpy()
        names = np.array([*source.cat.categories.astype("str"), "unknown"], dtype=object)
        # A row's dedupe key holds its source and the month of its first_seen: rows with
        # its key are in its own partition. Only its event id may be met in another month.
        pairs = pd.DataFrame({"month": first_months(access), "source": codes}).drop_duplicates()
        found = {part for part in zip(map(_month_name, pairs["month"]), names[pairs["source"].to_numpy()])
                 if part in self.stored}
        with_id = ids != 0
        for source in pd.unique(names[codes[with_id]]):
            stored_id, where = self._stored_ids(source)
            hit = (stored_id != 0) & np.isin(stored_id, ids[with_id])
            found.update((month, source) for month in pd.unique(where[hit]))
        return found

    def _stored_ids(self, source: str) -> tuple[np.ndarray, np.ndarray]:
        """Id hashes and month of every stored row of ``source`` (read once)."""
        if source not in self._index:
            chosen = sorted(part for part in self.stored if part[1] == source)
            if not chosen:
                self._index[source] = (np.zeros(0, dtype="uint64"), np.zeros(0, dtype=object))
                return self._index[source]
            # The id columns as the store wrote them (the dtypes ``conform`` gives), in one
            # read; a row's partition is its month and source.
            rows = dataset.read_parts(self.store, chosen, ["source", "event_id", "first_seen"])
            self._index[source] = (id_hashes(rows), dataset.month_of(rows["first_seen"]).to_numpy(dtype=object))
        return self._index[source]

    def _load(self, parts: set[dataset.Part]) -> None:
        if not parts:
            return
        existing = dataset.read_table(self.store, sorted(parts))
        existing = existing.append_column(
            "_order", pa.array(np.arange(existing.num_rows, dtype="int64") + self._existing))
        self._existing += existing.num_rows
        # Hashed later, if a merge needs it (``_kept_hashes``).
        self.kept = existing if self.kept is None else pa.concat_tables([self.kept, existing])
        self.loaded |= parts

    def write(self, manifest: dict) -> None:
        """Commit the loaded partitions, now merged, and ``manifest`` (``dataset.commit``).

        The merged rows go to Arrow once and join the kept ones, ordered by partition, then
        ``first_seen`` and ``_order``: each partition is a slice of that table.
        """
        pieces = [self.kept] if self.kept is not None and self.kept.num_rows else []
        if len(self.merged) or not pieces:
            pieces.insert(0, dataset.table(self.merged).append_column(
                "_order", pa.array(self.merged["_order"].to_numpy(dtype="int64"))))
        table = pa.concat_tables(pieces).unify_dictionaries()
        micros, months = _first_seen_months(table)
        source = table.column("source").combine_chunks()
        known = np.array([SOURCES.index(name) if name in SOURCES else -1
                          for name in source.dictionary.to_pylist()] + [-1], dtype="int64")
        sources = known[source.indices.fill_null(-1).to_numpy()]
        # Missing times sort last, as pandas sorts them.
        times = np.where(micros == _NO_MONTH, np.iinfo("int64").max, micros)
        keys = [table.column("_order").to_numpy(), times]
        # By partition too when the write holds several (most writes hold one month).
        if len(months) and ((months != months[0]).any() or (sources != sources[0]).any()):
            keys += [months, sources]
        order = np.lexsort(keys)
        table = table.drop_columns(["_order"])
        # Rows often come in order already (a file into an empty store): no copy then. The
        # take gathers the pieces into one chunk as it goes.
        if not (len(order) < 2 or (np.diff(order) == 1).all()):
            table = table.take(pa.array(order))
        else:
            table = table.combine_chunks()
        table = table.replace_schema_metadata(dataset.PANDAS_METADATA)
        months, sources = months[order], sources[order]
        starts = np.flatnonzero(np.append(len(order) > 0, (months[1:] != months[:-1]) | (sources[1:] != sources[:-1])))
        written = {}
        for start, end in zip(starts, [*starts[1:], len(order)]):
            month = _month_name(months[start])
            source = "unknown" if sources[start] < 0 else SOURCES[sources[start]]
            written[(month, source)] = table.slice(start, end - start)
        dataset.commit(self.store, written, self.loaded - set(written), manifest)


def _plain_key_codes(kept: pa.Table, access: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The id-less dedupe key of each ``kept`` row and each ``access`` row as integers: equal
    for equal ``PLAIN_IDENTITY`` values (missing equal to missing) and month, compared as text
    over both at once, so no two keys share one; -1 for the kept rows with an event id (keyed
    by their event, they meet no row without one).

    Examples:
        >>> from fleetanalysis.sources.schema import conform
        >>> rows = conform(pd.DataFrame({"source": ["csv"] * 3, "user": ["ann", None, "ann"], "user_agent": ["UA"] * 3,
        ...     "first_seen": ["2026-05-01T00:00:00Z", "2026-05-02T00:00:00Z", "2026-06-01T00:00:00Z"]}))
        >>> kept, new = _plain_key_codes(dataset.table(rows.iloc[:2]), rows.iloc[[1, 2, 0]])
        >>> bool(kept[0] == new[2]), bool(kept[1] == new[0]), bool(new[1] in kept)
        (True, True, False)
    """
    size = kept.num_rows
    codes = []
    for name in PLAIN_IDENTITY:
        mine, theirs = kept.column(name), pa.array(access[name], from_pandas=True)
        if pa.types.is_dictionary(mine.type):
            # Dictionaries unified: equal text, equal index.
            both = pa.chunked_array([*mine.chunks, theirs.cast(mine.type)]).unify_dictionaries()
        else:
            both = pc.dictionary_encode(pa.chunked_array([*mine.chunks, theirs.cast(mine.type)]))
        codes.append(np.concatenate([chunk.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype("int64")
                                     for chunk in both.chunks]))
    months = np.concatenate([_first_seen_months(kept)[1], first_months(access)])
    # A few months: coded by their distance from the first, missing ones -1.
    known = months != _NO_MONTH
    codes.append(np.where(known, months - (months[known].min() if known.any() else 0), -1))
    key = combine_codes(codes, sort=False)
    without_id = kept.column("event_id").is_null().to_numpy(zero_copy_only=False)
    return np.where(without_id, key[:size], -1), key[size:]


def _first_seen_months(rows: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Each Arrow row's ``first_seen`` as int64 microseconds and its UTC month as
    ``first_months`` counts them; both ``_NO_MONTH`` where the time is missing."""
    micros = rows.column("first_seen").cast(pa.int64()).fill_null(_NO_MONTH).to_numpy()
    # A missing time is NaT in months too, the same int64 minimum.
    return micros, micros.astype("datetime64[us]").astype("datetime64[M]").astype("int64")


def _month_name(month: int) -> str:
    """The partition name of a month of ``first_months`` (``dataset.month_of``'s ``YYYY-MM`` or ``unknown``)."""
    return "unknown" if month == _NO_MONTH else str(np.datetime64(int(month), "M"))


def _timestamps(micros: np.ndarray, kind: pa.DataType) -> pa.Array:
    """Microseconds (``_LAST`` for missing, as ``_times`` gives them) as an Arrow array of ``kind``."""
    return pa.array(micros.astype("datetime64[us]"), type=kind, mask=micros == _LAST)


def _stacked(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """``concat_access`` of the frames that have rows (the first when none has)."""
    kept = [frame for frame in frames if len(frame)] or frames[:1]
    return kept[0] if len(kept) == 1 else concat_access(kept)
