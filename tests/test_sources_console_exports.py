"""Sign-in logs as admins download them from vendor consoles (an outside tester's findings).

Shapes and where they come from (facts only; the values are ours):
- Okta System Log fields: developer.okta.com, System Log API, LogEvent object (``uuid``,
  ``published``, ``eventType``, ``actor{id, type, alternateId, displayName}``,
  ``client{userAgent{rawUserAgent, os, browser}, ipAddress}``, ``outcome{result, reason}``;
  ``rawUserAgent`` "UNKNOWN-DOWNLOAD" and ``browser`` "UNKNOWN" in its example). A CSV naming
  these fields by their dotted paths is what flattening the events gives; the exact header of
  the admin console's "Download CSV" could not be confirmed, so the reader takes the dotted
  paths and the generic CSV screens an outcome column and the ``UNKNOWN`` agent whatever
  the header.
- Entra portal "Download CSV" header: a public script that checks the exact header line of a
  current download ("Date (UTC)","Request ID","User agent",...,"Browser","Operating System",
  "Compliant","Managed","Join Type",...); times ISO 8601 in UTC.
- GitHub audit log export: the fields of the audit log API (``@timestamp``, ``_document_id``,
  ``action``, ``actor``, ``actor_id``, ``created_at``, ``user_agent``); epoch milliseconds per
  GitHub's docs, ISO 8601 text as some exports write it.
"""

from __future__ import annotations

import csv
import io
import json
import re

import pandas as pd
import pytest

from fleetanalysis import cli, sources, store
from fleetanalysis.errors import BadInput

CHROME_WIN = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36")
FIREFOX_WIN7 = "Mozilla/5.0 (Windows NT 6.1; Win64; x64; rv:52.0) Gecko/20100101 Firefox/52.0"

OKTA_HEADER = ["uuid", "published", "eventType", "actor.id", "actor.type", "actor.alternateId",
               "actor.displayName", "client.userAgent.rawUserAgent", "client.userAgent.os",
               "client.userAgent.browser", "client.ipAddress", "outcome.result", "outcome.reason"]
OKTA_ROWS = [
    ["e1", "2026-11-30T08:01:12.345Z", "user.session.start", "00u1", "User", "ann@example.com", "Ann",
     CHROME_WIN, "Windows 10", "CHROME", "203.0.113.10", "SUCCESS", ""],
    # A password spray from an old browser: a failed attempt, not bob's device.
    ["e2", "2026-11-30T08:06:30.000Z", "user.session.start", "00u3", "User", "bob@example.com", "Bob",
     FIREFOX_WIN7, "Windows 7", "FIREFOX", "198.51.100.66", "FAILURE", "INVALID_CREDENTIALS"],
    ["e3", "2026-11-30T08:10:00.000Z", "system.import.user.create", "0oa1", "SystemPrincipal", "system@okta.com",
     "Okta System", "okta-sdk-python/2.9.0 python/3.11", "Linux", "UNKNOWN", "192.0.2.5", "SUCCESS", ""],
    ["e4", "2026-11-30T08:15:00.000Z", "user.session.start", "00u5", "User", "dan@example.com", "Dan",
     "UNKNOWN", "Unknown", "UNKNOWN", "192.0.2.9", "SUCCESS", ""],
]


def write_csv(path, header, rows, delimiter=","):
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter, lineterminator="\r\n").writerows([header, *rows])
    path.write_text(text.getvalue(), encoding="utf-8")
    return path


def reasons(rejected):
    return dict(zip(rejected["record"], rejected["reason"]))


def loaded_and_rejected(reader, file, tmp_path, counts):
    """The rows ``file`` loads and rejects through ``sources.load``, or through
    ``store.ingest`` (DuckDB underneath), whose counts must be ``counts``."""
    if reader == "load":
        result = sources.load([file])
        return result.access, result.rejected
    found, problems = store.ingest(tmp_path / "access.parquet", [file])
    assert problems == [] and found[["read", "loaded", "rejected"]].values.tolist() == [counts]
    return store.read(tmp_path / "access.parquet"), pd.read_csv(store.rejected_path(tmp_path / "access.parquet"))


def test_an_okta_system_log_csv_is_read_by_the_okta_rules(tmp_path):
    file = write_csv(tmp_path / "System Log 2026-11-30.csv", OKTA_HEADER, OKTA_ROWS)
    result = sources.load([file])
    assert result.counts[["format", "read", "loaded", "rejected"]].values.tolist() == [["okta", 4, 1, 3]]
    assert result.access["user"].tolist() == ["ann@example.com"]
    assert result.access["reported_os"].tolist() == ["Windows 10"]
    found = reasons(result.rejected)
    assert found["row 2"].startswith("failed sign-in (outcome FAILURE)")
    assert found["row 3"].startswith("made by actor type SystemPrincipal, not a person")
    assert found["row 4"] == "no user agent"
    # Forced, the same.
    assert sources.load([file], format="okta").counts["loaded"].tolist() == [1]


