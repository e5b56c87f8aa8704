"""``store.ingest`` reads a generic CSV with DuckDB (``store.bulk_csv``): the store, the
rejected rows and the counts are those of the general path (``sources.load`` then
``store.merge``), row for row, whatever the rows hold; a file DuckDB cannot read as the
general path does (rows of the wrong width, bytes not UTF-8, a quote left open) is read by
the general path; a week's groups merge into their month partition in Arrow as the general
path merges them."""

from __future__ import annotations

import csv
import gzip
import io
import random

import pandas as pd
import pytest

from fleetanalysis import sources, store
from fleetanalysis.errors import BadInput
from fleetanalysis.store import batch, bulk_csv

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


def write_log(path, rng, count: int, unix_chunk: bool = False, ragged: bool = False) -> None:
    """A generic CSV export with the odd rows spread through it, optionally a row of the
    wrong width and a run of unix-second times (rows only ``candidates`` reads)."""
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
        if ragged:
            handle.write("2024-05-02T10:00:00Z,short@example.com\r\n")
        writer.writerows(body[len(body) // 3:])


def ordered(access: pd.DataFrame) -> pd.DataFrame:
    return access.sort_values(list(access.columns), kind="stable", na_position="first").reset_index(drop=True)


def rejected_rows(store_path) -> list[tuple]:
    if not store.rejected_path(store_path).exists():
        return []
    found = pd.read_csv(store.rejected_path(store_path), dtype=str, keep_default_na=False)
    return sorted(found.itertuples(index=False, name=None))


def ingest_both(tmp_path, monkeypatch, log, chunk_bytes=8000, **options) -> tuple[pd.DataFrame, pd.DataFrame, list[bool]]:
    """``(ingest's counts, the general path's counts, whether DuckDB read each file)``; the
    two stores and rejected files are checked equal."""
    general = tmp_path / "general.parquet"
    expected = store.merge(general, sources.load([log], **options))
    used, real = [], bulk_csv.read

    def spy(*args, **kwargs):
        found = real(*args, **kwargs)
        used.append(found is not None)
        return found

    monkeypatch.setattr(bulk_csv, "read", spy)
    fast = tmp_path / "fast.parquet"
    # Chunks of a few kilobytes when the general path reads it: keys repeat across chunks.
    counts, problems = store.ingest(fast, [log], chunk_bytes=chunk_bytes, **options)
    assert problems == []
    assert counts[COUNTS].values.tolist() == expected[COUNTS].values.tolist()
    assert (counts["read"] == counts["loaded"] + counts["rejected"] + counts["duplicates"]).all()
    # The same rows; rows with equal first_seen may lie in another order (store.bulk_csv).
    pd.testing.assert_frame_equal(ordered(store.read(fast)), ordered(store.read(general)))
    assert rejected_rows(fast) == rejected_rows(general)
    return counts, expected, used


@pytest.mark.parametrize("ragged", [False, True])
@pytest.mark.parametrize("unix_chunk", [False, True])
@pytest.mark.parametrize("seed", [1, 2])
def test_ingest_with_duckdb_equals_the_general_path(tmp_path, monkeypatch, seed, unix_chunk, ragged):
    log = tmp_path / "signins.csv"
    write_log(log, random.Random(seed), 600, unix_chunk, ragged)
    counts, _, used = ingest_both(tmp_path, monkeypatch, log)
    # DuckDB read the file, unless a row of the wrong width sent it to the general path.
    assert used == [not ragged]
    reasons = {reason for _, _, reason, _ in rejected_rows(tmp_path / "fast.parquet")}
    assert {"first seen is before 2000", "first seen is in the future", "first seen missing (nothing in 'Timestamp')",
            "no user agent", "contains NUL bytes"} <= reasons
    assert ("expected 4 fields, found 2" in reasons) == ragged
    assert any(reason.startswith("user agent is 5012 characters") for reason in reasons)
    assert any(reason.startswith("user is 1112 characters") for reason in reasons)
    # Six people, three addresses, four agents: the rows kept are one per key and month.
    assert store.read(tmp_path / "fast.parquet")["user"].str.startswith("é").sum() == 1


# An audit-log export as admin consoles write it (the column layout of the CSV export in
# wrkportal/wrkportal_app, AUDIT_EXPORT_QUICK_START.md: a timestamp, the user's e-mail, the
# action, the entity, the IP address and the change details as JSON), with a user-agent
# column: JSON details carry quotes and commas, and sometimes a line break.
EXPORT_HEADER = ["Timestamp", "User Email", "Action", "Entity", "IP Address", "User Agent", "Details"]


def export_rows(rng: random.Random, count: int, newline_in_details: bool,
                newline_in_agent: bool = False) -> list[list[str]]:
    out = []
    for number, (moment, user, ip, agent) in enumerate(rows(rng, count)):
        details = '{"field": "role", "old": "member", "new": "admin"}'
        if newline_in_details and number % 50 == 7:
            details = '{"note": "first line\nsecond line"}'
        if newline_in_agent and number == 11:
            agent = agent.replace(" ", "\n", 1)
        out.append([moment, user, rng.choice(["LOGIN", "UPDATE"]), "USER", ip, agent, details])
    # Rows the screen rejects, after the line breaks, so that their record numbers count records.
    out.insert(count - 5, ["2099-01-01T00:00:00Z", "late@example.com", "LOGIN", "USER", "192.0.2.1", AGENTS[0], ""])
    out.insert(count - 3, ["2024-05-01T10:00:00Z", "=HYPERLINK(\"http://evil.example\")", "LOGIN", "USER",
                           "192.0.2.1", "", "+cmd"])
    return out


def write_export(path, rng, *, bom=False, crlf=False, newline_in_details=False, newline_in_agent=False,
                 stray_quote=False, packed=False, count=400) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(EXPORT_HEADER)
    writer.writerows(export_rows(rng, count, newline_in_details, newline_in_agent))
    text = buffer.getvalue()
    if stray_quote:
        # A quote inside an unquoted field: an odd number of quotes in the file.
        text = text.replace("LOGIN", 'LOG"IN', 1)
    data = ("\ufeff" if bom else "").encode() + text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if packed else data)


@pytest.mark.parametrize("shape, duckdb", [
    ({}, True),
    ({"bom": True, "crlf": True}, True),  # Excel's "CSV UTF-8" on Windows
    ({"newline_in_details": True}, True),  # quoted line breaks: records, not lines, are numbered
    ({"newline_in_details": True, "crlf": True, "bom": True}, True),
    ({"packed": True}, True),
    # Quoted line breaks and an odd number of quotes: the general path reads it line by line.
    ({"newline_in_details": True, "stray_quote": True}, False),
    ({"newline_in_agent": True}, True),
    ({"newline_in_agent": True, "stray_quote": True}, False),
])
def test_odd_exports(tmp_path, monkeypatch, shape, duckdb):
    log = tmp_path / ("export.csv.gz" if shape.get("packed") else "export.csv")
    write_export(log, random.Random(3), **shape)
    # The file whole when the general path reads it: in chunks it would read a quote left
    # open line by line only when a chunk ends inside the value.
    counts, _, used = ingest_both(tmp_path, monkeypatch, log, chunk_bytes=sources.DEFAULT_CHUNK_BYTES)
    assert used == [duckdb]
    found = rejected_rows(tmp_path / "fast.parquet")
    assert {reason for _, _, reason, _ in found} >= {"first seen is in the future", "no user agent"}
    # The formula-looking row is kept as text (in JSON, so no cell starts with "="), as the general path keeps it.
    assert any("=HYPERLINK" in raw and record.startswith("row ") for _, record, _, raw in found)


def test_event_ids_take_the_checks_row_by_row(tmp_path, monkeypatch):
    """Rows with an id are keyed by it (conflicts counted): never grouped in SQL."""
    log = tmp_path / "export.csv"
    body = [[f"evt-{number % 90}", moment, user, ip, agent]
            for number, (moment, user, ip, agent) in enumerate(rows(random.Random(4), 300))]
    body[10][0] = ""
    with open(log, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ID", "Created At", "User Email", "IP Address", "User Agent"])
        writer.writerows(body)
    counts, _, used = ingest_both(tmp_path, monkeypatch, log)
    assert used == [True] and counts["conflicts"].sum() > 0


def test_a_file_duckdb_cannot_read_fails_as_the_general_path_says(tmp_path, monkeypatch):
    log = tmp_path / "latin1.csv"
    log.write_bytes("Timestamp,Email,User-Agent\n2024-05-01T10:00:00Z,jos\xe9@example.com,curl/8.4.0\n"
                    .encode("latin-1"))
    with pytest.raises(BadInput) as general:
        sources.load([log])
    with pytest.raises(BadInput) as ours:
        store.ingest(tmp_path / "access.parquet", [log])
    assert str(ours.value) == str(general.value)
    assert "not UTF-8" in str(ours.value)

# A week's groups merge into the partitions they meet in Arrow (``store.batch``,
# ``Batch._merge_into_kept``): the store and counts are those of the general path (pandas
# ``dedupe._newest``), for groups newer and older than the stored row of their key, rows
# with event ids beside them and missing fields. Groups find their stored row by the values
# of its key, never by a hash: neither the month nor the week is hashed.

def write_days(path, rng: random.Random, count: int, days: tuple[str, str], event_ids: bool = False) -> None:
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


def history_then_week(tmp_path, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A store of May and June (plain rows and rows with event ids), then a file of late
    June read by DuckDB, against the same files merged the general way: ``(ingest's
    counts of the week, the general path's)``, the stores checked equal."""
    rng = random.Random(seed)
    older, ids, week = tmp_path / "older.csv", tmp_path / "ids.csv", tmp_path / "week.csv"
    write_days(older, rng, 300, ("2024-05-10", "2024-06-30"))
    write_days(ids, rng, 60, ("2024-06-01", "2024-06-30"), event_ids=True)
    # The week's groups meet stored rows of their key with earlier and later times.
    write_days(week, rng, 200, ("2024-06-15", "2024-06-23"))
    general, fast = tmp_path / "general.parquet", tmp_path / "fast.parquet"
    store.merge(general, sources.load([older, ids]))
    expected = store.merge(general, sources.load([week]))
    store.ingest(fast, [older, ids])
    counts, problems = store.ingest(fast, [week])
    assert problems == []
    pd.testing.assert_frame_equal(ordered(store.read(fast)), ordered(store.read(general)))
    return counts, expected


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_week_merges_into_its_month_without_the_pandas_merge_or_hashes(tmp_path, monkeypatch, seed):
    def refused(*args, **kwargs):
        raise AssertionError("the week's groups went through dedupe._newest or were hashed")

    # The ids file is read by the general path; only the week's merge must stay in Arrow.
    real = store.ingest

    def week_in_arrow(path, files, *args, **kwargs):
        if [file.name for file in files] == ["week.csv"]:
            monkeypatch.setattr(batch, "_newest", refused)
            monkeypatch.setattr(batch, "key_hashes", refused)
            monkeypatch.setattr(batch, "id_hashes", refused)
        return real(path, files, *args, **kwargs)

    monkeypatch.setattr(store, "ingest", week_in_arrow)
    counts, expected = history_then_week(tmp_path, seed)
    assert counts[COUNTS].values.tolist() == expected[COUNTS].values.tolist()
    assert counts["duplicates"].iloc[0] > 0


def test_keys_sharing_a_hash_still_pair_by_their_values(tmp_path, monkeypatch):
    # Few distinct hashes: different keys share one. The groups pair with stored rows by
    # their values, so the Arrow merge is still taken and still right.
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
    counts, expected = history_then_week(tmp_path, 4)
    assert counts[COUNTS].values.tolist() == expected[COUNTS].values.tolist()
    assert taken and all(taken)


@pytest.mark.parametrize("order", [["week", "ids", "may"], ["ids", "week", "may"], ["may", "week", "ids"]])
def test_files_after_the_arrow_merge_in_one_ingest_merge_as_the_general_path(tmp_path, order):
    # One ingest of several files: rows of later files meet months loaded before (hashed only
    # then) and months loaded after the week's Arrow merge, with and without event ids.
    rng = random.Random(len(order[0]))
    older = tmp_path / "older.csv"
    write_days(older, rng, 300, ("2024-05-10", "2024-06-30"))
    files = {"week": tmp_path / "week.csv", "ids": tmp_path / "ids.csv", "may": tmp_path / "may.csv"}
    write_days(files["week"], rng, 200, ("2024-06-15", "2024-06-23"))
    write_days(files["ids"], rng, 80, ("2024-05-20", "2024-06-20"), event_ids=True)
    write_days(files["may"], rng, 120, ("2024-05-01", "2024-05-31"))
    general, fast = tmp_path / "general.parquet", tmp_path / "fast.parquet"
    store.merge(general, sources.load([older]))
    expected = store.merge(general, sources.load([files[name] for name in order]))
    store.ingest(fast, [older])
    counts, problems = store.ingest(fast, [files[name] for name in order])
    assert problems == []
    assert counts[COUNTS].values.tolist() == expected[COUNTS].values.tolist()
    assert counts["duplicates"].sum() > 0
    pd.testing.assert_frame_equal(ordered(store.read(fast)), ordered(store.read(general)))


def test_failed_sign_ins_of_entras_download_are_rejected_by_both_readers(tmp_path, monkeypatch):
    """Entra's sign-in download (InteractiveSignIns.csv) has "Status", "Sign-in error code" and
    "Failure reason"; a row whose code is not 0 is a failed attempt, rejected with its code by
    DuckDB's reader as by the general path, never grouped into the user's device. Its
    header names "Incoming token type" twice (a column neither reader uses): it loads."""
    header = ["Date (UTC)", "Request ID", "User agent", "User ID", "User", "Username", "IP address", "Status",
              "Sign-in error code", "Failure reason", "Incoming token type", "Incoming token type"]
    old_edge = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/91.0.4472.114 Safari/537.36 Edg/91.0.864.54")
    body = []
    for number, (moment, user, ip, agent) in enumerate(rows(random.Random(5), 120)):
        failed = number % 7 == 0
        body.append([moment, f"req-{number}", old_edge if failed else agent, f"oid-{user}", "Display Name", user, ip,
                     "Failure" if failed else "Success", "50126" if failed else "0",
                     "Error validating credentials due to invalid username or password." if failed else "",
                     "none", "primaryRefreshToken" if number % 2 else "none"])
    log = tmp_path / "InteractiveSignIns_2026-06-01_2026-06-30.csv"
    with open(log, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(body)
    counts, _, used = ingest_both(tmp_path, monkeypatch, log)
    assert used == [True]
    failed = [reason for _, _, reason, _ in rejected_rows(tmp_path / "fast.parquet") if reason.startswith("failed")]
    assert len(failed) == sum(1 for row in body if row[8] == "50126") > 0
    assert set(failed) == {"failed sign-in (error 50126): an attempt is no evidence of the user's device"}
    assert "Edg/91" not in " ".join(store.read(tmp_path / "fast.parquet")["user_agent"].astype(str))


@pytest.mark.parametrize("opened_in", ["user_agent", "email"])
def test_a_quote_closed_at_the_end_of_a_later_line_swallows_no_row_in_either_reader(tmp_path, monkeypatch, opened_in):
    """A quote opened on one line and closed at the end of the next made the two rows one
    value of the right width: no reader rejected it, one row vanished, and a user named with
    a whole row (or a user agent holding another person's) was loaded. Both readers now
    read such a file a line a row: read counts every line."""
    chrome = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/137.0.0.0 Safari/537.36")
    firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:139.0) Gecko/20100101 Firefox/139.0"
    lines = [f"ann@example.com,2026-06-01T09:00:00Z,{chrome}", f"bo@example.com,2026-06-01T10:00:00Z,{firefox}"]
    if opened_in == "user_agent":
        lines = [lines[0].replace("Z,Mozilla", 'Z,"Mozilla', 1), lines[1] + '"']
    else:
        lines = ['"' + lines[0], lines[1].replace(".com,", '.com",', 1)]
    log = tmp_path / "signins.csv"
    log.write_text("email,time,user_agent\n" + "\n".join([*lines, "cy@example.com,2026-06-01T11:00:00Z,curl/8.4.0"]) + "\n")
    counts, _, used = ingest_both(tmp_path, monkeypatch, log)
    assert used == [False]
    assert counts[["read", "loaded", "rejected"]].values.tolist() == [[3, 2, 1]]
    assert [reason for _, _, reason, _ in rejected_rows(tmp_path / "fast.parquet")] == [
        "unterminated quote: the field runs past the end of its line"]
    assert not store.read(tmp_path / "fast.parquet")["user"].astype(str).str.contains("\n").any()
