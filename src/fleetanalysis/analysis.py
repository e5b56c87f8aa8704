"""From the access store to judged devices in one call: what the CLI, notebooks and nudges share.

``prepare`` reads the store and the organisation files once and runs the chain

    store.read -> clients.facts -> org.resolve_people -> fleet.sightings
               -> fleet.snapshot / fleet.timeline -> org.assign

returning an ``Analysis`` whose ``devices`` (the snapshot at ``as_of``) and
``timeline(weeks)`` carry the office columns. It takes resolved inputs: a
``config.FleetInputs`` (``config.fleet_inputs`` reads the settings, at the edge) or the
files themselves; it never reads the settings or the environment, and never writes
(the demo organisation is written by ``fleetanalysis ingest``/``report`` and ``make``).

Examples:
    >>> import tempfile, pathlib
    >>> from fleetanalysis import demo, sources, store
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = demo.write(folder, users=20, weeks=4, seed=1)
    >>> _ = store.merge(folder / "access.parquet", sources.load([folder / "slack"]))
    >>> run = prepare(folder / "access.parquet", folder / "directory.csv", folder / "networks.csv")
    >>> sorted(set(run.devices["verdict"]) - {"current", "grace", "outdated", "unsupported", "unknown"})
    []
    >>> weekly = run.timeline(weeks=2)["as_of"]
    >>> [day.date() == (run.as_of - pd.Timedelta(days=days)).date() for day, days in zip(weekly.unique(), (7, 0))]
    [True, True]
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fleetanalysis import catalog as releases_catalog
from fleetanalysis import config, fleet, org, scale
from fleetanalysis import policy as patch_policy
from fleetanalysis import store as access_store
from fleetanalysis.days import utc_day
from fleetanalysis.errors import BadInput

# How ``prepare`` reads and combines the rows (see there): all at once, partition by
# partition in this process, or on a Dask cluster.
ENGINES = ("pandas", "partitions", "dask")


@dataclass
class Analysis:
    """The evidence and organisation of one run, and the devices judged from them."""

    store: Path
    access: pd.DataFrame
    rejected: pd.DataFrame
    sightings: pd.DataFrame
    catalog: pd.DataFrame
    policy: patch_policy.Policy
    directory: pd.DataFrame | None
    networks: pd.DataFrame | None
    as_of: pd.Timestamp
    window_days: int = 30
    # The first day of evidence read (a run that judges some dates only): None when all of it.
    read_since: pd.Timestamp | None = None
    _devices: pd.DataFrame | None = field(default=None, repr=False)

    def _check_read(self, day) -> None:
        """``BadInput`` when judging on ``day`` needs evidence older than what was read."""
        if self.read_since is not None and pd.Timestamp(day) - pd.Timedelta(days=self.window_days) < self.read_since:
            raise BadInput(self.store, f"only the evidence from {self.read_since:%Y-%m-%d} was read; "
                           f"prepare the run with judges=None to judge {pd.Timestamp(day):%Y-%m-%d}")

    @property
    def devices(self) -> pd.DataFrame:
        """The fleet at ``as_of`` (``fleet.snapshot`` columns plus ``org.assign``'s)."""
        if self._devices is None:
            self._devices = self.devices_at(self.as_of)
        return self._devices

    def devices_at(self, day) -> pd.DataFrame:
        """The fleet at another date, judged against the releases of that date."""
        day = pd.Timestamp(day)
        self._check_read(day)
        judged = fleet.snapshot(self.sightings, self.catalog, self.policy, day, self.window_days)
        return org.assign(judged, self.directory, self.networks, as_of=day)

    @property
    def stale(self) -> pd.DataFrame:
        """Versions in the evidence newer than anything the catalog knows (``policy.stale_versions``).

        Non-empty means the catalog is behind the logs: those clients are judged unknown,
        and the run should say so, naming product and version.
        """
        seen = self.sightings
        client_version = seen["client_version"].astype("str")
        parts = pd.concat([
            pd.DataFrame({"product": seen["os_product"], "version": seen["os_version"],
                          "evidence": seen["os_evidence"]}),
            # A bare major (Chromium's reduced user agent) can only count as a major.
            pd.DataFrame({"product": seen["client_product"], "version": client_version,
                          "evidence": client_version.str.contains(".", regex=False)
                          .map({True: "exact", False: "major"})}),
        ], ignore_index=True).astype("str").dropna(subset=["product", "version"])
        return patch_policy.stale_versions(parts, self.catalog)

    def stale_warnings(self) -> list[str]:
        """One line per product whose catalog is behind the evidence, for logs and reports."""
        lines = []
        for product, versions in self.stale.groupby("product", sort=True):
            newest = releases_catalog.version_key(versions["version"]).idxmax()
            lines.append(f"the release catalog is stale for {product}: {len(versions)} version(s) in the logs "
                         f"are newer than the newest it knows ({versions['newest_known'].iloc[0]}), up to "
                         f"{versions.loc[newest, 'version']}; those clients are judged unknown "
                         f"(refresh it with 'fleetanalysis catalog update', or add releases under [data] catalog)")
        return lines

    def timeline(self, weeks: int = 26, freq: str | None = None) -> pd.DataFrame:
        """Snapshots on ``weeks`` dates a week apart, the last on ``as_of``, with an ``as_of`` column.

        Counting the weeks back from ``as_of`` makes the newest point of every trend the
        date of the headline, so a report's figures agree. ``freq`` (e.g. ``"W-SUN"``)
        takes the dates of that pandas frequency over the same span instead.
        """
        if isinstance(weeks, bool) or not isinstance(weeks, int) or weeks < 1:
            raise BadInput("weeks", f"must be a whole number of weeks, 1 or more, not {weeks!r}")
        start = self.as_of - pd.Timedelta(weeks=weeks - 1)
        self._check_read(start)
        stacked = fleet.timeline(self.sightings, self.catalog, self.policy, start, self.as_of,
                                 freq=freq or "7D", window_days=self.window_days)
        return org.assign(stacked, self.directory, self.networks)


def prepare(store: config.FleetInputs | str | os.PathLike, directory: str | os.PathLike | None = None,
            networks: str | os.PathLike | None = None, policy: str | os.PathLike | None = None,
            as_of=None, window_days: int = config.DEFAULT_WINDOW_DAYS,
            catalog: str | os.PathLike | None = None, progress: bool = False, *, judges=None,
            engine: str = "pandas", scheduler: str | None = None, processes: bool = False) -> Analysis:
    """Read the store and organisation files and make the run's ``Analysis``.

    ``store`` is the run's ``config.FleetInputs`` (then the other arguments are ignored),
    or the store file, with the other files given beside it (a file left out is not used: the
    shipped policy and catalog alone, no directory, no networks). ``as_of`` defaults to
    the day of the newest evidence in the store (not today: a report on last month's
    export is about last month). Raises ``BadInput`` naming the file when the store is
    missing or empty, or an organisation file is unusable.

    ``judges`` says which dates the run will judge: None (every date: the whole store is
    read, for timelines and histories), ``"as_of"`` (the run's date only) or dates. Then
    only the rows a snapshot on those dates can see are read (``store.read`` with
    ``since`` = earliest date - ``window_days``, ``until`` = the latest or ``as_of``); the
    devices are the same, and judging an earlier date raises ``BadInput``.

    ``engine`` chooses how the rows are read and combined; the stages are the same
    (``scale.device_sightings``, then judging here). ``"pandas"``: all at once, kept in
    ``access``. ``"partitions"``: partition by partition in this process (memory bounded by
    one partition); ``"dask"``: the partitions on a Dask cluster (``scheduler``, else a local
    one of two workers, threads unless ``processes``). Both hold reduced sightings
    (``scale.sightings``) and no access rows, and give the same devices and timeline; they
    also read a folder of Parquet access tables or raw log files as the store.
    """
    inputs = given(store, directory, networks, policy, as_of, window_days, catalog)
    store = locate_store(inputs.store, inputs.window_days)
    if engine != "pandas":
        return _prepare_in_pieces(store, inputs, judges, engine=engine, scheduler=scheduler,
                                  processes=processes, progress=progress)
    access, newest, since = _evidence(store, inputs, judges)
    people = people_directory(inputs.directory)
    sightings = scale.device_sightings(access, people, progress=progress)
    if since is not None and sightings.empty:
        # No device in the window: the whole store says why (no rows, only bots) as before.
        access, newest, since = _evidence(store, inputs, None)
        sightings = scale.device_sightings(access, people, progress=progress)
    rejected_file = access_store.rejected_path(store)
    rejected = pd.read_csv(rejected_file, dtype="str") if rejected_file.exists() else None
    run = assemble(store, sightings, newest, access=access, rejected=rejected,
                   directory=inputs.directory, networks=inputs.networks, policy=inputs.policy,
                   as_of=inputs.as_of, window_days=inputs.window_days, catalog=inputs.catalog)
    run.read_since = since
    return run


def _prepare_in_pieces(store: Path, inputs: config.FleetInputs, judges, **engine) -> Analysis:
    """``prepare`` on the ``"partitions"`` or ``"dask"`` engine (``scale.sightings``)."""
    people = people_directory(inputs.directory)
    newest = since = until = None
    if judges is not None and scale.is_store(store):
        newest, since, until = _window(store, inputs, judges)
    found = scale.sightings([store], since=since, until=until, directory=people, **engine)
    if since is not None and found.sightings.empty:
        # As the pandas engine: no device in the window, the whole store says why.
        newest = since = None
        found = scale.sightings([store], directory=people, **engine)
    if not found.rows:
        raise _no_rows(store)
    run = assemble(store, found.sightings, found.newest if newest is None else newest,
                   directory=inputs.directory, networks=inputs.networks, policy=inputs.policy,
                   as_of=inputs.as_of, window_days=inputs.window_days, catalog=inputs.catalog)
    run.read_since = since
    return run


def _evidence(store: Path, inputs: config.FleetInputs, judges) -> tuple[pd.DataFrame, pd.Timestamp,
                                                                        pd.Timestamp | None]:
    """``prepare``'s read: the access rows the judged dates can see, the newest ``last_seen``
    in the store and the first day read (None: everything)."""
    if judges is None:
        access = access_store.read(store)
        if access.empty:
            raise _no_rows(store)
        return access, access["last_seen"].max(), None
    newest, since, until = _window(store, inputs, judges)
    return access_store.read(store, since=since, until=until), newest, since


def _no_rows(store: Path) -> BadInput:
    """The error of a store without sign-in rows: where the reasons are when ingest rejected
    the rows it read (its rejected-rows file exists), else to run ingest."""
    rejected = access_store.rejected_path(store)
    if rejected.exists():
        return BadInput(store, f"no sign-in rows: the rows read were rejected, their reasons are in {rejected}")
    return BadInput(store, "no sign-in rows (run `fleetanalysis ingest` first)")


def _window(store: Path, inputs: config.FleetInputs, judges) -> tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp]:
    """The newest ``last_seen`` in the store and the ``since``/``until`` of the rows that
    the dates ``judges`` names can see."""
    newest = access_store.read(store, ["last_seen"])["last_seen"].max()
    if pd.isna(newest):
        raise _no_rows(store)
    day = utc_day(newest if inputs.as_of is None else inputs.as_of)
    if isinstance(judges, str):
        judges = [day if judges == "as_of" else judges]
    dates = [utc_day(date) for date in judges]
    return newest, min(dates) - pd.Timedelta(days=inputs.window_days), max([*dates, day])


