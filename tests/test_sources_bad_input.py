"""Bad input gives a one-line problem or a rejected row with its reason; good rows go on."""

from __future__ import annotations

import codecs
import gzip
import json

import pandas as pd
import pytest

from fleetanalysis import sources
from fleetanalysis.cli import main
from fleetanalysis.errors import BadInput
from fleetanalysis.sources.schema import MAX_FIELD, MAX_USER_AGENT

T0 = 1714521600
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"


def login(**changes):
    row = {"user_id": "U1", "username": "ann", "date_first": T0, "date_last": T0 + 60, "count": 1,
           "ip": "192.0.2.1", "user_agent": UA, "isp": None, "country": None, "region": None}
    return {**row, **changes}


def page(*logins):
    return json.dumps({"ok": True, "logins": list(logins), "paging": {"count": 100, "total": 1, "page": 1, "pages": 1}})


def problem_of(path):
    with pytest.raises(BadInput) as caught:
        sources.load_file(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    return message


@pytest.mark.parametrize(("content", "expected"), [
    (b"", "empty file"),
    (b"  \n\n", "empty file"),
    (b'{"hello": "world"}', "not a known sign-in log"),
    (b'{"ok": true, "logins": [{"user_id": "U1", "date_first": 17', "line 1 column 59: not valid JSON"),
    ('[{"user_id": "U1"}]'.encode("utf-16-le"), "UTF-16 without a byte-order mark"),
    ("user,time,ua\nJosé,2024-05-01T00:00:00Z,x\n".encode("latin-1"), "line 2: not UTF-8 (byte 0xe9"),
    (b"\x00\x01\x02\x03" * 100, "binary data"),
    (gzip.compress(page(login()).encode())[:-12], "truncated or corrupt gzip"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b"name,colour\nann,blue\n", "no user column (use --user-column)"),
])
def test_unreadable_files_give_one_line(tmp_path, content, expected):
    path = tmp_path / "input.json"
    path.write_bytes(content)
    assert expected in problem_of(path)


def test_missing_file_is_a_problem_and_other_files_still_load(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(page(login()))
    empty = tmp_path / "empty.json"
    empty.write_text("")
    result = sources.load([tmp_path / "missing.json", empty, good])
    assert len(result.access) == 1
    assert result.problems == [f"{tmp_path / 'missing.json'}: no such file or directory", f"{empty}: empty file"]


def test_boms_are_accepted(tmp_path):
    (tmp_path / "utf8.json").write_bytes(codecs.BOM_UTF8 + page(login()).encode("utf-8"))
    (tmp_path / "utf16.json").write_bytes(page(login(username="Zoë")).encode("utf-16"))
    result = sources.load([tmp_path])
    assert result.counts["loaded"].tolist() == [1, 1] and not result.problems
    assert result.access["user"].tolist() == ["Zoë", "ann"]


def test_bad_rows_are_rejected_with_reasons_and_good_rows_kept(tmp_path):
    path = tmp_path / "slack.json"
    path.write_text(page(
        login(),
        login(user_id="U2", user_agent=None),
        login(user_id="U3", user_agent=""),
        login(user_id="U4", user_agent="A" * (MAX_USER_AGENT + 1)),
        login(user_id="U5", count=-4),
        login(user_id="U6", date_first="yesterday"),
        login(user_id="U7", date_first=800_000_000, date_last=800_000_000),
        login(user_id="U8", date_last=4_102_444_800),
        login(user_id="U9", user_agent="Mozilla/5.0\x00evil"),
        "not an object",
        login(user_id="U11", count=2.5),
        login(user_id="U12", count=1e30),
    ))
    result = sources.load([path])
    assert result.access["user_id"].tolist() == ["U1"]
    reasons = dict(zip(result.rejected["record"], result.rejected["reason"]))
    assert reasons == {
        "record 2": "no user agent",
        "record 3": "no user agent",
        "record 4": f"user agent is {MAX_USER_AGENT + 1} characters (limit {MAX_USER_AGENT})",
        "record 5": "count is -4, must be at least 1",
        "record 6": "first seen 'yesterday' in column 'date_first' is not a date (expected unix seconds)",
        "record 7": "first seen is before 2000",
        "record 8": "last seen is in the future",
        "record 9": "contains NUL bytes",
        "record 10": "not a JSON object",
        "record 11": "count is 2.5, not a whole number of sightings",
        "record 12": "count is 1e+30, not a whole number of sightings",
    }
    assert result.rejected["raw"].str.len().max() <= 200
    assert (result.rejected["file"] == str(path)).all()
    counts = result.counts.iloc[0]
    assert (counts["read"], counts["loaded"], counts["rejected"]) == (12, 1, 11)


def test_ndjson_truncated_and_broken_lines_are_rejected(tmp_path):
    path = tmp_path / "rows.ndjson"
    lines = [json.dumps(login()), '{"user_id": "U2", "date_first"\x00: 1}', "[" * 50_000,
             json.dumps(login(user_id="U3")), json.dumps(login(user_id="U4"))[:40]]
    path.write_text("\n".join(lines) + "\n")
    result = sources.load([path])
    assert result.access["user_id"].tolist() == ["U1", "U3"]
    assert result.rejected["record"].tolist() == ["line 2", "line 3", "line 5"]
    assert result.rejected["reason"].str.startswith(("not valid JSON", "JSON nested too deeply")).all()


def test_deep_nesting_inside_a_record_does_not_crash(tmp_path):
    deep: object = "x"
    for _ in range(900):
        deep = {"a": deep}
    path = tmp_path / "deep.json"
    path.write_text(page(login(), login(user_id="U2", extra=deep)))
    try:
        result = sources.load([path])
    except BadInput as problem:
        assert "nested too deeply" in str(problem)
    else:
        assert "U1" in result.access["user_id"].tolist()


def test_google_rows_need_no_user_agent_but_unusable_dates_are_rejected(tmp_path):
    path = tmp_path / "mobile.json"
    path.write_text(json.dumps({"kind": "admin#reports#activities", "items": [
        {"id": {"time": "2024-05-01T08:00:00Z", "uniqueQualifier": "1"}, "actor": {"email": "a@example.com"},
         "events": [{"name": "DEVICE_SYNC_EVENT", "parameters": [{"name": "DEVICE_TYPE", "value": "ANDROID"}]}]},
        {"id": {"time": "last tuesday", "uniqueQualifier": "2"}, "actor": {"email": "b@example.com"},
         "events": [{"name": "DEVICE_SYNC_EVENT", "parameters": [{"name": "DEVICE_TYPE", "value": "ANDROID"}]}]}]}))
    result = sources.load([path])
    assert result.access["user"].tolist() == ["a@example.com"]
    assert result.rejected["reason"].tolist() == [
        "first seen 'last tuesday' in column 'id.time' is not a date (expected ISO 8601 such as 2024-05-01T10:00:00Z)"]


def test_a_google_activity_naming_no_device_says_so_and_one_event_object_is_read(tmp_path):
    # elastic/integrations' google_workspace device fixture hands one event over as an object
    # (its collector splits the list); it was "no user agent", which no Google row ever has.
    path = tmp_path / "mobile.ndjson"
    event = {"type": "device_updates", "name": "DEVICE_SYNC_EVENT", "parameters": [
        {"name": "DEVICE_MODEL", "value": "model"}, {"name": "DEVICE_TYPE", "value": "ANDROID"},
        {"name": "OS_VERSION", "value": "Android 14"}, {"name": "USER_EMAIL", "value": "user@foo.com"}]}
    bare = {**event, "parameters": [{"name": "RESOURCE_ID", "value": "sads324"}]}
    # OS_VERSION alone names the system; a model alone does not.
    stated = {**event, "parameters": [{"name": "OS_VERSION", "value": "iOS 17.4"}]}
    model = {**event, "parameters": [{"name": "DEVICE_MODEL", "value": "Pixel 8"}]}
    path.write_text("\n".join(json.dumps({
        "kind": "admin#reports#activity", "id": {"time": "2024-05-01T08:00:00Z", "uniqueQualifier": str(number),
                                                 "applicationName": "mobile"},
        "actor": {"callerType": "USER", "email": "foo@bar.com"}, "events": events})
        for number, events in ((1, event), (2, [bare]), (3, [stated]), (4, [model]))))
    result = sources.load([path])
    assert result.access["reported_os_version"].tolist() == ["14", "17.4"]
    assert result.access["reported_os"].astype(str).tolist() == ["ANDROID", "iOS"]
    assert result.rejected["reason"].tolist() == [
        "a Google mobile activity naming no system (no DEVICE_TYPE, and no OS_VERSION naming one)"] * 2


def test_cli_exits_2_with_one_line_when_nothing_can_be_read(tmp_path, capsys):
    path = tmp_path / "x.json"
    path.write_text('[{"user_id": "U1"')
    assert main(["ingest", str(path), "--store", str(tmp_path / "s.parquet")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "x.json" in err and "Traceback" not in err
    assert not (tmp_path / "s.parquet").exists()


def test_cli_goes_on_past_a_bad_file(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(page(login()))
    # The good file is stored; the run still fails, so that a scheduled job shows the bad one.
    assert main(["ingest", str(tmp_path / "gone.json"), str(good), "--store", str(tmp_path / "s.parquet")]) == 2
    out, err = capsys.readouterr()
    assert "read 1, loaded 1, rejected 0, duplicates 0" in out
    assert "gone.json: no such file or directory" in err
    assert err.splitlines()[-1] == ("fleetanalysis: 1 of 2 files could not be read (named above); "
                                    "the others are in the store")
    assert len(pd.read_parquet(tmp_path / "s.parquet")) == 1


def test_csv_rows_of_the_wrong_width_and_a_cut_off_last_row_are_rejected(tmp_path):
    path = tmp_path / "signins.csv"
    path.write_text(f"user,time,user_agent\nann,2024-05-01T00:00:00Z,\"{UA}\"\n"
                    f"bo,2024-05-01T00:00:00Z,\"{UA}\",surplus\ncy,2024-05-01T00:00:00Z,x\n\"dee,2024-05")
    result = sources.load([path])
    assert result.access["user"].tolist() == ["ann", "cy"]
    assert result.rejected["reason"].tolist() == ["expected 3 fields, found 4", "expected 3 fields, found 1"]
    assert result.counts[["read", "loaded", "rejected"]].values.tolist() == [[4, 2, 2]]


def unterminated_quote(path, rows=3):
    """A CSV export whose second line opens a quote it never closes (the agent cut short)."""
    firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    lines = ["email,timestamp,user_agent", 'ann@example.com,2024-05-01T10:00:00Z,"Mozilla/5.0 (X11; Linux x86_64']
    lines += [f'user{number}@example.com,2024-05-01T11:00:00Z,"{firefox}"' for number in range(rows - 1)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_an_unterminated_quote_costs_its_own_line_only(tmp_path, capsys):
    # Before: the open quote swallowed every later row into one user agent (read 1, loaded 1).
    path = unterminated_quote(tmp_path / "signins.csv")
    assert main(["ingest", str(path), "--store", str(tmp_path / "s.parquet")]) == 0
    out, _ = capsys.readouterr()
    assert "read 3, loaded 2, rejected 1, duplicates 0" in out
    rejected = pd.read_csv(tmp_path / "s-rejected.csv", dtype=str)
    assert rejected[["record", "reason"]].values.tolist() == [
        ["line 2", "unterminated quote: the field runs past the end of its line"]]
    assert not pd.read_parquet(tmp_path / "s.parquet")["user_agent"].astype(str).str.contains("\n").any()


def test_an_unterminated_quote_in_a_streamed_file_is_read_line_by_line(tmp_path):
    from fleetanalysis import store

    path = unterminated_quote(tmp_path / "big.csv", rows=2000)
    counts, problems = store.ingest(tmp_path / "s.parquet", [path], chunk_bytes=4096)
    assert counts[["read", "loaded", "rejected"]].values.tolist() == [[2000, 1999, 1]] and not problems
    assert sources.load([path]).counts[["read", "loaded", "rejected"]].values.tolist() == [[2000, 1999, 1]]


def test_a_header_only_csv_exits_2_every_time_never_aborts(tmp_path):
    # Arrow's threaded reader, failing on the header alone, was sometimes let go by one of
    # its I/O threads during interpreter shutdown: SIGABRT (exit 134) after the message.
    import subprocess
    import sys

    path = tmp_path / "header.csv"
    path.write_text("email,timestamp,user_agent")
    runs = []
    for batch in range(10):
        started = [subprocess.Popen([sys.executable, "-m", "fleetanalysis.cli", "ingest", str(path), "--store",
                                     str(tmp_path / f"s{batch}-{n}.parquet")], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for n in range(4)]
        runs += [(run.wait(timeout=120), run.stderr.read()) for run in started]
    assert [status for status, _ in runs] == [2] * len(runs), [err for status, err in runs if status != 2]
    assert all(err.count("\n") == 1 and "header.csv" in err for _, err in runs)


def test_a_field_over_the_limit_is_rejected_and_the_counts_add_up(tmp_path):
    """A user or address thousands of characters long is a broken export, not a person."""
    path = tmp_path / "signins.csv"
    agent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:124.0) Gecko/20100101 Firefox/124.0"
    path.write_text("email,timestamp,ip,user_agent\n"
                    f"ann@example.com,2024-05-01T00:00:00Z,192.0.2.1,{agent}\n"
                    f"{'b' * (MAX_FIELD + 1)}@example.com,2024-05-01T00:00:00Z,192.0.2.2,{agent}\n"
                    f"cy@example.com,2024-05-01T00:00:00Z,{'9' * 5000},{agent}\n")
    result = sources.load([path])
    assert result.access["user"].tolist() == ["ann@example.com"]
    assert sorted(result.rejected["reason"]) == [f"ip is 5000 characters (limit {MAX_FIELD})",
                                                f"user is {MAX_FIELD + 13} characters (limit {MAX_FIELD})"]
    count = result.counts.iloc[0]
    assert (count["read"], count["loaded"], count["rejected"]) == (3, 1, 2)
