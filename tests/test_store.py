"""The Parquet store merges without double counting, keeps rejected rows once, writes atomically,
one writer at a time, and never merges two different events that share an id."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet
import pytest

from fleetanalysis import sources, store, writing
from fleetanalysis.cli import main
from fleetanalysis.errors import BadInput
from fleetanalysis.sources.schema import empty_access

T0 = 1714521600
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"


def login(user="U1", last=T0 + 60, count=1, ua=UA, first=T0):
    return {"user_id": user, "username": user.lower(), "date_first": first, "date_last": last, "count": count,
            "ip": "192.0.2.1", "user_agent": ua, "isp": None, "country": None, "region": None}


def export(path, *logins):
    path.write_text(json.dumps({"ok": True, "logins": list(logins),
                                "paging": {"count": 100, "total": len(logins), "page": 1, "pages": 1}}))
    return path


def okta(path, *ids, user="ann@example.com", published="2024-05-01T10:00:00Z"):
    # The LogEvent shape of Okta's System Log API (developer.okta.com, System Log reference).
    path.write_text("\n".join(json.dumps({
        "uuid": event_id, "published": published, "eventType": "user.session.start",
        "actor": {"id": "00u1", "alternateId": user},
        "client": {"userAgent": {"rawUserAgent": UA}, "ipAddress": "198.51.100.1"}}) for event_id in ids))
    return path


def contents(store_path):
    """Every file of a store folder, by its path inside it, with its bytes."""
    return {path.relative_to(store_path).as_posix(): path.read_bytes()
            for path in sorted(store_path.rglob("*")) if path.is_file()}


def ingest(store_path, *paths):
    counts = store.merge(store_path, sources.load(list(paths)))
    assert (counts["read"] == counts["loaded"] + counts["rejected"] + counts["duplicates"]).all(), counts
    return counts


def test_reingesting_the_same_export_adds_nothing(tmp_path):
    path = export(tmp_path / "a.json", login("U1"), login("U2"), login("U3", ua=None))
    target = tmp_path / "access.parquet"
    first = ingest(target, path)
    assert first[["read", "loaded", "rejected", "duplicates"]].iloc[0].tolist() == [3, 2, 1, 0]
    again = ingest(target, path)
    assert again[["read", "loaded", "rejected", "duplicates"]].iloc[0].tolist() == [3, 0, 1, 2]
    assert len(store.read(target)) == 2


def test_overlapping_newer_slack_export_newest_wins(tmp_path):
    target = tmp_path / "access.parquet"
    ingest(target, export(tmp_path / "old.json", login("U1", last=T0 + 60, count=2), login("U2")))
    counts = ingest(target, export(tmp_path / "new.json", login("U1", last=T0 + 7200, count=5, first=T0 + 30),
                                   login("U9")))
    assert counts[["loaded", "duplicates"]].iloc[0].tolist() == [1, 1]
    access = store.read(target).set_index("user_id")
    assert access.loc["U1", "count"] == 5
    assert access.loc["U1", "first_seen"] == pd.Timestamp(T0, unit="s", tz="UTC")
    assert access.loc["U1", "last_seen"] == pd.Timestamp(T0 + 7200, unit="s", tz="UTC")
    assert sorted(access.index) == ["U1", "U2", "U9"]
    # An older export arriving late never rolls a row back.
    ingest(target, export(tmp_path / "older.json", login("U1", last=T0 + 90, count=3)))
    assert store.read(target).set_index("user_id").loc["U1", "count"] == 5


def test_event_logs_dedupe_by_event_id_within_and_across_batches(tmp_path):
    target = tmp_path / "access.parquet"
    counts = ingest(target, okta(tmp_path / "a.ndjson", "e1", "e2"), okta(tmp_path / "b.ndjson", "e2", "e3", "e3"))
    assert counts[["loaded", "duplicates"]].values.tolist() == [[2, 0], [1, 2]]
    counts = ingest(target, okta(tmp_path / "c.ndjson", "e3", "e4"))
    assert counts[["loaded", "duplicates"]].values.tolist() == [[1, 1]]
    assert sorted(store.read(target)["event_id"]) == ["e1", "e2", "e3", "e4"]


def test_store_keeps_the_documented_dtypes(tmp_path):
    target = tmp_path / "access.parquet"
    ingest(target, export(tmp_path / "a.json", login()), okta(tmp_path / "b.ndjson", "e1"))
    assert store.read(target).dtypes.astype(str).tolist() == empty_access().dtypes.astype(str).tolist()
    assert len(store.read(tmp_path / "absent.parquet")) == 0


def test_unreadable_store_is_bad_input(tmp_path):
    target = tmp_path / "access.parquet"
    target.write_text("not parquet")
    with pytest.raises(BadInput, match="not a readable access store"):
        store.read(target)


def test_rejected_rows_are_formula_safe_and_kept_once(tmp_path):
    target = tmp_path / "access.parquet"
    path = export(tmp_path / "a.json", login("U1"), login("=HYPERLINK(\"http://x\")", count=0))
    ingest(target, path)
    ingest(target, path)
    rejected = pd.read_csv(store.rejected_path(target), dtype=str, keep_default_na=False)
    assert rejected.columns.tolist() == ["file", "record", "reason", "raw"]
    assert rejected["reason"].tolist() == ["count is 0, must be at least 1"]
    assert rejected["record"].tolist() == ["record 2"]
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text("user,time,user_agent\n=cmd|' /C calc'!A0,2024-05-01T00:00:00Z,\n")
    ingest(target, csv_file)
    rejected = pd.read_csv(store.rejected_path(target), dtype=str, keep_default_na=False)
    assert len(rejected) == 2
    assert not rejected["raw"].str.startswith(("=", "+", "-", "@")).any()


def test_a_failed_write_leaves_the_previous_store_intact(tmp_path, monkeypatch):
    target = tmp_path / "access.parquet"
    ingest(target, export(tmp_path / "a.json", login("U1")))
    before = contents(target)

    def killed(table, path, *args, **kwargs):
        with open(path, "wb") as half:
            half.write(b"PAR1 half")
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(pyarrow.parquet, "write_table", killed)
        with pytest.raises(KeyboardInterrupt):
            store.merge(target, sources.load([export(tmp_path / "b.json", login("U1", last=T0 + 99), login("U2"))]))
    assert contents(target) == before
    # The lock file stays (removing it on release would let a waiting run lock a new file
    # while another still holds the old one); no temporary file does.
    assert sorted(path.name for path in tmp_path.iterdir()) == [".access.parquet.lock", "a.json",
                                                                 "access.parquet", "b.json"]
    assert store.read(target)["user_id"].tolist() == ["U1"]


def test_cli_ingest_prints_counts_per_file(tmp_path, capsys):
    path = export(tmp_path / "a.json", login("U1"), login("U2", ua=None))
    target = tmp_path / "s.parquet"
    assert main(["ingest", str(path), "--store", str(target)]) == 0
    assert main(["ingest", str(tmp_path), "--store", str(target), "--format", "slack_access"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"{path}: slack_access: read 2, loaded 1, rejected 1, duplicates 0",
                                f"{path}: slack_access: read 2, loaded 0, rejected 1, duplicates 1"]
    assert "s-rejected.csv" in err


def test_a_folder_holding_stores_reads_its_logs_only(tmp_path, capsys):
    # `ingest data/` walks data/processed too: the stores' partitions, manifests and
    # rejected-rows files there are what ingest writes, not logs to fail on.
    logs = tmp_path / "data"
    (logs / "raw").mkdir(parents=True)
    path = export(logs / "raw" / "a.json", login("U1"), login("U2", ua=None))
    assert main(["ingest", str(path), "--store", str(logs / "processed" / "other.parquet")]) == 0
    assert main(["ingest", str(logs), "--store", str(logs / "processed" / "access.parquet")]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[-1] == f"{path}: slack_access: read 2, loaded 1, rejected 1, duplicates 0"
    assert "fleetanalysis:" not in err


def test_events_that_share_an_id_but_differ_are_both_kept_and_counted(tmp_path, capsys):
    # Exports merged from two tenants (or a test tenant) reuse event ids for different events.
    target = tmp_path / "access.parquet"
    ingest(target, okta(tmp_path / "tenant-a.ndjson", "e1", "e2"))
    other = okta(tmp_path / "tenant-b.ndjson", "e1", "e2", "e3", user="bo@example.com", published="2025-03-02T08:00:00Z")
    counts = ingest(target, other)
    assert counts[["read", "loaded", "duplicates", "conflicts"]].values.tolist() == [[3, 3, 0, 2]]
    kept = store.read(target)
    assert len(kept) == 5
    # Neither event takes the other's date: each person keeps their own sighting.
    assert kept.groupby("user")["first_seen"].min().dt.year.to_dict() == {"ann@example.com": 2024,
                                                                          "bo@example.com": 2025}
    assert sorted(store.id_conflicts(kept)["event_id"]) == ["e1", "e1", "e2", "e2"]
    # The same events again are duplicates, not conflicts; the CLI names the conflicts.
    assert main(["ingest", str(other), "--store", str(target)]) == 0
    out, err = capsys.readouterr()
    assert "read 3, loaded 0, rejected 0, duplicates 3" in out
    assert "id conflicts" not in err
    assert main(["ingest", str(okta(tmp_path / "tenant-c.ndjson", "e3", user="cy@example.com")),
                 "--store", str(target)]) == 0
    out, err = capsys.readouterr()
    assert "read 1, loaded 1, rejected 0, duplicates 0" in out
    assert "tenant-c.ndjson: 1 id conflicts" in err


def test_a_parquet_file_that_is_not_a_store_is_refused_untouched(tmp_path, capsys):
    target = tmp_path / "sales.parquet"
    pd.DataFrame({"region": ["north"], "revenue": [10.5]}).to_parquet(target)
    before = target.read_bytes()
    assert main(["ingest", str(okta(tmp_path / "a.ndjson", "e1")), "--store", str(target)]) == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and "not a fleetanalysis access store" in err and str(target) in err
    assert target.read_bytes() == before


AGENTS = pd.read_csv(Path(__file__).parent / "data" / "user_agents.csv")["user_agent"]
SIGNINS = 30_000


def signins(path, tenant):
    """A generic CSV export of ``SIGNINS`` sign-ins with real agents (tests/data/user_agents.csv)."""
    numbers = pd.RangeIndex(SIGNINS)
    pd.DataFrame({"id": [f"{tenant}-{number}" for number in numbers],
                  "email": [f"user{number % 500}@{tenant}.example.com" for number in numbers],
                  "timestamp": (pd.Timestamp("2025-06-01", tz="UTC")
                                + pd.to_timedelta(numbers * 7, unit="s")).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "user_agent": AGENTS.iloc[numbers % len(AGENTS)].to_numpy()}).to_csv(path, index=False)
    return path


def cli(*argv, wait=None):
    """The real command in its own process."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if wait is not None:
        env[writing.LOCK_WAIT_VARIABLE] = str(wait)
    return subprocess.Popen([sys.executable, "-m", "fleetanalysis.cli", *map(str, argv)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_two_ingests_at_once_lose_nothing(tmp_path):
    # Before the lock, both runs read the empty store and the last writer won: about half
    # the rows each pair reported as loaded were missing.
    exports = [signins(tmp_path / "a.csv", "a"), signins(tmp_path / "b.csv", "b")]
    waited = []
    for attempt in range(4):
        target = tmp_path / f"store-{attempt}" / "access.parquet"
        runs = [cli("ingest", path, "--store", target) for path in exports]
        done = [run.communicate(timeout=600) for run in runs]
        assert [run.returncode for run in runs] == [0, 0], [err for _, err in done]
        loaded = sum(int(re.search(r"loaded (\d+)", out)[1]) for out, _ in done)
        kept = store.read(target)
        assert loaded == len(kept) == 2 * SIGNINS
        assert set(kept["event_id"]) == {f"{tenant}-{number}" for tenant in "ab" for number in range(SIGNINS)}
        waited += [err for _, err in done if "another fleetanalysis run is writing it" in err]
    # The runs did overlap: a second one waited, with one line.
    assert waited and all(err.count("waiting up to") == 1 for err in waited)


def test_a_second_writer_waits_then_fails_in_one_line_leaving_the_first_writers_files(tmp_path):
    target = tmp_path / "access.parquet"
    ingest(target, okta(tmp_path / "a.ndjson", "e1"))
    before = contents(target)
    with writing.locked(target):
        # What the lock holder is writing at this moment: not the waiting run's to remove.
        live = tmp_path / ".access.parquet.w1x2.tmp"
        live.write_bytes(b"PAR1")
        run = cli("ingest", okta(tmp_path / "b.ndjson", "e2"), "--store", target, wait=1)
        _, err = run.communicate(timeout=120)
        assert run.returncode == 2
        lines = err.splitlines()
        assert len(lines) == 2, err
        assert "another fleetanalysis run is writing it; waiting up to 1 s" in lines[0]
        assert lines[1].startswith(f"fleetanalysis: {target}: another fleetanalysis run kept it locked for 1 s")
        assert live.exists()
    assert contents(target) == before


def test_a_waiting_writer_goes_on_when_the_first_finishes(tmp_path):
    target = tmp_path / "access.parquet"
    ingest(target, okta(tmp_path / "a.ndjson", "e1"))
    with writing.locked(target):
        run = cli("ingest", okta(tmp_path / "b.ndjson", "e2"), "--store", target, wait=300)
        assert "waiting up to 300 s" in run.stderr.readline()
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err
    assert sorted(store.read(target)["event_id"]) == ["e1", "e2"]


def test_temporary_files_of_a_killed_run_are_removed_by_the_next(tmp_path):
    target = tmp_path / "access.parquet"
    leftovers = [tmp_path / ".access.parquet.k9a1.tmp", tmp_path / ".access-rejected.csv.q2b7.tmp"]
    unrelated = tmp_path / ".other.parquet.z3c4.tmp"
    for path in [*leftovers, unrelated]:
        path.write_bytes(b"PAR1 half")
    ingest(target, okta(tmp_path / "a.ndjson", "e1"))
    assert not any(path.exists() for path in leftovers)
    assert unrelated.exists()
