"""Tests for fleetanalysis.clients: the accuracy set row by row, each freeze rule, facts, and `ua`."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd
import pytest

from fleetanalysis import cli, clients
from fleetanalysis.clients import agents

ACCURACY_SET = Path(__file__).parent / "data" / "user_agents.csv"
KH = "AppleWebKit/537.36 (KHTML, like Gecko)"
SAF = "AppleWebKit/605.1.15 (KHTML, like Gecko)"


def _expected_rows() -> list[dict]:
    with ACCURACY_SET.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


EXPECTED = _expected_rows()


@pytest.fixture(scope="module")
def described() -> pd.DataFrame:
    agents = pd.Series([row["user_agent"] for row in EXPECTED], dtype="str")
    return clients.describe(agents).astype(object).where(lambda frame: frame.notna(), "")


def test_accuracy_set_is_large_and_covers_every_kind_and_platform():
    assert len(EXPECTED) >= 250
    assert {row["platform"] for row in EXPECTED} == set(clients.PLATFORMS)
    assert {row["os_evidence"] for row in EXPECTED} == set(clients.OS_EVIDENCE)
    assert {row["client_kind"] for row in EXPECTED} >= {"browser", "app", "sdk", "bot", "unknown"}
    assert {row["client_product"] for row in EXPECTED} >= {
        "chrome", "firefox", "safari", "edge", "slack-desktop", "slack-ios", "slack-android",
        "edge-legacy", "internet-explorer"}
    families = {row["client_family"] for row in EXPECTED}
    assert families >= {"Okta Verify", "Microsoft Office", "Outlook", "Microsoft Teams", "Microsoft OneDrive",
                        "Android app", "Edge Legacy", "Internet Explorer", "go-git", "git", "GitHub CLI"}


def test_accuracy_rows_added_for_issue_14_name_their_source():
    # Rows from the first 344 predate the column; every later row says where it was found.
    assert all(row["source"] for row in EXPECTED[344:])


@pytest.mark.parametrize("number", range(len(EXPECTED)),
                         ids=[row["user_agent"][:60] for row in EXPECTED])
def test_accuracy_set_row(described, number):
    expected = {column: EXPECTED[number][column] for column in clients.COLUMNS}
    assert described.iloc[number][clients.COLUMNS].to_dict() == expected


def _one(agent: str) -> dict:
    return clients.describe(pd.Series([agent])).iloc[0].to_dict()


@pytest.mark.parametrize(("agent", "expected"), [
    # Windows 10 and 11 share "Windows NT 10.0": never a version from it.
    (f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {KH} Chrome/124.0.0.0 Safari/537.36",
     {"platform": "Windows", "os_evidence": "frozen", "client_version": "124"}),
    # An older NT token is exact: Windows 7 is NT 6.1.
    (f"Mozilla/5.0 (Windows NT 6.1; Win64; x64) {KH} Chrome/109.0.0.0 Safari/537.36",
     {"platform": "Windows", "os_version": "6.1", "os_evidence": "exact"}),
    # Chrome 107 froze the macOS token at 10_15_7.
    (f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {KH} Chrome/131.0.0.0 Safari/537.36",
     {"platform": "macOS", "os_evidence": "frozen"}),
    # Firefox 87 capped macOS at 10.15.
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0",
     {"platform": "macOS", "os_evidence": "frozen", "client_product": "firefox"}),
    # Safari on macOS 11+ says 10_15_7; Safari 18 still proves macOS 13 or later.
    (f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {SAF} Version/18.5 Safari/605.1.15",
     {"platform": "macOS", "os_version": "13", "os_evidence": "lower-bound"}),
    # Chrome 110 reports "Android 10; K" on every Android.
    (f"Mozilla/5.0 (Linux; Android 10; K) {KH} Chrome/131.0.0.0 Mobile Safari/537.36",
     {"platform": "Android", "os_evidence": "frozen", "device_class": "phone"}),
    # Before the freeze the Android token is real.
    (f"Mozilla/5.0 (Linux; Android 12; Pixel 6) {KH} Chrome/100.0.4896.127 Mobile Safari/537.36",
     {"platform": "Android", "os_version": "12", "os_evidence": "exact", "client_version": "100.0.4896.127"}),
    # Chrome 101 sends only its major version.
    (f"Mozilla/5.0 (X11; Linux x86_64) {KH} Chrome/120.0.0.0 Safari/537.36",
     {"client_version": "120", "reason": "Linux user agents carry no OS version; Chrome reports only its major version"}),
    # Safari on iOS 26 keeps 18_6 in the OS token; Version/ carries the Safari release, which
    # lags the system's own updates (iOS 18.3.2 sends Version/18.3.1): a lower bound.
    (f"Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) {SAF} Version/26.0.1 Mobile/15E148 Safari/604.1",
     {"platform": "iOS", "os_version": "26.0.1", "os_evidence": "lower-bound"}),
    # Some iOS 26 builds froze the token with a patch number (WebKit PR 50383, whatwg/compat
    # issue 283): 18_6_2 beside Version/26.0 is iOS 26.0 or later, beside another browser unknown.
    (f"Mozilla/5.0 (iPhone; CPU iPhone OS 18_6_2 like Mac OS X) {SAF} Version/26.0 Mobile/15E148 Safari/604.1",
     {"platform": "iOS", "os_version": "26.0", "os_evidence": "lower-bound"}),
    (f"Mozilla/5.0 (iPhone; CPU iPhone OS 18_7_2 like Mac OS X) {SAF} CriOS/141.0.7390.96 Mobile/15E148 Safari/604.1",
     {"platform": "iOS", "os_evidence": "frozen"}),
    # A real iOS 18.6.2 with its own Safari 18 says so.
    (f"Mozilla/5.0 (iPhone; CPU iPhone OS 18_6_2 like Mac OS X) {SAF} Version/18.6 Mobile/15E148 Safari/604.1",
     {"platform": "iOS", "os_version": "18.6.2", "os_evidence": "exact"}),
    # Firefox for iOS hard-codes 18_7.
    (f"Mozilla/5.0 (iPhone; CPU iPhone OS 18_7 like Mac OS X) {SAF} FxiOS/144.0 Mobile/15E148 Safari/605.1.15",
     {"platform": "iOS", "os_evidence": "frozen", "client_family": "Firefox"}),
    # Facebook's and Instagram's in-app browsers state the system version themselves (FBSV/,
    # "iOS 26_0_1;"), real where WebKit's token says 18_6; layouts as the apps' agents show them.
    (f"Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) {SAF} Mobile/15E148 [FBAN/FBIOS;FBAV/520.0.0.38.101;"
     "FBDV/iPhone16,2;FBMD/iPhone;FBSN/iOS;FBSV/26.0.1;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5]",
     {"platform": "iOS", "os_version": "26.0.1", "os_evidence": "exact", "client_family": "Facebook"}),
    (f"Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) {SAF} Mobile/15E148 Instagram 400.0.0.0 "
     "(iPhone16,2; iOS 26_0_1; en_US)",
     {"platform": "iOS", "os_version": "26.0.1", "os_evidence": "exact", "client_family": "Instagram"}),
    # Chrome for iOS before iOS 26 carries the real OS token.
    (f"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) {SAF} CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
     {"platform": "iOS", "os_version": "17.4", "os_evidence": "exact"}),
    # Reduced ChromeOS user agents all say 14541.0.0.
    (f"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) {KH} Chrome/124.0.0.0 Safari/537.36",
     {"platform": "ChromeOS", "os_evidence": "frozen"}),
    # The Slack iOS app carries the true iOS version; stock rules call it a web view.
    ("com.tinyspeck.chatlyio/23.04.10 (iPhone; iOS 16.4.1; Scale/3.00)",
     {"platform": "iOS", "os_version": "16.4.1", "os_evidence": "exact", "client_family": "Slack",
      "client_product": "slack-ios", "client_kind": "app"}),
    ("com.tinyspeck.chatlyio/24.10.10 (iPad; iOS 18.1; Scale/2.00)",
     {"platform": "iPadOS", "device_class": "tablet", "client_product": "slack-ios"}),
    # Desktop Slack without Slack_SSB/ is still Slack.
    (f"Mozilla/5.0 (Windows NT 10.0.22631; Win64; x64) {KH} Slack/4.38.125 Chrome/124.0.6367.243 "
     "Electron/30.1.0 Safari/537.36",
     {"platform": "Windows", "os_version": "10.0.22631", "os_evidence": "exact", "client_version": "4.38.125",
      "client_product": "slack-desktop"}),
    ("Python/3.12.1 slack_sdk/3.26.2 Linux/6.5.0",
     {"client_kind": "sdk", "client_family": "slack_sdk", "platform": "other", "device_class": "unknown"}),
    ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", {"client_kind": "bot"}),
])
def test_rule(agent, expected):
    found = _one(agent)
    assert {key: found[key] for key in expected} == expected


def test_frozen_tokens_never_carry_a_version(described):
    frozen = described[described["os_evidence"].eq("frozen")]
    assert len(frozen) > 100
    assert frozen["os_version"].eq("").all()
    assert frozen["reason"].ne("").all()
    people = described[described["client_kind"].isin(["browser", "app"])]
    assert people["reason"].where(people["os_evidence"].ne("exact"), "ok").ne("").all()


def test_missing_and_empty_agents_say_why():
    found = clients.describe(pd.Series([None, "", "   "], dtype="str"))
    assert found["platform"].tolist() == ["other"] * 3
    assert found["os_evidence"].tolist() == ["absent"] * 3
    assert found["client_kind"].tolist() == ["unknown"] * 3
    assert found["reason"].tolist() == ["no user agent", "empty", "empty"]


def test_output_dtypes_index_and_categorical_input():
    agents = ["curl/8.4.0", f"Mozilla/5.0 (X11; Linux x86_64) {KH} Chrome/124.0.0.0 Safari/537.36", None]
    as_text = pd.Series(agents * 3, index=range(100, 109), dtype="str")
    as_category = pd.Series(pd.Categorical(agents * 3, categories=["unused agent", *agents[:2]]),
                            index=as_text.index)
    from_text, from_category = clients.describe(as_text), clients.describe(as_category)
    pd.testing.assert_frame_equal(from_text, from_category, check_categorical=False)
    assert list(from_text.columns) == clients.COLUMNS
    assert from_text.index.equals(as_text.index)
    for column in ("platform", "os_evidence", "client_kind", "client_family", "client_product",
                   "device_class", "reason"):
        assert isinstance(from_text[column].dtype, pd.CategoricalDtype), column
    assert list(from_text["platform"].cat.categories) == clients.PLATFORMS
    assert pd.api.types.is_string_dtype(from_text["client_version"])


def test_each_distinct_agent_is_parsed_once(monkeypatch):
    calls = []
    real = agents._describe_one
    monkeypatch.setattr(agents, "_describe_one", lambda agent: calls.append(agent) or real(agent))
    rows = pd.Series(["curl/8.4.0", "okhttp/4.12.0", None] * 1000, dtype="category")
    found = clients.describe(rows)
    assert sorted(calls) == ["curl/8.4.0", "okhttp/4.12.0"]
    assert found["client_family"].value_counts().to_dict() == {"curl": 1000, "okhttp": 1000}


# Strings no labelled row holds: empty, blank, control characters, a formula, an unclosed
# comment, non-ASCII (the shapes tests/test_hostile_input.py feeds the pipeline).
ODD_AGENTS = ["", " ", "\x00\x1b[31m", "=HYPERLINK(\"http://x\")", "Mozilla/5.0 " + "(" * 5_000,
              "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) \u202eevil", "Chrome/124.0.0.0"]


def _one_by_one_equals_columns(strings: list) -> None:
    """``describe_agent`` on each string equals ``describe``'s row for it, field by field."""
    table = clients.describe(pd.Series(strings, dtype="str"))
    columns = table.astype(object).where(table.notna(), None).to_dict("records")
    for agent, row in zip(strings, columns):
        assert clients.describe_agent(agent) == row, agent


