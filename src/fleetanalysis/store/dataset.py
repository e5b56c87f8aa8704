"""The access store on disk: a Parquet dataset partitioned by month and source.

Layout (hive style, so DuckDB's ``read_parquet('<store>/*/*/*.parquet',
hive_partitioning = true)`` and ``pyarrow.dataset.dataset(<store>, partitioning="hive")``
read it as it is)::

    <store>/month=2026-06/log=okta/part-0.parquet
    <store>/_manifest.json      the input files ingested (written by the store package)
    <store>/_journal.json       only while a write is being applied

``month`` is the UTC month of a row's ``first_seen`` and ``log`` its ``source`` (named
apart from the column, which each file keeps, so that a partition file read alone is a
whole access table). Names starting with ``.`` or ``_`` are not data: both readers skip
them.

A write is a transaction. Every partition it changes is first written beside its
target under a hidden name; then ``_journal.json`` is written (atomically) listing the
renames, the partitions emptied and the manifest that follows: that is the commit
point. The renames are applied one by one, then the manifest, then the journal is
removed. A run killed before the journal leaves hidden files that the next writer
removes, the store as it was; killed after, the next writer (under the store's lock)
finishes the renames from the journal. In between, a reader sees each partition whole,
either before or after.

Examples:
    >>> import pathlib, tempfile
    >>> from fleetanalysis.sources.schema import conform
    >>> store = pathlib.Path(tempfile.mkdtemp()) / "access.parquet"
    >>> rows = conform(pd.DataFrame({"source": ["okta", "csv"], "user_agent": ["UA", "UA"],
    ...     "first_seen": ["2026-05-31T23:00:00Z", "2026-06-01T00:00:00Z"]}))
    >>> commit(store, {part: frame for part, frame in split(rows)}, set(), {})
    >>> [part_name(part) for part in parts(store)]
    ['month=2026-05/log=okta', 'month=2026-06/log=csv']
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.compute
import pyarrow.dataset
import pyarrow.parquet

from fleetanalysis.codes import code_type
from fleetanalysis.errors import BadInput
from fleetanalysis.sources.schema import COLUMNS, conform
from fleetanalysis.writing import write_text

PART_FILE = "part-0.parquet"
MANIFEST = "_manifest.json"
JOURNAL = "_journal.json"
# A file needs these to be a store; every column it has must be an access column.
STORE_CORE = {"source", "first_seen", "last_seen", "user_agent"}
# Every partition file has this schema (categoricals as int32 dictionaries), so that a
# reader of the whole folder meets one schema however few values a partition holds.
SCHEMA = pyarrow.Schema.from_pandas(conform(pd.DataFrame({name: [] for name in COLUMNS})), preserve_index=False)
SCHEMA = pyarrow.schema([pyarrow.field(field.name, pyarrow.dictionary(pyarrow.int32(), pyarrow.string()))
                         if pyarrow.types.is_dictionary(field.type) else field for field in SCHEMA])

# What pandas reads the columns back as (``str``, ``boolean``...), written into every file.
PANDAS_METADATA = pyarrow.Table.from_pandas(conform(pd.DataFrame({name: [] for name in COLUMNS})),
                                            preserve_index=False).schema.metadata

Part = tuple[str, str]  # (month, source)
TIME_COLUMNS = ["first_seen", "last_seen"]
_CATEGORICALS = [field.name for field in SCHEMA if pyarrow.types.is_dictionary(field.type)]


def part_name(part: Part) -> str:
    """The folder of a partition, relative to the store.

    Examples:
        >>> part_name(("2026-06", "slack_access"))
        'month=2026-06/log=slack_access'
    """
    month, source = part
    return f"month={quote(month, safe='')}/log={quote(source, safe='')}"


def part_file(store: Path, part: Part) -> Path:
    """The data file of a partition."""
    return store / part_name(part) / PART_FILE


def parts(store: Path) -> list[Part]:
    """The partitions of the store folder, by month then source."""
    found = []
    for file in store.glob(f"month=*/log=*/{PART_FILE}"):
        found.append((unquote(file.parent.parent.name.removeprefix("month=")),
                      unquote(file.parent.name.removeprefix("log="))))
    return sorted(found)


def month_of(times: pd.Series) -> pd.Series:
    """``YYYY-MM`` of each UTC time, ``unknown`` where there is none.

    Examples:
        >>> month_of(pd.Series(pd.to_datetime(["2026-06-30T23:59:59Z", None], utc=True))).tolist()
        ['2026-06', 'unknown']
    """
    # Per distinct month, not per row: formatting every time would cost a string each.
    months = times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[M]")
    codes, distinct = pd.factorize(months)
    names = np.array([str(month)[:7] for month in distinct] + ["unknown"], dtype=object)
    return pd.Series(names[codes], index=times.index, dtype="str")


def split(access: pd.DataFrame) -> Iterator[tuple[Part, pd.DataFrame]]:
    """The rows of ``access`` by the partition they belong in."""
    if access.empty:
        return
    month = month_of(access["first_seen"]).to_numpy()
    source = access["source"].astype("str").fillna("unknown").to_numpy()
    for (part_month, part_source), rows in access.groupby([month, source], sort=True, observed=True):
        yield (part_month, part_source), rows


def read_part(store: Path, part: Part, columns: list[str] | None = None) -> pd.DataFrame:
    """One partition's rows; ``BadInput`` naming the file when it cannot be read."""
    return read_file(part_file(store, part), columns)


