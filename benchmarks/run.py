"""How fast the pipeline is against reading the data, DuckDB and parsing every row.

Generates a synthetic per-event log (``generate.py``: generic CSV ``time,user,ip,user_agent``
and a directory CSV), then runs each stage in its own child process, so that each
reports its own time and peak memory (``ru_maxrss``):

- ``read``: ``pyarrow.csv.read_csv`` of the raw file, nothing else;
- ``ingest``: ``store.ingest`` of the raw file into an empty store (kept for the stages
  after it), against ``duckdb_ingest``: DuckDB's ``COPY`` of the same file into one
  Parquet file (times cast to timestamps, as ours are);
- ``status``: the platform x office status table from that store: ``store.read``
  (the rows of the window, the analysis columns only) -> ``clients.facts ->
  fleet.sightings -> fleet.snapshot -> org.assign -> metrics.status``, against
  ``duckdb_status``: the DuckDB SQL below reading the same store with the same row filter;
- ``memory``, ``partitions``, ``dask``: the status table, then a 52-week timeline, from
  the same store through each engine of ``analysis.prepare``: ``store.read`` at once (the
  window, then every row) and ``scale.device_sightings``; ``scale.sightings`` partition by
  partition in this process; the same partitions on a local Dask cluster of two workers
  (threads, the CLI's default; started before the clock, as a running cluster would be). ``dask_vs_memory``
  (and ``_timeline``) compare the last with the first;
- ``pipeline``: ``sources.load -> clients.facts -> fleet.sightings -> fleet.snapshot ->
  org.assign -> metrics.status(by=["platform", "office"])``, then on the same sightings
  a 52-week ``fleet.timeline -> org.assign -> metrics.status``;
- ``duckdb``: the status table as an analyst would write it in DuckDB: SQL reads the
  file, ``clients.describe`` parses the distinct user agents only, SQL joins them back
  and keeps each device's newest versions, ``policy.judge`` judges the distinct
  (product, version) parts, SQL counts per platform and office;
- ``chunked``: the same status table in bounded memory: per 64 MiB chunk
  (``sources.chunks``) facts, sightings and ``scale.reduce_sightings``, then the
  per-device stages on the reduced sightings (what the Dask path does per partition);
- ``naive``: ``Series.apply(ua_parser.parse)`` on a sample of rows, extrapolated;
- ``incremental``: the log cut into 52 weekly CSV files; ``store.ingest`` of the newest
  week into a store holding the 51 before it, against the same week into an empty store
  (5 pairs, each from the same 51-week store restored untimed, which side runs first
  alternating; the median of each side), and a re-ingest of all 52 files with nothing new (the manifest skips them unread); how
  many of the store's month x source partitions the newest week rewrote.

``ingest`` and ``status`` run in turns with the DuckDB stage each is compared with,
``--pairs`` times (default 3, which runs first alternating): each of the four reports its
run of median wall time, every run's time under ``runs`` and its highest ``peak_mb``, so
that ``ingest_vs_duckdb`` and ``status_vs_duckdb`` are ratios of medians of runs made close
in time.

Also ``cli_start_s``: wall time of ``fleetanalysis --version`` as a subprocess, median of 5.

Prints one JSON line with every time (wall and, per stage, CPU), each stage's peak memory,
the ratios ``status_vs_duckdb``, ``ingest_vs_duckdb``, ``timeline_vs_snapshot`` (and the
same three on CPU time under ``cpu``), ``pipeline/read``, ``pipeline/duckdb``,
``naive/pipeline`` and ``incremental_vs_fresh``
and the devices each side counted. No stage is timed by a test: this is a measurement.

    .venv/bin/python benchmarks/run.py                 # 10 million rows (takes minutes)
    .venv/bin/python benchmarks/run.py --rows 1000000  # a quick run
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

import generate

WINDOW_DAYS = 30
TIMELINE_WEEKS = 52
BY = ["platform", "office"]
STORE = "store.parquet"


def _peak_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class Clock:
    """Seconds per named step, in order: wall time, and CPU time of every thread of the
    process (``cpu``), which a machine shared with other work inflates far less."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def __call__(self, name: str, work):
        started, cpu = time.perf_counter(), time.process_time()
        result = work()
        self.seconds[name] = round(time.perf_counter() - started, 3)
        self.cpu[name] = round(time.process_time() - cpu, 3)
        return result

    def cpu_of(self, *names: str) -> float:
        """CPU seconds of the steps named (all steps when none is)."""
        return round(sum(self.cpu[name] for name in (names or self.cpu)), 3)