def test_one_agent_in_pure_python_equals_the_columns_for_every_labelled_agent():
    _one_by_one_equals_columns([row["user_agent"] for row in EXPECTED] + ODD_AGENTS + [None])


def test_one_agent_in_pure_python_equals_the_columns_for_the_demo_organisations_agents(demo_store):
    from fleetanalysis import sources

    found = sources.load(demo_store["slack"]).access["user_agent"].dropna().unique().tolist()
    assert len(found) >= 50
    _one_by_one_equals_columns(found)


def test_empty_input():
    found = clients.describe(pd.Series([], dtype="str"))
    assert found.empty and list(found.columns) == clients.COLUMNS


MAC_CHROME = f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {KH} Chrome/124.0.0.0 Safari/537.36"
MAC_OLD = f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_6) {SAF} Version/14.1.2 Safari/605.1.15"


def test_facts_prefer_what_the_source_reported():
    access = pd.DataFrame({
        "source": pd.Categorical(["okta", "okta", "entra", "google_mobile", "google_mobile", "okta", "okta"]),
        "user": ["a", "b", "c", "d", "e", "f", "g"],
        "user_agent": pd.Categorical([MAC_CHROME, MAC_OLD, MAC_CHROME, None, None, "curl/8.4.0", MAC_CHROME]),
        "reported_os": pd.Categorical(["macOS", "macOS", "Windows10", "ANDROID", "IOS_SYNC", "macOS", None]),
        "reported_os_version": pd.array(["14.4.1", "14.5", "10.0.22631", "14", None, "14.4", "14.4"], dtype="str"),
    })
    found = clients.facts(access)
    assert list(found.columns) == list(access.columns) + clients.COLUMNS
    assert found["user"].tolist() == list("abcdefg")
    # Frozen macOS token, same platform reported: the reported version wins.
    assert found.loc[0, ["os_version", "os_evidence"]].tolist() == ["14.4.1", "exact"]
    assert found.loc[0, "reason"] == "reported by okta; Chrome reports only its major version"
    # An exact token is kept.
    assert found.loc[1, ["os_version", "os_evidence"]].tolist() == ["10.14.6", "exact"]
    # A source that names another platform is not trusted for this one.
    assert found.loc[2, ["platform", "os_evidence"]].tolist() == ["macOS", "frozen"]
    # No user agent: platform from the source.
    assert found.loc[3, ["platform", "os_version", "os_evidence", "device_class", "reason"]].tolist() == [
        "Android", "14", "exact", "phone", "reported by google_mobile"]
    assert found.loc[4, ["platform", "os_evidence", "reason"]].tolist() == [
        "iOS", "absent", "no user agent; no OS version reported"]
    # Scripts stay scripts; no reported platform, nothing to fill.
    assert found.loc[5, ["client_kind", "os_evidence"]].tolist() == ["sdk", "absent"]
    assert found.loc[6, "os_evidence"] == "frozen"
    assert isinstance(found["reason"].dtype, pd.CategoricalDtype)
    assert isinstance(found["platform"].dtype, pd.CategoricalDtype)


