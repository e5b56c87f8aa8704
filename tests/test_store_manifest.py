"""The manifest of ingested files: an unchanged file is skipped unread, and the store an
incremental ingest leaves is the one reading everything again gives, whatever happened in
between (re-ingests, an edited file, a deleted or replaced store, an interrupted run)."""

from __future__ import annotations

import json
import os
import shutil

import pandas as pd
import pytest

from fleetanalysis import sources, store
from fleetanalysis.cli import main

T0 = 1714521600
UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"


def login(user, last=T0 + 60, count=1, ua=UA):
    # One entry of Slack's team.accessLogs response (api.slack.com/methods/team.accessLogs):
    # date_first/date_last are epoch seconds, count the sign-ins between them.
    return {"user_id": user, "username": user.lower(), "date_first": T0, "date_last": last, "count": count,
            "ip": "192.0.2.7", "user_agent": ua, "isp": None, "country": None, "region": None}


def export(path, *logins):
    path.write_text(json.dumps({"ok": True, "logins": list(logins),
                                "paging": {"count": 100, "total": len(logins), "page": 1, "pages": 1}}))
    return path


def okta(path, *ids):
    # Okta System Log LogEvent shape (developer.okta.com, System Log API reference).
    path.write_text("\n".join(json.dumps({
        "uuid": event_id, "published": "2024-05-01T10:00:00Z", "eventType": "user.session.start",
        "actor": {"id": "00u1", "alternateId": "ann@example.com"},
        "client": {"userAgent": {"rawUserAgent": UA}, "ipAddress": "198.51.100.1"}}) for event_id in ids))
    return path


def rows(path):
    access = store.read(path)
    return access.sort_values(list(access.columns), kind="stable", na_position="first").reset_index(drop=True)


def rejected(path):
    found = store.rejected_path(path)
    return sorted(found.read_text().splitlines()) if found.exists() else []


def logs(folder):
    return {"a": export(folder / "a.json", login("U1"), login("U2"), login("U3", ua=None)),
            "b": export(folder / "b.json", login("U1", last=T0 + 600, count=4), login("U4")),
            "c": okta(folder / "c.ndjson", "e1", "e2", "e2")}


def forbid_reading(monkeypatch, *paths):
    """Make reading or hashing any of ``paths`` fail the test."""
    names = {str(path) for path in paths}

    def guard(real):
        def wrapped(path, *args, **kwargs):
            assert str(path) not in names, f"{path} was read although unchanged"
            return real(path, *args, **kwargs)
        return wrapped

    monkeypatch.setattr(sources.reader, "chunks", guard(sources.chunks))
    monkeypatch.setattr(sources.reader, "load_file", guard(sources.load_file))
    monkeypatch.setattr(store.manifest, "file_hash", guard(store.manifest.file_hash))


def test_incremental_ingests_equal_reading_everything_every_time(tmp_path, monkeypatch):
    files = logs(tmp_path)
    incremental, full = tmp_path / "incremental.parquet", tmp_path / "full.parquet"
    loaded = {incremental: 0, full: 0}
    steps = [["a"], ["a"], ["a", "b"], ["b", "a"], "edit b", ["a", "b", "c"], ["c"], "touch a", ["a", "b", "c"]]
    for step in steps:
        if step == "edit b":
            export(files["b"], login("U1", last=T0 + 9000, count=7), login("U4"), login("U5"))
            continue
        if step == "touch a":
            os.utime(files["a"], ns=(os.stat(files["a"]).st_atime_ns, os.stat(files["a"]).st_mtime_ns + 10**9))
            continue
        for target, rescan in ((incremental, False), (full, True)):
            counts, problems = store.ingest(target, [files[name] for name in step], rescan=rescan)
            assert problems == []
            done = counts[~counts["unchanged"]]
            assert (done["read"] == done["loaded"] + done["rejected"] + done["duplicates"]).all()
            loaded[target] += int(counts["loaded"].sum())
        # Rows with equal first_seen may come in another order (a re-read row is newer).
        pd.testing.assert_frame_equal(rows(incremental), rows(full))
        assert rejected(incremental) == rejected(full)
    assert loaded[incremental] == loaded[full] == len(store.read(full))
    # And the same rows as one fresh ingest of the final files.
    fresh = tmp_path / "fresh.parquet"
    counts, _ = store.ingest(fresh, list(files.values()))
    pd.testing.assert_frame_equal(rows(incremental), rows(fresh))
    assert rejected(incremental) == rejected(fresh)
    assert int(counts["loaded"].sum()) == loaded[incremental]