def stage_read(data: Path, end: pd.Timestamp) -> dict:
    import pyarrow.csv

    clock = Clock()
    table = clock("read", lambda: pyarrow.csv.read_csv(data / "events.csv"))
    return {"seconds": clock.seconds["read"], "rows": table.num_rows}


def stage_pipeline(data: Path, end: pd.Timestamp, rounds: int = 3) -> dict:
    """The status table from the raw file, then the timeline against the snapshot.

    Both sides run ``rounds`` times on the same sightings, which side goes first
    alternating, each with an empty cache of parsed version keys (``catalog.clear_caches``):
    neither always pays the process's first costs (page faults of fresh memory) nor warms
    a cache for the other. Their medians make ``snapshot_seconds`` and ``timeline_seconds``;
    ``rounds`` keeps every figure. Round 1's steps keep their plain names in ``steps``.
    """
    from fleetanalysis import catalog, clients, fleet, metrics, org, policy, sources

    releases, rules = catalog.load(updates=False), policy.load()
    clock = Clock()
    loaded = clock("sources.load", lambda: sources.load([data / "events.csv"]))
    facts = clock("clients.facts", lambda: clients.facts(loaded.access))
    seen = clock("fleet.sightings", lambda: fleet.sightings(facts))
    directory = clock("org.load_directory", lambda: org.load_directory(data / "directory.csv"))
    load_steps = dict(clock.seconds)
    found: dict[str, pd.DataFrame] = {}

    def snapshot(suffix: str) -> tuple[str, ...]:
        names = tuple(name + suffix for name in ("fleet.snapshot", "org.assign", "metrics.status"))
        catalog.clear_caches()
        devices = clock(names[0], lambda: fleet.snapshot(seen, releases, rules, end, WINDOW_DAYS))
        placed = clock(names[1], lambda: org.assign(devices, directory, as_of=end))
        found["status"] = clock(names[2], lambda: metrics.status(placed, by=BY))
        return names

    def timeline(suffix: str) -> tuple[str, ...]:
        names = tuple(name + suffix for name in
                      ("fleet.timeline", "org.assign (timeline)", "metrics.status (timeline)"))
        found.pop("weeks", None)  # the last round's frame goes before this one is built
        catalog.clear_caches()
        weeks = clock(names[0], lambda: fleet.timeline(
            seen, releases, rules, end - pd.Timedelta(weeks=TIMELINE_WEEKS), end, window_days=WINDOW_DAYS))
        found["weeks"] = weeks = clock(names[1], lambda: org.assign(weeks, directory))
        found["history"] = clock(names[2], lambda: metrics.status(weeks, by=BY))
        return names

    figures = []
    status_peak = None
    for number in range(rounds):
        suffix = f" ({number + 1})" if number else ""
        sides = {"snapshot": snapshot, "timeline": timeline}
        names = {}
        for side in (("snapshot", "timeline") if number % 2 == 0 else ("timeline", "snapshot")):
            names[side] = sides[side](suffix)
            if status_peak is None:
                # Peak memory is a high-water mark: read before any timeline, it is the status table's.
                status_peak = _peak_mb()
        figures.append({side: [round(sum(clock.seconds[name] for name in names[side]), 3),
                               clock.cpu_of(*names[side])] for side in ("snapshot", "timeline")})
    status, weeks, history = found["status"], found["weeks"], found["history"]
    total = status[status["platform"] == "Total"].iloc[0]

    def median(side: str, kind: int) -> float:
        return _median([figure[side][kind] for figure in figures])

    return {
        "seconds": round(sum(load_steps.values()) + sum(clock.seconds[name] for name in
                                                        ("fleet.snapshot", "org.assign", "metrics.status")), 3),
        "snapshot_seconds": median("snapshot", 0), "timeline_seconds": median("timeline", 0),
        "snapshot_cpu_seconds": median("snapshot", 1), "timeline_cpu_seconds": median("timeline", 1),
        "rounds": figures, "steps": clock.seconds,
        "rows": len(loaded.access), "sightings": len(seen), "devices": int(total["devices"]),
        "outdated_rate": round(float(total["outdated_rate"]), 4), "timeline_rows": len(weeks),
        "timeline_dates": int(history["as_of"].nunique()), "status_peak_mb": status_peak,
    }


