"""fleet: rows become devices at their newest versions, judged on the date of the evidence."""

import numpy as np
import pandas as pd
import pytest

from fleetanalysis import catalog as releases
from fleetanalysis import clients, fleet, judging, metrics, org
from fleetanalysis.sources.schema import conform
from fleetanalysis.days import utc_day

CATALOG = [
    """# product: ios
# complete-until: 2024-12-31
version,released,line,eol,exploited
17.4.1,2024-03-21,17,,false
17.5,2024-05-13,17,,false
""",
    """# product: macos
# complete-until: 2024-12-31
version,released,line,eol,exploited
14.4.1,2024-03-25,14,,false
14.5,2024-05-13,14,,false
""",
]

COLUMNS = ["user_id", "user", "platform", "device_class", "os_version", "os_evidence", "client_kind",
           "client_family", "client_product", "client_version", "first_seen", "last_seen", "ip"]
ROWS = [
    # A phone that updates mid-period: its old row stays in the log.
    ("U1", "ann@example.org", "iOS", "phone", "17.4.1", "exact", "app", "Slack", "slack-ios", "24.04.10",
     "2024-04-01 08:00", "2024-05-20 17:00", "198.51.100.7"),
    ("U1", "ann@example.org", "iOS", "phone", "17.5", "exact", "app", "Slack", "slack-ios", "24.05.10",
     "2024-05-21 07:00", "2024-06-28 18:00", "198.51.100.8"),
    # The same user's laptop: a second device.
    ("U1", "ann@example.org", "macOS", "desktop", "14.4.1", "exact", "browser", "Firefox", "firefox", "126.0",
     "2024-04-01 09:00", "2024-06-29 10:00", "198.51.100.7"),
    # A Slack SDK on the phone's user: never a device.
    ("U1", "ann@example.org", "iOS", "phone", "12.0", "exact", "sdk", "Slack SDK", None, None,
     "2024-04-01 09:00", "2024-06-30 10:00", "203.0.113.1"),
    # Seen only in April: gone from the window by the end of June.
    ("U2", "bob@example.org", "iOS", "phone", "17.4.1", "exact", "app", "Slack", "slack-ios", "24.04.10",
     "2024-04-01 08:00", "2024-04-20 08:00", "10.1.2.3"),
    # No user id, in no directory, nothing judgeable: unknown with every reason.
    (None, "carl@example.org", "Linux", "desktop", None, "absent", "browser", "Firefox", "firefox", "126.0",
     "2024-06-01 08:00", "2024-06-29 08:00", "192.0.2.1"),
    # Outdated but exempt in the directory.
    ("U4", "dina@example.org", "iOS", "phone", "17.4.1", "exact", "app", "Slack", "slack-ios", "24.04.10",
     "2024-04-01 08:00", "2024-06-30 08:00", "10.9.0.1"),
    # First seen on a Sunday, last seen exactly a window before a later Sunday.
    ("U6", "fay@example.org", "iOS", "phone", "17.4.1", "exact", "app", "Slack", "slack-ios", "24.04.10",
     "2024-04-07 10:00", "2024-05-03 12:00", "10.9.0.3"),
    ("U5", "bot@example.org", "Linux", "desktop", None, "absent", "bot", "curl", None, "8.5.0",
     "2024-04-01 08:00", "2024-06-30 08:00", "10.9.0.2"),
]


@pytest.fixture(scope="module")
def catalog():
    return releases.merge([releases.load_releases_csv(text, name="test.csv") for text in CATALOG])


@pytest.fixture(scope="module")
def seen():
    facts = pd.DataFrame(ROWS, columns=COLUMNS).astype({column: "str" for column in COLUMNS[:10]})
    facts["ip"] = facts["ip"].astype("str")
    for column in ("first_seen", "last_seen"):
        facts[column] = pd.to_datetime(facts[column], utc=True).astype("datetime64[us, UTC]")
    return fleet.sightings(facts)


def _device(devices, device_id):
    match = devices[devices["device_id"] == device_id]
    assert len(match) == 1, device_id
    return match.iloc[0]


def test_sightings_drop_sdk_and_bots(seen):
    assert len(seen) == 7
    assert set(seen["device_id"]) == {"U1|iOS|phone", "U1|macOS|desktop", "U2|iOS|phone",
                                      "carl@example.org|Linux|desktop", "U4|iOS|phone", "U6|iOS|phone"}


