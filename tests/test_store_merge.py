"""A generic CSV's groups merge into the partitions they meet in Arrow (``store.batch``,
``Batch._merge_into_kept``): the store and counts are those of the general path (``load``
then ``merge``, pandas ``dedupe._newest``), for groups newer and older than the stored row
of their key, rows with event ids beside them and missing fields; keys whose hashes
collide go the general way."""

from __future__ import annotations

import csv
import random

import pandas as pd
import pytest

from fleetanalysis import sources, store
from fleetanalysis.store import batch

# Real agents: Chrome's reduced UA (frozen "Windows NT 10.0"), Safari on iOS, Firefox, curl.
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "curl/8.4.0",
]
COUNTS = ["read", "loaded", "rejected", "duplicates", "conflicts"]


def write_log(path, rng: random.Random, count: int, days: tuple[str, str], event_ids: bool = False) -> None:
    """Sign-ins of a few people between ``days``, some without an address; with
    ``event_ids`` an id column (those rows are keyed by their id, read row by row)."""
    start, end = (pd.Timestamp(day, tz="UTC") for day in days)
    hours = int((end - start) / pd.Timedelta(hours=1))
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Timestamp", "Email", "IP Address", "User-Agent", *(["Event ID"] if event_ids else [])])
        for number in range(count):
            moment = start + pd.Timedelta(hours=rng.randrange(hours))
            address = "" if rng.random() < 0.2 else f"198.51.100.{rng.randrange(3)}"
            writer.writerow([moment.strftime("%Y-%m-%dT%H:%M:%SZ"), f"user{rng.randrange(5)}@example.com", address,
                             rng.choice(AGENTS), *([f"ev-{number % 40}"] if event_ids else [])])


def ordered(access: pd.DataFrame) -> pd.DataFrame:
    return access.sort_values(list(access.columns), kind="stable", na_position="first").reset_index(drop=True)


def history_then_week(tmp_path, monkeypatch, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A store of May and June (plain rows and rows with event ids), then a file of late
    June read by DuckDB, against the same files merged the general way: ``(ingest's
    counts of the week, the general path's)``, the stores checked equal."""
    rng = random.Random(seed)
    older, ids, week = tmp_path / "older.csv", tmp_path / "ids.csv", tmp_path / "week.csv"
    write_log(older, rng, 300, ("2024-05-10", "2024-06-30"))
    write_log(ids, rng, 60, ("2024-06-01", "2024-06-30"), event_ids=True)
    # The week's groups meet stored rows of their key with earlier and later times.
    write_log(week, rng, 200, ("2024-06-15", "2024-06-23"))
    general, fast = tmp_path / "general.parquet", tmp_path / "fast.parquet"
    store.merge(general, sources.load([older, ids]))
    expected = store.merge(general, sources.load([week]))
    store.ingest(fast, [older, ids])
    counts, problems = store.ingest(fast, [week])
    assert problems == []
    pd.testing.assert_frame_equal(ordered(store.read(fast)), ordered(store.read(general)))
    return counts, expected


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_week_merges_into_its_month_without_the_pandas_merge(tmp_path, monkeypatch, seed):
    def refused(*args, **kwargs):
        raise AssertionError("the week's groups went through dedupe._newest")

    # The ids file is read by the general path; only the week's merge must stay in Arrow.
    real = store.ingest

    def week_in_arrow(path, files, *args, **kwargs):
        if [file.name for file in files] == ["week.csv"]:
            monkeypatch.setattr(batch, "_newest", refused)
        return real(path, files, *args, **kwargs)

    monkeypatch.setattr(store, "ingest", week_in_arrow)
    counts, expected = history_then_week(tmp_path, monkeypatch, seed)
    assert counts[COUNTS].values.tolist() == expected[COUNTS].values.tolist()
    assert counts["duplicates"].iloc[0] > 0


def test_keys_sharing_a_hash_are_merged_the_general_way(tmp_path, monkeypatch):
    # Few distinct hashes: different keys share one, which only the real values tell apart.
    real_hashes, taken = batch.key_hashes, []

    def colliding(access):
        key, ids = real_hashes(access)
        return key % 3, ids

    real_fast = batch.Batch._merge_into_kept

    def spy(self, access):
        found = real_fast(self, access)
        taken.append(found is not None)
        return found

    monkeypatch.setattr(batch, "key_hashes", colliding)
    monkeypatch.setattr(batch.Batch, "_merge_into_kept", spy)
    counts, expected = history_then_week(tmp_path, monkeypatch, 4)
    assert counts[COUNTS].values.tolist() == expected[COUNTS].values.tolist()
    assert taken and not any(taken)
