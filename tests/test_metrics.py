"""metrics: counts and rates per group, the office league, stuck versions."""

import math

import pandas as pd
import pytest

from fleetanalysis import metrics


def _devices():
    return pd.DataFrame({
        "device_id": ["A|iOS|phone", "A|macOS|desktop", "B|iOS|phone", "C|Linux|desktop",
                      "D|iOS|phone", "E|Android|phone"],
        "platform": ["iOS", "macOS", "iOS", "Linux", "iOS", "Android"],
        "office": ["Oslo", "Oslo", "Lima", "Unknown office", "Oslo", "Lima"],
        "department": ["Sales", "Sales", "IT", "Unknown department", "IT", "IT"],
        "os_version": ["17.5", "14.4.1", "17.4.1", pd.NA, "16.7", "12"],
        "os_verdict": ["current", "outdated", "grace", "unknown", "unsupported", "outdated"],
        "verdict": ["current", "outdated", "grace", "unknown", "unsupported", "outdated"],
        "exempt": [False, False, False, False, True, False],
    })


def _row(table, **keys):
    mask = pd.Series(True, index=table.index)
    for column, value in keys.items():
        mask &= table[column] == value
    assert mask.sum() == 1, keys
    return table[mask].iloc[0]


def test_status_by_office_skips_exempt_and_keeps_unknown_office():
    table = metrics.status(_devices(), by="office")
    assert table["office"].tolist() == ["Lima", "Oslo", "Unknown office", "Total"]
    oslo = _row(table, office="Oslo")
    assert (oslo["devices"], oslo["current"], oslo["outdated"], oslo["unsupported"]) == (2, 1, 1, 0)
    assert oslo["outdated_rate"] == 0.5
    unknown = _row(table, office="Unknown office")
    assert unknown["devices"] == 1 and math.isnan(unknown["outdated_rate"])
    total = _row(table, office="Total")
    assert total["devices"] == 5
    assert total["outdated_rate"] == 2 / 4  # two behind of four judged; the unknown is not in it


def test_status_platform_by_office():
    table = metrics.status(_devices(), by=["platform", "office"])
    assert list(table.columns[:2]) == ["platform", "office"]
    assert _row(table, platform="iOS", office="Lima")["grace"] == 1
    assert _row(table, platform="Total", office="Total")["devices"] == 5


def test_status_over_time_groups_by_date():
    weeks = pd.concat([
        _devices().assign(as_of=pd.Timestamp("2024-06-23")),
        _devices().assign(as_of=pd.Timestamp("2024-06-30"), verdict="current"),
    ])
    table = metrics.status(weeks, by="platform")
    totals = table[table["platform"] == "Total"]
    assert totals["outdated_rate"].tolist() == [0.5, 0.0]
    assert totals["as_of"].tolist() == [pd.Timestamp("2024-06-23"), pd.Timestamp("2024-06-30")]
    per_date = metrics.status(weeks, by=["as_of"])
    assert list(per_date.columns) == ["as_of", *metrics.STATUS_COLUMNS]
    assert per_date["outdated_rate"].tolist() == [0.5, 0.0]
    assert metrics.status(weeks, by=["as_of", "office"]).equals(metrics.status(weeks, by="office"))


def test_league_ranks_offices_and_reports_change():
    weeks = pd.concat([
        _devices().assign(as_of=pd.Timestamp("2024-06-23")),
        _devices().assign(as_of=pd.Timestamp("2024-06-30"),
                          verdict=["current", "current", "grace", "unknown", "current", "outdated"]),
    ])
    table = metrics.league(weeks)
    assert table["office"].tolist() == ["Oslo", "Lima", "Unknown office"]
    oslo, lima = table.iloc[0], table.iloc[1]
    assert (oslo["rank"], oslo["share"], oslo["change"]) == (1, 1.0, 0.5)
    assert (lima["share"], lima["change"]) == (0.5, 0.0)
    earlier = metrics.league(weeks, as_of="2024-06-23")
    assert earlier["change"].isna().all()


def test_exempt_lists_the_devices_left_out():
    assert metrics.exempt(_devices())["device_id"].tolist() == ["D|iOS|phone"]


def test_stuck_versions_counts_outdated_devices_only():
    devices = pd.concat([_devices(), _devices().assign(device_id=lambda f: f["device_id"] + "2")])
    table = metrics.stuck_versions(devices, top=2)
    assert table.values.tolist() == [["Android", "12", 2, 0.5], ["macOS", "14.4.1", 2, 0.5]]


def test_status_of_an_empty_snapshot_is_a_zero_total():
    table = metrics.status(_devices().iloc[0:0], by="office")
    assert table[["office", "devices", "unknown"]].values.tolist() == [["Total", 0, 0]]
    assert math.isnan(table["outdated_rate"].iloc[0])


def test_status_of_categorical_columns_matches_text():
    weeks = pd.concat([
        _devices().assign(as_of=pd.Timestamp("2024-06-23")),
        _devices().assign(as_of=pd.Timestamp("2024-06-30"), office="Bergen", verdict=pd.NA),
    ], ignore_index=True)
    coded = weeks.astype({"platform": "category", "office": "category", "verdict": "category"})
    for by in (["platform"], ["platform", "office"], ["as_of"]):
        pd.testing.assert_frame_equal(metrics.status(coded, by=by), metrics.status(weeks, by=by))
    assert metrics.league(coded).equals(metrics.league(weeks))


def test_status_sorts_each_date_by_its_groups():
    # A row whose verdict is no verdict is not counted, and must not disturb the order.
    weeks = pd.DataFrame({"as_of": pd.to_datetime(["2024-06-23"] + ["2024-06-30"] * 3),
                          "office": ["Rome", "Rome", "Oslo", "Bergen"],
                          "verdict": ["current", "outdated", "current", "maybe"]})
    table = metrics.status(weeks, by="office")
    assert table["office"].tolist() == ["Rome", "Total", "Oslo", "Rome", "Total"]


