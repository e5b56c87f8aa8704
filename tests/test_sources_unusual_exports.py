"""Issue 14 point 6: empty pages and the less common shapes vendors export sign-ins in.

Shapes taken from the vendors' documentation (facts only; the values are ours):
- Azure Monitor resource-log record for Entra sign-ins: MicrosoftDocs, "Interpret the Azure AD
  sign-in logs schema in Azure Monitor" (time, resourceId, operationName "Sign-in activity",
  operationVersion, category "SignInLogs", tenantId, resultType, callerIpAddress,
  correlationId, identity, Level, location, properties{...signIn...}), delivered as
  {"records": [...]} to Event Hubs and one record per line in storage-account PT1H.json blobs.
- Log Analytics SigninLogs columns: MicrosoftDocs/azure-reference-other,
  azure-monitor-ref/tables/signinlogs.md (TimeGenerated, CreatedDateTime, Id, UserPrincipalName,
  UserId, UserAgent, IPAddress, DeviceDetail dynamic, Category...).
- Google Reports API activities: Admin SDK reference (a page without "items" when nothing
  happened; login activities with id.applicationName "login", events[{type "login",
  name "login_success", parameters login_type / login_challenge_method / is_suspicious}]),
  as in panther-analysis's GSuite test events.
"""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest

from fleetanalysis import cli, sources, store
from fleetanalysis.errors import BadInput
from fleetanalysis.sources.schema import COLUMNS

CHROME_WIN = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/124.0.0.0 Safari/537.36")


def sign_in(number, user="ann@contoso.com", agent=CHROME_WIN):
    return {"id": f"0231f922-93fa-4005-bb11-b344eca03c0{number}",
            "createdDateTime": f"2024-05-0{number}T16:02:15.5522137+00:00",
            "userDisplayName": "Ann", "userPrincipalName": user, "userId": f"oid-{number}",
            "appId": "c44b4083-3bb0-49c1-b47d-974e53cbdf3c", "appDisplayName": "Azure Portal",
            "ipAddress": "203.0.113.9", "status": {"errorCode": 0}, "clientAppUsed": "Browser",
            "userAgent": agent,
            "deviceDetail": {"deviceId": "", "operatingSystem": "Windows 10", "browser": "Chrome 124.0.0",
                             "isCompliant": False, "isManaged": False, "trustType": ""},
            "isInteractive": True}


def record(number, category="SignInLogs", **properties):
    body = {**sign_in(number), **properties}
    return {"time": f"2024-05-0{number}T16:02:15.5522137Z",
            "resourceId": "/tenants/00000000-0000-0000-0000-000000000000/providers/Microsoft.aadiam",
            "operationName": "Sign-in activity", "operationVersion": "1.0", "category": category,
            "tenantId": "00000000-0000-0000-0000-000000000000", "resultType": "0", "resultSignature": "None",
            "durationMs": 0, "callerIpAddress": "203.0.113.9", "correlationId": "a75a10bd-c126-486b-9742-c03110d36262",
            "identity": "Ann", "Level": 4, "location": "US", "properties": body}


def counted(result):
    counts = result.counts
    assert (counts["read"] == counts["loaded"] + counts["rejected"]).all()
    assert list(result.access.columns) == list(COLUMNS)
    return counts


def test_azure_monitor_envelope_and_storage_lines_read_as_entra(tmp_path):
    hub = tmp_path / "eventhub.json"
    hub.write_text(json.dumps({"records": [record(1), record(2, "NonInteractiveUserSignInLogs")]}))
    blob = tmp_path / "PT1H.json"
    blob.write_text("\n".join(json.dumps(item) for item in [record(3), record(4)]) + "\n")
    result = sources.load([hub, blob])
    counts = counted(result)
    assert counts["format"].tolist() == ["entra", "entra"]
    assert counts["loaded"].tolist() == [2, 2]
    access = result.access
    assert access["event_id"].str.endswith(("1", "2", "3", "4")).all()
    assert access["user"].eq("ann@contoso.com").all()
    assert access["first_seen"].dt.day.tolist() == [1, 2, 3, 4]
    assert access["user_agent"].astype(str).eq(CHROME_WIN).all()
    # Forced, too: it was refused outright before.
    assert sources.load([blob], format="entra").counts["loaded"].tolist() == [2]


