"""``store.ingest`` of a big generic CSV screens and merges its chunks on Arrow: the store,
the rejected rows and the counts are those of the general path (``sources.load`` then
``store.merge``), row for row, whatever the rows hold."""

from __future__ import annotations

import csv
import random

import pandas as pd
import pytest

from fleetanalysis import sources, store
from fleetanalysis.sources import csv as generic_csv
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


def rows(rng: random.Random, count: int) -> list[list[str]]:
    """Sign-ins of a few people over four months (so keys repeat within and across
    months and chunks), with times that tie."""
    out = []
    for _ in range(count):
        moment = pd.Timestamp("2024-04-01", tz="UTC") + pd.Timedelta(hours=rng.randrange(0, 24 * 120))
        out.append([moment.strftime("%Y-%m-%dT%H:%M:%SZ"), f"user{rng.randrange(6)}@example.com",
                    f"198.51.100.{rng.randrange(3)}", rng.choice(AGENTS)])
    return out


# What screen() rejects or must look at twice, one row each: every reason, and rows that
# only look suspect (a long name in bytes, not in characters).
ODD = [
    ["1999-12-31T23:59:59Z", "old@example.com", "192.0.2.1", AGENTS[0]],
    ["2099-01-01T00:00:00Z", "future@example.com", "192.0.2.1", AGENTS[0]],
    ["", "notime@example.com", "192.0.2.1", AGENTS[0]],
    ["2024-05-01T10:00:00Z", "blank@example.com", "192.0.2.1", "   "],
    ["2024-05-01T10:00:00Z", "nbsp@example.com", "192.0.2.1", "\u2003\u00a0"],
    ["2024-05-01T10:00:00Z", "noagent@example.com", "192.0.2.1", ""],
    ["2024-05-01T10:00:00Z", "nul@example.com", "192.0.2.1", "curl/8.4.0\x00"],
    ["2024-05-01T10:00:00Z", "bad\x00user@example.com", "192.0.2.1", AGENTS[1]],
    ["2024-05-01T10:00:00Z", "long@example.com", "192.0.2.1", "Mozilla/5.0 " + "x" * 5000],
    ["2024-05-01T10:00:00Z", "x" * 1100 + "@example.com", "192.0.2.1", AGENTS[2]],
    ["2024-05-01T10:00:00Z", "é" * 600 + "@example.com", "192.0.2.1", AGENTS[2]],
    ["2024-05-01T10:00:00+02:00", "=cmd|' /C calc'!A0", "192.0.2.1", AGENTS[3]],
]


def write_log(path, rng, count: int, unix_chunk: bool = False) -> None:
    """A generic CSV export with the odd rows spread through it, a row of the wrong width,
    and optionally a run of unix-second times (a chunk Arrow cannot read as ISO text)."""
    body = rows(rng, count)
    for odd in ODD:
        body.insert(rng.randrange(len(body)), odd)
    if unix_chunk:
        start = len(body) // 2
        for row in body[start:start + 40]:
            if row[0].endswith("Z") and row[0] > "2000":
                row[0] = str(int(pd.Timestamp(row[0]).timestamp()))
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Timestamp", "Email", "IP Address", "User-Agent"])
        writer.writerows(body[: len(body) // 3])
        handle.write("2024-05-02T10:00:00Z,short@example.com\r\n")
        writer.writerows(body[len(body) // 3:])


def rejected_rows(store_path) -> list[tuple]:
    found = pd.read_csv(store.rejected_path(store_path), dtype=str, keep_default_na=False)
    return sorted(found.itertuples(index=False, name=None))


@pytest.mark.parametrize("waiting", [2**20, 70])
@pytest.mark.parametrize("unix_chunk", [False, True])
@pytest.mark.parametrize("seed", [1, 2])
def test_ingest_on_arrow_equals_the_general_path(tmp_path, monkeypatch, seed, unix_chunk, waiting):
    # Chunks collapsed all at once, or a few at a time into the rows merged before.
    monkeypatch.setattr(batch, "_WAITING_ROWS", waiting)
    log = tmp_path / "signins.csv"
    write_log(log, random.Random(seed), 600, unix_chunk)
    # The general path: every row through candidates, screen and combine.
    general = tmp_path / "general.parquet"
    expected = store.merge(general, sources.load([log]))
    # Arrow's path, in chunks of a few kilobytes: keys repeat across chunks.
    taken, real = [], generic_csv.arrow_rows

    def spy(*args, **kwargs):
        found = real(*args, **kwargs)
        taken.append(found is not None)
        return found

    monkeypatch.setattr(generic_csv, "arrow_rows", spy)
    fast = tmp_path / "fast.parquet"
    counts, problems = store.ingest(fast, [log], chunk_bytes=8000)
    assert problems == []
    assert len(taken) > 3 and all(taken[:2]), taken
    if unix_chunk:
        # A chunk of unix times went the general way, the others on Arrow.
        assert not all(taken)
    assert counts[COUNTS].values.tolist() == expected[COUNTS].values.tolist()
    assert (counts["read"] == counts["loaded"] + counts["rejected"] + counts["duplicates"]).all()
    pd.testing.assert_frame_equal(store.read(fast), store.read(general))
    assert rejected_rows(fast) == rejected_rows(general)
    reasons = {reason for _, _, reason, _ in rejected_rows(fast)}
    assert {"first seen is before 2000", "first seen is in the future", "first seen missing or not a date",
            "no user agent", "contains NUL bytes", "expected 4 fields, found 2"} <= reasons
    assert any(reason.startswith("user agent is 5012 characters") for reason in reasons)
    assert any(reason.startswith("user is 1112 characters") for reason in reasons)
    # Six people, three addresses, four agents: the rows kept are one per key and month.
    assert store.read(fast)["user"].str.startswith("é").sum() == 1