def test_status_counts_missing_groups_as_none_and_skips_unknown_verdict_words():
    devices = pd.DataFrame({"office": ["Oslo", pd.NA, pd.NA], "verdict": ["current", "outdated", "maybe"]})
    table = metrics.status(devices, by="office")
    assert table[["office", "devices", "outdated"]].values.tolist() == [
        ["(none)", 1, 1], ["Oslo", 1, 0], ["Total", 2, 1]]


def _timeline(rates_by_week: list[tuple[str, list[str]]]) -> pd.DataFrame:
    """A timeline of one office's devices, each week's verdicts in order."""
    return pd.concat([pd.DataFrame({"as_of": pd.Timestamp(day), "office": "Oslo", "verdict": verdicts})
                      for day, verdicts in rates_by_week], ignore_index=True)


def test_headline_compares_the_same_timeline_a_week_and_a_month_back():
    weeks = _timeline([("2026-06-02", ["outdated"] * 4 + ["current"] * 6),
                       ("2026-06-23", ["outdated"] * 2 + ["current"] * 8),
                       ("2026-06-30", ["outdated", "unsupported", "unknown"] + ["current"] * 7)])
    figures = metrics.headline(metrics.status(weeks, by=["as_of"]))
    assert (figures["devices"], figures["judged"], figures["behind"]) == (10, 9, 2)
    assert figures["behind_share"] == pytest.approx(2 / 9)
    assert figures["change_week"] == pytest.approx(2 / 9 - 0.2)
    assert figures["change_month"] == pytest.approx(2 / 9 - 0.4)
    # No date 28 days back: no change to report, rather than a change against another span.
    assert math.isnan(metrics.headline(metrics.status(weeks.iloc[10:], by=["as_of"]))["change_month"])


def test_projection_says_weeks_to_zero_or_not_improving():
    days = pd.date_range("2026-05-05", periods=6, freq="7D")
    falling = pd.DataFrame({"as_of": days, "outdated_rate": [0.30, 0.25, 0.20, 0.15, 0.10, 0.05]})
    found = metrics.projection(falling)
    assert (found["points"], found["weeks"], found["improving"]) == (6, 1, True)
    rising = falling.assign(outdated_rate=falling["outdated_rate"][::-1].to_numpy())
    assert not metrics.projection(rising)["improving"]
    young = falling.assign(outdated_rate=[float("nan")] * 4 + [0.2, 0.1])
    assert metrics.projection(young)[["points", "improving"]].tolist() == [2, False]
    assert metrics.projection(falling.assign(outdated_rate=0.0))["weeks"] == 0


def test_fixes_group_by_product_and_major_across_os_browsers_and_apps():
    # Targets as fleet.snapshot writes them (the parts that gave the device its verdict).
    devices = pd.DataFrame({
        "verdict": ["outdated"] * 5 + ["unsupported", "current", "outdated"],
        "target": ["Safari 26.5", "Safari 26.5.2", "macOS 26.1; Safari 26.5", "iOS 26.5.1", "iOS 18.7.2",
                   "Chrome 149", None, "Chrome 149"],
        "exempt": [False] * 7 + [True]})
    table = metrics.fixes(devices)
    assert table[["product", "version", "devices"]].values.tolist() == [
        ["Safari", "26.5.2", 3], ["Chrome", "149", 1], ["iOS", "18.7.2", 1], ["iOS", "26.5.1", 1],
        ["macOS", "26.1", 1]]
    assert table["covered"].tolist() == [2, 3, 4, 5, 6] and set(table["behind"]) == {6}


def test_league_ranks_the_unknown_office_apart_and_counts_behind():
    weeks = pd.concat([
        _devices().assign(as_of=pd.Timestamp("2024-06-30"),
                          verdict=["current", "outdated", "grace", "current", "current", "outdated"])])
    table = metrics.league(weeks)
    # Its one device is current (share 100%): it would have led the league.
    assert table["office"].tolist()[2] == "Unknown office" and table["share"].iloc[2] == 1.0
    assert table["rank"].tolist()[:2] == [1, 1] and pd.isna(table["rank"].iloc[2])
    assert table["behind"].tolist() == [1, 1, 0]


def test_one_version_means_one_product_and_version():
    # Issue 16: the version section matched the number alone and listed iPadOS for iOS.
    # Agents as Apple's devices send them: iPadOS and iOS share version numbers (17.5 both).
    devices = pd.DataFrame({
        "platform": ["iOS", "iPadOS", "iOS", "macOS", "macOS"],
        "os_version": ["17.5", "17.5", "17.4.1", "14", "14"],
        "clients": ["Slack 24.05.10", pd.NA, "Safari 17.5", "Safari 17.5; Chrome 124", "Chrome 124"]})
    assert metrics.on_version(devices, "iOS 17.5").index.tolist() == [0]
    assert metrics.on_version(devices, "iPadOS 17.5").index.tolist() == [1]
    assert metrics.on_version(devices, "Safari 17.5").index.tolist() == [2, 3]
    assert metrics.on_version(devices, "Chrome 124").index.tolist() == [3, 4]
    assert metrics.on_version(devices, "Chrome 12").empty


def test_select_filters_on_every_criterion_given():
    devices = _devices()
    assert metrics.select(devices, office="Oslo", verdict="behind")["device_id"].tolist() == [
        "A|macOS|desktop", "D|iOS|phone"]
    assert metrics.select(devices, platform=None).equals(devices)