def test_azure_monitor_other_categories_are_rejected_with_their_reason(tmp_path):
    service = record(2, "ServicePrincipalSignInLogs")
    del service["properties"]["userAgent"]
    audit = {"time": "2024-05-01T10:00:00Z", "category": "AuditLogs", "operationName": "Add user",
             "properties": {"id": "audit-1", "activityDateTime": "2024-05-01T10:00:00Z"}}
    file = tmp_path / "PT1H.json"
    file.write_text("\n".join(json.dumps(item) for item in [record(1), service, audit]) + "\n")
    result = sources.load([file])
    assert counted(result)[["read", "loaded", "rejected"]].values.tolist() == [[3, 1, 2]]
    reasons = result.rejected["reason"].tolist()
    assert "no device by design" in reasons[0] and "ServicePrincipalSignInLogs" in reasons[0]
    assert reasons[1] == "Azure Monitor AuditLogs record, not a sign-in"


def test_azure_monitor_adfs_and_microsoft_service_principal_sign_ins_are_told_apart(tmp_path):
    # Elastic's azure signinlogs fixtures hold both categories: AD FS sign-ins are people's
    # (kept when they carry device evidence), Microsoft's own service principals have no device.
    adfs, microsoft = record(1, "ADFSSignInLogs"), record(2, "MicrosoftServicePrincipalSignInLogs")
    del microsoft["properties"]["userAgent"]
    file = tmp_path / "PT1H.json"
    file.write_text("\n".join(json.dumps(item) for item in [adfs, microsoft]) + "\n")
    result = sources.load([file])
    assert counted(result)[["read", "loaded", "rejected"]].values.tolist() == [[2, 1, 1]]
    assert result.rejected["reason"].tolist() == [
        "sign-in by an application (MicrosoftServicePrincipalSignInLogs): no device by design"]


def test_log_analytics_signinlogs_export_as_json_and_csv(tmp_path):
    detail = {"deviceId": "", "operatingSystem": "MacOs", "browser": "Safari 17.4", "isManaged": True}
    rows = [{"TenantId": "t", "TimeGenerated": "2024-05-01T09:00:00Z", "Id": "la-1", "CorrelationId": "c-1",
             "UserPrincipalName": "bo@contoso.com", "UserId": "oid-9", "IPAddress": "198.51.100.3",
             "UserAgent": None, "DeviceDetail": json.dumps(detail), "Category": "SignInLogs", "Type": "SigninLogs"}]
    as_json = tmp_path / "query.json"
    as_json.write_text(json.dumps(rows))
    header = "TenantId,TimeGenerated [UTC],Id,CorrelationId,UserPrincipalName,UserId,IPAddress,UserAgent,DeviceDetail,Category,Type"
    # The portal's CSV export writes times in US form under "[UTC]"; other tools write ISO 8601.
    fields = ['t', '"5/1/2024, 9:00:00.000 AM"', 'la-2', 'c-2', 'bo@contoso.com', 'oid-9', '198.51.100.3', '',
              '"' + json.dumps(detail).replace('"', '""') + '"', 'SignInLogs', 'SigninLogs']
    portal = ",".join(fields)
    iso = ",".join([fields[0], "2024-05-01T21:00:00Z", "la-3", *fields[3:]])
    as_csv = tmp_path / "query.csv"
    as_csv.write_text(f"{header}\n{portal}\n{iso}\n")
    result = sources.load([as_json, as_csv])
    counts = counted(result)
    assert counts["format"].tolist() == ["entra", "entra"]
    assert counts["loaded"].tolist() == [1, 2]
    access = result.access
    assert access["event_id"].tolist() == ["la-1", "la-2", "la-3"]
    assert access["first_seen"].dt.hour.tolist() == [9, 9, 21]
    assert access["reported_os"].astype(str).tolist() == ["MacOs"] * 3
    assert access["reported_browser"].astype(str).tolist() == ["Safari"] * 3
    assert access["reported_browser_version"].tolist() == ["17.4"] * 3
    assert access["managed"].tolist() == [True] * 3


