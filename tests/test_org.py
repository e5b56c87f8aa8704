"""org: offices from the directory, then from the network, never dropping a device."""

import pandas as pd
import pytest

from fleetanalysis import org
from fleetanalysis.errors import BadInput


def _devices():
    return pd.DataFrame({
        "device_id": ["U1|iOS|phone", "U1|macOS|desktop", "U2|iOS|phone", "U3|Linux|desktop",
                      "U4|iOS|phone", "U5|Android|phone"],
        "user_id": ["U1", "U1", pd.NA, "U3", "U4", "U5"],
        "user": ["ann@example.org", "ann@example.org", "Bob@Example.org", "carl@example.org",
                 "dina@example.org", "eve@example.org"],
        "ip": ["198.51.100.7", "198.51.100.7", "10.1.2.3", "192.0.2.1", "10.9.0.1",
               "2001:db8:5::1"],
        "last_seen": pd.to_datetime(["2024-06-28"] * 6, utc=True),
    })


@pytest.fixture
def directory(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(
        "user_id,email,office,department,ownership,exempt_until\n"
        "U1,ann@example.org,Oslo,Sales,managed,\n"
        ",bob@example.org,Lima,IT,personal,\n"
        "U4,dina@example.org,Oslo,IT,managed,2024-12-31\n"
    )
    return org.load_directory(path)


@pytest.fixture
def networks(tmp_path):
    path = tmp_path / "networks.csv"
    path.write_text("cidr,office\n10.0.0.0/8,Bergen\n2001:db8::/32,Lima\n2001:db8:5::/48,Tromsø\n")
    return org.load_networks(path)


def test_directory_then_network_then_unknown(directory, networks):
    placed = org.assign(_devices(), directory, networks, as_of="2024-06-30")
    assert placed["office"].tolist() == ["Oslo", "Oslo", "Lima", "Unknown office", "Oslo", "Tromsø"]
    assert placed["department"].tolist() == ["Sales", "Sales", "IT", "Unknown department", "IT",
                                             "Unknown department"]
    assert len(placed) == 6


def test_exemption_holds_until_its_date(directory):
    before = org.assign(_devices(), directory, as_of="2024-12-31")
    after = org.assign(_devices(), directory, as_of="2025-01-01")
    assert before["exempt"].tolist() == [False, False, False, False, True, False]
    assert not after["exempt"].any()


def test_exemption_follows_each_timeline_date(directory):
    weeks = pd.concat([_devices().assign(as_of=pd.Timestamp(day)) for day in ("2024-12-29", "2025-01-05")])
    placed = org.assign(weeks, directory)
    assert placed.loc[placed["user_id"].eq("U4"), "exempt"].tolist() == [True, False]


def test_no_directory_and_no_networks_still_counts_everyone():
    placed = org.assign(_devices())
    assert (placed["office"] == org.UNKNOWN_OFFICE).all()
    assert len(placed) == 6


def test_longest_network_wins_for_ipv6(networks):
    offices = org.office_by_network(pd.Series(["2001:db8:5::9", "2001:db8:6::9", "10.0.0.1"]), networks)
    assert offices.tolist() == ["Tromsø", "Lima", "Bergen"]


def test_directory_missing_office_column(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("user_id,department\nU1,IT\n")
    with pytest.raises(BadInput, match=r"people.csv: header: missing column 'office'"):
        org.load_directory(path)


def test_directory_missing_file_and_binary_file(tmp_path):
    with pytest.raises(BadInput, match="no such file"):
        org.load_directory(tmp_path / "absent.csv")
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"\xff\xfe\x00\x00\x81" * 50)
    with pytest.raises(BadInput, match="garbage.csv"):
        org.load_directory(garbage)


def test_directory_bad_exempt_date_names_record(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("email,office,department,exempt_until\na@x.org,Oslo,IT,\nb@x.org,Oslo,IT,next week\n")
    with pytest.raises(BadInput, match="record 2: exempt_until is not a date"):
        org.load_directory(path)


def test_bad_cidr_names_the_line(tmp_path):
    path = tmp_path / "networks.csv"
    path.write_text("cidr,office\n10.0.0.0/8,Bergen\n2001:db8::/129,Lima\n")
    with pytest.raises(BadInput, match=r"networks.csv: line 3: not a network"):
        org.load_networks(path)


def test_directory_exported_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes("user_id,office,department\nU1,Zürich,IT\n".encode("utf-8-sig"))
    assert org.load_directory(path)[["user_id", "office"]].values.tolist() == [["U1", "Zürich"]]


def test_categorical_columns_place_like_text(directory, networks):
    devices = _devices()
    coded = devices.astype({"user_id": "category", "user": "category", "ip": "category"})
    text = org.assign(devices, directory, networks, as_of="2024-12-31")
    placed = org.assign(coded, directory, networks, as_of="2024-12-31")
    columns = ["office", "department", "ownership", "exempt_until", "exempt"]
    places = ["office", "department", "ownership"]
    assert placed[columns].astype({column: "str" for column in places}).equals(text[columns])
    assert text["office"].dtype == "str"
    # As a timeline's own text columns: categoricals of the places named, sorted.
    for column in places:
        assert isinstance(placed[column].dtype, pd.CategoricalDtype)
        assert placed[column].cat.categories.tolist() == sorted(text[column].dropna().unique())


def test_timeline_places_each_person_once_per_date_and_leaves_input_alone(directory, networks):
    dates = ["2024-12-22", "2024-12-29", "2025-01-05"]
    weeks = pd.concat([_devices().assign(as_of=pd.Timestamp(day)) for day in dates], ignore_index=True)
    before = weeks.copy()
    placed = org.assign(weeks, directory, networks)
    for day in dates:
        snapshot = org.assign(_devices(), directory, networks, as_of=day)
        on_day = placed[placed["as_of"] == pd.Timestamp(day)].drop(columns="as_of").reset_index(drop=True)
        pd.testing.assert_frame_equal(on_day, snapshot)
    pd.testing.assert_frame_equal(weeks, before)
    assert "office" not in weeks


def test_exemption_against_last_seen_when_no_date_is_given(directory):
    devices = _devices()
    devices.loc[4, "last_seen"] = pd.Timestamp("2025-01-01 00:30", tz="UTC")
    assert org.assign(devices, directory)["exempt"].tolist() == [False] * 6
    devices.loc[4, "last_seen"] = pd.Timestamp("2024-12-31 23:59", tz="UTC")
    assert org.assign(devices, directory)["exempt"].tolist() == [False] * 4 + [True, False]


# --- One person across sources -------------------------------------------------------------
# Record shapes as the vendors document them: Slack team.accessLogs (user_id, username, ...),
# Okta System Log (actor.id / actor.alternateId, client.userAgent, device block), Microsoft
# Graph signIn (userId, userPrincipalName, deviceDetail). Agents: Slack for iOS
# (com.tinyspeck.chatlyio, as in Slack access logs), Slack desktop on macOS and Safari 17.4,
# both of which freeze macOS at 10_15_7.
MAC_SAFARI = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/17.4 Safari/605.1.15")
MAC_SLACK = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Slack/4.37.94 Chrome/120.0.6099.291 Electron/28.2.3 Safari/537.36 Sonic Slack_SSB/4.37.94")
IOS_SLACK = "com.tinyspeck.chatlyio/24.04.10 (iPhone; iOS 17.4.1; Scale/3.00)"
IOS_SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/17.4 Mobile/15E148 Safari/604.1")
T0 = 1714521600  # 2024-05-01T00:00:00Z


def _slack(user_id, username, ua):
    return {"user_id": user_id, "username": username, "date_first": T0, "date_last": T0 + 3600, "count": 1,
            "ip": "192.0.2.1", "user_agent": ua, "isp": None, "country": None, "region": None}


def _okta(uuid, actor_id, login, ua, device=None):
    event = {"uuid": uuid, "published": "2024-05-01T10:00:00.000Z", "eventType": "user.session.start",
             "actor": {"id": actor_id, "type": "User", "alternateId": login},
             "client": {"userAgent": {"rawUserAgent": ua}, "ipAddress": "198.51.100.7"}}
    if device:
        event["device"] = device
    return event


def _scenario(tmp_path, directory_text):
    import json

    from fleetanalysis import analysis, sources, store

    (tmp_path / "slack.json").write_text(json.dumps({"ok": True, "logins": [
        _slack("U1", "ann", MAC_SLACK), _slack("U1", "ann", IOS_SLACK), _slack("U9", "zed", MAC_SLACK)],
        "paging": {"count": 100, "total": 3, "page": 1, "pages": 1}}))
    (tmp_path / "okta.ndjson").write_text("\n".join(json.dumps(event) for event in [
        # Okta names the macOS version in its device block; the browser froze it.
        _okta("o-1", "00u1", "Ann@Example.com", MAC_SAFARI,
              {"os_platform": "OSX", "os_version": "14.4.1", "managed": True}),
        _okta("o-2", "00u1", "Ann@Example.com", IOS_SAFARI),
        # Not in the directory: the same mailbox in Okta and Entra is one person...
        _okta("o-3", "00u3", "cy@example.com", MAC_SAFARI),
        # ...but a bare login that merely looks like a Slack username is not.
        _okta("o-9", "00u9", "zed", MAC_SAFARI)]))
    (tmp_path / "entra.json").write_text(json.dumps({"value": [
        {"id": "e-1", "createdDateTime": "2024-05-01T09:00:00Z", "userPrincipalName": "ANN@example.com",
         "userId": "6e7b768e-07e2-4810-8459-485f84f8f204", "ipAddress": "203.0.113.4", "userAgent": MAC_SAFARI,
         "deviceDetail": {"operatingSystem": "MacOs", "browser": "Safari 17.4", "isManaged": False}},
        {"id": "e-3", "createdDateTime": "2024-05-01T09:30:00Z", "userPrincipalName": "CY@example.com",
         "userId": "1f0e9f5c-0000-4000-8000-000000000003", "ipAddress": "203.0.113.5", "userAgent": MAC_SAFARI,
         "deviceDetail": {"operatingSystem": "MacOs", "browser": "Safari 17.4"}}]}))
    people = tmp_path / "directory.csv"
    people.write_text(directory_text)
    loaded = sources.load([tmp_path / "slack.json", tmp_path / "okta.ndjson", tmp_path / "entra.json"])
    store.merge(tmp_path / "access.parquet", loaded)
    return analysis.prepare(tmp_path / "access.parquet", people, as_of="2024-05-02")


def test_one_phone_and_one_mac_seen_by_three_sources_are_two_devices(tmp_path):
    run = _scenario(tmp_path, "user_id,email,office,department\nU1,ann@example.com,Oslo,Sales\n")
    devices = run.devices.set_index("device_id")
    ann = devices[devices.index.str.startswith("U1|")]
    assert sorted(ann.index) == ["U1|iOS|phone", "U1|macOS|desktop"]
    # The Mac is judged on the version Okta states, not on the browsers' frozen 10.15.7.
    assert ann.loc["U1|macOS|desktop", ["os_version", "os_evidence"]].tolist() == ["14.4.1", "exact"]
    assert ann.loc["U1|iOS|phone", "os_version"] == "17.4.1"
    assert set(ann["office"]) == {"Oslo"}
    # Slack desktop and Safari on the one Mac, each judged.
    assert "Slack 4.37.94" in ann.loc["U1|macOS|desktop", "clients"]
    assert "Safari" in ann.loc["U1|macOS|desktop", "clients"]


def test_people_outside_the_directory_are_merged_only_by_their_mailbox(tmp_path):
    run = _scenario(tmp_path, "user_id,email,office,department\nU1,ann@example.com,Oslo,Sales\n")
    others = sorted(run.devices["device_id"][~run.devices["device_id"].str.startswith("U1|")])
    assert others == ["cy@example.com|macOS|desktop", "okta:00u9|macOS|desktop", "slack_access:U9|macOS|desktop"]


def test_resolution_is_derived_and_leaves_the_store_raw(tmp_path):
    run = _scenario(tmp_path, "user_id,email,office,department\nU1,ann@example.com,Oslo,Sales\n")
    assert "person" not in run.access.columns
    assert sorted(run.access["user_id"].dropna().unique()) == [
        "00u1", "00u3", "00u9", "1f0e9f5c-0000-4000-8000-000000000003", "6e7b768e-07e2-4810-8459-485f84f8f204",
        "U1", "U9"]


def test_resolve_people_prefers_the_directory_id_then_email_then_the_source_id():
    facts = pd.DataFrame({
        "source": pd.Categorical(["slack_access", "okta", "entra", "csv", "github", "slack_access", "okta"]),
        "user_id": ["U1", "00u1", pd.NA, pd.NA, "583231", pd.NA, "U7"],
        "user": ["ann", " ANN@example.org ", "bob@example.org", "Cy@Example.org", "octocat", pd.NA, "x@y.org"]})
    directory = pd.DataFrame({"user_id": ["U1", pd.NA, "U7"], "email": ["ann@example.org", "bob@example.org",
                                                                       "seven@example.org"],
                              "office": ["Oslo", "Lima", "Oslo"], "department": ["IT"] * 3})
    resolved = org.resolve_people(facts, directory)
    assert resolved["person"].fillna("-").tolist() == ["U1", "U1", "bob@example.org", "cy@example.org",
                                                       "github:583231", "-", "U7"]
    # Without a directory only e-mail joins sources; raw ids stay in their source.
    alone = org.resolve_people(facts)["person"].fillna("-").tolist()
    assert alone == ["slack_access:U1", "ann@example.org", "bob@example.org", "cy@example.org",
                     "github:583231", "-", "x@y.org"]
    assert list(resolved.columns) == [*facts.columns, "person"]


def test_a_renamed_account_is_one_person_not_two():
    # elastic/integrations' Okta system-log test events: one actor.id (00u1abvz4pYqdM8ms4x6)
    # under two alternateIds, as a login or e-mail rename leaves it.
    facts = pd.DataFrame({"source": ["okta", "okta", "okta", "okta"],
                          "user_id": ["00u1abvz4pYqdM8ms4x6", "00u1abvz4pYqdM8ms4x6", "00u1abvz4pYqdM8ms4x6", "00u2"],
                          "user": ["username@elastic.co", "xxxxxx@elastic.co", "xxxxxx@elastic.co", "other@elastic.co"]})
    people = org.resolve_people(facts)["person"].tolist()
    assert people[0] == people[1] == people[2] != people[3]
    # The directory's id wins when it lists either name.
    directory = pd.DataFrame({"user_id": ["E7"], "email": ["xxxxxx@elastic.co"], "office": ["Oslo"],
                              "department": ["IT"]})
    assert org.resolve_people(facts, directory)["person"].tolist()[:3] == ["E7"] * 3


def test_a_directory_repeating_a_column_is_refused_and_a_person_listed_twice_is_said(tmp_path, caplog):
    # An outside trial: a messy spreadsheet merge gave two office columns (the first was read)
    # and one person under two offices (the last row won), both without a word.
    path = tmp_path / "people.csv"
    for header in ("user_id,email,office,department,office", "user_id,email,Office,department,office "):
        path.write_text(f"{header}\nU1,a@x.org,Oslo,IT,Bergen\n")
        with pytest.raises(BadInput, match="people.csv: header: column 'office' appears 2 times; keep one"):
            org.load_directory(path)
    path.write_text("user_id,email,office,department\nU1,a@x.org,Oslo,IT\nU2,b@x.org,Oslo,IT\n"
                    "U1,a@x.org,Bergen,IT\nU3,C@x.org,Lima,IT\nU4,c@x.org,Lima,IT\n")
    with caplog.at_level("WARNING", logger="fleetanalysis"):
        directory = org.load_directory(path)
    assert len(directory) == 5
    assert [record.getMessage().split(": ", 1)[1] for record in caplog.records] == [
        "1 person is listed more than once with different offices or departments (user_id U1: records 1, 3); "
        "the last record of each is used"]


def test_the_directorys_notes_reach_no_notebook_and_so_no_report(tmp_path):
    # An outside trial: the report made without --names showed "email ana@x.io: records 1, 2"
    # in a pink box (the kernel printed the warning through logging's last resort).
    import subprocess
    import sys

    path = tmp_path / "people.csv"
    path.write_text("user_id,email,office,department\nU1,ana@x.io,Oslo,IT\nU9,ana@x.io,Bergen,IT\n")
    done = subprocess.run([sys.executable, "-c", f"from fleetanalysis import org; org.load_directory({str(path)!r})"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == ""