def given(inputs, directory=None, networks=None, policy=None, as_of=None,
          window_days: int = config.DEFAULT_WINDOW_DAYS, catalog=None) -> config.FleetInputs:
    """``inputs`` if it is a ``config.FleetInputs``, else one made of exactly the files given.

    >>> given("nowhere.parquet")
    Traceback (most recent call last):
    ...
    fleetanalysis.errors.BadInput: nowhere.parquet: no such store file (run `fleetanalysis ingest` first)
    """
    if isinstance(inputs, config.FleetInputs):
        return inputs
    if inputs is None:
        raise BadInput("store", "none given (config.fleet_inputs() gives the configured one)")
    return config.fleet_inputs(inputs, directory, networks, policy, as_of, window_days, catalog,
                               settings=config.Settings())


def locate_store(store: str | os.PathLike | None, window_days: int = config.DEFAULT_WINDOW_DAYS) -> Path:
    """The store a run reads, once it exists. Raises ``BadInput`` when it does not exist or
    ``window_days`` is negative."""
    if store is None:
        raise BadInput("store", "none given (config.fleet_inputs() gives the configured one)")
    store = Path(store)
    if not store.exists():
        raise BadInput(store, "no such store file (run `fleetanalysis ingest` first)")
    if window_days < 0:
        raise BadInput("window_days", f"must be 0 or more, not {window_days}")
    return store