def test_snapshot_counts_devices_not_rows(seen, catalog, rules):
    devices = fleet.snapshot(seen, catalog, rules, "2024-06-30")
    assert devices["device_id"].tolist() == ["U1|iOS|phone", "U1|macOS|desktop", "U4|iOS|phone",
                                             "carl@example.org|Linux|desktop"]
    assert list(devices.columns) == fleet.DEVICE_COLUMNS
    phone = _device(devices, "U1|iOS|phone")
    assert (phone["os_version"], phone["verdict"], phone["clients"]) == ("17.5", "current", "Slack 24.05.10")
    assert phone["ip"] == "198.51.100.8"
    laptop = _device(devices, "U1|macOS|desktop")
    assert (laptop["os_verdict"], laptop["verdict"], laptop["target"]) == ("outdated", "outdated", "macOS 14.5")
    assert _device(devices, "U4|iOS|phone")["verdict"] == "outdated"


def test_updated_phone_is_at_its_newest_version_while_old_row_is_active(seen, catalog, rules):
    devices = fleet.snapshot(seen, catalog, rules, "2024-05-25")
    phone = _device(devices, "U1|iOS|phone")
    assert (phone["os_version"], phone["verdict"]) == ("17.5", "current")
    # The laptop's row runs to 29 June; on 25 May it speaks only for the days up to then.
    laptop = _device(devices, "U1|macOS|desktop")
    assert laptop["last_seen"] == pd.Timestamp("2024-05-25 23:59:59.999999", tz="UTC")
    # Its old row alone, judged on its own last day, would have said grace.
    early = _device(fleet.snapshot(seen, catalog, rules, "2024-05-15"), "U1|iOS|phone")
    assert (early["os_version"], early["verdict"]) == ("17.4.1", "grace")


def test_device_judged_on_the_date_of_its_evidence(seen, catalog, rules):
    # Last seen 20 April, before 17.5 existed: current then, never outdated by a later release.
    quiet = _device(fleet.snapshot(seen, catalog, rules, "2024-05-15"), "U2|iOS|phone")
    assert (quiet["os_version"], quiet["verdict"]) == ("17.4.1", "current")
    assert "U2|iOS|phone" not in set(fleet.snapshot(seen, catalog, rules, "2024-06-30")["device_id"])


def test_rows_first_seen_after_the_date_are_invisible(seen, catalog, rules):
    devices = fleet.snapshot(seen, catalog, rules, "2024-05-31")
    assert "carl@example.org|Linux|desktop" not in set(devices["device_id"])
    assert fleet.snapshot(seen, catalog, rules, "2024-03-01").empty


@pytest.mark.parametrize(("day", "seen_then"), [("2024-04-06", False), ("2024-04-07", True),
                                                ("2024-06-02", True), ("2024-06-03", False)])
def test_activity_window_edges_are_whole_days(seen, catalog, rules, day, seen_then):
    devices = fleet.snapshot(seen, catalog, rules, day, window_days=30)
    assert ("U6|iOS|phone" in set(devices["device_id"])) is seen_then


def test_unknown_only_when_nothing_judged_with_reasons_joined(seen, catalog, rules):
    devices = fleet.snapshot(seen, catalog, rules, "2024-06-30")
    linux = _device(devices, "carl@example.org|Linux|desktop")
    assert linux["verdict"] == "unknown"
    assert linux["reason"] == "no version in the evidence; firefox is not in the catalog"
    assert pd.isna(linux["target"])
    # The laptop's Firefox is unknown too, yet its judged OS decides the verdict.
    assert _device(devices, "U1|macOS|desktop")["client_verdict"] == "unknown"


def _as_text(timeline: pd.DataFrame) -> pd.DataFrame:
    """A timeline with its categorical text as ``str``, as ``snapshot`` gives it."""
    text = timeline.select_dtypes("category").columns
    return timeline.astype(dict.fromkeys(text, "str"))


