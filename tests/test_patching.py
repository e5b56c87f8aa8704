"""patching: days from each release to each device that needed it, and patch speed per group."""

import pandas as pd

from fleetanalysis import catalog as releases
from fleetanalysis import patching


CATALOG = """# product: ios
# complete-until: 2024-12-31
version,released,line,eol,exploited
16.7.7,2024-03-21,16,,false
16.7.8,2024-05-13,16,,false
17.4.1,2024-03-21,17,,false
17.5,2024-05-13,17,,false
"""


def _sightings():
    rows = [  # device, os version, first day, last day
        ("A", "17.4.1", "2024-04-01", "2024-05-19"),
        ("A", "17.5", "2024-05-20", "2024-06-30"),  # patched 7 days after 17.5
        ("B", "17.4.1", "2024-04-01", "2024-06-10"),  # never patched: censored at its last day
        ("C", "16.7.7", "2024-04-01", "2024-05-14"),
        ("C", "16.7.8", "2024-05-23", "2024-06-30"),  # 16.7.8 after 10 days; iOS 17 is not its line
        ("D", "17.4.1", "2024-01-01", "2024-02-01"),  # gone before the release: not counted
        ("E", "17.5", "2024-05-14", "2024-06-30"),  # first seen already on it: never behind
    ]
    frame = pd.DataFrame(rows, columns=["device_id", "os_version", "first_day", "last_day"])
    frame["user_id"] = frame["device_id"]
    frame["user"] = frame["device_id"].str.lower()
    frame["platform"] = "iOS"
    frame["ip"] = "10.0.0.1"
    frame["os_product"] = "ios"
    frame["os_evidence"] = "exact"
    frame["client_product"] = pd.Series(pd.NA, dtype="str")
    frame["client_version"] = pd.Series(pd.NA, dtype="str")
    for column in ("first_day", "last_day"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
    return frame


def test_time_to_patch_counts_devices_behind_each_release():
    catalog = releases.load_releases_csv(CATALOG, name="ios.csv")
    patches = patching.time_to_patch(_sightings(), catalog, start="2024-05-01", end="2024-06-30")
    got = patches[["version", "device_id", "days", "patched"]].values.tolist()
    assert got == [["16.7.8", "C", 10, True], ["17.5", "A", 7, True], ["17.5", "B", 28, False]]


def test_patch_speed_median_and_grace_share():
    catalog = releases.load_releases_csv(CATALOG, name="ios.csv")
    patches = patching.time_to_patch(_sightings(), catalog, start="2024-05-01", end="2024-06-30")
    speed = patching.patch_speed(patches, by="platform", grace_days=14)
    row = speed.iloc[0]
    assert (row["needed"], row["patched"]) == (3, 2)
    assert row["median_days"] == 10.0
    assert row["within_grace"] == 2 / 3


CHROME = """# product: chrome
# complete-until: 2024-12-31
version,released,line,eol,exploited
124.0.6367.201,2024-05-13,124,,false
125.0.6422.60,2024-05-21,125,,false
"""


def test_time_to_patch_reads_a_bare_major_as_a_major():
    catalog = releases.load_releases_csv(CHROME, name="chrome.csv")
    rows = [("A", "124", "2024-05-01", "2024-05-30"), ("A", "125", "2024-05-31", "2024-06-30"),
            ("B", "124.0.6367.155", "2024-05-01", "2024-06-30")]
    seen = pd.DataFrame(rows, columns=["device_id", "client_version", "first_day", "last_day"])
    seen = seen.assign(user_id=seen["device_id"], user=seen["device_id"], platform="Windows", ip=pd.NA,
                       os_product="windows", os_version=pd.NA, os_evidence="absent", client_product="chrome")
    for column in ("first_day", "last_day"):
        seen[column] = pd.to_datetime(seen[column]).astype("datetime64[us]")
    patches = patching.time_to_patch(seen, catalog, start="2024-05-01", end="2024-06-30")
    # A's "124" cannot tell whether it has 124.0.6367.201; it can tell it lacks 125.
    assert patches[["version", "device_id", "days", "patched"]].values.tolist() == [
        ["124.0.6367.201", "B", 48, False], ["125.0.6422.60", "A", 10, True],
        ["125.0.6422.60", "B", 40, False]]


def _runs_of(rows):
    frame = pd.DataFrame(rows, columns=["device_id", "os_version", "first_day", "last_day"])
    frame = frame.assign(user_id=frame["device_id"], user=frame["device_id"], platform="iOS", ip="10.0.0.1",
                         os_product="ios", os_evidence="exact",
                         client_product=pd.Series(pd.NA, index=frame.index, dtype="str"),
                         client_version=pd.Series(pd.NA, index=frame.index, dtype="str"))
    for column in ("first_day", "last_day"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
    return frame


def test_time_to_patch_needs_the_device_on_the_old_version_near_the_release():
    catalog = releases.load_releases_csv(CATALOG, name="ios.csv")
    # 17.5 shipped on 2024-05-13. A ran 17.4.1 in two overlapping runs around it (one
    # pair, not two); C ran 17.4.1 long before and long after, never within 30 days of it.
    seen = _runs_of([("A", "17.4.1", "2024-05-10", "2024-05-16"), ("A", "17.4.1", "2024-05-15", "2024-06-01"),
                     ("A", "17.5", "2024-06-02", "2024-06-30"),
                     ("C", "17.4.1", "2024-03-01", "2024-03-05"), ("C", "17.4.1", "2024-06-20", "2024-06-30")])
    patches = patching.time_to_patch(seen, catalog, start="2024-03-01", end="2024-06-30")
    assert patches[["version", "device_id", "days", "patched"]].values.tolist() == [["17.5", "A", 20, True]]
    coded = seen.astype({"device_id": "category", "os_version": "category", "os_product": "category"})
    pd.testing.assert_frame_equal(patching.time_to_patch(coded, catalog, start="2024-03-01", end="2024-06-30"),
                                  patches)


def test_time_to_patch_of_no_sightings_is_empty():
    catalog = releases.load_releases_csv(CATALOG, name="ios.csv")
    patches = patching.time_to_patch(_runs_of([]), catalog)
    assert list(patches.columns) == patching.PATCH_COLUMNS and len(patches) == 0