def test_an_unchanged_file_is_not_opened_and_the_store_not_rewritten(tmp_path, monkeypatch):
    files = logs(tmp_path)
    target = tmp_path / "access.parquet"
    first, _ = store.ingest(target, list(files.values()))
    written = {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in target.rglob("*") if path.is_file()}
    forbid_reading(monkeypatch, *files.values())
    monkeypatch.setattr(store, "read", lambda path: pytest.fail("the store was read with nothing new"))
    again, problems = store.ingest(target, list(files.values()))
    assert problems == []
    assert again["unchanged"].all()
    assert again[["read", "loaded", "rejected", "duplicates", "conflicts"]].to_numpy().sum() == 0
    assert again["format"].tolist() == first["format"].tolist()
    assert {path: (path.stat().st_mtime_ns, path.read_bytes())
            for path in target.rglob("*") if path.is_file()} == written


def test_a_new_file_is_read_and_the_unchanged_ones_are_not(tmp_path, monkeypatch):
    files = logs(tmp_path)
    target = tmp_path / "access.parquet"
    store.ingest(target, [files["a"], files["b"]])
    forbid_reading(monkeypatch, files["a"], files["b"])
    counts, _ = store.ingest(target, list(files.values()))
    assert counts["unchanged"].tolist() == [True, True, False]
    assert counts["read"].tolist() == [0, 0, 3]


def test_a_touched_file_with_the_same_bytes_is_hashed_and_skipped(tmp_path):
    files = logs(tmp_path)
    target = tmp_path / "access.parquet"
    store.ingest(target, [files["a"]])
    copy = files["a"].read_bytes()
    files["a"].unlink()
    files["a"].write_bytes(copy)
    os.utime(files["a"], ns=(1, 2))
    counts, _ = store.ingest(target, [files["a"]])
    assert counts["unchanged"].tolist() == [True]
    entry = store.read_manifest(target)[str(files["a"].resolve())]
    assert entry["mtime_ns"] == 2 and entry["read"] == 3


