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
"""

from __future__ import annotations

import csv
import io

import pytest

from fleetanalysis import sources, store

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