def people_directory(directory: str | os.PathLike | None = None) -> pd.DataFrame | None:
    """The directory that resolves people across sources, or None (then e-mail and source
    ids alone decide)."""
    chosen = _existing(directory)
    return org.load_directory(chosen) if chosen else None


def assemble(store: Path, sightings: pd.DataFrame, newest: pd.Timestamp, *,
             access: pd.DataFrame | None = None, rejected: pd.DataFrame | None = None,
             directory=None, networks=None, policy=None, as_of=None,
             window_days: int = config.DEFAULT_WINDOW_DAYS, catalog=None) -> Analysis:
    """An ``Analysis`` from sightings already made (by any engine).

    ``newest`` is the newest ``last_seen`` of the evidence, the default ``as_of`` day;
    the organisation, policy and catalog files are used when given (they must exist).
    """
    from fleetanalysis.sources.schema import empty_access, empty_rejected

    if sightings.empty:
        raise BadInput(store, "no rows from people's devices (only scripts, bots or unnamed users)")
    directory = _existing(directory)
    networks = _existing(networks)
    newest = utc_day(newest)
    return Analysis(
        store=store,
        access=empty_access() if access is None else access,
        rejected=empty_rejected() if rejected is None else rejected,
        sightings=sightings,
        catalog=releases_catalog.load(extra=_existing(catalog)),
        policy=patch_policy.load(_existing(policy)),
        directory=org.load_directory(directory) if directory else None,
        networks=org.load_networks(networks) if networks else None,
        as_of=newest if as_of is None else utc_day(as_of),
        window_days=window_days,
    )


def _existing(chosen) -> Path | None:
    """The file given, which must exist; None when none was."""
    if chosen is None:
        return None
    if not Path(chosen).exists():
        raise BadInput(chosen, "no such file")
    return Path(chosen)
