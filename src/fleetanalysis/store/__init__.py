"""The access store: every ingest merges into it without double counting.

The store is a folder of Parquet files partitioned by month and source
(``store.dataset``: ``<store>/month=2026-06/log=okta/part-0.parquet``); ``read`` gives
the whole access table, ``partitions`` one partition at a time.

Dedupe rule (docs/pipeline.md, section 1; ``store.dedupe``): two rows are the same
evidence only when they are the same event. Rows with an ``event_id`` are unique by
``(source, event_id, user_id, user, ip, user_agent, first_seen)``: exports merged from
several tenants, test tenants and tools that re-number reuse ids, so rows that share an
id but differ are both kept and counted as id conflicts (``id_conflicts`` lists them).
Rows without an id are unique by ``(source, user_id, user, ip, user_agent)`` and the UTC
month of ``first_seen``: one row sums up a device for one month at most and lives in that
month's partition, so a write of the newest week meets only its own months. A Slack
access row is an aggregate whose ``date_last`` and ``count`` grow between fetches (its
``date_first``, so its month, stays), so the newest wins: ``first_seen`` is the earliest, ``last_seen`` the latest, and ``count`` and
the other columns come from the row with the newest ``last_seen``. A write reads and
rewrites only the partitions its new rows meet (``store.batch``). Rejected rows go to
``<store stem>-rejected.csv`` beside the store, merged across runs without duplicates.
Writes go to temporary names then renames, committed by a journal (``store.dataset``),
and one run at a time reads, merges and writes the store (``writing.locked``), so two
ingests at once both land and a killed one leaves the store readable and whole.
``<store>/_manifest.json`` (``store.manifest``) lists the input files ``ingest`` read (path, size, mtime,
SHA-256 hash, options, counts): a file still matching its entry is skipped without
being read, which is safe because merging the same rows again changes nothing. A store
from before partitions (one Parquet file) is migrated by its next write, with one line
on stderr; until then it is read as it is.

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
    >>> sorted(path.glob("month=*/log=*"))[0].relative_to(path).as_posix()
    'month=2024-05/log=slack_access'
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.dataset
from tqdm import tqdm

from fleetanalysis import sources
from fleetanalysis.days import utc_day
from fleetanalysis.errors import BadInput
from fleetanalysis.sources import LoadResult
from fleetanalysis.sources.schema import REJECTED_COLUMNS, conform, empty_access
from fleetanalysis.store import bulk_csv, dataset
from fleetanalysis.store import manifest
from fleetanalysis.store.batch import Batch
from fleetanalysis.store.dedupe import EVENT_IDENTITY, _sorted_categories, combine, id_conflicts, keys
from fleetanalysis.writing import _check_creatable
from fleetanalysis.writing import check_writable as _check_file
from fleetanalysis.store.manifest import file_hash, manifest_path, read_manifest
from fleetanalysis.writing import locked, neutralise_formulas, remove_temporaries, write_csv

_log = logging.getLogger(__name__)

__all__ = ["EVENT_IDENTITY", "INGEST_COLUMNS", "MERGE_COLUMNS", "check_writable", "combine", "file_hash",
           "files", "id_conflicts", "ingest", "keys", "manifest_path", "merge", "partitions", "read", "read_manifest",
           "rejected_path", "remove"]

MERGE_COLUMNS = ["file", "format", "read", "loaded", "rejected", "duplicates", "conflicts"]
# ingest's summary: MERGE_COLUMNS plus whether the file was skipped, unchanged since it was read.
INGEST_COLUMNS = [*MERGE_COLUMNS, "unchanged"]


def read(path: str | os.PathLike, columns: list[str] | None = None, *, since=None, until=None,
         parts: list[tuple[str, str]] | None = None) -> pd.DataFrame:
    """The access table in the store at ``path``; ``empty_access()`` when there is none yet.

    Every partition at once, in ``first_seen`` order, its categoricals holding the values
    used, sorted. ``columns`` reads only those. ``since``/``until`` (dates or moments,
    either may be None) keep only the rows that can speak for a day between them: those
    with ``last_seen >= since`` and ``first_seen`` before the end of ``until``'s UTC day.
    A snapshot on ``as_of`` with a window of ``w`` days sees exactly the rows read with
    ``since = as_of - w`` and ``until = as_of``. The rows are filtered while reading
    (``pyarrow.dataset``: row groups outside are skipped). A store from before
    partitions (one Parquet file) is read as it is. ``parts`` reads only those partitions
    (``(month, source)``, as ``dataset.parts`` lists them) of a store folder.

    Examples:
        >>> len(read("/nonexistent/fleetanalysis/access.parquet"))
        0
    """
    path = Path(path)
    condition = _window(since, until)
    if path.is_file():
        access = dataset.read_file(path) if condition is None else _filtered(path, [str(path)], None, condition,
                                                                             columns)
    elif not _is_store(path) or not dataset.parts(path):
        access = empty_access()
    else:
        chosen = files(path) if parts is None else [dataset.part_file(path, part) for part in parts]
        access = _filtered(path, [str(file) for file in chosen], dataset.SCHEMA, condition, columns)
    return access if columns is None else access[columns]


def files(path: str | os.PathLike) -> list[Path]:
    """The data files of the store at ``path``, for readers outside the package (DuckDB).

    The committed partition files of a store folder (never a write's temporary files),
    by month then source; the file itself for a store from before partitions; none
    when there is no store.

    Examples:
        >>> files("/nonexistent/fleetanalysis/access.parquet")
        []
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not _is_store(path):
        return []
    return [dataset.part_file(path, part) for part in dataset.parts(path)]


def _window(since, until):
    """The ``pyarrow.dataset`` filter of ``read``'s ``since``/``until``, None for neither."""
    condition = None
    moment = pyarrow.timestamp("us", tz="UTC")
    if since is not None:
        condition = pyarrow.dataset.field("last_seen") >= pyarrow.scalar(utc_day(since).tz_localize("UTC"), moment)
    if until is not None:
        before = pyarrow.dataset.field("first_seen") < pyarrow.scalar(utc_day(until).tz_localize("UTC") + pd.Timedelta(days=1), moment)
        condition = before if condition is None else condition & before
    return condition


def _filtered(path: Path, paths: list[str], schema, condition, columns=None) -> pd.DataFrame:
    """The rows of the store files ``paths`` that meet ``condition``, as ``read`` gives them."""
    if schema is None:
        # A store from before partitions: refused, as a whole read refuses it, when not an access table.
        dataset.check_file(path)
    # A file from before partitions may lack columns: it is read whole.
    wanted = None if schema is None else columns
    try:
        access = dataset.read_rows(paths, wanted, condition, schema)
    except (OSError, ValueError, pyarrow.ArrowException) as error:
        raise BadInput(path, f"not a readable access store ({str(error).splitlines()[0]})") from None
    # Partitions come month by month, each sorted: only several sources in a month need sorting.
    if not access["first_seen"].is_monotonic_increasing:
        access = access.sort_values("first_seen", kind="stable", ignore_index=True)
    return access


def partitions(path: str | os.PathLike) -> Iterator[pd.DataFrame]:
    """The access rows of the store at ``path``, one partition (month and source) at a time.

    For readers that work partition by partition in bounded memory; together they hold
    the rows ``read`` gives. A store from before partitions comes as one piece.

    Examples:
        >>> list(partitions("/nonexistent/fleetanalysis/access.parquet"))
        []
    """
    path = Path(path)
    if path.is_file():
        yield dataset.read_file(path)
    elif _is_store(path):
        for part in dataset.parts(path):
            yield dataset.read_part(path, part)


def _is_store(path: Path) -> bool:
    """Whether ``path`` is a partitioned store folder; ``BadInput`` for another folder."""
    if not path.is_dir():
        return False
    if (path / dataset.MANIFEST).exists() or (path / dataset.JOURNAL).exists() or any(path.glob("month=*")):
        return True
    if any(child for child in path.iterdir() if not child.name.startswith(".")):
        raise BadInput(path, "a folder but not a fleetanalysis access store (no month=... partitions, no "
                       f"{dataset.MANIFEST}); choose another --store")
    return False


def check_writable(store_path: str | os.PathLike) -> Path:
    """``store_path`` if a store can be written there; else ``BadInput`` naming it and why.

    Examples:
        >>> check_writable("/nonexistent/fleetanalysis/access.parquet").name
        'access.parquet'
    """
    store_path = Path(store_path)
    if not store_path.is_dir():
        return _check_file(store_path, "store")
    _is_store(store_path)
    # Its lock and rejected rows are beside it, its partitions in it.
    for folder in (store_path.parent, store_path):
        _check_creatable(folder, f"the store {store_path}")
    return store_path


def remove(store_path: str | os.PathLike) -> None:
    """Delete the store at ``store_path`` (folder or single file) and its rejected rows, under
    its lock: a derived store to be rebuilt from its logs.

    Examples:
        >>> remove("/nonexistent/fleetanalysis/access.parquet")
    """
    store_path = Path(store_path)
    if not store_path.exists() and not rejected_path(store_path).exists():
        return
    with locked(store_path):
        if store_path.is_dir():
            _is_store(store_path)
            shutil.rmtree(store_path)
        else:
            store_path.unlink(missing_ok=True)
        rejected_path(store_path).unlink(missing_ok=True)


def rejected_path(store_path: str | os.PathLike) -> Path:
    """Where the rejected rows of a store are kept: ``<store stem>-rejected.csv`` beside it.

    Examples:
        >>> rejected_path("data/processed/access.parquet").name
        'access-rejected.csv'
    """
    store_path = Path(store_path)
    return store_path.with_name(f"{store_path.stem}-rejected.csv")


def _store_file(path: Path) -> bool:
    """Whether ``path`` is a store's own file (a partition, its manifest, a rejected-rows CSV
    beside a store), which a folder given to ``ingest`` (``data/``) may hold: written here,
    never a log.

    Examples:
        >>> _store_file(Path("data/processed/access.parquet/month=2024-05/log=okta/part-0.parquet"))
        True
        >>> _store_file(Path("data/processed/access.parquet/_manifest.json")), _store_file(Path("logs/okta.json"))
        (True, False)
    """
    if path.suffix == ".parquet" or any(folder.suffix == ".parquet" for folder in path.parents):
        return True
    stem = path.name.removesuffix("-rejected.csv")
    return stem != path.name and path.with_name(f"{stem}.parquet").exists()


def _ready(store_path: Path) -> dict[str, dict]:
    """Under the store's lock: the store as its last write left it, migrated from one file
    if it is one; its manifest entries."""
    remove_temporaries(rejected_path(store_path))
    dataset.recover(store_path)
    if store_path.is_file():
        files = read_manifest(store_path)
        dataset.migrate(store_path, manifest.content(files))
        manifest.legacy_path(store_path).unlink(missing_ok=True)
    _is_store(store_path)
    return read_manifest(store_path)


def _merge_rejected(path: Path, rejected: pd.DataFrame, reread: frozenset[str] = frozenset()) -> None:
    """Add ``rejected`` rows to the CSV at ``path``, keeping each row once.

    The rows of the files in ``reread`` (read whole again this run) are replaced by this
    run's: a line a writer had half written when it was first read, loaded now, is no
    longer listed as rejected.
    """
    fresh = neutralise_formulas(rejected[REJECTED_COLUMNS].astype("str").fillna(""))
    if path.exists():
        try:
            kept = pd.read_csv(path, dtype="str", keep_default_na=False)
        except (ValueError, pd.errors.ParserError) as error:
            raise BadInput(path, f"not a readable rejected-rows file ({str(error).splitlines()[0]})") from None
        kept = kept[~kept["file"].isin(reread)] if "file" in kept.columns and reread else kept
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
        ingested = _ready(store_path)
        batch = Batch(store_path)
        duplicate, conflict = batch.add(result.access)
        duplicates = np.bincount(origin[duplicate.to_numpy(dtype=bool)], minlength=len(counts))
        conflicts = np.bincount(origin[conflict.to_numpy(dtype=bool)], minlength=len(counts))
        # Rejected rows first: an unreadable rejected file then stops the run before the store
        # changes, and a rerun after a crash in between adds nothing twice (rows are kept once).
        _merge_rejected(rejected_path(store_path), result.rejected)
        # The files ingest read are still merged in: the manifest carries over.
        batch.write(manifest.content(ingested))
    out = counts.assign(duplicates=duplicates, conflicts=conflicts)
    out["loaded"] = out["loaded"].astype("int64") - out["duplicates"]
    return out[MERGE_COLUMNS]


def ingest(store_path: str | os.PathLike, paths, format: str | None = None, *,
           chunk_bytes: int = sources.DEFAULT_CHUNK_BYTES, user_column: str | None = None,
           time_column: str | None = None, ua_column: str | None = None,
           progress: bool = False, rescan: bool = False) -> tuple[pd.DataFrame, list[str]]:
    """Read logs piece by piece (``sources.chunks``) and merge them into the store.

    The same store as ``merge(store_path, sources.load(paths, ...))`` (rows with equal
    ``first_seen`` may lie in another order), in bounded memory: a generic CSV is read by
    DuckDB, its rows screened and grouped by dedupe key and month in SQL within a memory
    limit (``store.bulk_csv``); other files chunk by chunk, each chunk of ``chunk_bytes``
    merged as it is read into the partitions it meets (``store.batch``), so memory holds
    one chunk or the groups plus those partitions, never the whole file. They are written
    once, at the end; the store's lock is held from reading to writing, so a second run
    waits and then merges into what this one wrote.

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
    # A folder given that holds stores (``ingest data/``) holds their files too; a file
    # named on its own is read (and refused) as it is.
    named = {Path(path) for path in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)}
    files = [path for path in files if path in named or not _store_file(path)]
    options = {"format": format, "user_column": user_column, "time_column": time_column, "ua_column": ua_column}
    with locked(store_path), ThreadPoolExecutor(1) as hashing:
        ingested = _ready(store_path)
        rows, entries, to_read = {}, {}, []
        for path in files:
            name = str(path.resolve())
            try:
                same, entries[name] = manifest.unchanged(path, None if rescan else ingested.get(name), options, hashing)
            except OSError as error:
                problems.append(str(BadInput(path, f"cannot be read ({error.strerror or error})")))
                continue
            if same:
                # Touched but the same bytes: the entry takes the new size and mtime.
                ingested[name] = {**ingested[name], **entries[name]}
                rows[str(path)] = (str(path), ingested[name].get("format"), 0, 0, 0, 0, 0, True)
            else:
                to_read.append(path)
        batch = Batch(store_path)
        counts, rejects = _read_into(batch, to_read, problems, format, chunk_bytes, progress,
                                     {"user_column": user_column, "time_column": time_column,
                                      "ua_column": ua_column}) if to_read else ([], [])
        if not counts and not rows:
            raise BadInput(problems[0] if problems else "no input files given")
        for row in counts:
            rows[row[0]] = (*row, False)
            name = str(Path(row[0]).resolve())
            entries[name].update(zip(MERGE_COLUMNS[1:], row[1:]))
            if isinstance(entries[name]["hash"], Future):
                entries[name]["hash"] = entries[name]["hash"].result()
            if manifest.changed_since(Path(row[0]), entries[name]):
                # Written to while it was read or hashed: the hash may describe bytes this run
                # never read, and would let the next run skip them. No hash: read again next run.
                entries[name]["hash"] = None
                _log.warning("%s: changed while it was read; the next ingest reads it again", row[0])
            ingested[name] = entries[name]
        if counts:
            _merge_rejected(rejected_path(store_path), pd.concat(rejects, ignore_index=True),
                            frozenset(str(row[0]) for row in counts))
            # The manifest is committed with the partitions: a run killed before the commit
            # changed nothing, one killed after is finished by the next (``store.dataset``).
            batch.write(manifest.content(ingested))
        elif ingested != read_manifest(store_path):
            batch.write(manifest.content(ingested))
    table = pd.DataFrame([rows[str(path)] for path in files if str(path) in rows], columns=INGEST_COLUMNS)
    return table, problems


def _read_into(batch: Batch, files: list[Path], problems: list[str], format: str | None,
               chunk_bytes: int, progress: bool, options: dict) -> tuple[list[tuple], list]:
    """``ingest``'s reading: each file's groups (``bulk_csv``) or chunks merged into ``batch`` as they come.

    Returns ``(counts, rejects)``: one ``MERGE_COLUMNS`` tuple per file read, the
    rejected frames; files that fail are added to ``problems`` and leave ``batch`` as it was.
    """
    counts, rejects = [], []
    sizes = [file.stat().st_size for file in files]
    with tqdm(total=sum(sizes), desc="reading logs", unit="B", unit_scale=True,
              disable=None if progress else True) as bar:
        for path, size in zip(files, sizes):
            before, start = batch.state(), bar.n

            def fold(pieces) -> tuple:
                # Called afresh when the file is read again whole: it starts from ``before``.
                batch.restore(before)
                tally, found, file_rejects = np.zeros(5, dtype="int64"), None, []
                for access, rejected, found in pieces:
                    duplicate, conflict = batch.add(access)
                    dupes = int(duplicate.sum())
                    tally += [len(access) + len(rejected), len(access) - dupes, len(rejected), dupes,
                              int(conflict.sum())]
                    file_rejects.append(rejected)
                return tally, found, file_rejects

            def moved(position: int) -> None:
                bar.update(start + position - bar.n)

            try:
                header = sources.reader.generic_csv_header(path, format)
                # A generic CSV goes to DuckDB; what DuckDB cannot read as chunks would, to them.
                bulk = None if header is None else bulk_csv.read(
                    path, header, options, batch, on_progress=lambda fraction: moved(int(fraction * size)))
                if bulk is None:
                    tally, found, file_rejects = sources.read_file(path, fold, format, chunk_bytes=chunk_bytes,
                                                                   on_bytes=moved, **options)
                else:
                    (tally, rejected), found = bulk, sources.csv.FORMAT
                    file_rejects = [rejected]
            except BadInput as problem:
                batch.restore(before)
                problems.append(str(problem))
                continue
            finally:
                bar.update(start + size - bar.n)
            counts.append((str(path), found, *tally.tolist()))
            rejects.extend(file_rejects)
    return counts, rejects