@pytest.mark.parametrize("header", [
    ["Published", "Actor Alternate Id", "Client User Agent Raw String", "Outcome Result"],
    ["time", "email", "user_agent", "outcome.result"],
])
def test_a_generic_csv_rejects_failed_outcomes_and_the_unknown_agent(tmp_path, header):
    rows = [["2026-11-30T08:01:12Z", "ann@example.com", CHROME_WIN, "SUCCESS"],
            ["2026-11-30T08:06:30Z", "bob@example.com", FIREFOX_WIN7, "FAILURE"],
            ["2026-11-30T08:07:30Z", "bob@example.com", FIREFOX_WIN7, "deny"],
            ["2026-11-30T08:15:00Z", "dan@example.com", "UNKNOWN", "SUCCESS"],
            ["2026-11-30T08:16:00Z", "eve@example.com", CHROME_WIN, ""]]
    file = write_csv(tmp_path / "export.csv", header, rows)
    result = sources.load([file], user_column=header[1], ua_column=header[2])
    assert result.counts[["format", "read", "loaded", "rejected"]].values.tolist() == [["csv", 5, 2, 3]]
    found = reasons(result.rejected)
    assert found["row 2"].startswith("failed sign-in (outcome FAILURE)")
    assert found["row 3"].startswith("failed sign-in (outcome DENY)")
    assert found["row 4"] == "no user agent"
    # The store reads a generic CSV through DuckDB: the same rows and reasons.
    counts, problems = store.ingest(tmp_path / "access.parquet", [file], user_column=header[1],
                                    ua_column=header[2])
    assert problems == []
    assert counts[["read", "loaded", "rejected", "duplicates"]].values.tolist() == [[5, 2, 3, 0]]
    assert sorted(store.read(tmp_path / "access.parquet")["user"]) == ["ann@example.com", "eve@example.com"]


ENTRA_HEADER = ["Date (UTC)", "Request ID", "User agent", "Correlation ID", "User ID", "User", "Username",
                "Application", "IP address", "Location", "Status", "Sign-in error code", "Failure reason",
                "Client app", "Device ID", "Browser", "Operating System", "Compliant", "Managed", "Join Type"]


def entra_row(when, number, agent=CHROME_WIN, code="0", browser="Chrome 131.0.0", system="Windows10"):
    return [when, f"req-{number}", agent, f"corr-{number}", f"oid-{number}", "Li, Bob", f"user{number}@example.com",
            "Office 365 Exchange Online", "203.0.113.10", "Berlin, Berlin, DE", "Success" if code == "0" else "Failure",
            code, "", "Browser", "", browser, system, "false", "false", ""]


@pytest.mark.parametrize("reader", ["load", "ingest"])
def test_a_file_whose_times_are_all_unreadable_is_refused_in_one_line(tmp_path, reader):
    # The Entra download re-saved by US Excel: month/day times, none of them ISO 8601.
    file = write_csv(tmp_path / "InteractiveSignIns.csv", ENTRA_HEADER,
                     [entra_row("11/30/2026 8:01", 1), entra_row("11/30/2026 9:01", 2)])
    with pytest.raises(BadInput) as raised:
        sources.load([file]) if reader == "load" else store.ingest(tmp_path / "access.parquet", [file])
    problem = str(raised.value)
    assert problem.startswith(str(file)) and "\n" not in problem
    assert "'Date (UTC)'" in problem and "'11/30/2026 8:01'" in problem and "ISO 8601" in problem