def test_facts_without_reported_columns_is_a_join():
    access = pd.DataFrame({"user_agent": pd.Categorical([MAC_CHROME])})
    found = clients.facts(access)
    assert found.loc[0, ["platform", "os_evidence"]].tolist() == ["macOS", "frozen"]


def _run_ua(monkeypatch, capsys, text: str, *options: str) -> str:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    assert cli.main(["ua", *options]) == 0
    return capsys.readouterr().out


def test_cli_ua_csv_keeps_input_order_and_empty_lines(monkeypatch, capsys):
    text = f"{MAC_CHROME}\n\n=HYPERLINK(\"http://x\")\r\ncurl/8.4.0\n"
    out = _run_ua(monkeypatch, capsys, text)
    table = pd.read_csv(io.StringIO(out), dtype=str, keep_default_na=False)
    assert list(table.columns) == ["user_agent", *clients.COLUMNS]
    assert table["user_agent"].tolist() == [MAC_CHROME, "", "'=HYPERLINK(\"http://x\")", "curl/8.4.0"]
    assert table["reason"][1] == "empty"
    assert table["client_kind"].tolist() == ["browser", "unknown", "bot", "sdk"]


def test_cli_ua_json_uses_null(monkeypatch, capsys):
    out = _run_ua(monkeypatch, capsys, "curl/8.4.0\n<b>x</b>\n", "--format", "json")
    records = json.loads(out)
    assert [record["user_agent"] for record in records] == ["curl/8.4.0", "<b>x</b>"]
    assert records[0]["os_version"] is None and records[0]["client_version"] == "8.4.0"
    assert set(records[0]) == {"user_agent", *clients.COLUMNS}