def stage_chunked(data: Path, end: pd.Timestamp) -> dict:
    """The pipeline in bounded memory: per 64 MiB chunk load, facts, sightings and
    ``scale.reduce_sightings``; the per-device stages on the reduced sightings."""
    from fleetanalysis import catalog, clients, fleet, metrics, org, policy, scale, sources

    releases, rules = catalog.load(updates=False), policy.load()
    clock = Clock()

    def reduce_chunks() -> pd.DataFrame:
        reduced = [scale.reduce_sightings(fleet.sightings(clients.facts(access)))
                   for access, _, _ in sources.chunks(data / "events.csv")]
        return scale.reduce_sightings(fleet.concat_sightings(reduced))

    seen = clock("chunks -> reduced sightings", reduce_chunks)
    directory = org.load_directory(data / "directory.csv")
    devices = clock("fleet.snapshot", lambda: fleet.snapshot(seen, releases, rules, end, WINDOW_DAYS))
    status = clock("org.assign + metrics.status",
                   lambda: metrics.status(org.assign(devices, directory, as_of=end), by=BY))
    steps = dict(clock.seconds)
    clock("timeline", lambda: metrics.status(org.assign(fleet.timeline(
        seen, releases, rules, end - pd.Timedelta(weeks=TIMELINE_WEEKS), end, window_days=WINDOW_DAYS),
        directory), by=BY))
    total = status[status["platform"] == "Total"].iloc[0]
    return {"seconds": round(sum(steps.values()), 3), "timeline_seconds": clock.seconds["timeline"],
            "steps": clock.seconds, "sightings": len(seen), "devices": int(total["devices"]),
            "outdated_rate": round(float(total["outdated_rate"]), 4)}


def stage_duckdb(data: Path, end: pd.Timestamp) -> dict:
    """DuckDB's status table from the raw CSV file."""
    return _duckdb_status(data, end, f"""
        CREATE TABLE events AS SELECT CAST("time" AS TIMESTAMPTZ) AS t, "user", ip, user_agent
        FROM read_csv('{data / "events.csv"}', header = true, all_varchar = true)""")


def stage_duckdb_status(data: Path, end: pd.Timestamp) -> dict:
    """DuckDB's status table from the Parquet store our ingest wrote (the stage ``ingest``),
    reading the rows of the window, as ours does (a row stands for every moment from its
    first to its last sighting)."""
    from fleetanalysis import store

    files = ", ".join(f"'{file}'" for file in store.files(data / STORE))
    since = end - pd.Timedelta(days=WINDOW_DAYS)
    return _duckdb_status(data, end, f"""
        CREATE TABLE events AS SELECT last_seen AS t, "user", ip, CAST(user_agent AS VARCHAR) AS user_agent
        FROM read_parquet([{files}])
        WHERE last_seen >= TIMESTAMPTZ '{since:%Y-%m-%d} 00:00:00+00'
          AND first_seen < TIMESTAMPTZ '{end + pd.Timedelta(days=1):%Y-%m-%d} 00:00:00+00'""")


