"""The Parquet access store: every ingest merges into it without double counting.

Dedupe rule (docs/pipeline.md, section 1): two rows are the same evidence only when
they are the same event. Rows with an ``event_id`` are unique by ``(source, event_id,
user_id, user, ip, user_agent, first_seen)``: exports merged from several tenants, test
tenants and tools that re-number reuse ids, so rows that share an id but differ are
both kept and counted as id conflicts (``id_conflicts`` lists them). Rows without an id
are unique by ``(source, user_id, user, ip, user_agent)``. A Slack access row is an
aggregate whose ``date_last`` and ``count`` grow between fetches, so the newest wins:
``first_seen`` is the earliest, ``last_seen`` the latest, and ``count`` and the other
columns come from the row with the newest ``last_seen``. Rejected rows go to
``<store stem>-rejected.csv`` beside the store, merged across runs without duplicates.
Both writes are atomic, and one run at a time reads, merges and writes the store
(``writing.locked``), so two ingests at once both land. ``<store stem>-manifest.json``
beside the store lists the input files ``ingest`` read (path, size, mtime, BLAKE2b hash,
options, counts): a file still matching its entry is skipped without being read, which is
safe because merging the same rows again changes nothing. The manifest names the store
file it describes (size, mtime, inode); a store deleted or replaced makes it void.

Examples:
    >>> import pathlib, tempfile
    >>> from fleetanalysis.sources import LoadResult
    >>> from fleetanalysis.sources.schema import conform
    >>> row = {"source": "slack_access", "user_id": "U1", "ip": "192.0.2.1", "user_agent": "Mozilla/5.0",
    ...        "first_seen": "2024-05-01T00:00:00Z", "last_seen": "2024-05-02T00:00:00Z", "count": 3}
    >>> first = LoadResult(access=conform(pd.DataFrame([row])),
    ...     counts=pd.DataFrame([{"file": "a.json", "format": "slack_access", "read": 1, "loaded": 1, "rejected": 0}]))
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "access.parquet"
    >>> merge(path, first)[["loaded", "duplicates", "conflicts"]].to_dict("records")
    [{'loaded': 1, 'duplicates': 0, 'conflicts': 0}]
    >>> newer = LoadResult(access=conform(pd.DataFrame([{**row, "last_seen": "2024-05-09T00:00:00Z", "count": 9}])),
    ...     counts=first.counts)
    >>> merge(path, newer)[["loaded", "duplicates"]].to_dict("records")
    [{'loaded': 0, 'duplicates': 1}]
    >>> read(path)[["count", "last_seen"]].astype(str).to_dict("records")
    [{'count': '9', 'last_seen': '2024-05-09 00:00:00+00:00'}]
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.parquet
from tqdm import tqdm

from fleetanalysis import sources
from fleetanalysis.errors import BadInput
from fleetanalysis.sources import LoadResult
from fleetanalysis.sources.schema import COLUMNS, REJECTED_COLUMNS, conform, empty_access
from fleetanalysis.writing import (locked, neutralise_formulas, remove_temporaries, write_csv, write_parquet,
                                  write_text)

MERGE_COLUMNS = ["file", "format", "read", "loaded", "rejected", "duplicates", "conflicts"]
# What makes two rows with the same event id the same event; other columns (the OS a
# source reports, a count) describe the event and may be filled in by a later export.
EVENT_IDENTITY = ["source", "event_id", "user_id", "user", "ip", "user_agent", "first_seen"]
# A file needs these to be a store; every column it has must be an access column.
STORE_CORE = {"source", "first_seen", "last_seen", "user_agent"}
# ingest's summary: MERGE_COLUMNS plus whether the file was skipped, unchanged since it was read.
INGEST_COLUMNS = [*MERGE_COLUMNS, "unchanged"]
MANIFEST_VERSION = 1


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
        columns = set(pyarrow.parquet.read_schema(path).names)
        if not STORE_CORE <= columns or not columns <= set(COLUMNS):
            # Refused, never overwritten: --store pointed at someone's other Parquet file.
            raise BadInput(path, "a Parquet file but not a fleetanalysis access store (its columns are "
                           f"{', '.join(sorted(columns))[:200]}); choose another --store")
        return conform(pd.read_parquet(path))
    except (OSError, ValueError, pyarrow.ArrowException) as error:
        if isinstance(error, BadInput):
            raise
        raise BadInput(path, f"not a readable access store ({str(error).splitlines()[0]})") from None


def rejected_path(store_path: str | os.PathLike) -> Path:
    """Where the rejected rows of a store are kept: ``<store stem>-rejected.csv`` beside it.

    Examples:
        >>> rejected_path("data/processed/access.parquet").name
        'access-rejected.csv'
    """
    store_path = Path(store_path)
    return store_path.with_name(f"{store_path.stem}-rejected.csv")


def manifest_path(store_path: str | os.PathLike) -> Path:
    """Where the manifest of ingested files is kept: ``<store stem>-manifest.json`` beside it.

    Examples:
        >>> manifest_path("data/processed/access.parquet").name
        'access-manifest.json'
    """
    store_path = Path(store_path)
    return store_path.with_name(f"{store_path.stem}-manifest.json")


def _identity(path: Path) -> dict | None:
    """What tells this file from a replaced one without reading it: size, mtime, inode."""
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return {"size": found.st_size, "mtime_ns": found.st_mtime_ns, "inode": found.st_ino}


def file_hash(path: str | os.PathLike) -> str:
    """BLAKE2b of the file's bytes, read 1 MiB at a time.

    Examples:
        >>> import pathlib, tempfile
        >>> log = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
        >>> _ = log.write_text("time,user,user_agent\\n")
        >>> len(file_hash(log))
        32
    """
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(store_path: str | os.PathLike) -> dict[str, dict]:
    """The manifest entries of the store at ``store_path``, by resolved input path.

    Empty when there is no manifest (a store from before manifests: the next ingest
    reads every file and writes one), when it is unreadable, or when it describes
    another store file (the store was deleted, replaced or written without it).

    Examples:
        >>> read_manifest("/nonexistent/fleetanalysis/access.parquet")
        {}
    """
    store_path = Path(store_path)
    try:
        manifest = json.loads(manifest_path(store_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if (not isinstance(manifest, dict) or manifest.get("version") != MANIFEST_VERSION
            or manifest.get("store") != _identity(store_path) or not isinstance(manifest.get("files"), dict)):
        return {}
    return manifest["files"]


def _write_manifest(store_path: Path, files: dict[str, dict]) -> None:
    """Write the manifest for the store file now at ``store_path`` (hold its lock)."""
    write_text(manifest_path(store_path), json.dumps(
        {"version": MANIFEST_VERSION, "store": _identity(store_path), "files": files}, indent=1, sort_keys=True))


def _unchanged(path: Path, entry: dict | None, options: dict) -> tuple[bool, dict]:
    """Whether ``path`` still is what its manifest ``entry`` recorded; and its identity now.

    Size and mtime equal: unchanged, not hashed. Otherwise the file is hashed, and the
    same bytes (a file touched or copied back) still count as unchanged.
    """
    found = path.stat()
    now = {"size": found.st_size, "mtime_ns": found.st_mtime_ns, "options": options}
    known = entry is not None and entry.get("options") == options and entry.get("hash")
    if known and entry.get("size") == now["size"] and entry.get("mtime_ns") == now["mtime_ns"]:
        return True, {**now, "hash": entry["hash"]}
    now["hash"] = file_hash(path)
    return bool(known) and entry.get("hash") == now["hash"], now


def keys(access: pd.DataFrame) -> pd.Series:
    """The dedupe key of each access row as an integer: equal keys mean the same evidence.

    Rows with an ``event_id`` are keyed by ``EVENT_IDENTITY`` (the id and who, where,
    with what and when), the others by ``(source, user_id, user, ip, user_agent)``,
    missing values included.

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
        found = pd.factorize(access[column], use_na_sentinel=True)[0]
        # Rows without an id are keyed by who, where and with what alone: their time grows.
        codes[column] = np.where(~by_event, -2, found) if column in ("event_id", "first_seen") else found
    return _group_codes(codes, access.index)


