"""Malformed and hostile log files through the real ``fleetanalysis ingest``.

Every run ends either with one clear line and exit 2, or loads the good rows and
accounts for every other row as rejected (with its reason) or merged as a duplicate:
read = loaded + rejected + duplicates, in the printed counts, in the store and in the
rejected-rows CSV. Nothing crashes, hangs, or sends raw terminal escapes to the screen.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import os
import re
import subprocess
import sys

import pandas as pd
import pytest

from fleetanalysis import store
from fleetanalysis.cli import main

T0 = 1714521600  # 2024-05-01
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
ANSI = "\x1b[2J\x1b[31mpwned\x1b]0;title\x07"
COUNTS = re.compile(r"^(?P<file>.*): (?P<format>\w+): read (?P<read>\d+), loaded (?P<loaded>\d+), "
                    r"rejected (?P<rejected>\d+), duplicates (?P<duplicates>\d+)$")


# A user agent without a comma: it needs no quotes in a CSV.
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0"


def login(number=1, **changes):
    row = {"user_id": f"U{number:04d}", "username": f"user{number}", "date_first": T0, "date_last": T0 + 60,
           "count": 1, "ip": "192.0.2.1", "user_agent": UA, "isp": None, "country": None, "region": None}
    return {**row, **changes}


def slack_page(*logins, **top):
    page = {"ok": True, "logins": list(logins), "paging": {"count": 100, "total": len(logins), "page": 1, "pages": 1}}
    return json.dumps({**page, **top})


def okta(number=1, **changes):
    event = {"uuid": f"okta-{number}", "published": "2024-05-01T10:00:00.000Z", "eventType": "user.session.start",
             "actor": {"id": f"00u{number}", "alternateId": f"user{number}@example.com"},
             "client": {"userAgent": {"rawUserAgent": UA}, "ipAddress": "192.0.2.9"}}
    return {**event, **changes}


def google(number=1, events=None):
    return {"kind": "admin#reports#activity", "id": {"time": "2024-05-01T10:00:00.000Z",
                                                     "uniqueQualifier": f"-{number}"},
            "actor": {"email": f"user{number}@example.com"},
            "events": events if events is not None else [{"name": "DEVICE_SYNC_EVENT", "parameters": [
                {"name": "DEVICE_TYPE", "value": "ANDROID"}, {"name": "OS_VERSION", "value": "Android 14"}]}]}


def text(value: str) -> bytes:
    return value.encode("utf-8")


BIG = 10 * 1024 * 1024

# name -> (file name, content, expectation). Expectation: a string is the one-line problem
# (exit 2); a dict gives the expected counts and, under "reasons", words the rejected
# reasons must contain.
FILES = {
    "empty": ("empty.json", b"", "empty file"),
    "whitespace only": ("blank.csv", b" \n\t\n", "empty file"),
    "truncated JSON": ("cut.json", text(slack_page(login()))[:70], "not valid JSON"),
    "binary": ("random.json", bytes(range(256)) * 64, "not UTF-8"),
    "a PNG": ("logo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64 + b"IHDR", "binary data"),
    "another format (HTML)": ("page.json", b"<html><body>Sign in</body></html>\n", "no user column"),
    "JSON of no known log": ("other.json", text(json.dumps({"kind": "drive#file", "id": 1})), "not a known sign-in log"),
    "latin-1": ("latin1.csv", "user,time,user_agent\nJosé,2024-05-01T00:00:00Z,x\n".encode("latin-1"), "not UTF-8"),
    "UTF-16 without BOM": ("u16.json", slack_page(login()).encode("utf-16-le"), "byte-order mark"),
    "UTF-8 BOM": ("bom.json", codecs.BOM_UTF8 + text(slack_page(login())), {"loaded": 1, "rejected": 0}),
    "UTF-16 BOM": ("bom16.json", slack_page(login(), login(2)).encode("utf-16"), {"loaded": 2, "rejected": 0}),
    "NUL in user agent": ("nul.json", text(slack_page(login(), login(2, user_agent="Mozilla\x00/5.0"))),
                          {"loaded": 1, "rejected": 1, "reasons": ["NUL"]}),
    "NUL in user (CSV)": ("nul.csv", b"user,time,user_agent\nann,2024-05-01T00:00:00Z,x\nb\x00b,2024-05-01T00:00:00Z,x\n",
                          {"loaded": 1, "rejected": 1, "reasons": ["NUL"]}),
    "10 MB user agent": ("big.json", text(slack_page(login(), login(2, user_agent="A" * BIG))),
                         {"loaded": 1, "rejected": 1, "reasons": ["limit 4096"]}),
    "10 MB CSV field": ("big.csv", text("email,timestamp,user agent\nann@x.io,2024-05-01T00:00:00Z,"
                                        + "B" * BIG + "\nbo@x.io,2024-05-01T00:00:00Z,Mozilla/5.0\n"),
                        {"loaded": 1, "rejected": 1, "reasons": ["limit 4096"]}),
    "100k user agent": ("long.json", text(json.dumps([okta(1), okta(2, client={"userAgent": {
        "rawUserAgent": "Mozilla/5.0 " + "(x) " * 25_000}})])), {"loaded": 1, "rejected": 1, "reasons": ["limit"]}),
    "deeply nested document": ("deep.json", b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
    "deeply nested field": ("deepfield.json", text(slack_page(login(), login(2, user_agent=json.loads(
        "[" * 300 + "]" * 300)))), {"loaded": 1, "rejected": 1, "reasons": ["no user agent"]}),
    "ends before it starts, count true": ("backwards.json", text(slack_page(
        login(), login(2, date_first=T0 + 600, date_last=T0), login(3, count=True))),
        {"loaded": 1, "rejected": 2, "reasons": ["first seen is after last seen", "count missing or not a number"]}),
    "1970 and 2100": ("dates.json", text(slack_page(login(), login(2, date_first=0, date_last=60),
                                                    login(3, date_first=4102444800, date_last=4102444860))),
                      {"loaded": 1, "rejected": 2, "reasons": ["before 2000", "in the future"]}),
    "negative and fractional counts": ("counts.json", text(slack_page(login(), login(2, count=-5), login(3, count=0),
                                                                      login(4, count=1.5), login(5, count="lots"))),
                                       {"loaded": 1, "rejected": 4, "reasons": ["-5", "must be at least 1",
                                                                                 "whole number", "not a number"]}),
    "huge numbers": ("huge.json", text(slack_page(login()).replace('"logins": [', (
        f'"logins": [{{"user_id": "U2", "date_first": {T0}, "date_last": {T0}, "count": 1e400, "user_agent": "{UA}"}}, '
        f'{{"user_id": "U3", "date_first": {10**40}, "date_last": {10**40}, "count": 1, "user_agent": "{UA}"}}, '
        f'{{"user_id": "U4", "date_first": {T0}, "date_last": {T0}, "count": {2**70}, "user_agent": "{UA}"}}, '))),
                     {"loaded": 1, "rejected": 3, "reasons": ["whole number", "not a date"]}),
    "NaN and Infinity literals": ("nan.json", text(slack_page(login()).replace(
        '"logins": [', f'"logins": [{{"user_id": "U9", "date_first": NaN, "date_last": Infinity, "count": NaN, '
                       f'"user_agent": "{UA}"}}, ')), {"loaded": 1, "rejected": 1, "reasons": ["first seen missing"]}),
    "duplicate records": ("dupes.json", text(slack_page(login(), login(), login(2))),
                          {"loaded": 2, "rejected": 0, "duplicates": 1}),
    "mixed time zones": ("zones.json", text(json.dumps([
        okta(1, published="2024-05-01T10:00:00+02:00"), okta(2, published="2024-05-01T08:00:00Z"),
        okta(3, published="2024-05-01T08:00:00"), okta(4, published="2024-05-01T03:00:00-05:00")])),
                         {"loaded": 4, "rejected": 0, "same_time": "2024-05-01 08:00:00+00:00"}),
    "CSV quoted newlines": ("quoted.csv", text('email,timestamp,user_agent\n"ann@x.io",2024-05-01T00:00:00Z,'
                                               '"Mozilla/5.0 (X11;\nLinux x86_64)"\nbo@x.io,2024-05-01T01:00:00Z,'
                                               '"a ""quoted"" agent"\n'), {"loaded": 2, "rejected": 0}),
    "CSV ragged rows": ("ragged.csv", text("email,timestamp,user_agent\nann@x.io,2024-05-01T00:00:00Z,UA\n"
                                           "bo@x.io,2024-05-01T00:00:00Z\ncy@x.io,2024-05-01T00:00:00Z,UA,extra\n"
                                           '"di@x.io,2024-05-01'),
                        {"loaded": 1, "rejected": 3, "reasons": ["expected 3 fields"]}),
    # A quote left open on one line and closed by the next line's opening quote: the rows
    # between were one malformed row, and the next row vanished into it.
    "CSV quote closed a line later": ("openquote.csv", text(
        "email,timestamp,user_agent\n" + "".join(f'{user}@x.io,2024-05-01T00:00:00Z,"{UA}{end}\n'
                                                   for user, end in [("ann", '"'), ("cy", ""), ("di", '"'),
                                                                     ("ed", '"')])),
        {"loaded": 3, "rejected": 1, "reasons": ["unterminated quote"]}),
    # The same, closed at the end of the next line: one value of the right width held two rows.
    "CSV quote closed at a later line's end": ("laterquote.csv", text(
        "email,timestamp,user_agent\n" + "".join(f'{user}@x.io,2024-05-01T00:00:00Z,{start}{FIREFOX}{end}\n'
                                                   for user, start, end in [("ann", "", ""), ("cy", '"', ""),
                                                                            ("di", "", '"'), ("ed", "", "")])),
        {"loaded": 3, "rejected": 1, "reasons": ["unterminated quote"]}),
    "CSV header only": ("header.csv", b"email,timestamp,user_agent\n", {"loaded": 0, "rejected": 0}),
    "CSV repeated header names": ("repeat.csv", b"email,time,email,ua\na,2024-05-01T00:00:00Z,b,c\n",
                                  "column 'email' appears more than once"),
    "Slack ok false": ("error.json", text(json.dumps({"ok": False, "error": "invalid_auth"})),
                       "a Slack error answer ('invalid_auth'): it holds no log rows"),
    "Slack logins not a list": ("notlist.json", text(json.dumps({"ok": True, "logins": "nope"})),
                                {"loaded": 0, "rejected": 1, "reasons": ["not a JSON object"]}),
    "Slack logins an object": ("object.json", text(json.dumps({"ok": True, "logins": {"user_id": "U1"}})),
                               "no row has a time this reader takes; the first: first seen missing (nothing in 'date_first')"),
    "Okta array of non-objects": ("okta.json", text(json.dumps([okta(1), 1, "x", None, [okta(2)]])),
                                  {"loaded": 1, "rejected": 4, "reasons": ["not a JSON object"]}),
    "Okta UNKNOWN agent": ("unknown.json", text(json.dumps([okta(1, client={"userAgent": {"rawUserAgent": "UNKNOWN"}})])),
                           {"loaded": 0, "rejected": 1, "reasons": ["no user agent"]}),
    "Entra value null": ("entra.json", text(json.dumps({"@odata.context": "x", "value": None})), "not a known sign-in log"),
    "Entra value of junk": ("entra2.json", text(json.dumps({"value": [7, {"createdDateTime": "yesterday",
                                                                           "userPrincipalName": "a@x.io"}]})),
                            "no row has a time this reader takes; the first: first seen 'yesterday' in column 'createdDateTime'"),
    "GitHub CSV missing columns": ("github.csv", b"_document_id,action,actor\nd1,user.login,ann\n",
                                   "no row has a time this reader takes; the first: first seen missing (nothing in 'created_at')"),
    "Google events without parameters": ("google.json", text(json.dumps({"kind": "admin#reports#activities", "items": [
        google(1), google(2, events=[{"name": "DEVICE_SYNC_EVENT"}]), google(3, events="junk"),
        google(4, events=[{"name": "X", "parameters": [7, {"value": "no name"}]}])]})),
                                         {"loaded": 1, "rejected": 3, "reasons": ["a Google mobile activity naming no system"]}),
    "NDJSON with broken lines": ("events.ndjson", text("\n".join([json.dumps(okta(1)), '{"uuid": "x", "publ',
                                                                  "[1, 2", json.dumps(okta(2))])),
                                 {"loaded": 2, "rejected": 2, "reasons": ["not valid JSON"]}),
    "gzip truncated": ("cut.json.gz", gzip.compress(text(slack_page(login(), login(2))))[:-10], "gzip"),
    "gzip of good logs": ("good.json.gz", gzip.compress(text(slack_page(login(), login(2)))), {"loaded": 2}),
    "ANSI escapes in names": ("ansi.json", text(slack_page(login(username=ANSI), login(2, username=ANSI, date_first=0))),
                              {"loaded": 1, "rejected": 1}),
}


def ingest(capsys, *paths, store_path):
    status = main(["ingest", *map(str, paths), "--store", str(store_path)])
    out, err = capsys.readouterr()
    return status, out, err


def counts_of(out: str) -> list[dict]:
    """The per-file count lines of ingest's output (the closing ``total:`` line aside)."""
    rows = [COUNTS.match(line) for line in out.splitlines() if not line.startswith("total: ")]
    assert all(rows), out
    return [{**row.groupdict(), **{key: int(row[key]) for key in ("read", "loaded", "rejected", "duplicates")}}
            for row in rows]