def test_timeline_equals_the_snapshots_it_replaces(seen, catalog, rules):
    weeks = fleet.timeline(seen, catalog, rules, "2024-03-20", "2024-08-31", window_days=30)
    text = [column for column in fleet.DEVICE_COLUMNS if column != "last_seen"]
    assert all(isinstance(weeks[column].dtype, pd.CategoricalDtype) for column in text)
    dates = pd.date_range("2024-03-20", "2024-08-31", freq="W-SUN")
    stacked = pd.concat(
        [fleet.snapshot(seen, catalog, rules, day, window_days=30).assign(as_of=day) for day in dates],
        ignore_index=True)
    stacked["as_of"] = stacked["as_of"].astype("datetime64[us]")
    stacked = stacked[["as_of", *fleet.DEVICE_COLUMNS]]
    assert len(weeks) > 20
    assert weeks["as_of"].nunique() < len(dates)  # the empty weeks at the ends have no rows
    pd.testing.assert_frame_equal(_as_text(weeks), stacked)


def test_end_to_end_rates_by_office(seen, catalog, rules, tmp_path):
    people = tmp_path / "people.csv"
    people.write_text("user_id,email,office,department,exempt_until\n"
                      "U1,ann@example.org,Oslo,Sales,\n"
                      "U4,dina@example.org,Oslo,IT,2024-12-31\n")
    devices = org.assign(fleet.snapshot(seen, catalog, rules, "2024-06-30"), org.load_directory(people),
                         as_of="2024-06-30")
    assert metrics.exempt(devices)["device_id"].tolist() == ["U4|iOS|phone"]
    table = metrics.status(devices, by="office").set_index("office")
    assert table.loc["Oslo", ["devices", "current", "outdated"]].tolist() == [2, 1, 1]
    assert table.loc["Oslo", "outdated_rate"] == 0.5
    assert table.loc["Unknown office", ["devices", "unknown"]].tolist() == [1, 1]
    assert table.loc["Total", "devices"] == 3


def _facts(rows, categorical=False):
    facts = pd.DataFrame(rows, columns=COLUMNS)
    for column in COLUMNS[:10] + ["ip"]:
        facts[column] = facts[column].astype("category" if categorical and column != "os_version" else "str")
    for column in ("first_seen", "last_seen"):
        facts[column] = pd.to_datetime(facts[column], utc=True).astype("datetime64[us, UTC]")
    return facts


def test_sightings_of_categorical_facts_equal_those_of_text(seen):
    # clients.facts hands over categoricals; their text is taken per category, not per row.
    from_categories = fleet.sightings(_facts(ROWS, categorical=True))
    pd.testing.assert_frame_equal(from_categories, seen)


def test_sightings_text_columns_are_categoricals_of_the_values_used(seen):
    text = [column for column in fleet.SIGHTING_COLUMNS if "seen" not in column and "day" not in column]
    for column in text:
        dtype = seen[column].dtype
        assert isinstance(dtype, pd.CategoricalDtype), column
        assert str(dtype.categories.dtype) == "str", column
        # Sorted, and only what the kept rows hold: the bot's curl and the SDK's 12.0 are gone.
        assert dtype.categories.tolist() == sorted(seen[column].dropna().unique()), column
    assert "curl" not in seen["client_family"].cat.categories
    assert "12.0" not in seen["os_version"].cat.categories
    assert seen["os_product"].cat.categories.tolist() == ["ios", "macos"]
    assert seen["user_id"].isna().tolist() == [False] * 6 + [True]


def test_device_ids_name_nobody_where_the_row_names_nobody():
    facts = pd.DataFrame({"user_id": ["U1", pd.NA, pd.NA], "user": ["a", "b@x.org", pd.NA],
                          "platform": ["iOS", pd.NA, "iOS"], "device_class": ["phone", "desktop", pd.NA]})
    ids = fleet.device_ids(facts)
    assert ids.tolist()[:2] == ["U1|iOS|phone", "b@x.org|other|desktop"]
    assert pd.isna(ids.iloc[2])


# A phone seen many times a day: twins that differ only in their times, one of them tied
# to the second with a row from another IP, and a second OS version within the same weeks.
TWINS = [
    ("U7", "gus@example.org", "iOS", "phone", "17.4.1", "exact", "app", "Slack", "slack-ios", "24.04.10",
     f"2024-04-{day:02d} {hour:02d}:00", f"2024-04-{day:02d} {hour + 1:02d}:00", ip)
    for day in range(1, 29, 3) for hour, ip in ((8, "10.0.0.1"), (12, "10.0.0.1"), (17, "10.0.0.1"))
] + [
    ("U7", "gus@example.org", "iOS", "phone", "17.4.1", "exact", "app", "Slack", "slack-ios", "24.04.10",
     "2024-04-10 10:00", "2024-04-10 18:00", "10.0.0.2"),
    ("U7", "gus@example.org", "iOS", "phone", "17.5", "exact", "app", "Slack", "slack-ios", "24.05.10",
     "2024-05-14 09:00", "2024-05-14 10:00", "10.0.0.3"),
    ("U7", "gus@example.org", "iOS", "phone", "17.4.1", "exact", "app", "Slack", "slack-ios", "24.04.10",
     "2024-05-15 09:00", "2024-05-15 10:00", "10.0.0.1"),
]