def test_cli_ingest_of_a_file_without_a_readable_time_exits_2_with_one_line(tmp_path, capsys):
    file = write_csv(tmp_path / "export.csv", ["time", "email", "user_agent"],
                     [["30.11.2026 08:01", "ann@example.com", CHROME_WIN]])
    assert cli.main(["ingest", str(file), "--store", str(tmp_path / "access.parquet")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("fleetanalysis:")]
    assert len(errors) == 1 and "'30.11.2026 08:01'" in errors[0] and "Traceback" not in errors[0]


@pytest.mark.parametrize("reader", ["load", "ingest"])
def test_one_bad_time_is_rejected_naming_its_value_and_utc_spellings_are_read(tmp_path, reader):
    rows = [["2026-11-30 09:13:20 UTC", "ann@example.com", CHROME_WIN],
            ["2026-11-30 09:12:05z", "bob@example.com", CHROME_WIN],
            ["30/11/2026 09:01", "cyd@example.com", CHROME_WIN],
            ["", "dan@example.com", CHROME_WIN]]
    file = write_csv(tmp_path / "export.csv", ["time", "email", "user_agent"], rows)
    loaded, rejected = loaded_and_rejected(reader, file, tmp_path, [4, 2, 2])
    assert sorted(loaded["first_seen"].astype(str)) == ["2026-11-30 09:12:05+00:00", "2026-11-30 09:13:20+00:00"]
    found = reasons(rejected)
    assert found["row 3"].startswith("first seen '30/11/2026 09:01' in column 'time' is not a date (expected ISO 8601")
    assert found["row 4"] == "first seen missing (nothing in 'time')"


def test_a_github_csv_with_iso_times_is_read(tmp_path):
    header = ["@timestamp", "_document_id", "action", "actor", "actor_id", "created_at", "user_agent"]
    rows = [["2026-11-30T09:15:42.123Z", "d1", "user.login", "ann", "101", "2026-11-30T09:15:42.123Z", CHROME_WIN],
            ["1796116542000", "d2", "user.login", "bo", "102", "1796116542000", CHROME_WIN]]
    result = sources.load([write_csv(tmp_path / "export-acme.csv", header, rows)])
    assert result.counts[["format", "loaded"]].values.tolist() == [["github", 2]]
    assert result.access["first_seen"].tolist() == [pd.Timestamp("2026-11-30 09:15:42.123Z"),
                                                     pd.Timestamp("2026-12-01 09:15:42Z")]


def test_forcing_entra_on_a_csv_without_its_columns_is_refused_in_one_line(tmp_path):
    file = write_csv(tmp_path / "InteractiveSignIns.csv", ENTRA_HEADER, [entra_row("2026-11-30T08:01:12Z", 1)])
    with pytest.raises(BadInput, match="header: not the columns of an entra CSV export; without --format"):
        sources.load([file], format="entra")
    assert sources.load([file]).counts[["format", "loaded"]].values.tolist() == [["csv", 1]]


def test_a_generic_csv_action_naming_a_failure_is_a_failed_sign_in(tmp_path):
    # Slack's audit log actions (user_login, user_login_failed) in a CSV of unconfirmed columns.
    rows = [["2026-11-30T09:13:20Z", "user_login", "ann@example.com", CHROME_WIN],
            ["2026-11-30T09:21:00Z", "user_login_failed", "bob@example.com", FIREFOX_WIN7]]
    file = write_csv(tmp_path / "audit.csv", ["Date", "Action", "Email", "User Agent"], rows)
    result = sources.load([file])
    assert result.access["user"].tolist() == ["ann@example.com"]
    assert reasons(result.rejected)["row 2"].startswith("failed sign-in (user_login_failed)")
    counts, _ = store.ingest(tmp_path / "access.parquet", [file])
    assert counts[["loaded", "rejected"]].values.tolist() == [[1, 1]]


LOG_ANALYTICS = ["TenantId", "TimeGenerated [{zone}]", "CreatedDateTime [{zone}]", "UserPrincipalName", "UserAgent",
                 "IPAddress", "ResultType", "Id"]


@pytest.mark.parametrize("reader", ["load", "ingest"])
@pytest.mark.parametrize("zone", ["Local Time", "UTC+01:00"])
def test_a_log_analytics_csv_in_another_zone_than_utc_is_refused(tmp_path, reader, zone):
    header = [column.format(zone=zone) for column in LOG_ANALYTICS]
    row = ["t1", "11/30/2026, 9:01:12.000 AM", "11/30/2026, 9:01:12.000 AM", "ann@example.com", CHROME_WIN,
           "203.0.113.10", "0", "s1"]
    file = write_csv(tmp_path / "query_data.csv", header, [row])
    expected = f"column 'TimeGenerated [{zone}]' holds times in {zone}, not UTC; export it again with the time zone set to UTC"
    with pytest.raises(BadInput, match=re.escape(expected)):
        sources.load([file]) if reader == "load" else store.ingest(tmp_path / "access.parquet", [file])
    header = [column.format(zone="UTC") for column in LOG_ANALYTICS]
    loaded = sources.load([write_csv(tmp_path / "utc.csv", header, [row])])
    assert loaded.access["first_seen"].tolist() == [pd.Timestamp("2026-11-30 09:01:12Z")]


def test_a_generic_csv_time_in_local_time_is_refused(tmp_path):
    file = write_csv(tmp_path / "export.csv", ["Email", "Last Login (Local Time)", "User Agent"],
                     [["ann@example.com", "2026-11-30T09:01:12", CHROME_WIN]])
    with pytest.raises(BadInput, match=r"header: column 'Last Login \(Local Time\)' holds times in Local Time"):
        sources.load([file])


def test_the_user_guess_takes_an_email_column_over_a_display_name(tmp_path):
    # Audit exports name the actor twice: "Actor" (a display name) and "Actor Email".
    file = write_csv(tmp_path / "audit.csv", ["Date Created", "Action", "Actor", "Actor Email", "User Agent"],
                     [["2026-11-30T09:13:20Z", "user_login", "Ann Åberg", "ann@example.com", CHROME_WIN]])
    assert sources.load([file], time_column="Date Created").access["user"].tolist() == ["ann@example.com"]


@pytest.mark.parametrize(("delimiter", "named"), [(";", "semicolons (;)"), ("\t", "tabs")])
def test_a_csv_separated_by_semicolons_or_tabs_says_so_in_one_line(tmp_path, capsys, delimiter, named):
    # The Entra download saved again by Excel in a German locale.
    file = write_csv(tmp_path / "InteractiveSignIns.csv", ENTRA_HEADER, [entra_row("30.11.2026 08:01", 1)], delimiter)
    expected = f"header: the columns are separated by {named}, not commas; save the file again as comma-separated CSV"
    with pytest.raises(BadInput, match=re.escape(expected)):
        sources.load([file])
    assert cli.main(["ingest", str(file), "--store", str(tmp_path / "access.parquet")]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 1 and expected in errors[0]


@pytest.mark.parametrize("reader", ["load", "ingest"])
def test_the_entra_download_states_os_and_browser_as_its_json_does(tmp_path, reader):
    # A "Mobile Apps and Desktop clients" sign-in: no user agent, but an OS and a browser.
    rows = [entra_row("2026-11-30T08:01:12Z", 1),
            entra_row("2026-11-30T08:30:45Z", 3, agent="", browser="Rich Client 5.2.6.0", system="Windows10"),
            entra_row("2026-11-30T08:40:00Z", 4, agent="", browser="", system="")]
    file = write_csv(tmp_path / "InteractiveSignIns.csv", ENTRA_HEADER, rows)
    loaded, rejected = loaded_and_rejected(reader, file, tmp_path, [3, 2, 1])
    assert reasons(rejected) == {"row 3": "no user agent"}
    rich = loaded[loaded["user"] == "user3@example.com"].iloc[0]
    json_page = {"value": [{"id": "req-3", "createdDateTime": "2026-11-30T08:30:45Z", "userPrincipalName": "u@x.io",
                            "deviceDetail": {"operatingSystem": "Windows10", "browser": "Rich Client 5.2.6.0"}}]}
    (tmp_path / "page.json").write_text(json.dumps(json_page))
    stated = sources.load([tmp_path / "page.json"]).access.iloc[0]
    for column in ("reported_os", "reported_os_version", "reported_browser", "reported_browser_version"):
        assert str(rich[column]) == str(stated[column]), column
    assert (rich["reported_os"], rich["reported_browser"], rich["reported_browser_version"]) == (
        "Windows10", "Rich Client", "5.2.6.0")
    chrome = loaded[loaded["user"] == "user1@example.com"].iloc[0]
    assert (chrome["reported_os"], chrome["reported_browser"]) == ("Windows10", "Chrome")


def test_json_responses_appended_to_one_file_are_named_as_such(tmp_path):
    page = json.dumps([{"uuid": "e1", "published": "2026-11-30T08:01:12.345Z", "eventType": "user.session.start",
                        "actor": {"alternateId": "ann@example.com"}}], indent=2)
    file = tmp_path / "okta-logs.json"
    file.write_text(page + "\n" + page + "\n")
    line = page.count("\n") + 2
    with pytest.raises(BadInput, match=rf"okta-logs.json: line {line} column 1: a second JSON document starts here"):
        sources.load([file])


def test_a_csv_forced_as_a_json_only_format_says_what_to_do(tmp_path):
    file = write_csv(tmp_path / "Device log events.csv", ["Date", "Event", "User"], [["2026-11-30", "x", "a"]])
    with pytest.raises(BadInput, match=r"is a CSV file, not a google_mobile export \(google_mobile logs are JSON\); "
                                       "without --format it is read as a generic CSV"):
        sources.load([file], format="google_mobile")


@pytest.mark.parametrize("command", ["devices", "status"])
def test_after_an_ingest_that_rejected_every_row_the_next_command_points_to_the_reasons(tmp_path, capsys, command):
    file = write_csv(tmp_path / "export.csv", ["email", "time", "user_agent"],
                     [["ann@example.com", "2026-11-30T08:00:00Z", ""]])
    store_path = tmp_path / "access.parquet"
    assert cli.main(["ingest", str(file), "--store", str(store_path)]) == 0
    capsys.readouterr()
    assert cli.main([command, "--store", str(store_path)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert f"no sign-in rows: the rows read were rejected, their reasons are in {store.rejected_path(store_path)}" in line
