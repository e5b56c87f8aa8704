"""Issue 14 point 3: device facts the source states itself, with where each came from.

Shapes from the vendors' documentation (facts only; the values are ours unless noted):
- Graph v1.0 signIn: the "List signIns" example response in Microsoft Graph's docs has no
  userAgent and deviceDetail {"deviceId": "", "displayName": null, "operatingSystem":
  "Windows 10", "browser": "Edge 80.0.361", "isCompliant": null, "isManaged": null,
  "trustType": null}; the deviceDetail resource documents the same seven properties.
- Okta LogEvent: client.userAgent {rawUserAgent, os "Mac OS X", browser "CHROME"} as in
  panther-analysis's Okta test events; the top-level device block {id, name, os_platform,
  os_version, managed, registered, device_integrator, disk_encryption_type, screen_lock_type,
  jailbreak, secure_hardware_present} of okta-sdk-golang's LogDevice model; events without
  a device carry "device": "" (Okta's own sample exports) or none.
- Google Reports API mobile activity: DEVICE_TYPE, OS_VERSION ("iOS 17.4.1"), DEVICE_MODEL
  parameters; endpoint reports echo Chrome's frozen "macOS 10.15.7" and "Windows 10.0".
"""

from __future__ import annotations

import json

import pandas as pd

from fleetanalysis import clients, sources

GRAPH_V1 = {
    "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#auditLogs/signIns",
    "value": [
        {"id": "66ea54eb-6301-4ee5-be62-ff5a759b0100", "createdDateTime": "2024-05-01T19:14:03Z",
         "userDisplayName": "Test contoso", "userPrincipalName": "testaccount1@contoso.com",
         "userId": "26be570a-ae82-4189-b4e2-a37c6808512d", "appId": "de8bc8b5-d9f9-48b1-a8ad-b748da725064",
         "appDisplayName": "Graph explorer", "ipAddress": "131.107.159.37", "clientAppUsed": "Browser",
         "correlationId": "d79f5bee-5860-4832-928f-3133e22ae912", "isInteractive": True,
         "status": {"errorCode": 0, "failureReason": None, "additionalDetails": None},
         "deviceDetail": {"deviceId": "", "displayName": None, "operatingSystem": "Windows 10",
                          "browser": "Edge 80.0.361", "isCompliant": None, "isManaged": None, "trustType": None}},
        {"id": "66ea54eb-6301-4ee5-be62-ff5a759b0101", "createdDateTime": "2024-05-01T19:20:00Z",
         "userPrincipalName": "testaccount2@contoso.com", "userId": "oid-2", "ipAddress": "131.107.159.38",
         "clientAppUsed": "Mobile Apps and Desktop clients",
         "deviceDetail": {"deviceId": "f6a4d8b2-0000-4000-8000-000000000001", "displayName": "Ann's iPhone",
                          "operatingSystem": "iOS 17.4.1", "browser": "Rich Client 4.61.0.0",
                          "isCompliant": True, "isManaged": True, "trustType": "Azure AD registered"}},
        {"id": "66ea54eb-6301-4ee5-be62-ff5a759b0102", "createdDateTime": "2024-05-01T19:30:00Z",
         "userPrincipalName": "testaccount3@contoso.com", "userId": "oid-3", "ipAddress": "131.107.159.39",
         "deviceDetail": {"deviceId": "", "operatingSystem": "MacOs", "browser": "Chrome 124.0.0",
                          "isCompliant": False, "isManaged": False, "trustType": ""}},
    ]}

MAC_CHROME = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/125.0.0.0 Safari/537.36")

OKTA = [
    {"uuid": "f790999f-fe87-467a-9880-6982a583986c", "published": "2024-06-17T22:00:56.423Z",
     "eventType": "user.session.start", "version": "0", "severity": "INFO",
     "actor": {"id": "00u1qw6mqitPHM8AJ0g7", "type": "User", "alternateId": "ann@example.com"},
     "client": {"userAgent": {"rawUserAgent": MAC_CHROME, "os": "Mac OS X", "browser": "CHROME"},
                "zone": "null", "device": "Computer", "ipAddress": "198.51.100.7"},
     "device": {"id": "guo1a2b3c4d5e6f7g8h9", "name": "MacBookPro18,3", "os_platform": "OSX",
                "os_version": "14.5.0", "managed": True, "registered": True, "device_integrator": None,
                "disk_encryption_type": "ALL_INTERNAL_VOLUMES", "screen_lock_type": "BIOMETRIC",
                "jailbreak": None, "secure_hardware_present": True}},
    {"uuid": "f790999f-fe87-467a-9880-6982a583986d", "published": "2024-06-17T22:05:00.000Z",
     "eventType": "user.session.start", "actor": {"id": "00u2", "alternateId": "bo@example.com"},
     "client": {"userAgent": {"rawUserAgent": "UNKNOWN", "os": "Windows 10", "browser": "EDGE"},
                "device": "Computer", "ipAddress": "198.51.100.8"},
     "device": ""},
]