def test_other_options_read_the_file_again(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text(f"when,who,agent\n2024-05-01T10:00:00Z,ann@example.com,{UA}\n")
    target = tmp_path / "access.parquet"
    store.ingest(target, [log], time_column="when", user_column="who", ua_column="agent")
    counts, _ = store.ingest(target, [log], format="csv", time_column="when", user_column="who", ua_column="agent")
    assert counts["unchanged"].tolist() == [False]


@pytest.mark.parametrize("change", ["deleted", "replaced"])
def test_a_deleted_or_replaced_store_voids_the_manifest(tmp_path, change):
    files = logs(tmp_path)
    target = tmp_path / "access.parquet"
    store.ingest(target, list(files.values()))
    expected = rows(target)
    if change == "deleted":
        shutil.rmtree(target)
    else:
        # Another store put in its place comes with its own manifest, naming c only.
        other = tmp_path / "other.parquet"
        store.ingest(other, [files["c"]])
        shutil.rmtree(target)
        shutil.copytree(other, target)
    counts, _ = store.ingest(target, list(files.values()))
    assert counts["unchanged"].tolist() == [False, False, change == "replaced"]
    pd.testing.assert_frame_equal(rows(target), expected)


def test_a_store_without_a_manifest_gets_one_on_the_next_ingest(tmp_path, monkeypatch):
    files = logs(tmp_path)
    target = tmp_path / "access.parquet"
    store.merge(target, sources.load([files["a"]]))
    assert store.read_manifest(target) == {}
    counts, _ = store.ingest(target, [files["a"]])
    assert counts[["read", "loaded", "duplicates", "unchanged"]].values.tolist() == [[3, 0, 2, False]]
    forbid_reading(monkeypatch, files["a"])
    assert store.ingest(target, [files["a"]])[0]["unchanged"].tolist() == [True]


def test_a_merge_between_ingests_keeps_the_manifest_valid(tmp_path, monkeypatch):
    files = logs(tmp_path)
    target = tmp_path / "access.parquet"
    store.ingest(target, [files["a"]])
    store.merge(target, sources.load([files["b"]]))  # what `fetch slack` does
    forbid_reading(monkeypatch, files["a"])
    counts, _ = store.ingest(target, [files["a"], files["c"]])
    assert counts["unchanged"].tolist() == [True, False]
    assert set(store.read(target)["user_id"].dropna()) == {"U1", "U2", "U4", "00u1"}


@pytest.mark.parametrize("killed", ["writing a partition", "swapping partitions in"])
def test_an_interrupted_ingest_is_read_again_or_finished_by_the_next(tmp_path, monkeypatch, killed):
    files = logs(tmp_path)
    target, full = tmp_path / "access.parquet", tmp_path / "full.parquet"
    store.ingest(target, [files["a"]])
    manifest = store.manifest_path(target).read_bytes()

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(store.dataset, "_write_part" if killed == "writing a partition" else "_swap_in", interrupt)
        with pytest.raises(KeyboardInterrupt):
            store.ingest(target, [files["a"], files["b"]])
    # Either way the manifest is the one before: it is written last.
    assert store.manifest_path(target).read_bytes() == manifest
    counts, _ = store.ingest(target, [files["a"], files["b"]])
    # Killed before the commit: b was never merged, a still is. Killed after: the next run
    # finishes the committed write first, and then b is merged in, unchanged.
    assert counts["unchanged"].tolist() == ([True, False] if killed == "writing a partition" else [True, True])
    store.ingest(full, [files["a"], files["b"]])
    pd.testing.assert_frame_equal(rows(target), rows(full))
    assert store.read_manifest(target).keys() == store.read_manifest(full).keys()
    assert not list(target.rglob(".*")) and not (target / "_journal.json").exists()


def test_cli_says_unchanged_skipped_and_rescan_reads_again(tmp_path, capsys):
    files = logs(tmp_path)
    target = tmp_path / "access.parquet"
    paths = [str(files["a"]), str(files["b"])]
    assert main(["ingest", *paths, "--store", str(target)]) == 0
    capsys.readouterr()
    assert main(["ingest", *paths, "--store", str(target)]) == 0
    out = capsys.readouterr().out
    assert f"{files['a']}:" not in out  # of several files, only the total counts the skipped ones
    assert "total: 2 files (2 unchanged, skipped): read 0, loaded 0" in out
    assert main(["ingest", paths[0], "--store", str(target)]) == 0
    assert f"{files['a']}: slack_access: unchanged, skipped (read 0 this run)" in capsys.readouterr().out
    assert main(["ingest", *paths, "--store", str(target), "--rescan"]) == 0
    out = capsys.readouterr().out
    assert "unchanged, skipped" not in out and "read 3, loaded 0, rejected 1, duplicates 2" in out


def test_a_log_written_to_while_it_is_ingested_is_read_again_next_run(tmp_path, monkeypatch, caplog):
    # An exporter still appending: the file grows after ingest looked at it. Its hash must not
    # describe bytes the run never read, or the next run would skip them for good.
    log = okta(tmp_path / "live.ndjson", "e1", "e2")
    real_hash = store.manifest.file_hash

    def hash_after_an_append(path):
        with open(path, "a") as handle:
            handle.write("\n" + json.dumps({
                "uuid": "e3", "published": "2024-05-01T11:00:00Z", "eventType": "user.session.start",
                "actor": {"id": "00u1", "alternateId": "ann@example.com"},
                "client": {"userAgent": {"rawUserAgent": UA}, "ipAddress": "198.51.100.1"}}))
        return real_hash(path)

    monkeypatch.setattr(store.manifest, "file_hash", hash_after_an_append)
    store.ingest(tmp_path / "access.parquet", [log])
    monkeypatch.setattr(store.manifest, "file_hash", real_hash)
    assert "changed while it was read" in caplog.text
    counts, _ = store.ingest(tmp_path / "access.parquet", [log])
    assert not counts["unchanged"].any()
    assert sorted(store.read(tmp_path / "access.parquet")["event_id"].astype(str)) == ["e1", "e2", "e3"]


def test_a_line_half_written_when_first_read_is_no_longer_listed_as_rejected_once_loaded(tmp_path):
    # An exporter caught mid-line: the first ingest rejects the partial line, the next reads
    # the whole file again and loads it; the rejected-rows file must then say so.
    log = okta(tmp_path / "live.ndjson", "e1")
    whole = json.dumps({"uuid": "e2", "published": "2024-05-01T11:00:00Z", "eventType": "user.session.start",
                        "actor": {"id": "00u1", "alternateId": "ann@example.com"},
                        "client": {"userAgent": {"rawUserAgent": UA}, "ipAddress": "198.51.100.1"}})
    with open(log, "a") as handle:
        handle.write("\n" + whole[:40])
    store.ingest(tmp_path / "access.parquet", [log])
    assert len(rejected(tmp_path / "access.parquet")) == 2  # the header and the partial line
    log.write_text(log.read_text()[:-40] + whole + "\n")
    counts, _ = store.ingest(tmp_path / "access.parquet", [log])
    assert counts[["read", "loaded", "rejected"]].values.tolist() == [[2, 1, 0]]
    assert len(rejected(tmp_path / "access.parquet")) <= 1
