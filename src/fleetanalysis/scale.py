"""How access rows become sightings: all at once, or partition by partition (here or on Dask).

Every engine runs the same per-row stages, ``device_sightings`` (``clients.facts ->
org.resolve_people -> fleet.sightings``), and ``analysis`` judges the result the same way
(``fleet.snapshot``/``timeline``, ``org.assign``); the engines differ only in how the
access rows are read and the pieces combined (``analysis.prepare(..., engine=...)``):

- ``"pandas"``: ``store.read`` gives the rows (of the window judged) at once, and
  ``device_sightings`` runs once (``analysis`` does this itself, and keeps the rows).
- ``"partitions"`` and ``"dask"`` (``sightings``): the input is cut into ``pieces``: a
  store's partitions (month x source, each read with the same window as ``store.read``),
  the row groups of other Parquet access tables, or whole raw log files of any format
  ``sources`` reads, read chunk by chunk by the one per-file reader
  (``sources.reader.read_file``). Each piece goes through ``device_sightings`` then
  ``reduce_sightings`` (``reduce_piece``); the pieces' results are reduced once more
  (``combine_pieces``). ``"partitions"`` reduces the pieces one after the other in this
  process, in the memory of one piece; ``"dask"`` on a Dask cluster
  (``dask.dataframe.from_map``), and only the small aggregate comes back.

The reduced sightings have the columns of ``fleet.sightings``, one row per device, parts
(OS and client versions), ``ip`` and activity days (``first_day``, ``last_day``): their
size grows with devices and the days they were seen, not with events.

Why the aggregate gives the same devices: rows that agree on everything but their times
and share their first and last day are active on exactly the same dates, and among them
``snapshot`` only ever uses the newest ``last_seen``; so collapsing them to
``first_seen`` = min and ``last_seen`` = max changes no device, no version and no
verdict. Duplicate rows (the same event read twice) collapse too, so raw files need no
store dedupe to give the right devices. One limit: when two rows of a device differ only
in ``ip`` or ``user`` and have the very same ``last_seen`` to the microsecond, which of
them names the device's ``ip`` may differ from the pandas path (that path breaks the tie
by row order).

Dask is an optional extra (``pip install .[scale]``) and imported only here, lazily:
the rest of the package works without it. Dask would turn pandas 3 ``str`` columns
into ``string[pyarrow]``; ``dataframe.convert-string`` is switched off so both paths
hold the same dtypes.

Examples:
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"device_id": ["U1|iOS|phone"] * 3, "os_version": ["17.4"] * 3,
    ...     "first_seen": pd.to_datetime(["2024-05-01 08:00", "2024-05-01 17:00", "2024-05-02 09:00"], utc=True)})
    >>> rows["last_seen"] = rows["first_seen"]
    >>> from fleetanalysis.days import utc_day
    >>> reduced = reduce_sightings(rows.assign(first_day=utc_day(rows["first_seen"]),
    ...                                        last_day=utc_day(rows["last_seen"])))
    >>> reduced[["first_seen", "last_seen"]].astype(str).values.tolist()  # doctest: +NORMALIZE_WHITESPACE
    [['2024-05-01 08:00:00+00:00', '2024-05-01 17:00:00+00:00'],
     ['2024-05-02 09:00:00+00:00', '2024-05-02 09:00:00+00:00']]
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from fleetanalysis import clients, fleet, org, sources
from fleetanalysis import store as access_store
from fleetanalysis.codes import combine, firsts
from fleetanalysis.errors import BadInput
from fleetanalysis.sources.reader import read_file
from fleetanalysis.sources.schema import conform, empty_access
from fleetanalysis.store import dataset

TIME_COLUMNS = ["first_seen", "last_seen"]
# The access columns the devices depend on (clients.facts and fleet.sightings read no
# others): a store is read with these alone.
ANALYSIS_COLUMNS = ["source", "user_id", "user", "first_seen", "last_seen", "ip", "user_agent", "reported_os",
                    "reported_os_version", "reported_browser", "reported_browser_version", "reported_from"]
LOCAL_WORKERS = 2
# The most store rows one piece reads (``pieces``): about a gigabyte as access rows and
# their facts, so a store of any size goes through in bounded memory.
ROWS_PER_PIECE = 2_000_000
# A scheduler that does not answer within this is reported, not waited on for ever.
CONNECT_TIMEOUT = "10s"


@dataclass
class Reduced:
    """What ``sightings`` gathered: the reduced ``sightings``, the newest ``last_seen`` of
    any access row (bots included, as the pandas path takes it) and how many access rows
    were read."""

    sightings: pd.DataFrame
    newest: pd.Timestamp | None
    rows: int


def require_dask():
    """``dask.dataframe`` with string conversion off, or ``BadInput`` saying how to get it.

    Examples:
        >>> require_dask().__name__
        'dask.dataframe'
    """
    try:
        import dask
        import dask.dataframe as dd
    except ImportError:
        raise BadInput("--engine dask", "dask is not installed (pip install 'fleetanalysis[scale]')") from None
    dask.config.set({"dataframe.convert-string": False})
    return dd


def reduce_sightings(sightings: pd.DataFrame) -> pd.DataFrame:
    """Collapse sightings that differ only in their times within the same days.

    Groups by every column but ``first_seen``/``last_seen`` (``first_day`` and
    ``last_day`` included) and keeps ``first_seen`` = min and ``last_seen`` = max; the
    result has the input's columns and dtypes, sorted as ``fleet.sightings`` sorts (by
    device and first sighting). Applying it twice, or to the concatenation of reduced
    pieces, gives the same frame: it is the reduction step of the Dask path.

    Examples:
        >>> seen = pd.DataFrame({"device_id": ["d", "d"], "ip": ["10.0.0.1", pd.NA],
        ...     "first_seen": pd.to_datetime(["2024-05-01", "2024-05-01"], utc=True),
        ...     "last_seen": pd.to_datetime(["2024-05-01", "2024-05-01"], utc=True),
        ...     "first_day": pd.to_datetime(["2024-05-01"] * 2), "last_day": pd.to_datetime(["2024-05-01"] * 2)})
        >>> len(reduce_sightings(pd.concat([seen, seen])))
        2
    """
    keys = [column for column in sightings.columns if column not in TIME_COLUMNS]
    if sightings.empty:
        return sightings.reset_index(drop=True)
    # Integer codes in sorted order (NA first) stand for the text: grouping and sorting
    # them costs far less than hashing and comparing strings row by row.
    codes = {column: pd.factorize(sightings[column], sort=True)[0] for column in keys}
    group = combine(list(codes.values()), sort=False)
    row = firsts(group)
    out = sightings.iloc[row].reset_index(drop=True)
    times = sightings[TIME_COLUMNS].reset_index(drop=True).groupby(group)
    out["first_seen"] = times["first_seen"].min().reset_index(drop=True)
    out["last_seen"] = times["last_seen"].max().reset_index(drop=True)
    # A fixed order over every column makes the result independent of partitioning: by
    # device, first and last sighting (their ranks, missing first), then the other columns.
    # Rows that tie on the first three are few: one stable sort of those three combined,
    # then the ties alone sorted by every column, where a lexsort would sort once per column.
    moments = [pd.factorize(out[column].to_numpy("datetime64[us]").view("int64"), sort=True)[0]
               for column in TIME_COLUMNS]
    order = [codes["device_id"][row] if "device_id" in codes else np.zeros(len(row), dtype="int64"), *moments,
             *[codes[column][row] for column in keys if column != "device_id"]]
    primary = combine(order[:3], sort=True)
    ranked = np.argsort(primary, kind="stable")
    in_order = primary[ranked]
    tied = np.flatnonzero(in_order[1:] == in_order[:-1])
    if len(tied):
        at = np.union1d(tied, tied + 1)
        ties = ranked[at]
        ranked[at] = ties[np.lexsort([column[ties] for column in order[::-1]])]
    return out.take(ranked).reset_index(drop=True)


def device_sightings(access: pd.DataFrame, directory: pd.DataFrame | None = None, *,
                     progress: bool = False) -> pd.DataFrame:
    """The per-row stages every engine runs on its access rows, whole or one piece at a time:
    ``clients.facts -> org.resolve_people -> fleet.sightings``.

    Examples:
        >>> from fleetanalysis.sources.schema import conform, empty_access
        >>> access = conform(pd.DataFrame({"source": ["csv"], "user": ["ann@example.com"],
        ...     "first_seen": ["2024-05-01T10:00:00Z"], "user_agent": ["Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 "
        ...     "like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"]}))
        >>> device_sightings(access)[["device_id", "os_version"]].values.tolist()
        [['ann@example.com|iOS|phone', '17.4']]
    """
    return fleet.sightings(org.resolve_people(clients.facts(access, progress=progress), directory))


class Piece(NamedTuple):
    """One partition: consecutive partitions of a store (``parts``), a Parquet file's row
    group (``row_group``) or a whole raw log file (neither)."""

    path: str
    row_group: int | None = None
    parts: tuple[tuple[str, str], ...] | None = None


def is_store(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a partitioned store folder (its partitions are the pieces).

    Examples:
        >>> is_store("/nonexistent/fleetanalysis/access.parquet")
        False
    """
    return Path(path).is_dir() and bool(dataset.parts(Path(path)))