def test_cli_ua_takes_agents_as_arguments_and_then_leaves_stdin_alone(monkeypatch, capsys):
    # A new user's first try: the agent on the command line, quoted (found in a first-use trial).
    monkeypatch.setattr("sys.stdin", io.StringIO("curl/8.4.0\n"))
    assert cli.main(["ua", MAC_CHROME, "okhttp/4.12.0"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype=str, keep_default_na=False)
    assert table["user_agent"].tolist() == [MAC_CHROME, "okhttp/4.12.0"]
    assert table["os_evidence"].tolist() == ["frozen", "absent"]


@pytest.mark.parametrize("style", ["csv", "json"])
def test_cli_ua_writes_what_the_table_writer_writes(monkeypatch, capsys, style):
    # A few agents are described without pandas; the bytes must be those of the table path.
    from fleetanalysis.cli.output import write_table

    strings = [row["user_agent"] for row in EXPECTED] + ODD_AGENTS + ["a,\"b\"", "tab\tin", "\u00e9"]
    out = _run_ua(monkeypatch, capsys, "\n".join(strings) + "\n", "--format", style)
    write_table(clients.lookup(strings), style)
    assert out == capsys.readouterr().out


def test_cli_ua_many_agents_go_through_the_table_path(monkeypatch, capsys):
    from fleetanalysis.cli import logs

    monkeypatch.setattr(logs, "UA_FEW", 2)
    out = _run_ua(monkeypatch, capsys, f"curl/8.4.0\n{MAC_CHROME}\n=1+1\n")
    monkeypatch.setattr(logs, "UA_FEW", 10)
    assert _run_ua(monkeypatch, capsys, f"curl/8.4.0\n{MAC_CHROME}\n=1+1\n") == out


def test_cli_ua_names_an_argument_that_is_not_utf8(capsys):
    # A shell passes bytes; Python hands an undecodable byte over as a lone surrogate.
    assert cli.main(["ua", "curl/8.4.0", "Mozilla/5.0 \udcff"]) == 2
    assert capsys.readouterr().err == "fleetanalysis: argument 2: not UTF-8 (byte 0xff); pass UTF-8 text\n"


def test_cli_ua_rejects_an_unknown_format(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("curl/8.4.0\n"))
    assert cli.main(["ua", "--format", "xml"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_hostile_and_odd_strings_are_described_not_trusted():
    odd = ["Mozilla/5.0 " + "(" * 50_000, "Mozilla/5.0", "\x00\x1b[31m", "Chrome/124.0.0.0"]
    found = clients.describe(pd.Series(odd))
    assert found["client_kind"].isin(["unknown", "browser"]).all()
    assert found["os_evidence"].eq("absent").all()
    assert found["os_version"].isna().all()


def test_ios_18_6_is_frozen_only_in_webkits_token():
    # iOS 26 WebKit says "iPhone OS 18_6 like Mac OS X"; the Slack app writes the system
    # version itself, so its "iOS 18.6" is a real iOS 18.6.
    described = clients.describe(pd.Series([
        "com.tinyspeck.chatlyio/25.07.20 (iPhone; iOS 18.6; Scale/3.00)",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "CriOS/139.0.7258.76 Mobile/15E148 Safari/604.1",
    ]))
    assert described["os_evidence"].astype(str).tolist() == ["exact", "frozen"]
    assert described["os_version"].tolist()[0] == "18.6"


# One test per native-client family of issue 14, each from agents found in public material
# (the accuracy set's `source` column names where each came from).
@pytest.mark.parametrize(("agent", "expected"), [
    # Okta Verify for macOS, as an Okta System Log sample records it (detection-rule fixture).
    ("B7F62B65BN.com.okta.mobile/8.2.1 OktaDeviceSDK/0.0.1 macOS/14.0.0 Apple/MacBookPro16,1 "
     "C29A8729-9E97-4E50-8E71-CA1B43E178A9",
     {"platform": "macOS", "os_version": "14.0.0", "os_evidence": "exact", "client_family": "Okta Verify",
      "client_kind": "app", "device_class": "desktop"}),
    # Okta Verify for Windows states the build and its revision.
    ("OktaVerify/4.4.1.0 WPFDeviceSDK/1.7.4.17 Windows/10.0.19045.3570 Micro-Star_International_Co._L/MS-7B51",
     {"platform": "Windows", "os_version": "10.0.19045.3570", "os_evidence": "exact", "client_family": "Okta Verify"}),
    # Okta Verify for Android.
    ("D2DD7D3915.com.okta.android.auth/6.8.1 DeviceSDK/0.19.0 Android/7.1.1 unknown/Google",
     {"platform": "Android", "os_version": "7.1.1", "os_evidence": "exact", "client_family": "Okta Verify",
      "client_version": "6.8.1"}),
    # Any app on Okta's device SDK for iOS (okta-devices-swift's documented example).
    ("B7F62B65BN.com.okta.example/1.2.3 DeviceAuthenticator/0.0.1 iOS/13.4.1 Apple/iPhone11,1",
     {"platform": "iOS", "os_version": "13.4.1", "os_evidence": "exact", "client_kind": "app"}),
    # Office for Mac names the macOS it runs on.
    ("Microsoft Office Word/16.11.311 (Mac OS/10.11.6; Desktop; en-US; NonAppStore; Apple/iMac14,2)",
     {"platform": "macOS", "os_version": "10.11.6", "os_evidence": "exact", "client_family": "Microsoft Office",
      "client_version": "16.11.311"}),
    # Office for Windows says 10.0 without a build: Windows 10 and 11 alike.
    ("Microsoft Office Word/16.0.16124.20000 (Windows/10.0; Desktop WOW64; en-US; Desktop app; "
     "HP/HP Z240 Tower Workstation)",
     {"platform": "Windows", "os_evidence": "frozen", "client_family": "Microsoft Office"}),
    # Outlook for Mac names only the platform.
    ("Microsoft-MacOutlook/16.48.21041102",
     {"platform": "macOS", "os_evidence": "absent", "client_family": "Outlook", "device_class": "desktop"}),
    # Outlook for iOS: the app version is the bracketed one.
    ("Outlook-iOS/709.2226530.prod.iphone (3.24.1)",
     {"platform": "iOS", "client_family": "Outlook", "client_version": "3.24.1", "device_class": "phone"}),
    # Outlook-Android/2.0 is a protocol version, not Android 2.0.
    ("Outlook-Android/2.0", {"platform": "Android", "os_version": None, "os_evidence": "absent"}),
    # Teams' web view on an iPad.
    ("Mozilla/5.0 (iPad; CPU OS 16_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 "
     "TeamsMobile-iOS",
     {"platform": "iPadOS", "os_version": "16.1", "client_family": "Microsoft Teams", "client_kind": "app"}),
    # The OneDrive sync client states the Windows build.
    ("Microsoft SkyDriveSync 24.215.1029.0002 ship; Windows NT 10.0 (19045)",
     {"platform": "Windows", "os_version": "10.0.19045", "os_evidence": "exact",
      "client_family": "Microsoft OneDrive"}),
    ("OneDrive/24.071.0407.0002 (Windows; x64; 10.0.22631)",
     {"platform": "Windows", "os_version": "10.0.22631", "client_family": "Microsoft OneDrive"}),
    # CFNetwork without a model or architecture token: iOS, Darwin 22.6 proves iOS 16.6 or later 16.x.
    ("Expo/1017565 CFNetwork/1410.0.3 Darwin/22.6.0",
     {"platform": "iOS", "os_version": "16.6", "os_evidence": "lower-bound", "client_kind": "app",
      "client_family": "Expo", "device_class": "phone"}),
    # The architecture token makes it a Mac: Darwin 19.6 is macOS 10.15.6 or a later 10.15.x (yauaa issue 614).
    ("Safari/15612.1.29.41.4 CFNetwork/1128.1 Darwin/19.6.0 (x86_64)",
     {"platform": "macOS", "os_version": "10.15.6", "os_evidence": "lower-bound-in-line", "client_product": None}),
    # CFNetwork/macOS/ on Darwin 25 (uap-core pull request 664): macOS 26.
    ("Self Service+/7570 CFNetwork/macOS/3860.600.21 Darwin/25.5.0",
     {"platform": "macOS", "os_version": "26.5", "os_evidence": "lower-bound-in-line",
      "client_family": "Self Service+"}),
    # An iPhone model after Darwin names the system: iOS 14 or a later 14.x (crawlerdetect fixtures).
    ("Mail/3445.104.11 CFNetwork/1240.0.4 Darwin/20.6.0 (iPhone12,1)",
     {"platform": "iOS", "os_version": "14", "os_evidence": "lower-bound-in-line", "device_class": "phone"}),
    # Darwin 16 is macOS 10.12 (crawlerdetect fixtures); Darwin 14 ran both iOS 7 and iOS 8.
    ("Bear/4569 CFNetwork/811.4.18 Darwin/16.5.0 (x86_64)",
     {"platform": "macOS", "os_version": "10.12.4", "os_evidence": "lower-bound-in-line"}),
    ("MyApp/1.0 CFNetwork/672.0.2 Darwin/14.0.0",
     {"platform": "iOS", "os_version": None, "os_evidence": "absent"}),
    # Chrome's reduced agent says 10_15_7 on every macOS; intoli recorded this one on a Windows PC.
    (f"Mozilla/5.0 (Macintosh; Intel Mac OS X 15_7_2) {KH} Chrome/142.0.0.0 Safari/537.36",
     {"platform": "macOS", "os_version": None, "os_evidence": "absent", "client_product": "chrome"}),
    # Slack's desktop app writes the system's own version beside its Chrome: believed.
    (f"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6_1) {KH} Slack/4.41.105 Chrome/130.0.6723.137 Electron/33.3.1 "
     "Safari/537.36 AppleSilicon Sonic Slack_SSB/4.41.105",
     {"platform": "macOS", "os_version": "14.6.1", "os_evidence": "exact"}),
    # An Android app on a Chromebook: Build/R<milestone>-<ChromeOS platform version>.
    ("Dalvik/2.1.0 (Linux; U; Android 11; octopus Build/R112-15359.58.0)",
     {"platform": "ChromeOS", "os_version": "15359.58.0", "os_evidence": "exact", "client_kind": "app",
      "device_class": "desktop"}),
    # ChromeOS itself (is-mobile issue 34).
    (f"Mozilla/5.0 (X11; CrOS aarch64 14388.61.0) {KH} Chrome/98.0.4758.107 Safari/537.36",
     {"platform": "ChromeOS", "os_version": "14388.61.0", "os_evidence": "exact", "client_product": "chrome"}),
])
def test_native_client_family(agent, expected):
    found = {key: (None if pd.isna(value) else value) for key, value in _one(agent).items()}
    assert {key: found[key] for key in expected} == expected


def test_darwin_agents_say_why_their_version_is_a_lower_bound():
    found = clients.lookup([
        "Expo/1017565 CFNetwork/1410.0.3 Darwin/22.6.0",
        "WebDAVFS/3.0.0 (03008000) Darwin/21.6.0 (x86_64)",
    ])
    assert found["reason"][0].startswith("Darwin 22.6 is iOS 16.6 or a later iOS 16 release")
    assert "no model or architecture token" in found["reason"][0]
    assert found["reason"][1].startswith("Darwin 21.6 is macOS 12.5 or a later macOS 12 release")
    assert "architecture token" in found["reason"][1]


@pytest.mark.parametrize("agent", [
    "go-git/5.x",  # GitHub audit log (git.fetch)
    "git/2.30.2",
    "GitHub CLI 2.74.0",
    "npm/10.9.2 node/v22.12.0 linux x64",
    "pnpm/10.33.0 npm/? node/v24.18.0 darwin arm64",
    "yarn/1.22.0 npm/? node/v20",
    'pip/24.3.1 {"ci":null,"cpu":"x86_64","distro":{"name":"Ubuntu","version":"24.04"}}',
    "cargo 1.75.0 (1d8b05cdd 2023-11-20)",
    "bundler/2.4.22 rubygems/3.4.22",
    "Apache-Maven/3.9.6 (Java 21.0.2; Linux 6.6.10)",
    "Python/3.9 aiohttp/3.8.1",
    "axios/1.7.2",
    "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
    "libwww-perl/6.05",
    "Java/1.6.0_14",
    "okhttp/4.12.0",
    "kubectl/v1.25.4 (darwin/arm64) kubernetes/872a965",
    # These name the Mac they run on; they are still no one's device.
    "aws-cli/2.15.30 Python/3.11.8 Darwin/23.4.0 exe/x86_64",
    "AZURECLI/2.58.0 azsdk-python-core/1.30.0 Python/3.11.8 (macOS-14.4-arm64-arm-64bit)",
    "google-cloud-sdk gcloud/498.0.0 command/gcloud.endpoints.services.describe client-os/MACOSX "
    "(Macintosh; Intel Mac OS X 23.2.0)",
    "Terraform/1.5.0 (+https://www.terraform.io) TPG/4.0.0",
    "ansible-httpget",
    "Mozilla/5.0 (Windows NT 10.0; Microsoft Windows 10.0.15063; en-US) PowerShell/6.0.0",
    "kube-probe/1.25",
    "UptimeRobot/2.0 (http://www.uptimerobot.com/)",
    "Okta-Integrations",
    # A browser's agent with a service's address or contact and its word (crawlerdetect's crawlers):
    # only an old browser's own home page, with no such word, leaves a browser a browser.
    f"Mozilla/5.0 (Windows NT 6.1; WOW64) {KH} Chrome/44.0.2403.155 Safari/537.36 TinEye/1.0 (via http://www.tineye.com/)",
    "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 5.1; www.alertra.com)",
    "Mozilla/4.0 (compatible; MSIE 5.0; Windows NT; Girafabot; girafabot at girafa dot com; http://www.girafa.com)",
    "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1; .NET CLR 2.0.50727; MAXTHON 2.0); Connect Us: webauth@cmcm.com",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_6_8) AppleWebKit/537.13+ (KHTML, like Gecko) Version/5.1.7 "
    "Safari/534.57.2; Shoppimon Analyzer (http://www.shoppimon.com/)",
])
def test_scripts_bots_and_clis_are_no_ones_device(agent):
    from fleetanalysis import fleet

    found = _one(agent)
    assert found["client_kind"] in fleet.NOT_DEVICES, found
    assert (found["platform"], found["device_class"], found["os_evidence"]) == ("other", "unknown", "absent")
    assert pd.isna(found["os_version"])


def test_scripts_are_kept_but_never_counted_as_devices():
    from fleetanalysis import fleet

    access = pd.DataFrame({
        "user_id": ["U1", "U1", "U2"], "user": ["a", "a", "b"],
        "user_agent": pd.Categorical(["go-git/5.x", "GitHub CLI 2.74.0",
                                      "OktaVerify/4.4.1.0 WPFDeviceSDK/1.7.4.17 Windows/10.0.19045.3570 MSI/MS-7B51"]),
    })
    found = clients.facts(access)
    assert len(found) == 3  # every row is kept, with its kind
    human = ~found["client_kind"].isin(fleet.NOT_DEVICES)
    assert human.tolist() == [False, False, True]


def test_legacy_edge_and_internet_explorer_are_their_own_products():
    found = clients.lookup([
        f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {KH} Chrome/70.0.3538.102 Safari/537.36 Edge/18.19041",
        f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {KH} Chrome/64.0.3282.140 Safari/537.36 Edge/17.17134",
        f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {KH} Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
        "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
        f"Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) {KH} Chrome/70.0.3538.102 Safari/537.36 "
        "Edge/18.19041",
    ])
    assert found["client_product"].tolist()[:4] == ["edge-legacy", "edge-legacy", "edge", "internet-explorer"]
    assert found["client_family"].tolist()[:4] == ["Edge Legacy", "Edge Legacy", "Edge", "Internet Explorer"]
    # EdgeHTML 18.19041 came with Windows 10 build 19041: at least that build.
    assert found.loc[0, ["platform", "os_version", "os_evidence"]].tolist() == ["Windows", "10.0.19041", "lower-bound"]
    assert found.loc[1, "os_version"] == "10.0.17134"
    assert found.loc[3, ["os_version", "os_evidence"]].tolist() == ["6.1", "exact"]
    # An Xbox is no Windows PC.
    assert found.loc[4, ["platform", "reason"]].tolist() == ["other", "Xbox game console"]


@pytest.mark.parametrize("token", ["Zune 4.7", "Media Center PC 6.0", "Tablet PC 2.0", "InfoPath.3", "MS-RTC LM 8"])
def test_software_installed_beside_internet_explorer_leaves_it_internet_explorer(token):
    # Installed programs write their tokens into IE's agent; the Zune player's name was
    # read as the client (crawlerdetect's fixtures hold 57 such agents).
    plain = "Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; WOW64; Trident/5.0; SLCC2)"
    found = clients.describe_agent(plain.replace("SLCC2)", f"SLCC2; {token})"))
    assert found == clients.describe_agent(plain)
    assert found["client_product"] == "internet-explorer"


def test_rules_file_is_checked(tmp_path):
    broken = tmp_path / "clients.toml"
    broken.write_text('[[client]]\nregex = "no-group/1"\nfamily = "x"\nkind = "app"\n')
    with pytest.raises(ValueError, match="group 1"):
        clients.rules(broken)
    broken.write_text('[[client]]\nregex = "(x)/1"\nfamily = "x"\nkind = "phone"\n')
    with pytest.raises(ValueError, match="kind"):
        clients.rules(broken)
    broken.write_text('[[system]]\nregex = "(x)/1"\nplatform = "other"\ndevice_class = "watch"\n')
    with pytest.raises(ValueError, match="device class"):
        clients.rules(broken)
    shipped = clients.rules()
    assert {rule.kind for rule in shipped.clients} <= set(clients.CLIENT_KINDS)
    assert {rule.platform for rule in shipped.systems} <= set(clients.PLATFORMS)


def test_cli_ua_names_platform_and_os_version_of_each_family(monkeypatch, capsys):
    agents = [
        "B7F62B65BN.com.okta.mobile/8.2.1 OktaDeviceSDK/0.0.1 macOS/14.0.0 Apple/MacBookPro16,1",
        "Microsoft Office Word/16.11.311 (Mac OS/10.11.6; Desktop; en-US; NonAppStore; Apple/iMac14,2)",
        "Dalvik/2.1.0 (Linux; U; Android 11; octopus Build/R112-15359.58.0)",
        "Expo/1017565 CFNetwork/1410.0.3 Darwin/22.6.0",
        "go-git/5.x",
    ]
    out = _run_ua(monkeypatch, capsys, "\n".join(agents) + "\n", "--format", "json")
    records = json.loads(out)
    assert [(record["platform"], record["os_version"]) for record in records] == [
        ("macOS", "14.0.0"), ("macOS", "10.11.6"), ("ChromeOS", "15359.58.0"), ("iOS", "16.6"), ("other", None)]
    assert records[-1]["client_kind"] == "sdk"


# Apple's 2025 renumbering: apps built with an older SDK are told iOS 19.x and macOS 16.x on
# iOS 26 and macOS 26 (dotnet/runtime PR 116536, python/cpython issue 135675 for macOS; the
# iPhone agents are from matomo-org/device-detector's fixtures, build 23A344 = iOS 26.0).
@pytest.mark.parametrize("agent, platform", [
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 19_0 like Mac OS X) WebKit/8612 (KHTML, like Gecko) Mobile/23A344 "
     "[FBAN/FBIOS;FBDV/iPhone18,2;FBMD/iPhone;FBSN/iOS;FBSV/19.0;FBSS/3;FBID/phone;FBLC/it_IT;FBOP/5]", "iOS"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 19_0 like Mac OS X) AppleWebKit/19601.1.17.1 (KHTML, like Gecko) "
     "Mobile/23A344 Instagram 335.0.8.11.121 (iPhone18,1; iOS 19_0; ru_RU; ru; scale=3.00; 1170x2532; 320361397) NW/3",
     "iOS"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 16_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.0 "
     "Safari/605.1.15", "macOS"),
])
def test_versions_apple_never_released_are_the_26_they_stand_for(agent, platform):
    found = clients.describe_agent(agent)
    assert [found["platform"], found["os_version"], found["os_evidence"]] == [platform, "26", "lower-bound"]
    assert "report on" in found["reason"] and "26 and later" in found["reason"]
    # Nor does a source that read the same number state more than the agent.
    access = pd.DataFrame({"source": pd.Categorical(["okta"]), "user_agent": pd.Categorical([agent]),
                           "reported_os": pd.Categorical([platform]),
                           "reported_os_version": pd.array(["19.0" if platform == "iOS" else "16.0"], dtype="str")})
    assert clients.facts(access).loc[0, ["os_version", "os_evidence"]].tolist() == ["26", "lower-bound"]


def test_an_agent_a_log_pipeline_lower_cased_reads_as_the_browser_sent_it():
    # ua-parser-js keeps lower-cased agents among its tests; ua-parser's rules are case-bound.
    sent = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Safari/537.36")
    found, original = clients.describe_agent(sent.lower()), clients.describe_agent(sent)
    assert found == original and found["client_product"] == "chrome"