def rejected_rows(store_path) -> pd.DataFrame:
    path = store.rejected_path(store_path)
    if not path.exists():
        return pd.DataFrame(columns=["file", "record", "reason", "raw"])
    return pd.read_csv(path, dtype="str", keep_default_na=False)


@pytest.mark.parametrize("case", list(FILES))
def test_each_malformed_file_is_one_line_or_fully_accounted_for(tmp_path, capsys, case):
    name, content, expected = FILES[case]
    path = tmp_path / "in" / name
    path.parent.mkdir()
    path.write_bytes(content)
    store_path = tmp_path / "access.parquet"
    status, out, err = ingest(capsys, path, store_path=store_path)
    assert "Traceback" not in err and "\x1b" not in out + err
    if isinstance(expected, str):
        assert status == 2, (out, err)
        assert err.count("\n") == 1 and err.startswith("fleetanalysis: ") and expected in err, err
        assert str(path) in err
        assert not store_path.exists()
        return
    assert status == 0, err
    [row] = counts_of(out)
    assert row["read"] == row["loaded"] + row["rejected"] + row["duplicates"]
    for key in ("loaded", "rejected", "duplicates"):
        if key in expected:
            assert row[key] == expected[key], (key, row)
    kept = store.read(store_path)
    assert len(kept) == row["loaded"]
    rejected = rejected_rows(store_path)
    assert len(rejected) == row["rejected"]
    assert (rejected["file"] == str(path)).all() and rejected["reason"].str.len().gt(0).all()
    assert rejected["raw"].str.len().le(200).all()
    for word in expected.get("reasons", []):
        assert rejected["reason"].str.contains(word, regex=False).any(), (word, rejected["reason"].tolist())
    if "same_time" in expected:
        assert kept["first_seen"].astype(str).eq(expected["same_time"]).all()
    # Nothing of a 10 MB field is kept anywhere.
    assert sum(file.stat().st_size for file in tmp_path.glob("access*")) < 1_000_000