def pieces(paths, rows_per_piece: int | None = None, at_least: int = 1) -> list[Piece]:
    """The partitions of ``paths``: a store folder's partitions (month x source), one per
    row group of other Parquet files, one per raw log file.

    Consecutive partitions of a store go together up to ``rows_per_piece`` rows (default
    ``ROWS_PER_PIECE``), and into
    ``at_least`` pieces where it has enough partitions (one per worker): each piece
    parses its distinct user agents and codes its text once, so fewer, bigger pieces cost
    less, up to what one piece may hold in memory. Where there are Parquet files, only
    they are read.

    Examples:
        >>> pieces(["/nonexistent/fleetanalysis/logs"])
        Traceback (most recent call last):
        fleetanalysis.errors.BadInput: /nonexistent/fleetanalysis/logs: no such file or directory
    """
    import pyarrow.parquet

    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    found: list[Piece] = []
    rest = []
    for path in paths:
        parts = dataset.parts(Path(path)) if is_store(path) else []
        found.extend(Piece(str(path), parts=group)
                     for group in _batches(Path(path), parts, rows_per_piece or ROWS_PER_PIECE, at_least))
        if not parts:
            rest.append(path)
    files, problems = sources.expand(rest) if rest else ([], [])
    if problems and not files and not found:
        raise BadInput(problems[0])
    for file in files:
        with open(file, "rb") as handle:
            parquet = handle.read(4) == b"PAR1"
        if parquet:
            try:
                groups = pyarrow.parquet.ParquetFile(file).num_row_groups
            except (OSError, ValueError) as error:
                raise BadInput(file, f"not a readable Parquet file ({str(error).splitlines()[0]})") from None
            found.extend(Piece(str(file), row_group=group) for group in range(groups))
        else:
            found.append(Piece(str(file)))
    if any(piece.row_group is not None or piece.parts is not None for piece in found):
        # A store's folder also holds its rejected-rows CSV and the like: not logs.
        found = [piece for piece in found if piece.row_group is not None or piece.parts is not None]
    if not found:
        raise BadInput(", ".join(map(str, paths)), "no input files")
    return found


