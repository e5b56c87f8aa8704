"""``store.read``'s row window (``since``/``until``) and ``store.files``: one reader of the store."""

from __future__ import annotations

import pandas as pd

from fleetanalysis import catalog, clients, fleet, policy, scale, store
from fleetanalysis.days import utc_day
from fleetanalysis.store import dataset
from fleetanalysis.writing import write_parquet

# What clients.facts and fleet.sightings read.
ANALYSIS_COLUMNS = scale.ANALYSIS_COLUMNS


def test_the_window_keeps_exactly_the_rows_a_snapshot_can_see(demo_store):
    access = store.read(demo_store["store"])
    as_of = utc_day(access["last_seen"].max()) - pd.Timedelta(days=10)
    since = as_of - pd.Timedelta(days=30)
    window = store.read(demo_store["store"], ANALYSIS_COLUMNS, since=since, until=as_of)
    first, last = utc_day(window["first_seen"]), utc_day(window["last_seen"])
    assert ((first <= as_of) & (last >= since)).all() and 0 < len(window) < len(access)
    releases, rules = catalog.load(updates=False), policy.load()
    whole = fleet.snapshot(fleet.sightings(clients.facts(access)), releases, rules, as_of)
    read = fleet.snapshot(fleet.sightings(clients.facts(window)), releases, rules, as_of)
    pd.testing.assert_frame_equal(read, whole)


def test_a_partitioned_store_reads_as_the_single_file(demo_store, tmp_path):
    access = store.read(demo_store["store"])
    # Two sources, so that rows come back from several source partitions.
    access["source"] = access["source"].astype("str")
    access.loc[access.index % 3 == 0, "source"] = "okta"
    write_parquet(access, tmp_path / "access.parquet")
    folder = tmp_path / "store"
    dataset.commit(folder, dict(dataset.split(access)), set(), {})
    since, until = access["last_seen"].min() + pd.Timedelta(days=20), access["last_seen"].max() - pd.Timedelta(days=5)
    order = ["source", "user", "ip", "first_seen", "last_seen"]

    def rows(path) -> pd.DataFrame:
        found = store.read(path, since=since, until=until)
        return found.astype({"user_agent": "str", "source": "str"}).sort_values(order, ignore_index=True)

    single, partitioned = rows(tmp_path / "access.parquet"), rows(folder)
    assert len(store.files(folder)) >= 4 and single["source"].nunique() == 2
    assert 0 < len(single) < len(access)
    pd.testing.assert_frame_equal(partitioned, single, check_categorical=False)


def test_files_lists_committed_partitions_only(demo_store):
    files = store.files(demo_store["store"])
    assert files and all(file.name == dataset.PART_FILE for file in files)
    # A write in progress leaves hidden files beside the partitions: never read.
    hidden = files[0].parent / ".part-0.parquet.pending"
    hidden.write_bytes(b"PAR1")
    try:
        assert store.files(demo_store["store"]) == files
    finally:
        hidden.unlink()
    assert store.files(demo_store["store"].with_name("none.parquet")) == []


def test_the_window_holds_only_the_values_its_rows_use_sorted(demo_store, tmp_path):
    access = store.read(demo_store["store"])
    # Three months, each with its own user agents and a row without one: the partitions'
    # dictionaries differ, and the window's categoricals must hold its own values only.
    access = access.assign(first_seen=access["first_seen"].min() + pd.to_timedelta(access.index % 90, unit="D"))
    access["last_seen"] = access["first_seen"]
    access["user_agent"] = access["user_agent"].astype("str")
    access.loc[access.index[45], "user_agent"] = None
    folder = tmp_path / "store"
    dataset.commit(folder, dict(dataset.split(access)), set(), {})
    since, until = access["first_seen"].min() + pd.Timedelta(days=40), access["first_seen"].min() + pd.Timedelta(days=50)
    window = store.read(folder, ANALYSIS_COLUMNS, since=since, until=until)
    expected = access[(utc_day(access["last_seen"]) >= utc_day(since)) & (utc_day(access["first_seen"]) <= utc_day(until))]
    assert 0 < len(window) < len(access) and len(store.files(folder)) >= 3
    agents = window["user_agent"].cat.categories
    assert list(agents) == sorted(expected["user_agent"].dropna().unique())
    assert window["user_agent"].isna().sum() == 1
    assert sorted(window["user_agent"].dropna()) == sorted(expected["user_agent"].dropna())
    assert list(window["source"].cat.categories) == sorted(expected["source"].astype("str").unique())