def test_quoted_newlines_and_quotes_stay_inside_the_user_agent(tmp_path, capsys):
    name, content, _ = FILES["CSV quoted newlines"]
    (tmp_path / name).write_bytes(content)
    ingest(capsys, tmp_path / name, store_path=tmp_path / "access.parquet")
    agents = store.read(tmp_path / "access.parquet")["user_agent"].astype(str).tolist()
    assert agents == ["Mozilla/5.0 (X11;\nLinux x86_64)", 'a "quoted" agent']


@pytest.mark.parametrize("kind", ["empty folder", "glob matching nothing", "symlink loop", "missing file"])
def test_nothing_to_read_is_one_line_exit_2(tmp_path, capsys, kind):
    folder = tmp_path / "logs"
    folder.mkdir()
    if kind == "empty folder":
        (folder / "sub").mkdir()
        target, expected = folder, str(folder)
    elif kind == "glob matching nothing":
        target, expected = folder / "*.json", "no file matches"
    elif kind == "symlink loop":
        (folder / "a.json").symlink_to(folder / "b.json")
        (folder / "b.json").symlink_to(folder / "a.json")
        target, expected = folder / "a.json", "a.json"
    else:
        target, expected = folder / "nope.json", "no such file"
    status, out, err = ingest(capsys, target, store_path=tmp_path / "access.parquet")
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("fleetanalysis: ") and expected in err, err


