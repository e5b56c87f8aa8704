"""The Parquet access store: every ingest merges into it without double counting.

Dedupe rule (docs/pipeline.md, section 1): rows with an ``event_id`` are unique by
``(source, event_id)``; rows without one are unique by ``(source, user_id, user, ip,
user_agent)``. A Slack access row is an aggregate whose ``date_last`` and ``count`` grow
between fetches, so the newest wins: ``first_seen`` is the earliest, ``last_seen`` the
latest, and ``count`` and the other columns come from the row with the newest
``last_seen``. Rejected rows go to ``<store stem>-rejected.csv`` beside the store,
merged across runs without duplicates. Both writes are atomic.

Examples:
    >>> import pathlib, tempfile
    >>> from fleetanalysis.sources import LoadResult
    >>> from fleetanalysis.sources.schema import conform
    >>> row = {"source": "slack_access", "user_id": "U1", "ip": "192.0.2.1", "user_agent": "Mozilla/5.0",
    ...        "first_seen": "2024-05-01T00:00:00Z", "last_seen": "2024-05-02T00:00:00Z", "count": 3}
    >>> first = LoadResult(access=conform(pd.DataFrame([row])),
    ...     counts=pd.DataFrame([{"file": "a.json", "format": "slack_access", "read": 1, "loaded": 1, "rejected": 0}]))
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "access.parquet"
    >>> merge(path, first)[["loaded", "duplicates"]].to_dict("records")
    [{'loaded': 1, 'duplicates': 0}]
    >>> newer = LoadResult(access=conform(pd.DataFrame([{**row, "last_seen": "2024-05-09T00:00:00Z", "count": 9}])),
    ...     counts=first.counts)
    >>> merge(path, newer)[["loaded", "duplicates"]].to_dict("records")
    [{'loaded': 0, 'duplicates': 1}]
    >>> read(path)[["count", "last_seen"]].astype(str).to_dict("records")
    [{'count': '9', 'last_seen': '2024-05-09 00:00:00+00:00'}]
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow
from tqdm import tqdm

from fleetanalysis import sources
from fleetanalysis.errors import BadInput
from fleetanalysis.sources import LoadResult
from fleetanalysis.sources.schema import COLUMNS, REJECTED_COLUMNS, conform, empty_access
from fleetanalysis.writing import neutralise_formulas, write_csv, write_parquet

MERGE_COLUMNS = ["file", "format", "read", "loaded", "rejected", "duplicates"]


def read(path: str | os.PathLike) -> pd.DataFrame:
    """The access table in the store at ``path``; ``empty_access()`` when there is none yet.

    Examples:
        >>> len(read("/nonexistent/fleetanalysis/access.parquet"))
        0
    """
    path = Path(path)
    if not path.exists():
        return empty_access()
    try:
        return conform(pd.read_parquet(path))
    except (OSError, ValueError, pyarrow.ArrowException) as error:
        raise BadInput(path, f"not a readable access store ({str(error).splitlines()[0]})") from None


def rejected_path(store_path: str | os.PathLike) -> Path:
    """Where the rejected rows of a store are kept: ``<store stem>-rejected.csv`` beside it.

    Examples:
        >>> rejected_path("data/processed/access.parquet").name
        'access-rejected.csv'
    """
    store_path = Path(store_path)
    return store_path.with_name(f"{store_path.stem}-rejected.csv")


def keys(access: pd.DataFrame) -> pd.Series:
    """The dedupe key of each access row as an integer: equal keys mean the same evidence.

    Rows with an ``event_id`` are keyed by ``(source, event_id)``, the others by
    ``(source, user_id, user, ip, user_agent)``, missing values included.

    Examples:
        >>> frame = conform(pd.DataFrame({"source": ["okta", "okta", "okta", "csv"],
        ...     "event_id": ["e1", "e1", None, None], "ip": ["192.0.2.1", "192.0.2.2", None, None],
        ...     "user": ["ann"] * 4, "user_agent": ["UA"] * 4}))
        >>> keys(frame).tolist()
        [0, 0, 1, 2]
    """
    by_event = access["event_id"].notna().to_numpy()
    codes = {"source": pd.factorize(access["source"], use_na_sentinel=True)[0]}
    for column in ("event_id", "user_id", "user", "ip", "user_agent"):
        found = pd.factorize(access[column], use_na_sentinel=True)[0]
        # Each kind of row is keyed only by its own columns; the others are blanked.
        codes[column] = np.where(by_event if column != "event_id" else ~by_event, -2, found)
    codes_frame = pd.DataFrame(codes, index=access.index)
    return codes_frame.groupby(list(codes), sort=False).ngroup().astype("int64")


def combine(existing: pd.DataFrame, new: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Merge ``new`` access rows into ``existing``: ``(merged, duplicate)``.

    ``duplicate`` (aligned with ``new``) is True for rows that merged into an existing
    row or an earlier row of the same batch.

    Examples:
        >>> old = conform(pd.DataFrame({"source": ["okta"], "event_id": ["e1"], "user_agent": ["UA"],
        ...     "first_seen": ["2024-05-01T00:00:00Z"], "last_seen": ["2024-05-01T00:00:00Z"]}))
        >>> merged, duplicate = combine(old, pd.concat([old, old], ignore_index=True))
        >>> len(merged), duplicate.tolist()
        (1, [True, True])
    """
    existing, new = conform(existing), conform(new)
    both = pd.concat([existing, new], ignore_index=True)
    both["_order"] = np.arange(len(both))
    merged, duplicate = _newest(both)
    merged = merged.sort_values(["first_seen", "_order"], kind="stable")
    return _sorted_categories(conform(merged.drop(columns="_order"))), \
        duplicate.iloc[len(existing):].reset_index(drop=True)