@pytest.mark.parametrize(("text", "format"), [
    ("[]", "okta"), ("[]", "github"), ("[]", "entra"), ('{"value": []}', None),
    ('{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#auditLogs/signIns", "value": []}', "entra"),
    ('{"entries": [], "response_metadata": {"next_cursor": ""}}', None), ('{"records": []}', None),
    ('{"kind": "admin#reports#activities", "etag": "\\"kq1\\""}', None),
    ('{"kind": "admin#reports#activities", "etag": "\\"kq1\\""}', "google_mobile"),
])
def test_an_empty_page_is_zero_rows(tmp_path, text, format):
    file = tmp_path / "page.json"
    file.write_text(text)
    result = sources.load([file], format=format)
    assert counted(result)[["read", "loaded", "rejected"]].values.tolist() == [[0, 0, 0]]
    assert result.problems == []


def test_an_empty_list_without_a_format_says_to_name_one(tmp_path):
    file = tmp_path / "page.json"
    file.write_text("[]")
    with pytest.raises(BadInput, match=r"page.json: an empty list.*use --format"):
        sources.load([file])


def test_cli_ingest_of_an_empty_okta_page_exits_0(tmp_path, capsys):
    file = tmp_path / "okta.json"
    file.write_text("[]")
    assert cli.main(["ingest", str(file), "--format", "okta", "--store", str(tmp_path / "access.parquet")]) == 0
    assert "read 0, loaded 0, rejected 0" in capsys.readouterr().out
    assert store.read(tmp_path / "access.parquet").empty


def test_google_login_activities_are_skipped_for_their_reason_not_a_missing_agent(tmp_path):
    login = {"kind": "admin#reports#activity",
             "id": {"time": "2024-05-01T08:00:00.000Z", "uniqueQualifier": "-1001", "applicationName": "login",
                    "customerId": "C03az79cb"},
             "actor": {"email": "ann@example.com", "profileId": "1001"}, "ipAddress": "203.0.113.5",
             "events": [{"type": "login", "name": "login_success", "parameters": [
                 {"name": "login_type", "value": "google_password"},
                 {"name": "login_challenge_method", "multiValue": ["password"]},
                 {"name": "is_suspicious", "boolValue": False}]}]}
    mobile = {"kind": "admin#reports#activity",
              "id": {"time": "2024-05-01T08:30:00.000Z", "uniqueQualifier": "-1002", "applicationName": "mobile"},
              "actor": {"email": "ann@example.com"},
              "events": [{"type": "device_updates", "name": "DEVICE_SYNC_EVENT", "parameters": [
                  {"name": "DEVICE_TYPE", "value": "ANDROID"}, {"name": "OS_VERSION", "value": "Android 14"},
                  {"name": "DEVICE_MODEL", "value": "Pixel 8"}]}]}
    file = tmp_path / "reports.json"
    file.write_text(json.dumps({"kind": "admin#reports#activities", "items": [login, mobile]}))
    result = sources.load([file])
    assert counted(result)[["read", "loaded", "rejected"]].values.tolist() == [[2, 1, 1]]
    reason = result.rejected["reason"].iloc[0]
    assert "login" in reason and "no device evidence by design" in reason and reason != "no user agent"


@pytest.mark.parametrize(("header", "expected"), [
    # The example of issue 14, and headers of other consoles' sign-in exports.
    ("Email,Last Login (UTC),Browser User Agent,IP Address", ("Email", "Last Login (UTC)", "Browser User Agent")),
    ("User,Date (UTC),User-Agent,IP", ("User", "Date (UTC)", "User-Agent")),
    ("Email address,Sign-in time,User agent,Client IP address", ("Email address", "Sign-in time", "User agent")),
    ("Primary Email,Last sign-in [UTC],User Agent String,Source IP", ("Primary Email", "Last sign-in [UTC]",
                                                                      "User Agent String")),
])
def test_generic_csv_recognises_admin_export_headers_and_says_which(tmp_path, capsys, caplog, header, expected):
    file = tmp_path / "export.csv"
    file.write_text(f"{header}\nann@example.com,2024-05-01T10:00:00Z,\"{CHROME_WIN}\",192.0.2.1\n"
                    f"bo@example.com,2024-05-02 11:30:00,\"{CHROME_WIN}\",192.0.2.2\n")
    with caplog.at_level(logging.INFO, logger="fleetanalysis"):
        result = sources.load([file])
    # The library only logs its note; printing it is the command line's job (below).
    assert "columns picked" not in capsys.readouterr().err
    assert counted(result)[["format", "loaded"]].values.tolist() == [["csv", 2]]
    assert result.access["user"].tolist() == ["ann@example.com", "bo@example.com"]
    assert result.access["ip"].tolist() == ["192.0.2.1", "192.0.2.2"]
    lines = [line for line in caplog.messages if "columns picked" in line]
    user, time, agent = expected
    assert len(lines) == 1
    assert f"user {user!r}" in lines[0] and f"time {time!r}" in lines[0] and f"user agent {agent!r}" in lines[0]