def google(os_version, device_type, model, number):
    return {"kind": "admin#reports#activity",
            "id": {"time": f"2024-05-0{number}T08:00:00.000Z", "uniqueQualifier": f"-70{number}",
                   "applicationName": "mobile", "customerId": "C0"},
            "actor": {"callerType": "USER", "email": "ann@example.com", "profileId": "1001"},
            "events": [{"type": "device_updates", "name": "DEVICE_SYNC_EVENT", "parameters": [
                {"name": "DEVICE_MODEL", "value": model}, {"name": "DEVICE_TYPE", "value": device_type},
                {"name": "OS_VERSION", "value": os_version}]}]}


def load(tmp_path, name, document):
    file = tmp_path / name
    file.write_text(json.dumps(document))
    result = sources.load([file])
    assert (result.counts["read"] == result.counts["loaded"]).all()
    return result.access


def test_graph_v1_device_detail_is_read_with_its_provenance(tmp_path):
    access = load(tmp_path, "signins.json", GRAPH_V1)
    assert access["user_agent"].isna().all()
    assert access["reported_os"].astype(str).tolist() == ["Windows 10", "iOS 17.4.1", "MacOs"]
    # "Windows 10" is what Entra makes of the frozen "Windows NT 10.0": no version.
    assert access["reported_os_version"].isna().tolist() == [True, False, True]
    assert access["reported_os_version"].iloc[1] == "17.4.1"
    assert access["reported_browser"].astype(str).tolist() == ["Edge", "Rich Client", "Chrome"]
    assert access["reported_browser_version"].tolist() == ["80.0.361", "4.61.0.0", "124.0.0"]
    assert access["device_model"].isna().tolist() == [True, False, True]
    assert access["managed"].tolist()[1:] == [True, False]
    assert access["compliant"].tolist()[1:] == [True, False]
    assert access["trust_type"].astype(object).tolist()[1] == "Azure AD registered"
    assert pd.isna(access["trust_type"].iloc[2])
    provenance = access["reported_from"].astype(str).tolist()
    assert provenance[0] == ("os<-deviceDetail.operatingSystem, os_version frozen<-deviceDetail.operatingSystem, "
                             "browser<-deviceDetail.browser")
    assert "os_version<-deviceDetail.operatingSystem" in provenance[1]
    assert "compliant<-deviceDetail.isCompliant" in provenance[1]


def test_graph_v1_sign_ins_are_judged_on_what_entra_states(tmp_path):
    found = clients.facts(load(tmp_path, "signins.json", GRAPH_V1))
    assert found["platform"].astype(str).tolist() == ["Windows", "iOS", "macOS"]
    assert found["client_family"].astype(str).tolist() == ["Edge", "Rich Client", "Chrome"]
    assert found["client_kind"].astype(str).tolist() == ["browser", "app", "browser"]
    # Entra drops the last part of Edge's build (80.0.361 of 80.0.361.x): only the major is sure;
    # Chrome's x.0.0 is a reduced agent: major only too.
    assert found["client_version"].tolist() == ["80", "4.61.0.0", "124"]
    assert found["client_product"].astype(object).tolist()[0::2] == ["edge", "chrome"]
    assert found.loc[1, ["os_version", "os_evidence"]].tolist() == ["17.4.1", "exact"]
    # The frozen echo is called frozen, not old; the reason says who stated what.
    assert found.loc[0, "os_evidence"] == "frozen"
    assert "frozen" in found.loc[0, "reason"] and "browser reported by entra" in found.loc[0, "reason"]
    assert found.loc[2, "reason"].endswith("browser reported by entra; Chrome reports only its major version")
    # Before, every one of them was "no user agent" with no client at all.
    assert found["client_family"].notna().all()