def _batches(store: Path, parts: list, rows_per_piece: int, at_least: int) -> list[tuple]:
    """Consecutive ``parts`` of ``store`` together, up to the rows a piece may hold."""
    import pyarrow.parquet

    rows = [pyarrow.parquet.read_metadata(dataset.part_file(store, part)).num_rows for part in parts]
    budget = max(1, min(rows_per_piece, -(-sum(rows) // max(at_least, 1))))
    batches, batch, held = [], [], 0
    for part, count in zip(parts, rows):
        if batch and held + count > budget:
            batches.append(tuple(batch))
            batch, held = [], 0
        batch.append(part)
        held += count
    return [*batches, tuple(batch)] if batch else batches


def reduce_piece(piece: Piece, format: str | None = None, directory: pd.DataFrame | None = None,
                 since=None, until=None) -> pd.DataFrame:
    """The per-partition work: access rows -> ``device_sightings`` -> ``reduce_sightings``.

    The rows of a store partition are those of the window ``since``/``until`` (read as
    ``store.read`` reads them); a raw log file is read chunk by chunk by the one per-file
    reader (``sources.reader.read_file``), each chunk reduced on its own. Adds ``newest``
    (the newest ``last_seen`` of any access row of the piece, on the first row only) and
    ``rows`` (its access rows, likewise) so one pass gathers everything.

    Examples:
        >>> import pathlib, tempfile
        >>> file = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
        >>> _ = file.write_text("time,user,ip,user_agent\\n2024-05-01T10:00:00Z,ann@example.com,192.0.2.1,"
        ...     '"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) '
        ...     'Version/17.4 Mobile/15E148 Safari/604.1"\\n')
        >>> reduce_piece(Piece(str(file)))[["device_id", "os_version", "rows"]].values.tolist()
        [['ann@example.com|iOS|phone', '17.4', 1]]
    """
    import pyarrow.parquet

    def reduce(accesses) -> pd.DataFrame:
        chunks, rows, newest = [], 0, pd.NaT
        for access in accesses:
            chunks.append(reduce_sightings(device_sightings(access, directory)))
            rows += len(access)
            if len(access):
                newest = access["last_seen"].max() if pd.isna(newest) else max(newest, access["last_seen"].max())
        # No chunk at all (an empty file) still gives the columns.
        reduced = chunks[0] if len(chunks) == 1 else reduce_sightings(
            fleet.concat_sightings(chunks or [device_sightings(empty_access())]))
        return _with_totals(reduced, newest, rows)

    if piece.parts is not None:
        return reduce([access_store.read(piece.path, ANALYSIS_COLUMNS, since=since, until=until,
                                         parts=list(piece.parts))])
    if piece.row_group is not None:
        return reduce([conform(pyarrow.parquet.ParquetFile(piece.path).read_row_group(piece.row_group).to_pandas())])
    return read_file(Path(piece.path), lambda chunks: reduce(conform(access) for access, _, _ in chunks), format)


def _with_totals(reduced: pd.DataFrame, newest, rows: int) -> pd.DataFrame:
    """``reduced`` with the piece's ``newest`` and ``rows`` on its first row."""
    reduced["newest"] = pd.Series([newest] + [pd.NaT] * (len(reduced) - 1), dtype="datetime64[us, UTC]")
    reduced["rows"] = pd.Series([rows] + [0] * (len(reduced) - 1), dtype="int64")
    if reduced.empty and rows:
        # A piece of bots only still reports its rows and newest date.
        reduced = pd.concat([reduced, pd.DataFrame({"newest": [newest], "rows": [rows]}).astype(
            {"newest": "datetime64[us, UTC]", "rows": "int64"})], ignore_index=True)
    return reduced


def combine_pieces(reduced) -> Reduced:
    """The pieces' ``reduce_piece`` frames as one ``Reduced``: stacked, reduced again, rows summed.

    Examples:
        >>> one = reduce_piece_meta()
        >>> combine_pieces([one, one]).rows
        0
    """
    reduced = list(reduced)
    rows = int(sum(frame["rows"].sum() for frame in reduced))
    newest = max((frame["newest"].max() for frame in reduced if frame["newest"].notna().any()), default=None)
    seen = [frame.drop(columns=["newest", "rows"]).dropna(subset=["device_id"]) for frame in reduced]
    seen = [frame for frame in seen if len(frame)] or [device_sightings(empty_access())]
    return Reduced(reduce_sightings(fleet.concat_sightings(seen)), newest, rows)


@contextlib.contextmanager
def cluster(scheduler: str | None = None, *, processes: bool = False) -> Iterator:
    """A ``distributed.Client`` on ``scheduler``, or on a new local cluster of two workers.

    The local cluster uses threads unless ``processes``; it is closed on leaving.

    Examples:
        >>> with cluster() as client:
        ...     len(client.scheduler_info()["workers"])
        2
    """
    require_dask()
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as error:  # ValueError: not an address
            raise BadInput("--scheduler", f"cannot reach Dask scheduler {scheduler} ({error})") from None
        with client:
            yield client
        return
    with LocalCluster(n_workers=LOCAL_WORKERS, threads_per_worker=1, processes=processes,
                      dashboard_address=None) as local, Client(local) as client:
        yield client


def sightings(paths, format: str | None = None, *, engine: str = "dask", since=None, until=None,
              scheduler: str | None = None, processes: bool = False, progress: bool = False,
              directory: pd.DataFrame | None = None) -> Reduced:
    """Reduced ``fleet.sightings`` of a store, Parquet access tables or raw logs, piece by piece.

    ``paths`` are files, folders or globs (as ``sources.load`` takes them), cut into
    ``pieces``; ``format`` forces the format of raw logs. ``engine`` says where the pieces
    are reduced: ``"dask"`` on a Dask cluster (``scheduler`` is its address; without one a
    local cluster of two workers runs, see ``cluster``), ``"partitions"`` one after the
    other in this process (memory bounded by one piece, whatever the store's size).
    ``since``/``until`` read a store's partitions as ``store.read`` does (the rows of that
    window only); other files are read whole. ``fleet.snapshot`` of the result equals
    ``fleet.snapshot`` of the in-memory path's sightings of the same access rows.

    Examples:
        >>> import pathlib, tempfile
        >>> file = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
        >>> _ = file.write_text("time,user,user_agent\\n2024-05-01T10:00:00Z,ann@example.com,curl/8.4.0\\n")
        >>> found = sightings([file])
        >>> len(found.sightings), found.rows, str(found.newest)
        (0, 1, '2024-05-01 10:00:00+00:00')
        >>> sightings([file], engine="partitions").rows
        1
    """
    options = {"format": format, "directory": directory, "since": since, "until": until}
    if engine == "partitions":
        chosen = pieces(paths)
        with _progress(chosen, progress) as bar:
            reduced = []
            for piece in chosen:
                reduced.append(reduce_piece(piece, **options))
                bar.update()
        return combine_pieces(reduced)
    if engine != "dask":
        raise BadInput("engine", f"must be pandas, partitions or dask, not {engine!r}")
    dd = require_dask()
    from distributed import as_completed

    with cluster(scheduler, processes=processes) as client:
        chosen = pieces(paths, at_least=len(client.scheduler_info()["workers"]))
        frame = dd.from_map(reduce_piece, chosen, **options, meta=reduce_piece_meta(), enforce_metadata=False)
        futures = client.compute(frame.to_delayed())
        with _progress(chosen, progress) as bar:
            for _ in as_completed(futures):
                bar.update()
        return combine_pieces(client.gather(futures))


def _progress(chosen: list[Piece], progress: bool):
    """A bar over the pieces, shown when ``progress`` and stderr is a terminal."""
    from tqdm import tqdm

    return tqdm(total=len(chosen), desc="reducing partitions", unit="part", disable=None if progress else True)


def reduce_piece_meta() -> pd.DataFrame:
    """The empty frame ``reduce_piece`` returns: sightings columns plus ``newest``, ``rows``.

    Examples:
        >>> list(reduce_piece_meta().columns)[-3:]
        ['ip', 'newest', 'rows']
    """
    from fleetanalysis.sources.schema import empty_access

    empty = fleet.sightings(clients.facts(empty_access()))
    return empty.assign(newest=pd.Series([], dtype="datetime64[us, UTC]"), rows=pd.Series([], dtype="int64"))