def read_file(file: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """A store file's rows (a partition, or a whole store from before partitions).

    Refused, never overwritten, when its columns are not an access table's: the store
    setting points at someone else's Parquet file.
    """
    check_file(file)
    try:
        frame = pd.read_parquet(file, columns=columns)
    except (OSError, ValueError, pyarrow.ArrowException) as error:
        raise BadInput(file, f"not a readable access store ({str(error).splitlines()[0]})") from None
    return frame if columns is not None else conform(frame)


def check_file(file: Path) -> None:
    """``BadInput`` naming ``file`` unless it is a readable Parquet file with an access table's columns."""
    try:
        names = set(pyarrow.parquet.read_schema(file).names)
    except (OSError, ValueError, pyarrow.ArrowException) as error:
        raise BadInput(file, f"not a readable access store ({str(error).splitlines()[0]})") from None
    if not STORE_CORE <= names or not names <= set(COLUMNS):
        raise BadInput(file, "a Parquet file but not a fleetanalysis access store (its columns are "
                       f"{', '.join(sorted(names))[:200]}); choose another --store")


def cores() -> int:
    """The cores this process may run on (a container's share, not the machine's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _write_part(rows: pd.DataFrame | pyarrow.Table, target: Path) -> None:
    """Write access rows (``conform``'s dtypes already, or ``table``'s) as a partition file.

    Statistics are written for the times alone: readers skip row groups by the window
    (``read_rows``), never by text, and the minimum and maximum of the text columns cost
    about a quarter of a write. Only the categoricals are dictionary-encoded: the other text
    (users, addresses) has nearly as many values as a partition has rows, so a dictionary
    costs time and saves no space. Measured on the 13 partitions of 10M rows: written in
    250 ms instead of 430, as large, read as fast by ``read`` and DuckDB.
    """
    pyarrow.parquet.write_table(_compact(rows if isinstance(rows, pyarrow.Table) else table(rows)), target,
                                write_statistics=TIME_COLUMNS, use_dictionary=_CATEGORICALS)


def table(access: pd.DataFrame) -> pyarrow.Table:
    """Access rows (``conform``'s dtypes) as an Arrow table in the store's ``SCHEMA``."""
    return pyarrow.Table.from_pandas(access[list(COLUMNS)], schema=SCHEMA, preserve_index=False)


def _compact(rows: pyarrow.Table) -> pyarrow.Table:
    """``rows`` with each dictionary holding only the values its rows use, sorted.

    Merged rows carry the values of everything read with them, and each read of the
    file would pay for those; sorted, a partition's layout does not depend on its history.
    """
    columns = []
    for column in rows.columns:
        if pyarrow.types.is_dictionary(column.type):
            column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
            if column.null_count == len(column):
                # A column the log does not have (a CSV's reported OS): nothing to renumber.
                columns.append(pyarrow.nulls(len(column), column.type))
                continue
            codes = column.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype("int64")
            # Counted, not sorted: the codes span the dictionary.
            used = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(column.dictionary)))
            values = column.dictionary.take(pyarrow.array(used, pyarrow.int64()))
            ranked = pyarrow.compute.sort_indices(values).to_numpy(zero_copy_only=False)
            renumber = np.full(len(column.dictionary) + 1, -1, dtype="int32")
            renumber[used[ranked]] = np.arange(len(used), dtype="int32")
            codes = renumber[codes]
            column = pyarrow.DictionaryArray.from_arrays(
                pyarrow.array(codes, pyarrow.int32(), mask=codes < 0), values.take(pyarrow.array(ranked)))
        columns.append(column)
    return pyarrow.Table.from_arrays(columns, schema=rows.schema)


def read_parts(store: Path, chosen: list[Part], columns: list[str] | None = None) -> pd.DataFrame:
    """The rows of the ``chosen`` partitions in one read (no checks: the store's own files)."""
    return read_table(store, chosen, columns).to_pandas()


def read_table(store: Path, chosen: list[Part], columns: list[str] | None = None) -> pyarrow.Table:
    """``read_parts`` as an Arrow table in ``SCHEMA``."""
    files = [str(part_file(store, part)) for part in chosen]
    try:
        return pyarrow.dataset.dataset(files, format="parquet", schema=SCHEMA).to_table(columns=columns)
    except (OSError, ValueError, pyarrow.ArrowException) as error:
        raise BadInput(store, f"not a readable access store ({str(error).splitlines()[0]})") from None


def read_rows(files: list[str], columns: list[str] | None = None, condition=None, schema=SCHEMA) -> pd.DataFrame:
    """The rows of the store ``files`` that meet ``condition`` (a ``pyarrow.dataset``
    expression, None for all), only ``columns`` (None: all), as ``conform`` types them and
    with each text categorical holding the values used, sorted (``store.read``'s layout).

    Row groups whose statistics rule them out are not read at all, and the rows of the
    others are filtered once read: a filter inside the scan costs several times more. Text
    categoricals are built from the files' dictionary codes, never from text per row.
    Raises pyarrow's errors (the caller names the store).

    Examples:
        >>> import pathlib, tempfile
        >>> store = pathlib.Path(tempfile.mkdtemp()) / "access.parquet"
        >>> rows = conform(pd.DataFrame({"source": ["okta", "okta"], "user_agent": ["b", "a"],
        ...     "first_seen": ["2026-05-31T23:00:00Z", "2026-06-01T00:00:00Z"]}))
        >>> commit(store, dict(split(rows)), set(), {})
        >>> late = pyarrow.dataset.field("first_seen") >= pyarrow.scalar(pd.Timestamp("2026-06-01", tz="UTC"))
        >>> found = read_rows([str(part_file(store, part)) for part in parts(store)], ["user_agent"], late)
        >>> found["user_agent"].tolist(), found["user_agent"].cat.categories.tolist()
        (['a'], ['a'])
    """
    source = pyarrow.dataset.dataset(files, format="parquet", schema=schema)
    if condition is not None:
        groups = [group for fragment in source.get_fragments() for group in fragment.split_by_row_group(condition)]
        source = pyarrow.dataset.FileSystemDataset(groups, source.schema, source.format, source.filesystem)
    if condition is None or columns is None:
        table = source.to_table(columns=columns)
    else:
        # The window's conditions are on the time columns: read them too, to filter by.
        table = source.to_table(columns=list(dict.fromkeys([*columns, *TIME_COLUMNS])))
    if condition is not None:
        table = table.filter(condition)
        table = table if columns is None else table.select(columns)
    # source is left to conform, which maps it to the known logs per distinct name.
    text = [field.name for field in table.schema
            if pyarrow.types.is_dictionary(field.type) and field.name != "source"]
    table = table.unify_dictionaries()
    categoricals = {name: _used_sorted(table[name].combine_chunks()) for name in text}
    frame = table.drop_columns(text).to_pandas()
    del table
    for name, values in categoricals.items():
        frame[name] = values
    frame = conform(frame)
    for name in frame.columns:
        # A few categories each (source, or a text column of an old single-file store).
        if name not in categoricals and isinstance(frame[name].dtype, pd.CategoricalDtype):
            values = frame[name].cat.remove_unused_categories()
            frame[name] = values.cat.reorder_categories(values.cat.categories.sort_values())
    return frame


def _used_sorted(values: pyarrow.DictionaryArray) -> pd.Categorical:
    """A dictionary array as a categorical of the values used, sorted, from its codes."""
    dictionary = values.dictionary.cast(pyarrow.large_string())
    codes = pyarrow.compute.fill_null(values.indices, -1).to_numpy(zero_copy_only=False).astype("int64")
    used = np.bincount(codes[codes >= 0], minlength=len(dictionary)) > 0
    kept = dictionary.filter(pyarrow.array(used))
    order = pyarrow.compute.array_sort_indices(kept).to_numpy()
    # Old code -> new code; the extra last slot keeps -1 (missing) at -1.
    new = np.full(len(dictionary) + 1, -1, dtype="int64")
    new[np.flatnonzero(used)[order]] = np.arange(len(kept))
    categories = pd.Index(kept.take(order).to_numpy(zero_copy_only=False), dtype="str")
    return pd.Categorical.from_codes(new[codes].astype(code_type(len(categories))),
                                     dtype=pd.CategoricalDtype(categories), validate=False)


def _pending(store: Path, part: Part, transaction: str) -> Path:
    """The hidden name a partition is written under before the commit."""
    return part_file(store, part).with_name(f".{PART_FILE}.{transaction}.pending")


def _swap_in(pending: Path, target: Path) -> None:
    """One committed partition replaced (a rename: readers see it before or after)."""
    os.replace(pending, target)


def commit(store: Path, written: dict[Part, pd.DataFrame | pyarrow.Table], emptied: set[Part], manifest: dict) -> None:
    """Replace the partitions ``written``, remove the ``emptied`` ones, then write ``manifest``.

    Hold the store's lock. See the module docstring for what a crash leaves.
    """
    created = not store.exists()
    transaction = secrets.token_hex(6)
    try:
        store.mkdir(parents=True, exist_ok=True)
        pendings = {part: _pending(store, part, transaction) for part in written}
        for pending in pendings.values():
            pending.parent.mkdir(parents=True, exist_ok=True)
        # Arrow encodes and compresses without the GIL: a write of several partitions uses every core.
        abandoned = threading.Event()

        def write(frame, pending: Path) -> None:
            # Stopped (SIGTERM) or failed elsewhere: a write still going when the clean-up below
            # runs removes its own file, whichever of the two finishes last.
            if abandoned.is_set():
                return
            try:
                _write_part(frame, pending)
            finally:
                if abandoned.is_set():
                    pending.unlink(missing_ok=True)

        writers = ThreadPoolExecutor(min(len(written), cores()) or 1)
        futures = future = None
        try:
            futures = [writers.submit(write, frame, pendings[part]) for part, frame in written.items()]
            for future in futures:
                future.result()
        except BaseException:
            abandoned.set()
            raise
        finally:
            writers.shutdown(wait=True, cancel_futures=True)
            # A failed write's error holds its file open (through its traceback) while a future
            # holds the error: none may outlive this frame, or a full disk keeps the space.
            futures = future = None
        renames = [[part_name(part), pending.name] for part, pending in pendings.items()]
    except BaseException as error:
        # Before the commit point: what this write made goes, the store stays as it was.
        if created:
            shutil.rmtree(store, ignore_errors=True)
        else:
            for part in written:
                _pending(store, part, transaction).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename is None:
            # Arrow's write errors (a full disk) name no file: name the store.
            error.filename = str(store)
        raise
    write_text(store / JOURNAL, json.dumps({"renames": renames, "emptied": sorted(map(part_name, emptied)),
                                            "manifest": manifest}))
    _apply(store)


def _apply(store: Path) -> None:
    """Finish the write ``_journal.json`` describes; nothing to do without one."""
    try:
        journal = json.loads((store / JOURNAL).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return
    except (OSError, ValueError) as error:
        raise BadInput(store / JOURNAL, f"not a readable store journal ({error}); remove it and ingest again") from None
    for folder, pending in journal["renames"]:
        if (store / folder / pending).exists():
            _swap_in(store / folder / pending, store / folder / PART_FILE)
    for folder in journal["emptied"]:
        (store / folder / PART_FILE).unlink(missing_ok=True)
        for empty in (store / folder, (store / folder).parent):
            try:
                empty.rmdir()
            except OSError:
                pass
    write_text(store / MANIFEST, json.dumps(journal["manifest"], indent=1, sort_keys=True))
    (store / JOURNAL).unlink()


def recover(store: Path) -> None:
    """Leave the store as its last committed write made it (hold its lock).

    A journal is applied; hidden partition files without one (a write killed before its
    commit) are removed; a migration killed midway is undone, to be done again.
    """
    backup, building = _legacy_backup(store), _migrating(store)
    if building.exists():
        shutil.rmtree(building)
    if backup.exists():
        if store.exists():
            backup.unlink()
        else:
            os.replace(backup, store)
    if not store.is_dir():
        return
    _apply(store)
    for leftover in store.glob(f"month=*/log=*/.{PART_FILE}.*.pending"):
        leftover.unlink(missing_ok=True)


def _legacy_backup(store: Path) -> Path:
    return store.with_name(f".{store.name}.single-file")


def _migrating(store: Path) -> Path:
    return store.with_name(f".{store.name}.migrating")


def migrate(store: Path, manifest: dict) -> None:
    """Turn a single-file store (from before partitions) into the partitioned folder, in place.

    Hold the store's lock. ``manifest`` (the old manifest's content, still valid for this
    file) is carried over. Built in a hidden folder beside, then swapped in: killed midway,
    ``recover`` puts the single file back.
    """
    rows = read_file(store)
    building = _migrating(store)
    if building.exists():
        shutil.rmtree(building)
    building.mkdir()
    written = dict(split(rows))
    for part, frame in written.items():
        target = part_file(building, part)
        target.parent.mkdir(parents=True)
        _write_part(frame, target)
    write_text(building / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
    os.replace(store, _legacy_backup(store))
    os.replace(building, store)
    _legacy_backup(store).unlink()
    print(f"fleetanalysis: {store}: store migrated from one Parquet file to a folder partitioned by month and "
          f"source ({len(rows)} rows, {len(written)} partitions)", file=sys.stderr, flush=True)
