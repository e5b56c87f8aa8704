"""The partitioned store equals a full rebuild: same rows, same counts, whatever the sequence
of ingests, re-ingests, overlapping files and interrupted writes; an old single-file store
is migrated; readers of the folder (pyarrow's hive datasets) see the same rows."""

from __future__ import annotations

import json
import os
import random

import pandas as pd
import pyarrow.dataset
import pytest

from fleetanalysis import sources, store
from fleetanalysis.sources.schema import conform, empty_access
from fleetanalysis.store import dataset
from fleetanalysis.store.dedupe import _sorted_categories, combine

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
PHONE = "com.tinyspeck.chatlyio/24.03.10 (iPhone; iOS 17.4.1; Scale/3.00)"
DAY = 86400
MAY = 1714521600  # 2024-05-01T00:00:00Z
COUNTS = ["read", "loaded", "rejected", "duplicates", "conflicts"]


def slack(path, rng, users):
    """A page of Slack ``team.accessLogs`` (fields as the Slack Web API reference shows them):
    aggregates whose first and last dates fall in May to July, so a later page can move a
    row's earliest sighting into another month."""
    logins = []
    for user in users:
        first = MAY + rng.randrange(0, 90) * DAY
        logins.append({"user_id": user, "username": user.lower(), "date_first": first,
                       "date_last": first + rng.randrange(0, 20) * DAY, "count": rng.randrange(1, 9),
                       "ip": f"192.0.2.{rng.randrange(1, 4)}", "user_agent": rng.choice([UA, PHONE]),
                       "isp": None, "country": None, "region": None})
    path.write_text(json.dumps({"ok": True, "logins": logins,
                                "paging": {"count": 100, "total": len(logins), "page": 1, "pages": 1}}))
    return path