def _sorted_categories(access: pd.DataFrame) -> pd.DataFrame:
    """The text categoricals with only the values used, sorted: one store, one layout,
    however its rows were gathered."""
    out = access.copy()
    for column in [name for name, dtype in COLUMNS.items() if dtype == "category"]:
        values = out[column].cat.remove_unused_categories()
        out[column] = values.cat.reorder_categories(values.cat.categories.sort_values())
    return out


def _newest(both: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """One row per dedupe key of ``both`` (access rows plus their ``_order``): ``(rows, duplicate)``.

    The newest row by ``(last_seen, _order)`` wins, with the key's earliest
    ``first_seen``; ``duplicate`` flags rows whose key came earlier in ``both``. Both
    rules are associative, so merging chunk by chunk gives what merging once gives.
    """
    key = keys(both)
    duplicate = key.duplicated(keep="first").reset_index(drop=True)
    both = both.assign(_key=key)
    earliest = both.groupby("_key", sort=False)["first_seen"].min()
    # On equal last_seen the later row (the newer export) wins.
    newest = both.sort_values(["_key", "last_seen", "_order"], kind="stable").drop_duplicates("_key", keep="last")
    # reindex, not map: map of an empty datetime Series tries to cast it to float and fails.
    newest["first_seen"] = earliest.reindex(newest["_key"].to_numpy()).to_numpy()
    return newest.drop(columns="_key"), duplicate


def _merge_rejected(path: Path, rejected: pd.DataFrame) -> None:
    """Add ``rejected`` rows to the CSV at ``path``, keeping each row once."""
    fresh = neutralise_formulas(rejected[REJECTED_COLUMNS].astype("str").fillna(""))
    if path.exists():
        try:
            kept = pd.read_csv(path, dtype="str", keep_default_na=False)
        except (ValueError, pd.errors.ParserError) as error:
            raise BadInput(path, f"not a readable rejected-rows file ({str(error).splitlines()[0]})") from None
        fresh = pd.concat([kept.reindex(columns=REJECTED_COLUMNS), fresh], ignore_index=True)
    elif fresh.empty:
        return
    write_csv(fresh.drop_duplicates(ignore_index=True), path)


def merge(store_path: str | os.PathLike, result: LoadResult) -> pd.DataFrame:
    """Merge a ``sources.load`` result into the store; per-file counts with duplicates.

    Returns ``file, format, read, loaded, rejected, duplicates`` where ``loaded`` counts
    new rows only, so ``read == loaded + rejected + duplicates`` for every file. The access
    rows of ``result`` are in the order of ``result.counts``, as ``load`` returns them.
    """
    store_path = Path(store_path)
    counts = result.counts.reset_index(drop=True)
    merged, duplicate = combine(read(store_path), result.access)
    origin = np.repeat(np.arange(len(counts)), counts["loaded"].astype("int64").to_numpy())
    if len(origin) != len(result.access):
        raise ValueError("LoadResult.counts does not add up to its access rows")
    duplicates = np.bincount(origin[duplicate.to_numpy(dtype=bool)], minlength=len(counts))
    # Rejected rows first: an unreadable rejected file then stops the run before the store
    # changes, and a rerun after a crash in between adds nothing twice (rows are kept once).
    _merge_rejected(rejected_path(store_path), result.rejected)
    write_parquet(merged, store_path)
    out = counts.assign(duplicates=duplicates)
    out["loaded"] = out["loaded"].astype("int64") - out["duplicates"]
    return out[MERGE_COLUMNS]


def ingest(store_path: str | os.PathLike, paths, format: str | None = None, *,
           chunk_bytes: int = sources.DEFAULT_CHUNK_BYTES, user_column: str | None = None,
           time_column: str | None = None, ua_column: str | None = None,
           progress: bool = False) -> tuple[pd.DataFrame, list[str]]:
    """Read logs piece by piece (``sources.chunks``) and merge them into the store.

    The same store as ``merge(store_path, sources.load(paths, ...))``, in bounded memory:
    each chunk of ``chunk_bytes`` is merged into the deduplicated table as it is read, so
    memory holds one chunk plus the store, never the whole file. The store is written
    once, at the end. Returns ``(counts, problems)``: counts as ``merge`` gives them, and
    one line per file that could not be read (a file that fails midway adds nothing).
    ``progress`` shows the bytes read when stderr is a terminal. Raises ``BadInput``
    only when no file could be read.

    Examples:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "log.csv").write_text("time,user,user_agent\\n"
        ...     + "2024-05-01T10:00:00Z,ann@example.com,curl/8.4.0\\n" * 30 + "2024-05-02T10:00:00Z,bo,\\n")
        >>> counts, problems = ingest(folder / "access.parquet", [folder / "log.csv"], chunk_bytes=400)
        >>> counts[["read", "loaded", "rejected", "duplicates"]].values.tolist(), len(read(folder / "access.parquet"))
        ([[31, 1, 1, 29]], 1)
    """
    store_path = Path(store_path)
    files, problems = sources.expand(paths)
    options = {"user_column": user_column, "time_column": time_column, "ua_column": ua_column}
    merged = read(store_path)
    merged["_order"] = np.arange(len(merged))
    counts, rejects = [], []
    sizes = [file.stat().st_size for file in files]
    taken = len(merged)

    def next_order(rows: int) -> int:
        nonlocal taken
        taken += rows
        return taken - rows

    with tqdm(total=sum(sizes), desc="reading logs", unit="B", unit_scale=True,
              disable=None if progress else True) as bar:
        for path, size in zip(files, sizes):
            before, start = merged, bar.n

            def read_file(pieces) -> tuple:
                nonlocal merged
                merged, tally, found, file_rejects = before, np.zeros(4, dtype="int64"), None, []
                for access, rejected, found in pieces:
                    # Each row keeps its position in the whole ingest, so the order the
                    # store is written in is the one a single merge gives.
                    access = conform(access).assign(_order=np.arange(len(access)) + next_order(len(access)))
                    merged, duplicate = _newest(sources.concat_access([merged, access]))
                    dupes = int(duplicate.iloc[len(duplicate) - len(access):].sum())
                    tally += [len(access) + len(rejected), len(access) - dupes, len(rejected), dupes]
                    file_rejects.append(rejected)
                return tally, found, file_rejects

            def moved(position: int) -> None:
                bar.update(start + position - bar.n)

            try:
                try:
                    tally, found, file_rejects = read_file(sources.chunks(
                        path, format, chunk_bytes=chunk_bytes, on_bytes=moved, **options))
                except sources.NotStreamable:
                    tally, found, file_rejects = read_file([sources.load_file(path, format, **options)])
            except BadInput as problem:
                merged = before
                problems.append(str(problem))
                continue
            finally:
                bar.update(start + size - bar.n)
            counts.append((str(path), found, *tally.tolist()))
            rejects.extend(file_rejects)
    if not counts:
        raise BadInput(problems[0] if problems else "no input files given")
    merged = merged.sort_values(["first_seen", "_order"], kind="stable").drop(columns="_order")
    _merge_rejected(rejected_path(store_path), pd.concat(rejects, ignore_index=True))
    write_parquet(_sorted_categories(conform(merged)), store_path)
    table = pd.DataFrame(counts, columns=["file", "format", "read", "loaded", "rejected", "duplicates"])
    return table[MERGE_COLUMNS], problems