def _duckdb_status(data: Path, end: pd.Timestamp, read_sql: str) -> dict:
    import duckdb

    from fleetanalysis import catalog, clients, fleet, org, policy

    releases, rules = catalog.load(updates=False), policy.load()
    clock = Clock()
    db = duckdb.connect()
    day = f"{end:%Y-%m-%d}"
    clock("read", lambda: db.execute(read_sql))

    def describe_distinct() -> pd.DataFrame:
        agents = db.execute("SELECT DISTINCT user_agent FROM events WHERE user_agent IS NOT NULL").df()["user_agent"]
        facts = clients.describe(agents.astype("str"))
        facts.insert(0, "user_agent", agents.astype("str"))
        facts = facts.astype({column: "str" for column in facts.columns})
        facts["os_product"] = facts["platform"].map(fleet.OS_PRODUCT).astype("str")
        facts["evidence_rank"] = facts["os_evidence"].map(fleet.EVIDENCE_RANK).fillna(0).astype("int64")
        facts["os_key"] = catalog.version_key(facts["os_version"]).fillna("")
        facts["client_key"] = catalog.version_key(facts["client_version"]).fillna("")
        return facts

    agents = clock("describe distinct agents", describe_distinct)
    db.register("agents", agents)
    # Devices active in the window, each at its newest OS and client versions.
    clock("devices", lambda: db.execute(f"""
        CREATE TABLE active AS
        SELECT coalesce(e."user", '') || '|' || a.platform || '|' || a.device_class AS device_id,
               e."user", e.ip, e.t, a.*
        FROM events e JOIN agents a USING (user_agent)
        WHERE a.client_kind NOT IN ('sdk', 'bot') AND e."user" IS NOT NULL
          AND CAST(timezone('UTC', e.t) AS DATE) BETWEEN DATE '{day}' - {WINDOW_DAYS} AND DATE '{day}';
        CREATE TABLE devices AS
        SELECT device_id, any_value("user") AS "user", any_value(platform) AS platform,
               any_value(os_product) AS os_product, max(t) AS last_seen,
               arg_max(os_version, (evidence_rank, os_key, t)) AS os_version,
               arg_max(os_evidence, (evidence_rank, os_key, t)) AS os_evidence
        FROM active GROUP BY device_id;
        CREATE TABLE device_clients AS
        SELECT device_id, client_product, arg_max(client_version, (client_key, t)) AS client_version
        FROM active WHERE client_product IS NOT NULL AND client_version IS NOT NULL
        GROUP BY device_id, client_product;"""))

    def judge() -> None:
        parts = db.execute(f"""
            SELECT d.device_id, coalesce(d.os_product, lower(d.platform)) AS product, d.os_version AS version,
                   coalesce(d.os_evidence, 'absent') AS evidence,
                   least(DATE '{day}', CAST(timezone('UTC', d.last_seen) AS DATE)) AS as_of
            FROM devices d
            UNION ALL
            SELECT c.device_id, c.client_product, c.client_version,
                   CASE WHEN contains(c.client_version, '.') THEN 'exact' ELSE 'major' END,
                   least(DATE '{day}', CAST(timezone('UTC', d.last_seen) AS DATE))
            FROM device_clients c JOIN devices d USING (device_id)""").df()
        keys = ["product", "version", "evidence", "as_of"]
        distinct = parts[keys].drop_duplicates(ignore_index=True)
        distinct["as_of"] = pd.to_datetime(distinct["as_of"])
        judged = policy.judge(distinct.astype({"product": "str", "version": "str", "evidence": "str"}),
                              releases, rules)
        distinct["rank"] = judged["verdict"].cat.codes.astype("int64")
        db.register("judged", distinct)
        db.register("parts", parts.assign(as_of=pd.to_datetime(parts["as_of"])))

    clock("judge distinct parts", judge)
    directory = clock("org.load_directory", lambda: org.load_directory(data / "directory.csv")[["email", "office"]])
    db.register("directory", directory)
    verdicts = "['unknown', 'current', 'grace', 'outdated', 'unsupported']"
    table = clock("status", lambda: db.execute(f"""
        WITH worst AS (
            SELECT p.device_id, {verdicts}[max(j.rank) + 1] AS verdict
            FROM parts p JOIN judged j
              ON p.product IS NOT DISTINCT FROM j.product AND p.version IS NOT DISTINCT FROM j.version
             AND p.evidence = j.evidence AND p.as_of = j.as_of
            GROUP BY p.device_id)
        SELECT d.platform, coalesce(o.office, 'Unknown office') AS office, count(*) AS devices,
               count(*) FILTER (WHERE w.verdict = 'current') AS current,
               count(*) FILTER (WHERE w.verdict = 'grace') AS grace,
               count(*) FILTER (WHERE w.verdict = 'outdated') AS outdated,
               count(*) FILTER (WHERE w.verdict = 'unsupported') AS unsupported,
               count(*) FILTER (WHERE w.verdict = 'unknown') AS unknown
        FROM devices d JOIN worst w USING (device_id) LEFT JOIN directory o ON lower(d."user") = o.email
        GROUP BY ALL ORDER BY ALL""").df())
    judged_devices = table["devices"].sum() - table["unknown"].sum()
    behind = table["outdated"].sum() + table["unsupported"].sum()
    return {"seconds": round(sum(clock.seconds.values()), 3), "cpu_seconds": clock.cpu_of(), "steps": clock.seconds,
            "steps_cpu": clock.cpu, "devices": int(table["devices"].sum()),
            "outdated_rate": round(float(behind / judged_devices), 4) if judged_devices else None}


