"""The status pipeline on Dask, for logs that outgrow one machine.

Strategy: the per-row stages run per partition, on the workers, and only a small
aggregate comes back.

1. Partitions are the row groups of the Parquet access tables (the store, or a folder
   of them) and whole raw log files of any format ``sources`` reads (NDJSON, CSV...),
   built with ``dask.dataframe.from_map``.
2. Per partition: ``sources.load_file`` (raw files) or ``schema.conform`` (Parquet),
   then ``clients.facts`` -> ``org.resolve_people`` -> ``fleet.sightings`` -> ``reduce_sightings``.
3. The per-partition aggregates are gathered and reduced once more: the result has the
   columns of ``fleet.sightings``, one row per device, parts (OS and client versions),
   ``ip`` and activity days (``first_day``, ``last_day``). Its size grows with devices and
   the days they were seen, not with events.
4. The per-device stages (``fleet.snapshot``/``timeline`` judging, ``org.assign``,
   ``metrics.status``) run on that pandas frame in the calling process, unchanged.

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

import numpy as np
import pandas as pd

from fleetanalysis import clients, fleet, org, sources
from fleetanalysis.codes import combine, firsts
from fleetanalysis.errors import BadInput
from fleetanalysis.sources.schema import conform

TIME_COLUMNS = ["first_seen", "last_seen"]
# The access columns the devices depend on (clients.facts and fleet.sightings read no
# others): a store is read with these alone.
ANALYSIS_COLUMNS = ["source", "user_id", "user", "first_seen", "last_seen", "ip", "user_agent", "reported_os",
                    "reported_os_version", "reported_browser", "reported_browser_version", "reported_from"]
LOCAL_WORKERS = 2
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
    # A fixed order over every column makes the result independent of partitioning.
    order = [codes["device_id"][row] if "device_id" in codes else np.zeros(len(row), dtype="int64"),
             out["first_seen"].to_numpy("datetime64[us]").astype("int64"),
             out["last_seen"].to_numpy("datetime64[us]").astype("int64"),
             *[codes[column][row] for column in keys if column != "device_id"]]
    return out.take(np.lexsort(order[::-1])).reset_index(drop=True)


def _pieces(paths) -> list[tuple[str, int | None]]:
    """One ``(file, row group)`` per Parquet row group, ``(file, None)`` per raw log file.

    Where there are Parquet files, only they are read."""
    import pyarrow.parquet

    files, problems = sources.expand(paths)
    if problems and not files:
        raise BadInput(problems[0])
    pieces: list[tuple[str, int | None]] = []
    for file in files:
        with open(file, "rb") as handle:
            parquet = handle.read(4) == b"PAR1"
        if parquet:
            try:
                groups = pyarrow.parquet.ParquetFile(file).num_row_groups
            except (OSError, ValueError) as error:
                raise BadInput(file, f"not a readable Parquet file ({str(error).splitlines()[0]})") from None
            pieces.extend((str(file), group) for group in range(groups))
        else:
            pieces.append((str(file), None))
    if any(group is not None for _, group in pieces):
        # A store's folder also holds its rejected-rows CSV and the like: not logs.
        pieces = [piece for piece in pieces if piece[1] is not None]
    if not pieces:
        raise BadInput(", ".join(map(str, paths if isinstance(paths, list) else [paths])), "no input files")
    return pieces


def _access(piece: tuple[str, int | None], format: str | None = None) -> pd.DataFrame:
    """The access rows of one piece: a Parquet row group, or a raw log file read by ``sources``."""
    import pyarrow.parquet

    file, group = piece
    if group is None:
        return conform(sources.load_file(Path(file), format)[0])
    return conform(pyarrow.parquet.ParquetFile(file).read_row_group(group).to_pandas())


def reduce_piece(piece: tuple[str, int | None], format: str | None = None,
                 directory: pd.DataFrame | None = None) -> pd.DataFrame:
    """The per-partition work: access rows -> facts -> sightings -> ``reduce_sightings``.

    Adds ``newest`` (the newest ``last_seen`` of any access row of the piece, on the first
    row only) and ``rows`` (its access rows, likewise) so one pass gathers everything.

    Examples:
        >>> import pathlib, tempfile
        >>> file = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
        >>> _ = file.write_text("time,user,ip,user_agent\\n2024-05-01T10:00:00Z,ann@example.com,192.0.2.1,"
        ...     '"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) '
        ...     'Version/17.4 Mobile/15E148 Safari/604.1"\\n')
        >>> reduce_piece((str(file), None))[["device_id", "os_version", "rows"]].values.tolist()
        [['ann@example.com|iOS|phone', '17.4', 1]]
    """
    access = _access(piece, format)
    reduced = reduce_sightings(fleet.sightings(org.resolve_people(clients.facts(access), directory)))
    newest = access["last_seen"].max() if len(access) else pd.NaT
    reduced["newest"] = pd.Series([newest] + [pd.NaT] * (len(reduced) - 1), dtype="datetime64[us, UTC]")
    reduced["rows"] = pd.Series([len(access)] + [0] * (len(reduced) - 1), dtype="int64")
    if reduced.empty and len(access):
        # A piece of bots only still reports its rows and newest date.
        reduced = pd.concat([reduced, pd.DataFrame({"newest": [newest], "rows": [len(access)]}).astype(
            {"newest": "datetime64[us, UTC]", "rows": "int64"})], ignore_index=True)
    return reduced


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


def sightings(paths, format: str | None = None, *, scheduler: str | None = None,
              processes: bool = False, progress: bool = False, directory: pd.DataFrame | None = None) -> Reduced:
    """Reduced ``fleet.sightings`` of Parquet access tables and raw logs, computed on Dask.

    ``paths`` are files, folders or globs (as ``sources.load`` takes them): Parquet files
    (told by their magic bytes) are read per row group, other files (only where there is
    no Parquet file) per file with ``sources.load_file`` (``format`` forces one). ``scheduler`` is a Dask scheduler
    address; without one a local cluster of two workers runs (see ``cluster``).
    ``fleet.snapshot`` of the result equals ``fleet.snapshot`` of the pandas path's
    sightings of the same access rows.

    Examples:
        >>> import pathlib, tempfile
        >>> file = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
        >>> _ = file.write_text("time,user,user_agent\\n2024-05-01T10:00:00Z,ann@example.com,curl/8.4.0\\n")
        >>> found = sightings([file])
        >>> len(found.sightings), found.rows, str(found.newest)
        (0, 1, '2024-05-01 10:00:00+00:00')
    """
    dd = require_dask()
    from distributed import as_completed
    from tqdm import tqdm

    frame = dd.from_map(reduce_piece, _pieces(paths), format=format, directory=directory, meta=reduce_piece_meta(),
                        enforce_metadata=False)
    with cluster(scheduler, processes=processes) as client:
        futures = client.compute(frame.to_delayed())
        bar = tqdm(total=len(futures), desc="reducing partitions", unit="part",
                   disable=None if progress else True)
        with bar:
            for _ in as_completed(futures):
                bar.update()
        gathered = fleet.concat_sightings(client.gather(futures))
    rows = int(gathered["rows"].sum())
    newest = gathered["newest"].max()
    seen = gathered.drop(columns=["newest", "rows"]).dropna(subset=["device_id"])
    return Reduced(reduce_sightings(seen.reset_index(drop=True)), None if pd.isna(newest) else newest, rows)


def reduce_piece_meta() -> pd.DataFrame:
    """The empty frame ``reduce_piece`` returns: sightings columns plus ``newest``, ``rows``.

    Examples:
        >>> list(reduce_piece_meta().columns)[-3:]
        ['ip', 'newest', 'rows']
    """
    from fleetanalysis.sources.schema import empty_access

    empty = fleet.sightings(clients.facts(empty_access()))
    return empty.assign(newest=pd.Series([], dtype="datetime64[us, UTC]"), rows=pd.Series([], dtype="int64"))


def prepare(store: str | os.PathLike | None = None, directory: str | os.PathLike | None = None,
            networks: str | os.PathLike | None = None, policy: str | os.PathLike | None = None,
            as_of=None, window_days: int = 30, catalog: str | os.PathLike | None = None, *,
            scheduler: str | None = None, processes: bool = False, progress: bool = False):
    """``analysis.prepare`` with the per-row stages on Dask: an ``analysis.Analysis``.

    ``store`` may be the Parquet store, a folder of Parquet access tables or raw log
    files (see ``sightings``). The ``Analysis`` holds the reduced sightings and no access
    rows (``access`` is empty: they stay with the workers); its ``devices`` and
    ``timeline`` equal the pandas path's. Raises ``BadInput`` as ``analysis.prepare`` does.

    Examples:
        >>> import tempfile, pathlib
        >>> from fleetanalysis import demo, sources, store as access_store
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = demo.write(folder, users=10, weeks=2, seed=1)
        >>> _ = access_store.merge(folder / "access.parquet", sources.load([folder / "slack"]))
        >>> run = prepare(folder / "access.parquet", folder / "directory.csv")
        >>> run.devices["device_id"].is_unique, run.access.empty
        (True, True)
    """
    from fleetanalysis import analysis

    store = analysis.locate_store(store, window_days)
    found = sightings([store], scheduler=scheduler, processes=processes, progress=progress,
                      directory=analysis.people_directory(directory))
    if not found.rows:
        raise BadInput(store, "no sign-in rows (run `fleetanalysis ingest` first)")
    return analysis.assemble(store, found.sightings, found.newest, directory=directory,
                             networks=networks, policy=policy, as_of=as_of,
                             window_days=window_days, catalog=catalog)