def test_okta_device_block_and_client_reading(tmp_path):
    access = load(tmp_path, "okta.json", OKTA)
    assert access["reported_os"].astype(str).tolist() == ["OSX", "Windows 10"]
    assert access["reported_os_version"].tolist()[0] == "14.5.0"
    # The agent reading names no version, so none is taken from it.
    assert pd.isna(access["reported_os_version"].iloc[1])
    assert access["reported_browser"].astype(str).tolist() == ["CHROME", "EDGE"]
    assert access["device_model"].tolist()[0] == "MacBookPro18,3"
    assert access["managed"].tolist()[0] is True
    assert access["reported_from"].astype(str).tolist() == [
        "os<-device.os_platform, os_version<-device.os_version, browser<-client.userAgent.browser, "
        "model<-device.name, managed<-device.managed",
        "os<-client.userAgent.os, browser<-client.userAgent.browser"]
    found = clients.facts(access)
    # The frozen macOS token of Chrome gives way to the version Okta Verify read.
    assert found.loc[0, ["platform", "os_version", "os_evidence"]].tolist() == ["macOS", "14.5.0", "exact"]
    assert found.loc[0, "reason"].startswith("reported by okta")
    # No agent (Okta's UNKNOWN): platform and browser from what Okta states.
    assert found.loc[1, ["platform", "client_family", "client_product"]].tolist() == ["Windows", "Edge", "edge"]
    assert "browser reported by okta" in found.loc[1, "reason"]


def test_google_frozen_echoes_are_unknown_not_old(tmp_path):
    page = {"kind": "admin#reports#activities", "items": [
        google("iOS 17.4.1", "IOS_SYNC", "iPhone15,2", 1),
        google("macOS 10.15.7", "MAC_OS", "MacBookPro18,3", 2),
        google("Windows 10.0", "WINDOWS", "Surface Laptop 5", 3),
        google("Android 10", "ANDROID", "Pixel 3", 4),
        google("Android 14", "ANDROID", "Pixel 8", 5)]}
    access = load(tmp_path, "mobile.json", page)
    assert access["reported_os_version"].tolist()[0] == "17.4.1"
    assert access["reported_os_version"].isna().tolist() == [False, True, True, True, False]
    assert access["device_model"].tolist() == ["iPhone15,2", "MacBookPro18,3", "Surface Laptop 5", "Pixel 3", "Pixel 8"]
    assert access["reported_from"].astype(str).str.contains("os_version frozen<-OS_VERSION").tolist() == [
        False, True, True, True, False]
    found = clients.facts(access)
    assert found["os_evidence"].astype(str).tolist() == ["exact", "frozen", "frozen", "frozen", "exact"]
    assert found["platform"].astype(str).tolist() == ["iOS", "macOS", "Windows", "Android", "Android"]
    assert found["os_version"].isna().tolist() == [False, True, True, True, False]
    assert all("frozen" in reason for reason in found["reason"].iloc[1:4])


def test_google_desktop_chrome_names_no_platform(tmp_path):
    # Google's device audit types DESKTOP_CHROME as "Desktop Chrome", the browser on any
    # desktop system (Admin SDK, mobile activity events); elastic/integrations' device fixture
    # with that type (and OS_VERSION "os11") read as an exact ChromeOS 11.
    page = {"kind": "admin#reports#activities", "items": [google("os11", "DESKTOP_CHROME", "model", 1)]}
    found = clients.facts(load(tmp_path, "mobile.json", page))
    assert found.loc[0, ["platform", "os_evidence"]].tolist() == ["other", "absent"]
    assert pd.isna(found.loc[0, "os_version"])


def test_stores_written_before_the_new_columns_still_load(tmp_path):
    old = load(tmp_path, "okta.json", OKTA).drop(
        columns=["reported_browser", "reported_browser_version", "compliant", "trust_type", "reported_from"])
    path = tmp_path / "access.parquet"
    old.to_parquet(path)
    from fleetanalysis import store

    again = store.read(path)
    assert list(again.columns) == list(sources.schema.COLUMNS)
    assert again["reported_from"].isna().all() and again["compliant"].isna().all()
    assert clients.facts(again).loc[0, "os_version"] == "14.5.0"


def test_okta_verify_versions_are_read_from_the_device_so_never_an_echo(tmp_path):
    # Okta Verify on a Mac still running Catalina states 10.15.7 and means it.
    event = {**OKTA[0], "uuid": "catalina", "device": {**OKTA[0]["device"], "os_version": "10.15.7"}}
    access = load(tmp_path, "okta.json", [event])
    assert access["reported_os_version"].tolist() == ["10.15.7"]
    assert clients.facts(access).loc[0, ["os_version", "os_evidence"]].tolist() == ["10.15.7", "exact"]