def test_timeline_dropping_twin_rows_still_equals_the_snapshots(catalog, rules, monkeypatch):
    # Tiny judging batches too: parts are judged on their own, so batches must not matter.
    monkeypatch.setattr(judging, "JUDGE_BATCH", 5)
    twins = fleet.sightings(_facts(ROWS + TWINS))
    dates = pd.date_range("2024-04-01", "2024-06-20", freq="2D")
    weeks = fleet.timeline(twins, catalog, rules, dates[0], dates[-1], freq="2D", window_days=30)
    stacked = pd.concat([fleet.snapshot(twins, catalog, rules, day, window_days=30).assign(as_of=day)
                         for day in dates], ignore_index=True)
    stacked["as_of"] = stacked["as_of"].astype("datetime64[us]")
    pd.testing.assert_frame_equal(_as_text(weeks), stacked[["as_of", *fleet.DEVICE_COLUMNS]])
    gus = weeks[weeks["device_id"] == "U7|iOS|phone"].set_index("as_of")
    # The tie at 18:00 on 10 April goes to the later row (first seen at 17:00).
    assert gus.loc["2024-04-11", "ip"] == "10.0.0.1"
    assert gus.loc["2024-05-21", "os_version"] == "17.5"  # though a 17.4.1 row was seen later


# A phone seen by an aggregated row (Slack access logs: one row, first and last day
# weeks apart) and by single events on the same version, which the aggregate outranks
# while it is active, then by events that each outrank the one before.
AGGREGATED = [
    ("U8", "hal@example.org", "iOS", "phone", "17.4.1", "exact", "app", "Slack", "slack-ios", "24.04.10",
     "2024-04-01 08:00", "2024-04-15 09:00", "10.8.0.1"),
    ("U8", "hal@example.org", "iOS", "phone", "17.4.1", "exact", "app", "Slack", "slack-ios", "24.04.10",
     "2024-04-10 08:00", "2024-04-10 09:00", "10.8.0.2"),
    ("U8", "hal@example.org", "iOS", "phone", "17.4.1", "exact", "app", "Slack", "slack-ios", "24.04.10",
     "2024-04-24 08:00", "2024-04-24 09:00", "10.8.0.3"),
    ("U8", "hal@example.org", "iOS", "phone", "17.4.1", "exact", "app", "Slack", "slack-ios", "24.04.10",
     "2024-05-08 08:00", "2024-05-08 09:00", "10.8.0.4"),
    ("U8", "hal@example.org", "iOS", "phone", "17.5", "exact", "app", "Slack", "slack-ios", "24.05.10",
     "2024-05-20 08:00", "2024-05-20 09:00", "10.8.0.5"),
]


def test_timeline_of_rows_outranked_part_of_their_window_equals_the_snapshots(catalog, rules):
    seen = fleet.sightings(_facts(ROWS + TWINS + AGGREGATED))
    dates = pd.date_range("2024-03-30", "2024-07-01", freq="3D")
    weeks = fleet.timeline(seen, catalog, rules, dates[0], dates[-1], freq="3D", window_days=30)
    stacked = pd.concat([fleet.snapshot(seen, catalog, rules, day, window_days=30).assign(as_of=day)
                         for day in dates], ignore_index=True)
    stacked["as_of"] = stacked["as_of"].astype("datetime64[us]")
    pd.testing.assert_frame_equal(_as_text(weeks), stacked[["as_of", *fleet.DEVICE_COLUMNS]])
    hal = weeks[weeks["device_id"] == "U8|iOS|phone"].set_index("as_of")["ip"]
    # The aggregate outranks the 10 April event for as long as both are active.
    assert "10.8.0.2" not in set(hal)
    assert (hal["2024-04-11"], hal["2024-04-26"], hal["2024-05-11"]) == ("10.8.0.1", "10.8.0.3", "10.8.0.4")
    assert hal["2024-06-19"] == "10.8.0.5"