def stage_ingest(data: Path, end: pd.Timestamp) -> dict:
    """``store.ingest`` of the raw file into an empty store (kept for the stages after it)."""
    from fleetanalysis import store

    target = data / STORE
    shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)
    store.manifest_path(target).unlink(missing_ok=True)
    clock = Clock()
    counts = clock("store.ingest", lambda: store.ingest(target, [data / "events.csv"]))[0]
    return {"seconds": clock.seconds["store.ingest"], "cpu_seconds": clock.cpu_of(), "loaded": int(counts["loaded"].sum()),
            "store_mb": round(sum(file.stat().st_size for file in _files(target)) / 2**20, 1)}


def stage_duckdb_ingest(data: Path, end: pd.Timestamp) -> dict:
    """DuckDB copying the same raw file into one Parquet file, times cast as ours are."""
    import duckdb

    target = data / "duckdb-events.parquet"
    clock = Clock()
    clock("COPY", lambda: duckdb.connect().execute(f"""
        COPY (SELECT CAST("time" AS TIMESTAMPTZ) AS first_seen, CAST("time" AS TIMESTAMPTZ) AS last_seen,
                     "user", ip, user_agent
              FROM read_csv('{data / "events.csv"}', header = true, all_varchar = true))
        TO '{target}' (FORMAT parquet)"""))
    size = target.stat().st_size
    target.unlink()
    return {"seconds": clock.seconds["COPY"], "cpu_seconds": clock.cpu_of(), "parquet_mb": round(size / 2**20, 1)}


def stage_status(data: Path, end: pd.Timestamp) -> dict:
    """Our status table from the store: the rows of the window, the analysis columns only."""
    from fleetanalysis import catalog, clients, fleet, metrics, org, policy, scale, store

    releases, rules = catalog.load(updates=False), policy.load()
    clock = Clock()
    access = clock("store.read", lambda: store.read(
        data / STORE, scale.ANALYSIS_COLUMNS, since=end - pd.Timedelta(days=WINDOW_DAYS), until=end))
    facts = clock("clients.facts", lambda: clients.facts(access))
    seen = clock("fleet.sightings", lambda: fleet.sightings(facts))
    devices = clock("fleet.snapshot", lambda: fleet.snapshot(seen, releases, rules, end, WINDOW_DAYS))
    directory = clock("org.load_directory", lambda: org.load_directory(data / "directory.csv"))
    status = clock("org.assign + metrics.status",
                   lambda: metrics.status(org.assign(devices, directory, as_of=end), by=BY))
    total = status[status["platform"] == "Total"].iloc[0]
    return {"seconds": round(sum(clock.seconds.values()), 3), "cpu_seconds": clock.cpu_of(), "steps": clock.seconds,
            "steps_cpu": clock.cpu, "rows_read": len(access),
            "devices": int(total["devices"]), "outdated_rate": round(float(total["outdated_rate"]), 4)}


def stage_memory(data: Path, end: pd.Timestamp) -> dict:
    """Status and a 52-week timeline from the store read at once (``store.read``: the
    window, then every row), the stages run on all the rows in this process."""
    return _from_store(data, end, "pandas")


def stage_partitions(data: Path, end: pd.Timestamp) -> dict:
    """The same from the store read partition by partition in this process
    (``scale.sightings(engine="partitions")``): memory bounded by one partition."""
    return _from_store(data, end, "partitions")


def stage_dask(data: Path, end: pd.Timestamp) -> dict:
    """The same partitions reduced on a local Dask cluster of two workers (one thread each, in
    this process: the default of ``fleetanalysis status --engine dask``)."""
    return _from_store(data, end, "dask")