def test_a_folder_with_a_symlink_loop_still_reads_its_good_files(tmp_path, capsys):
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "loop").symlink_to(folder)
    (folder / "a.json").symlink_to(folder / "b.json")
    (folder / "b.json").symlink_to(folder / "a.json")
    (folder / "good.json").write_text(slack_page(login()))
    status, out, err = ingest(capsys, folder, store_path=tmp_path / "access.parquet")
    assert status == 0 and "Traceback" not in err
    assert [row["loaded"] for row in counts_of(out)] == [1]


def test_terminal_escapes_in_a_file_name_are_not_printed_raw(tmp_path, capsys):
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / f"evil{ANSI}.json").write_bytes(b"")
    (folder / f"rows{ANSI}.json").write_text(slack_page(login(username=ANSI)))
    status, out, err = ingest(capsys, folder, store_path=tmp_path / "access.parquet")
    assert status == 2  # the empty file could not be read; the other one is in the store
    assert "\x1b" not in out + err and "\x07" not in out + err
    assert "evil" in err and "rows" in out


def test_all_hostile_files_at_once_in_a_subprocess_add_up(tmp_path):
    """The real command over every file: no traceback, no hang, every row accounted for."""
    folder = tmp_path / "logs"
    folder.mkdir()
    for number, (name, content, _) in enumerate(FILES.values()):
        (folder / f"{number:02d}-{name}").write_bytes(content)
    store_path = tmp_path / "store" / "access.parquet"
    command = [sys.executable, "-m", "fleetanalysis.cli", "ingest", str(folder), "--store", str(store_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    bad = {name for name, _, expected in FILES.values() if isinstance(expected, str)}
    # Files that cannot be read fail the run (a cron job sees it) once the others are stored.
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "\x1b" not in done.stdout + done.stderr
    summary = f"fleetanalysis: {len(bad)} of {len(FILES)} files could not be read (named above); the others are in the store"
    assert summary in done.stderr.splitlines()
    rows = counts_of(done.stdout)
    problems = [line for line in done.stderr.splitlines() if line.startswith("fleetanalysis: ") and line != summary]
    assert len(rows) == len(FILES) - len(bad)
    assert len(problems) == len(bad)
    for row in rows:
        assert row["read"] == row["loaded"] + row["rejected"] + row["duplicates"]
    assert len(store.read(store_path)) == sum(row["loaded"] for row in rows)
    assert len(rejected_rows(store_path)) == sum(row["rejected"] for row in rows)
    totals = [line for line in done.stdout.splitlines() if line.startswith("total: ")]
    if totals:
        sums = {key: sum(row[key] for row in rows) for key in ("read", "loaded", "rejected", "duplicates")}
        assert (f"read {sums['read']}, loaded {sums['loaded']}, rejected {sums['rejected']}, "
                f"duplicates {sums['duplicates']}") in totals[0]
    # Ingesting the same files again loads nothing new: every row is a duplicate or rejected again.
    # Unchanged files are skipped unread (the store's manifest); --rescan reads them all.
    again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2
    if len(rows) > 1:
        assert f"total: {len(rows)} files ({len(rows)} unchanged, skipped): read 0," in again.stdout, again.stdout
    else:
        assert again.stdout.rstrip().endswith(": unchanged, skipped (read 0 this run)"), again.stdout
    again = subprocess.run([*command, "--rescan"], capture_output=True, text=True, timeout=120)
    assert again.returncode == 2
    assert sum(row["loaded"] for row in counts_of(again.stdout)) == 0
    assert len(rejected_rows(store_path)) == sum(row["rejected"] for row in rows)


def test_ua_with_bytes_that_are_not_utf8_is_one_line_exit_2():
    command = [sys.executable, "-m", "fleetanalysis.cli", "ua"]
    done = subprocess.run(command, input=b"Mozilla/5.0\nbad \xe9\xff\x00 agent\n", capture_output=True, timeout=60)
    assert done.returncode == 2 and done.stdout == b""
    assert done.stderr == b"fleetanalysis: stdin: line 2: not UTF-8 (byte 0xe9); pass UTF-8 text\n"
    hostile = ("\x00" + "A" * 100_000 + "\n" + ANSI + "\n=1+1\n").encode()
    done = subprocess.run(command, input=hostile, capture_output=True, timeout=60)
    assert done.returncode == 0 and b"Traceback" not in done.stderr and b"\x1b" not in done.stdout
    assert len(list(csv_rows(done.stdout.decode()))) == 4


def csv_rows(text: str):
    return csv.reader(io.StringIO(text, newline=""))


@pytest.mark.parametrize(("damaged", "expected"), [
    ("access.parquet", "not a readable access store"),
    ("access-rejected.csv", "not a readable rejected-rows file"),
])
def test_a_damaged_store_is_one_line_exit_2_and_left_as_it_is(tmp_path, capsys, damaged, expected):
    logs = tmp_path / "slack.json"
    logs.write_text(slack_page(login(), login(2, date_first=0)))
    store_path = tmp_path / "access.parquet"
    assert ingest(capsys, logs, store_path=store_path)[0] == 0
    # The store is a folder: damage its partition file.
    target = next(store_path.rglob("part-0.parquet")) if damaged.endswith("parquet") else tmp_path / damaged
    target.write_bytes(b"\x00PAR1 garbage \xff" * 10 if damaged.endswith("parquet") else b'"unclosed\n')
    # A changed log, so the run has rows to merge (an unchanged one is skipped unread).
    logs.write_text(logs.read_text() + "\n")
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    status, out, err = ingest(capsys, logs, store_path=store_path)
    assert status == 2 and err.count("\n") == 1 and expected in err, err
    assert {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()} == before


@pytest.mark.parametrize(("option", "content", "expected"), [
    ("--directory", b"\x00\x01binary\xff", "directory.bin"),
    ("--directory", b"office,colour\nx,y\n", "missing column"),
    ("--networks", b"cidr,office\nnot-a-cidr,X\n", "not a network"),
    ("--policy", b"[products.ios\nrule=", "not a valid policy file"),
    ("--store", b"PAR1" + b"\x00" * 100, "not a readable access store"),
])
def test_broken_side_files_are_one_line_exit_2(tmp_path, capsys, option, content, expected):
    logs = tmp_path / "slack.json"
    logs.write_text(slack_page(login()))
    store_path = tmp_path / "access.parquet"
    assert ingest(capsys, logs, store_path=store_path)[0] == 0
    side = tmp_path / "directory.bin"
    side.write_bytes(content)
    options = ["--store", str(store_path), option, str(side)]
    for command in (["devices"], ["status"], ["nudges", "--state", str(tmp_path / "state.sqlite")]):
        status = main([*command, *options])
        out, err = capsys.readouterr()
        assert status == 2 and out == "" and err.count("\n") == 1 and expected in err, (command, err)


@pytest.mark.parametrize("case", [case for case, (_, _, expected) in FILES.items() if isinstance(expected, dict)])
def test_reading_in_small_chunks_gives_the_same_store_and_counts(tmp_path, case):
    """Chunk boundaries inside quoted newlines, long fields or multi-byte text change nothing."""
    name, content, _ = FILES[case]
    path = tmp_path / name
    path.write_bytes(content)
    whole, _ = store.ingest(tmp_path / "whole.parquet", [path])
    pieces, _ = store.ingest(tmp_path / "pieces.parquet", [path], chunk_bytes=97)
    columns = ["read", "loaded", "rejected", "duplicates"]
    assert pieces[columns].to_dict("records") == whole[columns].to_dict("records")
    pd.testing.assert_frame_equal(store.read(tmp_path / "pieces.parquet"), store.read(tmp_path / "whole.parquet"))
    assert (rejected_rows(tmp_path / "pieces.parquet")[["record", "reason"]].to_dict("records")
            == rejected_rows(tmp_path / "whole.parquet")[["record", "reason"]].to_dict("records"))


PATHOLOGICAL_AGENTS = [
    "Mozilla/5.0 " + "(" * 4000,
    "Chrome/" + "1." * 2000 + "x",
    "Mozilla/5.0 (iPhone; CPU iPhone OS " + "1_" * 2000 + "x)",
    "Mozilla/5.0 (Linux; Android " + "1." * 2000 + "; K)",
    "Slack/" + "9." * 1000 + " (" + "x" * 2000,
    "Windows NT " + "10.0." * 800,
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Version/" + "1" * 4000 + " Safari/605",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/" + "9" * 4000 + ".0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_" + "9" * 4000 + " like Mac OS X) Version/17.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:" + "9" * 40 + ") Gecko/20100101 Firefox/" + "9" * 40 + ".0",
]


def test_pathological_user_agents_go_through_the_whole_pipeline(tmp_path, capsys):
    """Agents just under the length limit, built to make parsers backtrack or numbers overflow."""
    logs = tmp_path / "agents.csv"
    with logs.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["email", "timestamp", "user_agent"])
        writer.writerows([f"p{number}@example.com", "2024-05-01T10:00:00Z", agent]
                         for number, agent in enumerate(PATHOLOGICAL_AGENTS))
    store_path = tmp_path / "access.parquet"
    status, out, _ = ingest(capsys, logs, store_path=store_path)
    assert status == 0 and counts_of(out)[0]["loaded"] == len(PATHOLOGICAL_AGENTS)
    command = [sys.executable, "-m", "fleetanalysis.cli", "devices", "--store", str(store_path),
               "--as-of", "2024-05-02", "--format", "json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    devices = json.loads(done.stdout)
    assert len(devices) == len(PATHOLOGICAL_AGENTS)
    # A version no vendor ever released is no evidence of being behind (nor of being current).
    absurd = [device for device in devices
              if "9" * 30 in (device["clients"] or "") + (device["os_version"] or "")]
    assert len(absurd) >= 3 and {device["verdict"] for device in absurd} == {"unknown"}