def test_concatenated_pieces_reduce_to_the_sightings_of_the_whole():
    from fleetanalysis import scale

    facts = _facts(ROWS + AGGREGATED)
    whole = fleet.sightings(facts)
    pieces = [fleet.sightings(facts.iloc[:5]), fleet.sightings(facts.iloc[5:])]
    joined = fleet.concat_sightings(pieces)
    assert isinstance(joined["client_family"].dtype, pd.CategoricalDtype)
    pd.testing.assert_frame_equal(scale.reduce_sightings(joined), scale.reduce_sightings(whole))


def test_sightings_sort_ties_on_first_seen_in_input_order():
    rows = [("U9", "ivy@example.org", "iOS", "phone", "17.4.1", "exact", "app", "Slack", "slack-ios", "24.04.10",
             "2024-04-01 08:00", "2024-04-0%d 09:00" % day, "10.9.9.%d" % day) for day in (5, 3, 4)]
    rows.insert(1, ("U0", "al@example.org", "iOS", "phone", "17.5", "exact", "app", "Slack", "slack-ios",
                    "24.05.10", "2024-05-01 08:00", "2024-05-01 09:00", "10.0.0.9"))
    seen = fleet.sightings(_facts(rows))
    assert seen["ip"].tolist() == ["10.0.0.9", "10.9.9.5", "10.9.9.3", "10.9.9.4"]


def test_a_device_names_the_part_it_could_not_judge(rules):
    """Issue 14's hand-worked case: the OS is current, the browser cannot be judged (the
    catalog lists no Firefox release before 2024-07-09, Firefox 128's day): the device is
    current only as far as it was judged, and its reason says which part was not and why."""
    catalog = releases.merge([releases.load_releases_csv(text, name="test.csv") for text in CATALOG + [
        "# product: firefox\n# complete-until: 2024-12-31\nversion,released,line,eol,exploited\n128.0,2024-07-09,128,,\n"]])
    # Firefox 126 on macOS Sonoma 14.5, as Firefox's agent and Okta Verify would state them.
    rows = [("U7", "gil@example.org", "macOS", "desktop", "14.5", "exact", "browser", "Firefox", "firefox", "126.0",
             "2024-06-01 08:00", "2024-06-29 08:00", "10.9.0.7"),
            ("U8", "hal@example.org", "macOS", "desktop", "14.4.1", "exact", "browser", "Firefox", "firefox", "126.0",
             "2024-06-01 08:00", "2024-06-29 08:00", "10.9.0.8")]
    facts = pd.DataFrame(rows, columns=COLUMNS)
    for column in ("first_seen", "last_seen"):
        facts[column] = pd.to_datetime(facts[column], utc=True)
    devices = fleet.snapshot(fleet.sightings(facts), catalog, rules, "2024-06-30")
    current = _device(devices, "U7|macOS|desktop")
    assert (current["verdict"], current["os_verdict"], current["client_verdict"]) == ("current", "current", "unknown")
    assert current["reason"] == "Firefox not judged: the catalog lists no firefox release before 2024-07-09"
    behind = _device(devices, "U8|macOS|desktop")
    assert behind["verdict"] == "outdated"
    assert behind["reason"] == ("macos 14.5 released 2024-05-13, due after 14 days; "
                                "Firefox not judged: the catalog lists no firefox release before 2024-07-09")
    assert behind["target"] == "macOS 14.5"


def test_legacy_edge_makes_its_device_unsupported_with_the_date(shipped_catalog, rules):
    # "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)
    # Chrome/70.0.3538.102 Safari/537.36 Edge/18.19042": EdgeHTML 18 on Windows 10 20H2,
    # whose "Windows NT 10.0" tells no version.
    facts = pd.DataFrame([("U9", "ida@example.org", "Windows", "desktop", None, "frozen", "browser", "Edge Legacy",
                           "edge-legacy", "18.19042", "2024-06-01 08:00", "2024-06-29 08:00", "10.9.0.9")],
                         columns=COLUMNS)
    for column in ("first_seen", "last_seen"):
        facts[column] = pd.to_datetime(facts[column], utc=True)
    devices = fleet.snapshot(fleet.sightings(facts), shipped_catalog, rules, "2024-06-30")
    device = _device(devices, "U9|Windows|desktop")
    assert device["verdict"] == "unsupported"
    assert device["reason"] == ("edge-legacy 18 out of support since 2021-03-09; "
                                "Windows not judged: version frozen in the user agent")
    assert pd.isna(device["target"])