def _from_store(data: Path, end: pd.Timestamp, engine: str) -> dict:
    import contextlib

    from fleetanalysis import catalog, fleet, metrics, org, policy, scale, store

    releases, rules = catalog.load(updates=False), policy.load()
    directory = org.load_directory(data / "directory.csv")
    clock = Clock()
    with contextlib.ExitStack() as stack:
        scheduler = None
        if engine == "dask":
            # Started once and timed apart, as a cluster that is already running would be.
            scheduler = clock("start 2 workers", lambda: stack.enter_context(scale.cluster())).scheduler.address

        def sightings(**window) -> tuple[pd.DataFrame, int]:
            if engine == "pandas":
                access = store.read(data / STORE, scale.ANALYSIS_COLUMNS, **window)
                return scale.device_sightings(access), len(access)
            found = scale.sightings([data / STORE], engine=engine, scheduler=scheduler, **window)
            return found.sightings, found.rows

        window, rows_read = clock("sightings of the window", lambda: sightings(
            since=end - pd.Timedelta(days=WINDOW_DAYS), until=end))
        status = clock("snapshot + status", lambda: metrics.status(org.assign(fleet.snapshot(
            window, releases, rules, end, WINDOW_DAYS), directory, as_of=end), by=BY))
        status_peak = _peak_mb()
        whole, rows = clock("sightings of every row", sightings)
        clock("timeline", lambda: metrics.status(org.assign(fleet.timeline(
            whole, releases, rules, end - pd.Timedelta(weeks=TIMELINE_WEEKS), end,
            window_days=WINDOW_DAYS), directory), by=BY))
    total = status[status["platform"] == "Total"].iloc[0]
    status_steps = ("sightings of the window", "snapshot + status")
    timeline_steps = ("sightings of every row", "timeline")
    return {"seconds": round(sum(clock.seconds[name] for name in status_steps), 3),
            "cpu_seconds": clock.cpu_of(*status_steps),
            "timeline_seconds": round(sum(clock.seconds[name] for name in timeline_steps), 3),
            "timeline_cpu_seconds": clock.cpu_of(*timeline_steps),
            "steps": clock.seconds, "steps_cpu": clock.cpu, "rows_read": rows_read, "rows": rows,
            "devices": int(total["devices"]), "outdated_rate": round(float(total["outdated_rate"]), 4),
            "status_peak_mb": status_peak}


def _files(store: Path) -> list[Path]:
    from fleetanalysis import store as access_store

    return access_store.files(store)


def stage_naive(data: Path, end: pd.Timestamp, sample: int = 200_000, rows: int = 0) -> dict:
    import pyarrow.csv
    import ua_parser

    agents = pyarrow.csv.read_csv(data / "events.csv").column("user_agent").to_pandas()
    picked = agents.sample(n=min(sample, len(agents)), random_state=7).astype("str")
    ua_parser.parse("warm-up")  # builds the parser once, as any long run would
    started = time.perf_counter()
    picked.apply(ua_parser.parse)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds * len(agents) / len(picked), 1), "sample_rows": len(picked),
            "sample_seconds": round(seconds, 2)}


# Pairs of the incremental stage: one pair is the noisiest figure (the first ingest of a
# process varies most), so the medians of several are reported.
INCREMENTAL_PAIRS = 5