def _id_keys(access: pd.DataFrame) -> pd.Series:
    """``(source, event_id)`` of each row as an integer; -1 for rows without an id."""
    codes = {column: pd.factorize(access[column], use_na_sentinel=True)[0] for column in ("source", "event_id")}
    return _group_codes(codes, access.index).where(access["event_id"].notna().to_numpy(), -1)


def _group_codes(codes: dict[str, np.ndarray], index: pd.Index) -> pd.Series:
    """One integer per distinct combination of the integer ``codes`` columns."""
    codes_frame = pd.DataFrame(codes, index=index)
    return codes_frame.groupby(list(codes), sort=False).ngroup().astype("int64")


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
    merged, duplicate, conflict = _newest(both)
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


def _newest(both: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """One row per dedupe key of ``both`` (access rows plus their ``_order``): ``(rows,
    duplicate, conflict)``.

    The newest row by ``(last_seen, _order)`` wins, with the key's earliest
    ``first_seen``; ``duplicate`` flags rows whose key came earlier in ``both``, and
    ``conflict`` rows that are kept although an earlier row had their event id. Both
    rules are associative, so merging chunk by chunk gives what merging once gives.
    """
    key = keys(both)
    duplicate = key.duplicated(keep="first").reset_index(drop=True)
    ids = _id_keys(both).reset_index(drop=True)
    conflict = ids.ne(-1) & ids.duplicated(keep="first") & ~duplicate
    both = both.assign(_key=key)
    earliest = both.groupby("_key", sort=False)["first_seen"].min()
    # On equal last_seen the later row (the newer export) wins.
    newest = both.sort_values(["_key", "last_seen", "_order"], kind="stable").drop_duplicates("_key", keep="last")
    # reindex, not map: map of an empty datetime Series tries to cast it to float and fails.
    newest["first_seen"] = earliest.reindex(newest["_key"].to_numpy()).to_numpy()
    return newest.drop(columns="_key"), duplicate, conflict


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

    Returns ``file, format, read, loaded, rejected, duplicates, conflicts`` where
    ``loaded`` counts new rows only, so ``read == loaded + rejected + duplicates`` for
    every file; ``conflicts`` counts the loaded rows that reuse the event id of a
    different event. The access rows of ``result`` are in the order of
    ``result.counts``, as ``load`` returns them. Holds the store's lock throughout.
    """
    store_path = Path(store_path)
    counts = result.counts.reset_index(drop=True)
    origin = np.repeat(np.arange(len(counts)), counts["loaded"].astype("int64").to_numpy())
    if len(origin) != len(result.access):
        raise ValueError("LoadResult.counts does not add up to its access rows")
    with locked(store_path):
        remove_temporaries(rejected_path(store_path))
        remove_temporaries(manifest_path(store_path))
        ingested = read_manifest(store_path)
        merged, duplicate, conflict = combine(read(store_path), result.access)
        duplicates = np.bincount(origin[duplicate.to_numpy(dtype=bool)], minlength=len(counts))
        conflicts = np.bincount(origin[conflict.to_numpy(dtype=bool)], minlength=len(counts))
        # Rejected rows first: an unreadable rejected file then stops the run before the store
        # changes, and a rerun after a crash in between adds nothing twice (rows are kept once).
        _merge_rejected(rejected_path(store_path), result.rejected)
        write_parquet(merged, store_path)
        if ingested:
            # The files ingest read are still merged in: the manifest follows the new store file.
            _write_manifest(store_path, ingested)
    out = counts.assign(duplicates=duplicates, conflicts=conflicts)
    out["loaded"] = out["loaded"].astype("int64") - out["duplicates"]
    return out[MERGE_COLUMNS]


def ingest(store_path: str | os.PathLike, paths, format: str | None = None, *,
           chunk_bytes: int = sources.DEFAULT_CHUNK_BYTES, user_column: str | None = None,
           time_column: str | None = None, ua_column: str | None = None,
           progress: bool = False, rescan: bool = False) -> tuple[pd.DataFrame, list[str]]:
    """Read logs piece by piece (``sources.chunks``) and merge them into the store.

    The same store as ``merge(store_path, sources.load(paths, ...))``, in bounded memory:
    each chunk of ``chunk_bytes`` is merged into the deduplicated table as it is read, so
    memory holds one chunk plus the store, never the whole file. The store is written
    once, at the end; the store's lock is held from reading it to writing it, so a second
    run waits and then merges into what this one wrote.

    A file the store's manifest (``manifest_path``) lists with the same size and mtime,
    or else the same hash, and the same options is not opened: it is already merged in.
    With nothing to read, the store is neither read nor written. ``rescan`` reads every
    file. Returns ``(counts, problems)``: ``INGEST_COLUMNS``, counts as ``merge`` gives
    them for the files read and zeros with ``unchanged`` True for the files skipped, and
    one line per file that could not be read (a file that fails midway adds nothing).
    ``progress`` shows the bytes read when stderr is a terminal. Raises ``BadInput``
    only when no file could be read or skipped.

    Examples:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "log.csv").write_text("time,user,user_agent\\n"
        ...     + "2024-05-01T10:00:00Z,ann@example.com,curl/8.4.0\\n" * 30 + "2024-05-02T10:00:00Z,bo,\\n")
        >>> counts, problems = ingest(folder / "access.parquet", [folder / "log.csv"], chunk_bytes=400)
        >>> counts[["read", "loaded", "rejected", "duplicates", "conflicts", "unchanged"]].values.tolist()
        [[31, 1, 1, 29, 0, False]]
        >>> len(read(folder / "access.parquet"))
        1
        >>> counts, problems = ingest(folder / "access.parquet", [folder / "log.csv"])
        >>> counts[["read", "loaded", "unchanged"]].values.tolist()
        [[0, 0, True]]
    """
    store_path = Path(store_path)
    files, problems = sources.expand(paths)
    options = {"format": format, "user_column": user_column, "time_column": time_column, "ua_column": ua_column}
    with locked(store_path):
        remove_temporaries(rejected_path(store_path))
        remove_temporaries(manifest_path(store_path))
        ingested = read_manifest(store_path)
        rows, entries, to_read = {}, {}, []
        for path in files:
            name = str(path.resolve())
            try:
                same, entries[name] = _unchanged(path, None if rescan else ingested.get(name), options)
            except OSError as error:
                problems.append(str(BadInput(path, f"cannot be read ({error.strerror or error})")))
                continue
            if same:
                # Touched but the same bytes: the entry takes the new size and mtime.
                ingested[name] = {**ingested[name], **entries[name]}
                rows[str(path)] = (str(path), ingested[name].get("format"), 0, 0, 0, 0, 0, True)
            else:
                to_read.append(path)
        if to_read:
            merged, counts, rejects = _read_into(read(store_path), to_read, problems, format, chunk_bytes, progress,
                                                 {"user_column": user_column, "time_column": time_column,
                                                  "ua_column": ua_column})
        else:
            counts = []
        if not counts and not rows:
            raise BadInput(problems[0] if problems else "no input files given")
        for row in counts:
            rows[row[0]] = (*row, False)
            name = str(Path(row[0]).resolve())
            entries[name].update(zip(MERGE_COLUMNS[1:], row[1:]))
            ingested[name] = entries[name]
        if counts:
            merged = merged.sort_values(["first_seen", "_order"], kind="stable").drop(columns="_order")
            _merge_rejected(rejected_path(store_path), pd.concat(rejects, ignore_index=True))
            write_parquet(_sorted_categories(conform(merged)), store_path)
        # After the store: a run killed in between leaves a manifest naming the old store
        # file, which is then void, so the next run reads everything again.
        if counts or ingested != read_manifest(store_path):
            _write_manifest(store_path, ingested)
    table = pd.DataFrame([rows[str(path)] for path in files if str(path) in rows], columns=INGEST_COLUMNS)
    return table, problems


def _read_into(merged: pd.DataFrame, files: list[Path], problems: list[str], format: str | None,
               chunk_bytes: int, progress: bool, options: dict) -> tuple[pd.DataFrame, list[tuple], list]:
    """``ingest``'s reading: each file's chunks merged into the store's rows as they come.

    Returns ``(merged, counts, rejects)``: the merged rows with their ``_order``, one
    ``MERGE_COLUMNS`` tuple per file read, the rejected frames; files that fail are
    added to ``problems`` and leave ``merged`` as it was.
    """
    merged = merged.assign(_order=np.arange(len(merged)))
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

            def fold(pieces) -> tuple:
                # Called afresh when the file is read again whole: it starts from ``before``.
                nonlocal merged
                merged, tally, found, file_rejects = before, np.zeros(5, dtype="int64"), None, []
                for access, rejected, found in pieces:
                    # Each row keeps its position in the whole ingest, so the order the
                    # store is written in is the one a single merge gives.
                    access = conform(access).assign(_order=np.arange(len(access)) + next_order(len(access)))
                    merged, duplicate, conflict = _newest(sources.concat_access([merged, access]))
                    fresh = slice(len(duplicate) - len(access), None)
                    dupes, conflicts = int(duplicate.iloc[fresh].sum()), int(conflict.iloc[fresh].sum())
                    tally += [len(access) + len(rejected), len(access) - dupes, len(rejected), dupes, conflicts]
                    file_rejects.append(rejected)
                return tally, found, file_rejects

            def moved(position: int) -> None:
                bar.update(start + position - bar.n)

            try:
                tally, found, file_rejects = sources.read_file(path, fold, format, chunk_bytes=chunk_bytes,
                                                               on_bytes=moved, **options)
            except BadInput as problem:
                merged = before
                problems.append(str(problem))
                continue
            finally:
                bar.update(start + size - bar.n)
            counts.append((str(path), found, *tally.tolist()))
            rejects.extend(file_rejects)
    return merged, counts, rejects