def test_windows_own_sign_in_windows_never_make_a_current_pc_unsupported(shipped_catalog, rules):
    """Windows 10 and 11 update Internet Explorer's engine and their EdgeHTML web view
    themselves: Zoom's sign-in window (an Entra tenant's summary, ToddMaxey/Azure-Signin-stats),
    Windows' account window (ROADtools' roadtx) and Edge's IE mode send the agents of the
    retired apps, which made a PC on the newest Edge "unsupported"."""
    edge = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0.0.0 "
            "Safari/537.36 Edg/127.0.0.0")
    zoom = ("Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 10.0; Win64; x64; Trident/7.0; .NET4.0C; .NET4.0E; "
            "Tablet PC 2.0; HCTE; Zoom 3.6.0)")
    web_view = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; WebView/3.0) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/70.0.3538.102 Safari/537.36 Edge/18.22631")
    ie_mode = "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko"
    old_ie = "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko"
    # Windows' account window (login.live.com) and the new Outlook, on Edge's WebView2 engine.
    app_host = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; MSAppHost/3.0) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/70.0.3538.102 Safari/537.36 Edge/18.22631")
    outlook = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 "
               "Safari/537.36 Edg/125.0.0.0 OneOutlook/1.2024.516.400")
    users = ["ann", "ann", "bo", "cy", "di", "ed", "fay"]
    access = conform(pd.DataFrame({
        "source": "entra", "user": [f"{name}@example.org" for name in users], "user_id": users,
        "user_agent": [edge, zoom, web_view, ie_mode, old_ie, app_host, outlook],
        "first_seen": "2024-08-01T08:00:00Z", "last_seen": "2024-08-10T08:00:00Z"}))
    devices = fleet.snapshot(fleet.sightings(clients.facts(access)), shipped_catalog, rules, "2024-08-15")
    verdicts = dict(zip(devices["user_id"], devices["verdict"]))
    assert verdicts["ann"] == "current" and verdicts["bo"] != "unsupported" and verdicts["cy"] == "unknown"
    assert verdicts["ed"] != "unsupported" and verdicts["fay"] == "unknown"
    # Windows 7's Internet Explorer is out of support with its system.
    assert verdicts["di"] == "unsupported"


def test_a_windows_phone_is_never_its_owners_windows_pc(shipped_catalog, rules):
    """Windows Phone's IE in desktop mode says "Windows NT 6.2" and Edge on Windows 10 Mobile
    "Windows NT 10.0": read as Windows PCs, either became its owner's PC (one device per
    person, platform and class), whose exact Windows 8 outranked the PC's frozen token
    (crawlerdetect's fixtures, an outside tester's report)."""
    pc = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0.0.0 "
          "Safari/537.36")
    lumia_930 = "Mozilla/5.0 (Windows NT 6.2; ARM; Trident/7.0; Touch; rv:11.0; WPDesktop; Lumia 930) like Gecko"
    lumia_950 = ("Mozilla/5.0 (Windows NT 10.0; ARM; Lumia 950) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.15063")
    access = conform(pd.DataFrame({
        "source": "entra", "user": "ann@example.org", "user_id": "ann", "user_agent": [pc, lumia_930, lumia_950],
        "first_seen": "2024-08-01T08:00:00Z", "last_seen": "2024-08-10T08:00:00Z"}))
    devices = fleet.snapshot(fleet.sightings(clients.facts(access)), shipped_catalog, rules, "2024-08-15")
    pc_device = _device(devices, "ann|Windows|desktop")
    assert pc_device["verdict"] == "current" and pd.isna(pc_device["os_version"])
    assert _device(devices, "ann|other|phone")["verdict"] == "unsupported"


def _stacked_snapshots(seen, catalog, rules, dates, window_days=30) -> pd.DataFrame:
    """``snapshot`` called once per date, stacked as ``timeline`` stacks them."""
    stacked = pd.concat([fleet.snapshot(seen, catalog, rules, day, window_days=window_days).assign(as_of=day)
                         for day in dates], ignore_index=True)
    stacked["as_of"] = stacked["as_of"].astype("datetime64[us]")
    return stacked[["as_of", *fleet.DEVICE_COLUMNS]]