def stage_incremental(data: Path, end: pd.Timestamp, pairs: int = INCREMENTAL_PAIRS) -> dict:
    """The newest week into a store of the 51 weeks before it, against into an empty one:
    ``pairs`` times, the medians of each side."""
    import pyarrow.compute
    import pyarrow.csv

    from fleetanalysis import store

    events = pyarrow.csv.read_csv(data / "events.csv", convert_options=pyarrow.csv.ConvertOptions(
        column_types={"time": pyarrow.string()}))
    times = pd.to_datetime(events.column("time").to_pandas(), utc=True)
    # Week 0 is the newest; older events than 52 weeks go to the oldest week file.
    week = ((end.tz_localize("UTC") if end.tzinfo is None else end) - times).dt.days.floordiv(7).clip(0, 51)
    weeks = data / "weeks"
    weeks.mkdir(exist_ok=True)
    files = []
    for number in range(51, -1, -1):
        path = weeks / f"week-{number:02d}.csv"
        pyarrow.csv.write_csv(events.filter(pyarrow.array((week == number).to_numpy())), path)
        files.append(path)
    del events
    clock = Clock()
    history, empty, kept = data / "history.parquet", data / "fresh.parquet", data / "history-51.parquet"
    # Stores of an earlier run in the same --out would hold the week already.
    for path in (history, empty, kept):
        store.remove(path)
    clock("51 weeks (setup)", lambda: store.ingest(history, files[:-1]))
    # Every pair starts from this same 51-week store, restored untimed.
    shutil.copytree(history, kept)

    def written() -> dict:
        # The partition files of the store (month x source) and when each was last replaced.
        return {path: path.stat().st_mtime_ns for path in history.glob("month=*/log=*/part-*.parquet")}

    into_history, into_empty, rewritten = [], [], set()
    cpu = {"into 51 weeks": [], "into empty": []}
    for pair in range(pairs):
        store.remove(history)
        store.remove(empty)
        shutil.copytree(kept, history)
        before = written()
        sides = [("into 51 weeks", history, into_history), ("into empty", empty, into_empty)]
        # Which side runs first alternates: neither always pays a process's or a cache's first costs.
        for name, target, found in sides if pair % 2 == 0 else sides[::-1]:
            clock(f"newest week {name} ({pair + 1})", lambda: store.ingest(target, files[-1:]))
            found.append(clock.seconds[f"newest week {name} ({pair + 1})"])
            cpu[name].append(clock.cpu[f"newest week {name} ({pair + 1})"])
        after = written()
        rewritten.add(sum(after[path] != before.get(path) for path in after))
    store.remove(kept)
    counts = clock("52 weeks again, nothing new", lambda: store.ingest(history, files))[0]
    assert counts["unchanged"].all()
    return {"seconds": _median(into_history), "fresh_seconds": _median(into_empty),
            "cpu_seconds": _median(cpu["into 51 weeks"]), "fresh_cpu_seconds": _median(cpu["into empty"]),
            "pairs": [[mine, fresh] for mine, fresh in zip(into_history, into_empty)],
            "unchanged_seconds": clock.seconds["52 weeks again, nothing new"],
            "steps": clock.seconds, "steps_cpu": clock.cpu, "newest_week_rows": int((week == 0).sum()),
            "store_rows": len(store.read(history)), "partitions": len(after),
            "partitions_rewritten": sorted(rewritten)}


def _median(values: list[float]) -> float:
    return round(float(pd.Series(values).median()), 3)