def okta(path, rng, ids):
    """Okta System Log ``LogEvent`` lines (developer.okta.com, System Log API): ids reused
    across files, sometimes by another user (an id conflict), in May to July."""
    lines = []
    for event_id in ids:
        day = int(event_id[1:]) % 80
        user = rng.choice(["ann@example.com", "ann@example.com", "bo@example.com"])
        lines.append(json.dumps({
            "uuid": event_id, "eventType": "user.session.start",
            "published": pd.Timestamp(MAY + day * DAY, unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "actor": {"id": "00u1", "alternateId": user},
            "client": {"userAgent": {"rawUserAgent": rng.choice([UA, PHONE])}, "ipAddress": "198.51.100.1"}}))
    # One broken line: rejected, and counted as rejected in both paths.
    path.write_text("\n".join(lines) + "\n{\"uuid\": \n")
    return path


def signins(path, rng, rows):
    """A generic CSV without event ids: rows repeat who, where and with what."""
    lines = ["email,timestamp,ip,user_agent"]
    for _ in range(rows):
        when = pd.Timestamp(MAY + rng.randrange(0, 90 * DAY), unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
        lines.append(f"user{rng.randrange(6)}@example.com,{when},203.0.113.{rng.randrange(1, 3)},"
                     f"\"{rng.choice([UA, PHONE])}\"")
    path.write_text("\n".join(lines) + "\n")
    return path


def ordered(access: pd.DataFrame) -> pd.DataFrame:
    access = _sorted_categories(conform(access))
    return access.sort_values(list(access.columns), kind="stable", na_position="first").reset_index(drop=True)


class Reference:
    """The full rebuild: every file read is merged into one in-memory table with ``combine``."""

    def __init__(self):
        self.access = empty_access()
        self.counts = dict.fromkeys(COUNTS, 0)

    def read(self, path):
        loaded = sources.load([path])
        self.access, duplicate, conflict = combine(self.access, loaded.access)
        self.counts["read"] += int(loaded.counts["read"].sum())
        self.counts["rejected"] += int(loaded.counts["rejected"].sum())
        self.counts["duplicates"] += int(duplicate.sum())
        self.counts["conflicts"] += int(conflict.sum())
        self.counts["loaded"] += len(duplicate) - int(duplicate.sum())


def make_files(folder, rng):
    folder.mkdir()
    return {
        "slack-1": slack(folder / "slack-1.json", rng, ["U1", "U2", "U3", "U4"]),
        "slack-2": slack(folder / "slack-2.json", rng, ["U2", "U3", "U5"]),
        "okta-1": okta(folder / "okta-1.ndjson", rng, [f"e{n}" for n in range(0, 40, 3)]),
        "okta-2": okta(folder / "okta-2.ndjson", rng, [f"e{n}" for n in range(0, 60, 4)]),
        "csv-1": signins(folder / "csv-1.csv", rng, 40),
        "csv-2": signins(folder / "csv-2.csv", rng, 25),
    }


def edit(files, name, rng):
    """A newer export of the same log: the same file name, other and overlapping rows."""
    path = files[name]
    if name.startswith("slack"):
        slack(path, rng, ["U1", "U2", "U6"])
    elif name.startswith("okta"):
        okta(path, rng, [f"e{n}" for n in range(2, 70, 5)])
    else:
        signins(path, rng, 30)
    # Another size or mtime, whatever the bytes: the manifest must look again.
    os.utime(path, ns=(1, os.stat(path).st_mtime_ns + 10**9))


def failing_once(real, at_call):
    calls = {"n": 0}

    def wrapped(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == at_call:
            raise KeyboardInterrupt
        return real(*args, **kwargs)
    return wrapped


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_any_sequence_of_ingests_equals_a_full_rebuild(tmp_path, monkeypatch, seed):
    rng = random.Random(seed)
    files = make_files(tmp_path / "logs", rng)
    target = tmp_path / "access.parquet"
    reference = Reference()
    counted = dict.fromkeys(COUNTS, 0)
    crashes = []
    steps = ["ingest", "ingest", "ingest", "edit", "ingest", "crash after commit", "ingest",
             "crash before commit", "ingest", "edit", "crash after commit", "ingest"]
    for step in steps:
        if step == "edit":
            edit(files, rng.choice(sorted(files)), rng)
            continue
        chosen = rng.sample(sorted(files), rng.randrange(1, len(files) + 1))
        if step.startswith("crash"):
            # Something to write, in several partitions: a newer export of a chosen log.
            edit(files, chosen[0], rng)
        before = store.read_manifest(target)
        paths = [files[name] for name in chosen]
        crashed = False
        if step.startswith("crash"):
            # Killed at the second partition: before the commit nothing changed; after it,
            # the next writer finishes the write before its own.
            name, real = (("_write_part", dataset._write_part) if step == "crash before commit"
                          else ("_swap_in", dataset._swap_in))
            with monkeypatch.context() as patched:
                patched.setattr(dataset, name, failing_once(real, 2))
                try:
                    counts, problems = store.ingest(target, paths)
                except KeyboardInterrupt:
                    crashed = True
        else:
            counts, problems = store.ingest(target, paths)
        if crashed:
            crashes.append(step)
            # Whatever happened, the store can be read.
            store.read(target)
            journal = target / "_journal.json"
            assert journal.exists() == (step == "crash after commit")
            if journal.exists():
                # Committed: these files are merged in, with the counts the journal holds.
                committed = json.loads(journal.read_text())["manifest"]["files"]
                for path in paths:
                    entry = committed[str(path.resolve())]
                    if entry != before.get(str(path.resolve())) and entry.get("read") is not None \
                            and entry["hash"] != before.get(str(path.resolve()), {}).get("hash"):
                        reference.read(path)
                        for column in COUNTS:
                            counted[column] += entry[column]
            continue
        assert problems == []
        for path, unchanged in zip(counts["file"], counts["unchanged"]):
            if not unchanged:
                reference.read(path)
        for column in COUNTS:
            counted[column] += int(counts[column].sum())
        assert (counts["read"] == counts["loaded"] + counts["rejected"] + counts["duplicates"]).all()
        pd.testing.assert_frame_equal(ordered(store.read(target)), ordered(reference.access))
        assert counted == reference.counts
        assert counted["loaded"] == len(store.read(target))
    assert not list(target.rglob(".*")) and not (target / "_journal.json").exists()
    # The sequence did hit both kinds of crash.
    assert set(crashes) == {"crash before commit", "crash after commit"}, crashes


def test_a_write_touches_only_the_partitions_its_rows_meet(tmp_path):
    rng = random.Random(7)
    logs = tmp_path / "logs"
    logs.mkdir()
    may = okta(logs / "may.ndjson", rng, ["e1", "e2"])
    july = okta(logs / "july.ndjson", rng, ["e70", "e71"])
    target = tmp_path / "access.parquet"
    store.ingest(target, [may])
    written = {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in target.rglob("part-0.parquet")}
    assert [path.parent.relative_to(target).as_posix() for path in written] == ["month=2024-05/log=okta"]
    store.ingest(target, [july])
    # May's partition is the same file, not rewritten; July's is new.
    for path, identity in written.items():
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == identity
    assert sorted(path.parent.relative_to(target).as_posix() for path in target.rglob("part-0.parquet")) == [
        "month=2024-05/log=okta", "month=2024-07/log=okta"]


def test_an_id_less_device_seen_in_two_months_is_two_rows(tmp_path):
    # A generic sign-in CSV (no event ids): one device in January and December. One row per
    # month, each in its month's partition, so the device is not present all year.
    logs = tmp_path / "logs"
    logs.mkdir()
    csv = logs / "signins.csv"
    csv.write_text("email,timestamp,ip,user_agent\n"
                   f"ann@example.com,2024-01-03T09:00:00Z,203.0.113.1,\"{UA}\"\n"
                   f"ann@example.com,2024-01-20T09:00:00Z,203.0.113.1,\"{UA}\"\n"
                   f"ann@example.com,2024-12-05T09:00:00Z,203.0.113.1,\"{UA}\"\n")
    target = tmp_path / "access.parquet"
    summary, problems = store.ingest(target, [csv])
    assert summary[["loaded", "duplicates"]].values.tolist() == [[2, 1]] and not problems
    rows = store.read(target)
    assert rows[["first_seen", "last_seen"]].astype(str).values.tolist() == [
        ["2024-01-03 09:00:00+00:00", "2024-01-20 09:00:00+00:00"],
        ["2024-12-05 09:00:00+00:00", "2024-12-05 09:00:00+00:00"]]
    assert sorted(path.parent.relative_to(target).as_posix() for path in target.rglob("part-0.parquet")) == [
        "month=2024-01/log=csv", "month=2024-12/log=csv"]


def test_a_newest_week_rewrites_only_its_months_partitions(tmp_path):
    # A year of the same devices in a generic CSV (no event ids), one file a week: the newest
    # week (late December) meets devices first seen all through the year, but writes only
    # December's partition; the other months' files are untouched.
    rng = random.Random(11)
    logs = tmp_path / "logs"
    logs.mkdir()
    start = pd.Timestamp("2024-01-01", tz="UTC")
    weeks = []
    for week in range(52):
        lines = ["email,timestamp,ip,user_agent"]
        for user in range(4):
            when = start + pd.Timedelta(days=7 * week + rng.randrange(7), hours=rng.randrange(24))
            lines.append(f"user{user}@example.com,{when.strftime('%Y-%m-%dT%H:%M:%SZ')},203.0.113.{user},"
                         f"\"{rng.choice([UA, PHONE])}\"")
        weeks.append(logs / f"week-{week:02}.csv")
        weeks[-1].write_text("\n".join(lines) + "\n")
    target = tmp_path / "access.parquet"
    store.ingest(target, weeks[:51])
    before = {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in target.rglob("part-0.parquet")}
    assert len(before) == 12
    store.ingest(target, weeks[51:])
    rewritten = sorted(path.parent.relative_to(target).as_posix() for path in target.rglob("part-0.parquet")
                       if before.get(path) != (path.stat().st_ino, path.stat().st_mtime_ns))
    assert rewritten == ["month=2024-12/log=csv"]
    # And the same rows as one ingest of all 52 weeks.
    whole = tmp_path / "whole.parquet"
    store.ingest(whole, weeks)
    pd.testing.assert_frame_equal(ordered(store.read(target)), ordered(store.read(whole)))


def test_readers_of_the_folder_see_the_rows_read_gives(tmp_path):
    rng = random.Random(5)
    files = make_files(tmp_path / "logs", rng)
    target = tmp_path / "access.parquet"
    store.ingest(target, list(files.values()))
    whole = store.read(target)
    assert list(whole.dtypes.astype(str)) == list(empty_access().dtypes.astype(str))
    # One partition at a time, together the same rows.
    pieces = list(store.partitions(target))
    assert len(pieces) > 3
    assert all(piece["source"].nunique() == 1 for piece in pieces)
    pd.testing.assert_frame_equal(ordered(pd.concat(pieces)), ordered(whole))
    # pyarrow's hive dataset (what DuckDB's hive_partitioning reads too) adds the keys.
    table = pyarrow.dataset.dataset(target, format="parquet", partitioning="hive").to_table().to_pandas()
    assert (table["log"] == table["source"].astype(str)).all()
    assert (table["month"] == table["first_seen"].dt.strftime("%Y-%m")).all()
    pd.testing.assert_frame_equal(ordered(table.drop(columns=["month", "log"])), ordered(whole))
    assert store.read(target, columns=["user", "first_seen"]).equals(whole[["user", "first_seen"]])


def test_a_single_file_store_migrates_on_its_next_write(tmp_path, capsys):
    rng = random.Random(11)
    files = make_files(tmp_path / "logs", rng)
    target = tmp_path / "access.parquet"
    # The store as it was before partitions: one Parquet file, its manifest beside it.
    old = conform(pd.concat([sources.load([files["slack-1"]]).access]))
    old.to_parquet(target, index=False)
    stat = target.stat()
    entry = {"size": files["slack-1"].stat().st_size, "mtime_ns": files["slack-1"].stat().st_mtime_ns,
             "hash": store.file_hash(files["slack-1"]), "format": "slack_access", "read": len(old),
             "loaded": len(old), "rejected": 0, "duplicates": 0, "conflicts": 0,
             "options": {"format": None, "user_column": None, "time_column": None, "ua_column": None}}
    (tmp_path / "access-manifest.json").write_text(json.dumps({
        "version": 1, "store": {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino},
        "files": {str(files["slack-1"].resolve()): entry}}))
    # Read as it is, nothing written.
    pd.testing.assert_frame_equal(ordered(store.read(target)), ordered(old))
    assert target.is_file()
    capsys.readouterr()

    counts, _ = store.ingest(target, [files["slack-1"], files["okta-1"]])
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"fleetanalysis: {target}: store migrated from one Parquet file")
    assert target.is_dir() and not (tmp_path / "access-manifest.json").exists()
    # The manifest came along: the file it listed is still skipped unread.
    assert counts["unchanged"].tolist() == [True, False]
    reference = Reference()
    reference.access = old
    reference.read(files["okta-1"])
    pd.testing.assert_frame_equal(ordered(store.read(target)), ordered(reference.access))
    assert sorted(path.name for path in tmp_path.iterdir()) == [".access.parquet.lock", "access-rejected.csv",
                                                                 "access.parquet", "logs"]


def test_a_migration_killed_midway_leaves_the_single_file_store(tmp_path, monkeypatch):
    rng = random.Random(13)
    files = make_files(tmp_path / "logs", rng)
    target = tmp_path / "access.parquet"
    old = sources.load([files["slack-1"], files["okta-1"]]).access
    old.to_parquet(target, index=False)
    original = target.read_bytes()
    with monkeypatch.context() as patched:
        patched.setattr(dataset, "_write_part", failing_once(dataset._write_part, 2))
        with pytest.raises(KeyboardInterrupt):
            store.ingest(target, [files["csv-1"]])
    assert target.read_bytes() == original
    counts, _ = store.ingest(target, [files["csv-1"]])
    assert target.is_dir() and counts["loaded"].sum() > 0
    # Nothing of the killed migration is left: no half-built folder, no backup.
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == [".access.parquet.lock"]


def test_a_write_stopped_while_another_is_written_leaves_no_partition_file_behind(tmp_path, monkeypatch):
    # Partitions are written on every core. A stop (SIGTERM's handler raising in the main
    # thread) while one is still being written must not let it land after the clean-up: a
    # suite run found a stopped ingest's ".pending" file left in the store.
    import signal
    import threading
    import time

    class Stopped(BaseException):
        pass

    def stop(*_):
        raise Stopped

    real, both = dataset._write_part, threading.Barrier(2)

    def write(rows, target):
        both.wait(5)
        if "2026-05" in str(target):
            os.kill(os.getpid(), signal.SIGUSR1)
            return
        time.sleep(0.5)
        real(rows, target)

    monkeypatch.setattr(dataset, "_write_part", write)
    previous = signal.signal(signal.SIGUSR1, stop)
    rows = conform(pd.DataFrame({"source": ["okta", "okta"], "user_agent": ["a", "b"],
                                 "first_seen": ["2026-05-01T00:00:00Z", "2026-06-01T00:00:00Z"]}))
    target = tmp_path / "access.parquet"
    target.mkdir()
    try:
        with pytest.raises(Stopped):
            dataset.commit(target, dict(dataset.split(rows)), set(), {})
    finally:
        signal.signal(signal.SIGUSR1, previous)
    time.sleep(0.8)  # any write still going would land now
    assert [path.name for path in target.rglob("*") if path.is_file()] == []