def test_timeline_of_the_demo_organisation_equals_a_snapshot_per_week(tmp_path, shipped_catalog, rules):
    from fleetanalysis import clients, demo, sources

    shipped = shipped_catalog
    written = demo.write(tmp_path, users=40, weeks=12, seed=3, catalog=shipped)
    seen = fleet.sightings(clients.facts(sources.load(written["slack"]).access))
    end = utc_day(seen["last_seen"].max())
    dates = pd.date_range(end - pd.Timedelta(weeks=14), end, freq="W-SUN")
    weeks = fleet.timeline(seen, shipped, rules, dates[0], dates[-1], window_days=30)
    assert weeks["as_of"].nunique() > 10 and weeks["verdict"].nunique() >= 3
    pd.testing.assert_frame_equal(_as_text(weeks), _stacked_snapshots(seen, shipped, rules, dates))


# Chrome builds of one major are judged alike (policy.equivalent_version): a history of
# stable builds around the 124 -> 125 release, and a reduced agent's bare major.
# Build numbers and dates from Chrome's stable channel as listed in data/catalog/chrome.csv
# (124 on 2024-04-16, 124.0.6367.201 on 2024-05-09, 125 on 2024-05-14, 125.0.6422.76 on 2024-05-21).
CHROME_BUILDS = [
    (user, email, "Windows", "desktop", "10.0", "frozen", "browser", "Chrome", "chrome", version, first, last, ip)
    for user, email, version, first, last, ip in [
        ("U9", "ivy@example.org", "124.0.6367.60", "2024-04-17 08:00", "2024-04-30 09:00", "10.9.1.1"),
        ("U9", "ivy@example.org", "124.0.6367.91", "2024-05-01 08:00", "2024-05-12 09:00", "10.9.1.1"),
        ("U9", "ivy@example.org", "124.0.6367.201", "2024-05-13 08:00", "2024-06-02 09:00", "10.9.1.2"),
        ("U9", "ivy@example.org", "125.0.6422.76", "2024-06-03 08:00", "2024-06-20 09:00", "10.9.1.2"),
        ("U10", "jon@example.org", "124", "2024-04-20 08:00", "2024-06-10 09:00", "10.9.2.1"),
        ("U10", "jon@example.org", "124.0.6367.118", "2024-05-05 08:00", "2024-05-25 09:00", "10.9.2.1"),
    ]
]


def test_timeline_of_chrome_builds_across_releases_equals_the_snapshots(shipped_catalog, rules):
    shipped = shipped_catalog
    seen = fleet.sightings(_facts(ROWS + CHROME_BUILDS))
    dates = pd.date_range("2024-04-14", "2024-07-14", freq="5D")
    weeks = fleet.timeline(seen, shipped, rules, dates[0], dates[-1], freq="5D", window_days=30)
    ivy = weeks[weeks["device_id"] == "U9|Windows|desktop"].set_index("as_of")
    assert {"current", "grace", "outdated"} <= set(ivy["verdict"])
    pd.testing.assert_frame_equal(_as_text(weeks), _stacked_snapshots(seen, shipped, rules, dates))


@pytest.mark.parametrize("spread_days", [40, 400_000])
def test_date_index_is_a_binary_search_of_each_day(spread_days):
    """The per-day table (days close together) and the binary search it falls back to (days
    far apart) both answer exactly as ``np.searchsorted`` of the shifted days, a missing day
    (NaT) on no date."""
    rng = np.random.default_rng(7)
    start = np.datetime64("2024-01-01", "D")
    days = start + rng.integers(-spread_days // 2, spread_days // 2, 5_000).astype("timedelta64[D]")
    series = pd.Series(days.astype("datetime64[us]")).dt.tz_localize("UTC")
    series.iloc[[3, 17]] = pd.NaT
    dates = pd.date_range("2023-12-03", "2024-03-03", freq="W-SUN").astype("datetime64[us]")
    stamps = dates.asi8
    moments = series.dt.tz_localize(None).to_numpy("datetime64[us]").astype("int64")
    for side, shift in (("left", 0), ("right", 30)):
        expected = np.searchsorted(stamps, moments + shift * 86_400 * 10**6, side=side)
        expected[series.isna().to_numpy()] = 0
        assert fleet._date_index(series, dates, side, shift).tolist() == expected.tolist()

