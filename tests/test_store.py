"""The Parquet store merges without double counting, keeps rejected rows once, writes atomically."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from fleetanalysis import sources, store
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


def okta(path, *ids):
    path.write_text("\n".join(json.dumps({
        "uuid": event_id, "published": "2024-05-01T10:00:00Z", "eventType": "user.session.start",
        "actor": {"id": "00u1", "alternateId": "ann@example.com"},
        "client": {"userAgent": {"rawUserAgent": UA}, "ipAddress": "198.51.100.1"}}) for event_id in ids))
    return path


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
    csv_file.write_text("user,time,user_agent\n=cmd|' /C calc'!A0,notatime,x\n")
    ingest(target, csv_file)
    rejected = pd.read_csv(store.rejected_path(target), dtype=str, keep_default_na=False)
    assert len(rejected) == 2
    assert not rejected["raw"].str.startswith(("=", "+", "-", "@")).any()


def test_a_failed_write_leaves_the_previous_store_intact(tmp_path, monkeypatch):
    target = tmp_path / "access.parquet"
    ingest(target, export(tmp_path / "a.json", login("U1")))
    before = target.read_bytes()

    def killed(frame, path, *args, **kwargs):
        with open(path, "wb") as half:
            half.write(b"PAR1 half")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_parquet", killed)
    with pytest.raises(KeyboardInterrupt):
        store.merge(target, sources.load([export(tmp_path / "b.json", login("U2"))]))
    assert target.read_bytes() == before
    # The lock file stays (removing it on release would let a waiting run lock a new file
    # while another still holds the old one); no temporary file does.
    assert sorted(path.name for path in tmp_path.iterdir()) == [".access.parquet.lock", "a.json",
                                                                 "access.parquet", "b.json"]


def test_cli_ingest_prints_counts_per_file(tmp_path, capsys):
    path = export(tmp_path / "a.json", login("U1"), login("U2", ua=None))
    target = tmp_path / "s.parquet"
    assert main(["ingest", str(path), "--store", str(target)]) == 0
    assert main(["ingest", str(tmp_path), "--store", str(target), "--format", "slack_access"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"{path}: slack_access: read 2, loaded 1, rejected 1, duplicates 0",
                                f"{path}: slack_access: read 2, loaded 0, rejected 1, duplicates 1"]
    assert "s-rejected.csv" in err
