"""Every log format loads into the access table, detected from content, in all its shapes."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest

from fleetanalysis import sources
from fleetanalysis.errors import BadInput
from fleetanalysis.sources.schema import COLUMNS

T0 = 1714521600  # 2024-05-01T00:00:00Z
UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"


def slack_login(user="U1", ua=UA, first=T0, last=T0 + 3600, count=2, ip="192.0.2.1"):
    return {"user_id": user, "username": user.lower(), "date_first": first, "date_last": last, "count": count,
            "ip": ip, "user_agent": ua, "isp": None, "country": None, "region": None}


def slack_page(logins, page=1, pages=1):
    return {"ok": True, "logins": logins, "paging": {"count": 100, "total": len(logins), "page": page, "pages": pages}}


OKTA = [{"uuid": "okta-1", "published": "2024-05-01T10:00:00.000Z", "eventType": "user.session.start",
         "actor": {"id": "00u1", "type": "User", "alternateId": "ann@example.com"},
         "client": {"userAgent": {"rawUserAgent": UA, "os": "Mac OS X", "browser": "SAFARI"},
                    "ipAddress": "198.51.100.7"},
         "device": {"os_platform": "OSX", "os_version": "14.4.1", "managed": True}},
        {"uuid": "okta-2", "published": "2024-05-01T11:00:00.000Z", "eventType": "user.session.start",
         "actor": {"id": "00u2", "alternateId": "bo@example.com"},
         "client": {"userAgent": {"rawUserAgent": UA}, "ipAddress": "198.51.100.8"}}]

ENTRA = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#auditLogs/signIns",
         "value": [{"id": "sign-1", "createdDateTime": "2024-05-01T09:00:00Z", "userPrincipalName": "ann@example.com",
                    "userId": "oid-1", "ipAddress": "203.0.113.4", "userAgent": UA, "appDisplayName": "Office 365",
                    "deviceDetail": {"deviceId": "", "operatingSystem": "MacOs", "browser": "Safari 17.4",
                                     "isManaged": False, "isCompliant": False}}],
         "@odata.nextLink": "https://graph.microsoft.com/v1.0/auditLogs/signIns?$skiptoken=x"}

GOOGLE = {"kind": "admin#reports#activities", "items": [
    {"kind": "admin#reports#activity", "id": {"time": "2024-05-01T08:00:00.000Z", "uniqueQualifier": "-7001",
                                               "applicationName": "mobile", "customerId": "C0"},
     "actor": {"callerType": "USER", "email": "ann@example.com", "profileId": "1001"},
     "events": [{"type": "device_updates", "name": "DEVICE_SYNC_EVENT", "parameters": [
         {"name": "DEVICE_MODEL", "value": "iPhone15,2"}, {"name": "DEVICE_TYPE", "value": "IOS_SYNC"},
         {"name": "OS_VERSION", "value": "iOS 17.4.1"}, {"name": "SECURITY_PATCH_LEVEL", "value": "0"},
         {"name": "USER_EMAIL", "value": "ann@example.com"}]}]},
    {"kind": "admin#reports#activity", "id": {"time": "2024-05-01T08:30:00.000Z", "uniqueQualifier": "-7002"},
     "actor": {"email": "bo@example.com"},
     "events": [{"name": "DEVICE_SYNC_EVENT", "parameters": [
         {"name": "DEVICE_TYPE", "value": "ANDROID"}, {"name": "OS_VERSION", "value": "Android 14"}]}]}]}

SLACK_AUDIT = {"entries": [{"id": "aud-1", "date_create": T0, "action": "user_login",
                            "actor": {"type": "user", "user": {"id": "W1", "name": "ann", "email": "ann@example.com",
                                                               "team": "T1"}},
                            "entity": {"type": "user"},
                            "context": {"location": {"type": "enterprise"}, "ua": UA, "ip_address": "192.0.2.9",
                                        "session_id": 1}}],
               "response_metadata": {"next_cursor": ""}}

GITHUB = [{"@timestamp": T0 * 1000, "_document_id": "doc-1", "action": "user.login", "actor": "octo",
           "actor_id": 5, "actor_ip": "192.0.2.44", "user_agent": UA, "created_at": T0 * 1000},
          {"@timestamp": T0 * 1000 + 5, "_document_id": "doc-2", "action": "repo.create", "actor": "octo",
           "user_agent": UA}]


def write(path, text, gz=False):
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def values(series):
    """A column as a list with None for missing, whatever the NA flavour of its dtype."""
    return series.astype(object).where(series.notna(), None).tolist()


def load_one(path, **options):
    result = sources.load([path], **options)
    assert list(result.access.columns) == list(COLUMNS)
    assert (result.counts["read"] == result.counts["loaded"] + result.counts["rejected"]).all()
    return result


def test_slack_access_response_list_of_pages_and_ndjson_agree(tmp_path):
    rows = [slack_login("U1"), slack_login("U2", ua="SlackWeb/1a2b Mozilla/5.0 (Windows NT 10.0; Win64; x64)")]
    shapes = {
        "one.json": json.dumps(slack_page(rows)),
        "pages.json": json.dumps([slack_page(rows[:1], 1, 2), slack_page(rows[1:], 2, 2)]),
        "rows.ndjson": "\n".join(json.dumps(row) for row in rows) + "\n",
    }
    tables = []
    for name, text in shapes.items():
        result = load_one(write(tmp_path / name, text))
        assert result.counts["format"].tolist() == ["slack_access"]
        tables.append(result.access)
    for table in tables[1:]:
        pd.testing.assert_frame_equal(table, tables[0])
    access = tables[0]
    assert access["user_agent"].tolist()[1].startswith("SlackWeb/1a2b Mozilla/5.0")
    assert access["count"].tolist() == [2, 2]
    assert str(access["first_seen"].dtype) == "datetime64[us, UTC]"
    assert access["last_seen"].iloc[0] == pd.Timestamp("2024-05-01T01:00:00Z")


def test_okta_reports_device_block_and_event_ids(tmp_path):
    access = load_one(write(tmp_path / "okta.ndjson", "\n".join(json.dumps(event) for event in OKTA))).access
    assert access["event_id"].tolist() == ["okta-1", "okta-2"]
    assert access["user"].tolist() == ["ann@example.com", "bo@example.com"]
    assert access["reported_os"].tolist()[0] == "OSX"
    assert access["reported_os_version"].tolist()[0] == "14.4.1"
    assert values(access["managed"]) == [True, None]
    assert (access["first_seen"] == access["last_seen"]).all()


def test_entra_pages_and_device_detail(tmp_path):
    access = load_one(write(tmp_path / "signins.json", json.dumps([ENTRA, ENTRA]))).access
    assert len(access) == 2  # same page twice: the store, not the loader, dedupes
    row = access.iloc[0]
    assert (row["user"], row["user_id"], row["ip"], row["reported_os"]) == (
        "ann@example.com", "oid-1", "203.0.113.4", "MacOs")
    assert not row["managed"]


def test_google_mobile_has_no_user_agent_but_a_reported_os(tmp_path):
    result = load_one(write(tmp_path / "mobile.json", json.dumps(GOOGLE), gz=True))
    access = result.access
    assert result.counts["format"].tolist() == ["google_mobile"]
    assert access["user_agent"].isna().all()
    assert access["reported_os"].tolist() == ["IOS_SYNC", "ANDROID"]
    assert access["reported_os_version"].tolist() == ["17.4.1", "14"]
    assert access["device_model"].tolist()[0] == "iPhone15,2"
    assert access["event_id"].tolist() == ["-7001", "-7002"]


def test_slack_audit_entries(tmp_path):
    access = load_one(write(tmp_path / "audit.json", json.dumps(SLACK_AUDIT))).access
    assert access[["event_id", "user_id", "user", "ip"]].iloc[0].tolist() == [
        "aud-1", "W1", "ann@example.com", "192.0.2.9"]


def test_github_json_and_csv_agree(tmp_path):
    from_json = load_one(write(tmp_path / "audit.json", json.dumps(GITHUB))).access
    frame = pd.DataFrame(GITHUB)
    frame.to_csv(tmp_path / "export.csv", index=False)
    result = load_one(tmp_path / "export.csv")
    assert result.counts["format"].tolist() == ["github"]
    from_csv = result.access
    assert from_json["event_id"].tolist() == from_csv["event_id"].tolist() == ["doc-1", "doc-2"]
    assert from_json["first_seen"].tolist() == from_csv["first_seen"].tolist()
    assert from_json["first_seen"].iloc[1] == pd.Timestamp("2024-05-01T00:00:00.005Z")
    assert values(from_csv["user_id"]) == ["5", None]


def test_generic_csv_guessed_headers_and_options(tmp_path):
    write(tmp_path / "guess.csv", "Email,Timestamp,User Agent,IP Address\n"
                                   f"ann@example.com,2024-05-01T10:00:00Z,\"{UA}\",192.0.2.5\n"
                                   f"bo@example.com,1714521600,\"{UA}\",\n")
    access = load_one(tmp_path / "guess.csv").access
    assert access["user"].tolist() == ["ann@example.com", "bo@example.com"]
    assert values(access["ip"]) == ["192.0.2.5", None]
    assert access["first_seen"].tolist() == [pd.Timestamp("2024-05-01T10:00:00Z"), pd.Timestamp("2024-05-01T00:00:00Z")]
    write(tmp_path / "odd.csv", f"who,seen,agent_string\nann,2024-05-01T10:00:00Z,\"{UA}\"\n")
    with pytest.raises(BadInput, match="--ua-column"):
        sources.load_file(tmp_path / "odd.csv")
    mapped = load_one(tmp_path / "odd.csv", user_column="who", time_column="seen", ua_column="agent_string")
    assert mapped.access["user"].tolist() == ["ann"]


def test_detection_reads_content_not_names(tmp_path):
    named_wrong = write(tmp_path / "okta-export.csv", json.dumps(slack_page([slack_login()])))
    assert sources.load([named_wrong]).counts["format"].tolist() == ["slack_access"]
    gz_without_suffix = write(tmp_path / "export.bin", json.dumps(OKTA), gz=True)
    assert sources.load([gz_without_suffix]).counts["format"].tolist() == ["okta"]


def test_okta_event_hook_deliveries_are_their_events(tmp_path):
    # Okta's Event Hooks POST System Log events under data.events (the "Sample Event Delivery
    # Payload" of Okta's Event Hooks guide, whose event's agent is the placeholder UNKNOWN-DOWNLOAD).
    sample = {**OKTA[1], "uuid": "okta-3", "client": {"userAgent": {"os": "Unknown", "browser": "UNKNOWN",
                                                                    "rawUserAgent": "UNKNOWN-DOWNLOAD"}}}
    delivery = {"eventType": "com.okta.event_hook", "eventTypeVersion": "1.0", "cloudEventsVersion": "0.1",
                "eventTime": "2024-05-01T11:00:01.032Z", "contentType": "application/json",
                "data": {"events": [OKTA[0], sample]}}
    loaded = load_one(write(tmp_path / "hooks.ndjson", json.dumps(delivery) + "\n" + json.dumps(
        {**delivery, "data": {"events": [OKTA[1]]}})))
    assert loaded.counts[["format", "read", "loaded", "rejected"]].values.tolist() == [["okta", 3, 2, 1]]
    assert loaded.access["event_id"].tolist() == ["okta-1", "okta-2"]
    assert loaded.rejected[["record", "reason"]].values.tolist() == [["line 1 record 2", "no user agent"]]


def test_a_slack_error_answer_saved_among_pages_is_rejected_for_what_it_is(tmp_path):
    # team.accessLogs' documented answers (slack-ruby/slack-api-ref methods/team/team.accessLogs.json):
    # a page of logins and {"ok": false, "error": "paid_only"}. The error page was "record 3,
    # first seen missing or not a date"; alone, "not a known sign-in log".
    error = {"ok": False, "error": "paid_only"}
    loaded = load_one(write(tmp_path / "pages.json", json.dumps([slack_page([slack_login(), slack_login("U2")]),
                                                                   error])))
    assert loaded.counts[["read", "loaded", "rejected"]].values.tolist() == [[3, 2, 1]]
    assert loaded.rejected["reason"].tolist() == [
        "a Slack error answer ('paid_only'), not a log row: nothing was fetched for that page"]
    with pytest.raises(BadInput, match=r"a Slack error answer \('paid_only'\): it holds no log rows"):
        sources.load([write(tmp_path / "error.json", json.dumps(error))])


def test_forced_format_and_wrong_forced_format(tmp_path):
    path = write(tmp_path / "okta.json", json.dumps(OKTA))
    assert sources.load([path], format="okta").counts["format"].tolist() == ["okta"]
    with pytest.raises(BadInput, match="is not an entra export .looks like okta"):
        sources.load([path], format="entra")


def test_folders_recursive_and_globs(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    write(tmp_path / "a" / "okta.json", json.dumps(OKTA))
    write(tmp_path / "a" / "b" / "slack.json.gz", json.dumps(slack_page([slack_login()])), gz=True)
    write(tmp_path / "a" / "b" / ".half-written.tmp", "{")
    result = sources.load([tmp_path / "a"])
    assert sorted(result.counts["format"]) == ["okta", "slack_access"]
    assert len(result.access) == 3 and not result.problems
    globbed = sources.load([str(tmp_path / "**" / "*.gz")])
    assert globbed.counts["format"].tolist() == ["slack_access"]


# Failed sign-ins, in each source's documented shape: Microsoft Graph's signIn `status`
# (the beta docs' example is a wrong password, errorCode 50126), Log Analytics' `ResultType`,
# Okta's `outcome.result` and GitHub's `user.failed_login` action (Azure-Sentinel's GitHub
# sample logs). An attacker's password spray from old browsers would otherwise make its
# targets look outdated and get them nudged.
OLD_EDGE = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/91.0.4472.114 Safari/537.36 Edg/91.0.864.54")
FAILED = {
    "graph.json": {"value": [
        {"id": "s-bad", "createdDateTime": "2024-05-01T09:00:00Z", "userPrincipalName": "ann@example.com",
         "userId": "oid-1", "ipAddress": "203.0.113.66", "userAgent": OLD_EDGE,
         "status": {"errorCode": 50126, "failureReason": "Error validating credentials due to invalid username "
                                                         "or password."}},
        {"id": "s-ok", "createdDateTime": "2024-05-01T10:00:00Z", "userPrincipalName": "ann@example.com",
         "userId": "oid-1", "ipAddress": "203.0.113.4", "userAgent": UA,
         "status": {"errorCode": 0, "failureReason": "Other.", "additionalDetails": None}}]},
    "monitor.json": {"records": [
        {"time": "2024-05-01T09:00:00Z", "category": "SignInLogs", "resultType": "50126",
         "properties": {"id": "m-bad", "userPrincipalName": "ann@example.com", "userId": "oid-1",
                        "userAgent": OLD_EDGE, "status": {"errorCode": 50126}}},
        {"time": "2024-05-01T10:00:00Z", "category": "SignInLogs", "resultType": "0",
         "properties": {"id": "m-ok", "userPrincipalName": "ann@example.com", "userId": "oid-1",
                        "userAgent": UA, "status": {"errorCode": 0}}}]},
    "analytics.json": [
        {"TimeGenerated": "2024-05-01T09:00:00Z", "Id": "la-bad", "UserPrincipalName": "ann@example.com",
         "UserId": "oid-1", "UserAgent": OLD_EDGE, "ResultType": "50126", "Category": "SignInLogs"},
        {"TimeGenerated": "2024-05-01T10:00:00Z", "Id": "la-ok", "UserPrincipalName": "ann@example.com",
         "UserId": "oid-1", "UserAgent": UA, "ResultType": "0", "Category": "SignInLogs"}],
    "okta.json": [
        {**OKTA[0], "uuid": "okta-bad", "client": {"userAgent": {"rawUserAgent": OLD_EDGE}, "ipAddress": "203.0.113.66"},
         "outcome": {"result": "FAILURE", "reason": "INVALID_CREDENTIALS"}},
        {**OKTA[0], "uuid": "okta-ok", "outcome": {"result": "SUCCESS"}}],
    "github.json": [
        {"@timestamp": 1714554000000, "_document_id": "gh-bad", "action": "user.failed_login", "actor": "ann",
         "actor_id": 7, "user_agent": OLD_EDGE, "operation_type": "authentication"},
        {"@timestamp": 1714557600000, "_document_id": "gh-ok", "action": "user.login", "actor": "ann",
         "actor_id": 7, "user_agent": UA, "operation_type": "authentication"}],
    # The second factor failed after a right password (Azure-Sentinel's ASIM GitHub sample).
    "github-2fa.json": [
        {"@timestamp": 1711431177229, "_document_id": "gh-2fa", "action": "user.two_factor_challenge_failure",
         "actor": "ann", "actor_id": 7, "user_agent": OLD_EDGE, "operation_type": "authentication"},
        {"@timestamp": 1711431277229, "_document_id": "gh-2fa-ok", "action": "user.login", "actor": "ann",
         "actor_id": 7, "user_agent": UA, "operation_type": "authentication"}],
    # Slack's audit action for a failed login (Azure-Sentinel's SlackAudit analytic rule).
    "slack-audit.json": {"entries": [
        {"id": "sa-bad", "date_create": 1714554000, "action": "user_login_failed",
         "actor": {"type": "user", "user": {"id": "W1", "name": "ann", "email": "ann@example.com"}},
         "entity": {"type": "user", "user": {"id": "W1"}},
         "context": {"ua": OLD_EDGE, "ip_address": "203.0.113.66"}},
        {"id": "sa-ok", "date_create": 1714557600, "action": "user_login",
         "actor": {"type": "user", "user": {"id": "W1", "name": "ann", "email": "ann@example.com"}},
         "entity": {"type": "user", "user": {"id": "W1"}},
         "context": {"ua": UA, "ip_address": "203.0.113.4"}}]},
}
FAILED_SAID = {"okta.json": "outcome FAILURE", "github.json": "user.failed_login",
               "github-2fa.json": "user.two_factor_challenge_failure", "slack-audit.json": "user_login_failed"}


@pytest.mark.parametrize("name", list(FAILED))
def test_a_failed_sign_in_is_rejected_with_its_code_not_taken_for_the_users_device(name, tmp_path):
    result = load_one(write(tmp_path / name, json.dumps(FAILED[name])))
    assert result.access["user_agent"].astype("str").tolist() == [UA]
    reasons = result.rejected["reason"].tolist()
    assert len(reasons) == 1 and reasons[0].startswith("failed sign-in (")
    assert FAILED_SAID.get(name, "50126") in reasons[0]
    counts = result.counts.iloc[0]
    assert (counts["read"], counts["loaded"], counts["rejected"]) == (2, 1, 1)


@pytest.mark.parametrize("actor", ["SystemPrincipal", "PublicClientApp"])
def test_an_okta_event_no_person_made_is_no_device(actor, tmp_path):
    # Okta itself acting in a user's name (SEKOIA-IO automation-library's Okta fixture:
    # `user.authentication.auth_via_IDP` by "Okta System", system@okta.com) and an OAuth
    # client carry a browser's agent that is nobody's device.
    machine = {**OKTA[0], "uuid": "okta-system", "eventType": "user.authentication.auth_via_IDP",
               "actor": {"id": "0oa1", "type": actor, "alternateId": "system@okta.com", "displayName": "Okta System"},
               "client": {"userAgent": {"rawUserAgent": OLD_EDGE, "os": "Windows 10", "browser": "CHROME"},
                          "ipAddress": "1.2.3.4"}, "outcome": {"result": "SUCCESS"}}
    result = load_one(write(tmp_path / "okta.json", json.dumps([machine, OKTA[0]])))
    assert result.access["user"].tolist() == ["ann@example.com"]
    assert result.rejected["reason"].tolist() == [f"made by actor type {actor}, not a person: no device by design"]


def test_a_github_log_opening_with_events_no_actor_made_is_still_read(tmp_path):
    # An Enterprise `/audit-log?include=all` page opens with `git.fetch` events that have
    # neither actor nor user agent (a Python SDK's test response); the format is told by the
    # rows after them.
    fetch = {"@timestamp": 1614697638660, "business": "poizen-inc", "org": "org-demo", "repo": "org-demo/public-repo",
             "action": "git.fetch", "transport_protocol_name": "http", "transport_protocol": 1,
             "repository": "org-demo/public-repo", "repository_public": True}
    login = {"@timestamp": 1714557600000, "_document_id": "gh-ok", "action": "user.login", "actor": "ann",
             "actor_id": 7, "user_agent": UA}
    for name, text in [("page.json", json.dumps([fetch, fetch, login])),
                       ("lines.ndjson", "\n".join(json.dumps(row) for row in [fetch, fetch, login]))]:
        for forced in (None, "github"):
            result = load_one(write(tmp_path / name, text), format=forced)
            assert result.counts["format"].tolist() == ["github"] and not result.problems
            assert result.access["user"].tolist() == ["ann"]
            assert result.rejected["reason"].tolist() == ["no user agent"] * 2


def test_entras_application_sign_in_download_is_rejected_row_by_row_not_refused(tmp_path):
    # ApplicationSignIns_*.csv (the portal's service-principal tab; header as a public schema
    # note lists it) names applications, never a person or a user agent.
    header = ("Date (UTC),Request ID,Correlation ID,Service principal ID,Service principal name,Credential key ID,"
              "Application,Application ID ,Resource,IP address,Location,Status,Sign-in error code,Failure reason")
    rows = ["2026-07-16T15:31:34Z,5762b741,0a1b338b,29f4d705,AADReporting,,AADReporting,1b912ec3,Microsoft Graph,"
            '135.225.184.235,"Gavle, SE",Success,0,', "2026-07-16T15:32:00Z,5762b742,0a1b338c,29f4d706,,,Backup,"
            "1b912ec4,Microsoft Graph,135.225.184.236,SE,Failure,7000215,Invalid client secret"]
    result = load_one(write(tmp_path / "ApplicationSignIns_2026-07-16.csv", "\n".join([header, *rows]) + "\n"))
    assert result.access.empty and not result.problems
    assert result.rejected["reason"].tolist() == [
        "sign-in by an application (service principal AADReporting): no device by design",
        "sign-in by an application (service principal 29f4d706): no device by design"]


def test_generic_csv_takes_the_user_name_not_the_display_name(tmp_path):
    # Entra's sign-in download names the person twice: "User" (display name) and "Username"
    # (the UPN the directory knows); the display name matched no one in the directory.
    path = write(tmp_path / "InteractiveSignIns.csv",
                 "Date (UTC),Request ID,User agent,User ID,User,Username,IP address\n"
                 f'2021-06-30T16:34:32Z,1691d37b,"{UA}",26be570a,Test contoso,testaccount1@contoso.com,131.107.159.37\n')
    access = load_one(path).access
    assert access["user"].tolist() == ["testaccount1@contoso.com"]


def _threat(uuid, actor, result):
    # A ThreatInsight event as Panther's OktaThreatInsightSecurityThreatDetected rule tests it.
    return {**OKTA[0], "uuid": uuid, "eventType": "security.threat.detected", "actor": actor,
            "client": {"userAgent": {"rawUserAgent": OLD_EDGE, "os": "Windows 10", "browser": "CHROME"},
                       "ipAddress": "1.2.3.4"}, "outcome": {"result": result, "reason": "Password Spray"}}


@pytest.mark.parametrize("event, said", [
    # Okta's placeholder actor when no user was identified (Okta's ThreatInsight help: these
    # events "don't include a username"); an unidentified request is no one's device.
    ({**OKTA[0], "uuid": "okta-unknown", "actor": {"id": "unknown", "type": "User", "alternateId": "unknown",
                                                   "displayName": "unknown"}, "outcome": {"result": "SUCCESS"}},
     "names no user: no one's device"),
    ({**OKTA[0], "uuid": "okta-null-actor", "actor": None}, "names no user: no one's device"),
    # A ThreatInsight detection names the targeted account, with the attacker's client.
    (_threat("thr-allow", {"id": "00u1", "type": "User", "alternateId": "ann@example.com"}, "ALLOW"),
     "security.threat.detected: the client is a suspected attacker's, not the user's device"),
    # Attempts that did not finish as a sign-in (System Log API, LogOutcome).
    *[({**OKTA[0], "uuid": f"okta-{result}", "eventType": "user.authentication.auth_via_mfa",
        "client": {"userAgent": {"rawUserAgent": OLD_EDGE}, "ipAddress": "1.2.3.4"}, "outcome": {"result": result}},
       f"failed sign-in (outcome {result})") for result in ("RATE_LIMIT", "UNANSWERED", "ABANDONED", "CHALLENGE")],
])
def test_an_okta_event_that_is_not_the_users_sign_in_is_rejected_with_why(event, said, tmp_path):
    result = load_one(write(tmp_path / "okta.json", json.dumps([event, OKTA[0]])))
    assert result.access["user"].tolist() == ["ann@example.com"]
    assert [reason[:len(said)] for reason in result.rejected["reason"]] == [said]
    counts = result.counts.iloc[0]
    assert (counts["read"], counts["loaded"], counts["rejected"]) == (2, 1, 1)


def test_a_google_admins_action_on_a_device_is_the_devices_user_not_the_admins(tmp_path):
    # DEVICE_ACTION_EVENT's actor is the admin; USER_EMAIL names the device's user (Reports
    # API, Device Audit Activity Events).
    action = {"kind": "admin#reports#activity",
              "id": {"time": "2023-10-14T09:00:00.000Z", "uniqueQualifier": "111", "applicationName": "mobile"},
              "actor": {"callerType": "USER", "email": "admin@example.com", "profileId": "1"},
              "events": [{"type": "device_action", "name": "DEVICE_ACTION_EVENT", "parameters": [
                  {"name": "ACTION_TYPE", "value": "DEVICE_REMOTE_WIPE"}, {"name": "DEVICE_TYPE", "value": "IOS_SYNC"},
                  {"name": "OS_VERSION", "value": "iOS 16.1.2"}, {"name": "USER_EMAIL", "value": "ann@example.com"}]}]}
    result = load_one(write(tmp_path / "mobile.json", json.dumps({"kind": "admin#reports#activities",
                                                                    "items": [action]})))
    row = result.access.iloc[0]
    assert (row["user"], row["reported_os_version"]) == ("ann@example.com", "16.1.2")
    assert pd.isna(row["user_id"])


def test_a_slack_audit_anomaly_is_no_evidence_of_the_users_device(tmp_path):
    # elastic/integrations' Slack audit pipeline test: Slack flags a session from a new ASN and IP.
    anomaly = {"id": "16f5fb41", "date_create": 1673631531, "action": "anomaly",
               "actor": {"type": "user", "user": {"id": "W1", "name": "ann", "email": "ann@example.com"}},
               "context": {"ua": OLD_EDGE, "ip_address": "81.2.69.143"},
               "details": {"previous_ip_address": "175.16.199.64", "reason": ["asn", "ip_address"]}}
    login = {**anomaly, "id": "ok", "action": "user_login", "context": {"ua": UA, "ip_address": "203.0.113.4"}}
    result = load_one(write(tmp_path / "audit.json", json.dumps({"entries": [anomaly, login]})))
    assert result.access["user_agent"].astype("str").tolist() == [UA]
    assert result.rejected["reason"].str.startswith("anomaly: Slack suspects").tolist() == [True]


def test_okta_placeholders_and_event_names_are_read_whatever_their_case_or_padding(tmp_path):
    padded = {**OKTA[0], "uuid": "okta-padded", "actor": {"id": " unknown ", "type": "User", "alternateId": "Unknown"},
              "outcome": {"result": "SUCCESS"}}
    shouted = {**_threat("thr-upper", {"id": "00u1", "type": "User", "alternateId": "ann@example.com"}, "ALLOW"),
               "eventType": "SECURITY.THREAT.DETECTED"}
    result = load_one(write(tmp_path / "okta.json", json.dumps([padded, shouted, OKTA[0]])))
    assert result.access["user"].tolist() == ["ann@example.com"]
    assert len(result.rejected) == 2