def test_generic_csv_is_quiet_when_the_options_name_the_columns(tmp_path, caplog):
    file = tmp_path / "export.csv"
    file.write_text(f"who,when,what\nann@example.com,2024-05-01T10:00:00Z,\"{CHROME_WIN}\"\n")
    with caplog.at_level(logging.INFO, logger="fleetanalysis"):
        result = sources.load([file], user_column="who", time_column="when", ua_column="what")
    assert result.counts["loaded"].tolist() == [1]
    assert not [line for line in caplog.messages if "columns picked" in line]


def test_ingest_prints_the_columns_it_picked_once_and_terminal_safe(tmp_path, capsys):
    file = tmp_path / "export\x1b[2J.csv"
    file.write_text(f"Primary Email,Last sign-in [UTC],User Agent String\n"
                    f"ann@example.com,2024-05-01T10:00:00Z,\"{CHROME_WIN}\"\n")
    assert cli.main(["ingest", str(file), "--store", str(tmp_path / "store.parquet")]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "columns picked" in line]
    assert len(lines) == 1 and "user 'Primary Email'" in lines[0]
    assert "\x1b" not in lines[0] and "\\x1b[2J" in lines[0]
    # The command's own handler is gone once it returns: a library call after it prints nothing.
    sources.load([file])
    assert "columns picked" not in capsys.readouterr().err


def test_counts_still_add_up_through_the_store(tmp_path):
    page = tmp_path / "eventhub.json"
    page.write_text(json.dumps({"records": [record(1), record(1), record(2, "AuditLogs")]}))
    counts, problems = store.ingest(tmp_path / "access.parquet", [page])
    assert problems == []
    row = counts.iloc[0]
    assert row["read"] == row["loaded"] + row["rejected"] + row["duplicates"] == 3
    assert (row["loaded"], row["rejected"], row["duplicates"]) == (1, 1, 1)
    assert isinstance(store.read(tmp_path / "access.parquet")["reported_from"].dtype, pd.CategoricalDtype)


def test_log_analytics_query_api_tables_and_a_mixed_event_hub_batch(tmp_path):
    # The Log Analytics query API answers {"tables": [{"name": "PrimaryResult", "columns":
    # [{"name", "type"}], "rows": [[...]]}]}; dynamic columns (DeviceDetail) come as JSON text.
    columns = [("TimeGenerated", "datetime"), ("Id", "string"), ("UserPrincipalName", "string"),
               ("UserAgent", "string"), ("IPAddress", "string"), ("DeviceDetail", "dynamic")]
    detail = json.dumps({"operatingSystem": "Android", "browser": "Chrome Mobile 124.0.0"})
    answer = {"tables": [{"name": "PrimaryResult", "columns": [{"name": name, "type": kind} for name, kind in columns],
                          "rows": [["2024-05-01T09:00:00Z", "api-1", "cy@contoso.com", "", "192.0.2.8", detail]]}]}
    api = tmp_path / "query-api.json"
    api.write_text(json.dumps(answer))
    # A hub that streams several categories: the first record need not be a sign-in.
    audit = {"time": "2024-05-01T10:00:00Z", "category": "AuditLogs", "operationName": "Add user",
             "properties": {"id": "audit-1"}}
    hub = tmp_path / "hub.json"
    hub.write_text(json.dumps({"records": [audit, record(1)]}))
    result = sources.load([api, hub])
    assert counted(result)[["format", "read", "loaded", "rejected"]].values.tolist() == [
        ["entra", 1, 1, 0], ["entra", 2, 1, 1]]
    first = result.access.iloc[0]
    assert (first["event_id"], first["reported_os"], first["reported_browser"]) == ("api-1", "Android", "Chrome Mobile")