def cli_start_seconds(repeats: int = 5) -> float:
    """Median wall time of ``fleetanalysis --version`` as a subprocess."""
    script = Path(sys.executable).with_name("fleetanalysis")
    command = [str(script)] if script.exists() else [sys.executable, "-c",
                                                     "import sys; from fleetanalysis.cli import main; sys.exit(main())"]
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([*command, "--version"], capture_output=True, check=True)
        seconds.append(time.perf_counter() - started)
    return round(sorted(seconds)[len(seconds) // 2], 3)


# In this order: the status stages read the store the ingest stage writes.
STAGES = {"read": stage_read, "ingest": stage_ingest, "duckdb_ingest": stage_duckdb_ingest,
          "status": stage_status, "duckdb_status": stage_duckdb_status, "pipeline": stage_pipeline,
          "memory": stage_memory, "partitions": stage_partitions, "dask": stage_dask, "chunked": stage_chunked, "duckdb": stage_duckdb,
          "naive": stage_naive, "incremental": stage_incremental}


# Stages compared with DuckDB's side by side: both run in turns, ``--pairs`` times.
AGAINST = {"ingest": "duckdb_ingest", "status": "duckdb_status"}


def run_pairs(name: str, data: Path, end: str, pairs: int, skip: list[str]) -> dict[str, dict]:
    """``name`` and the DuckDB stage it is compared with, ``pairs`` times in turns (which
    runs first alternating, each in its own child process); per stage the run of median
    wall time, with every run's wall time under ``runs`` and the highest ``peak_mb``.

    On this kind of machine one run of a stage can be 20% off the next: pairs run close
    in time share the machine's state, and medians of them do not hang on one lucky draw.
    """
    against = AGAINST[name]
    sides = [side for side in (name, against) if side not in skip]
    runs: dict[str, list[dict]] = {side: [] for side in sides}
    for pair in range(pairs if len(sides) == 2 else 1):
        for side in (sides if pair % 2 == 0 else sides[::-1]):
            runs[side].append(run_stage(side, data, end))
    chosen = {}
    for side, found in runs.items():
        ordered = sorted(found, key=lambda result: result["seconds"])
        chosen[side] = {**ordered[(len(ordered) - 1) // 2], "runs": [result["seconds"] for result in found],
                        "peak_mb": max(result["peak_mb"] for result in found)}
    return chosen


def run_stage(name: str, data: Path, end: str) -> dict:
    """Run one stage in a child process; its JSON result with ``peak_mb``."""
    done = subprocess.run([sys.executable, __file__, "--stage", name, "--data", str(data), "--end", end],
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"stage {name} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _generate(folder: Path, args) -> dict:
    """The data of this size in ``folder``: generated in a child process (Linux keeps a
    process's peak memory across ``exec``, so generating here would set every stage's
    ``peak_mb``), or the files already there when ``--out`` holds those of the same size
    and seed (``generated.json``)."""
    size = {"rows": args.rows, "agents": args.agents, "users": args.users, "seed": args.seed}
    note = folder / "generated.json"
    if note.exists() and (folder / "events.csv").exists():
        written = json.loads(note.read_text())
        if written.get("size") == size:
            return {**written, "seconds": 0.0}
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("generate.py")), "--out", str(folder),
                           *(f"--{name}={value}" for name, value in size.items())],
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"generating the data failed:\n{done.stderr[-4000:]}")
    written = {**json.loads(done.stdout.strip().splitlines()[-1]), "size": size}
    note.write_text(json.dumps(written))
    return written


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    generate.add_size_options(options)
    options.add_argument("--out", type=Path, help="keep the generated files here (default: a temporary folder)")
    options.add_argument("--skip", nargs="*", default=[], choices=list(STAGES), help="stages not to run")
    options.add_argument("--pairs", type=int, default=3,
                         help="times the ingest and status stages and DuckDB's run in turns (default: 3)")
    options.add_argument("--stage", choices=list(STAGES), help=argparse.SUPPRESS)
    options.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    options.add_argument("--end", help=argparse.SUPPRESS)
    args = options.parse_args()

    if args.stage:
        result = STAGES[args.stage](args.data, pd.Timestamp(args.end))
        print(json.dumps({**result, "peak_mb": _peak_mb()}))
        return

    folder = args.out or Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    try:
        written = _generate(folder, args)
        generated = written["seconds"]
        results = {}
        for name in STAGES:
            if name in args.skip or name in results:
                continue
            if name in AGAINST:
                results.update(run_pairs(name, folder, written["end"], args.pairs, args.skip))
            else:
                results[name] = run_stage(name, folder, written["end"])
        cli_start = cli_start_seconds()
    finally:
        if args.out is None:
            shutil.rmtree(folder, ignore_errors=True)

    def ratio(top: str, bottom: str, top_key: str = "seconds", bottom_key: str = "seconds"):
        if top not in results or bottom not in results:
            return None
        return round(results[top][top_key] / results[bottom][bottom_key], 2)

    print(json.dumps({
        "rows": args.rows, "agents": written["agents"], "users": written["users"], "devices_made": written["devices"],
        "file_mb": round(written["bytes"] / 2**20, 1), "as_of": written["end"], "generate_seconds": generated,
        **{name: result for name, result in results.items()},
        "pipeline/read": ratio("pipeline", "read"),
        "status_vs_duckdb": ratio("status", "duckdb_status"),
        "dask_vs_memory": ratio("dask", "memory"),
        "dask_vs_memory_timeline": ratio("dask", "memory", "timeline_seconds", "timeline_seconds"),
        "dask_vs_partitions_timeline": ratio("dask", "partitions", "timeline_seconds", "timeline_seconds"),
        "ingest_vs_duckdb": ratio("ingest", "duckdb_ingest"),
        "timeline_vs_snapshot": ratio("pipeline", "pipeline", "timeline_seconds", "snapshot_seconds"),
        "cpu": {"status_vs_duckdb": ratio("status", "duckdb_status", "cpu_seconds", "cpu_seconds"),
                "ingest_vs_duckdb": ratio("ingest", "duckdb_ingest", "cpu_seconds", "cpu_seconds"),
                "timeline_vs_snapshot": ratio("pipeline", "pipeline", "timeline_cpu_seconds", "snapshot_cpu_seconds"),
                "incremental_vs_fresh": ratio("incremental", "incremental", "cpu_seconds", "fresh_cpu_seconds")},
        "pipeline/duckdb": ratio("pipeline", "duckdb"),
        "chunked/read": ratio("chunked", "read"),
        "naive/pipeline": ratio("naive", "pipeline"),
        "incremental_vs_fresh": ratio("incremental", "incremental", "seconds", "fresh_seconds"),
        "cli_start_s": cli_start,
        "peak_mb": max(result["peak_mb"] for result in results.values()),
    }))


if __name__ == "__main__":
    main()
