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
    assert placed[columns].equals(text[columns])
    assert placed["office"].dtype == "str"


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
