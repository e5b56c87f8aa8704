"""The release catalog: version ordering, reading and layering files, the view on a date, `catalog show`."""

import json

import pandas as pd
import pytest

from fleetanalysis import catalog, cli
from fleetanalysis.errors import BadInput

IOS = """# product: ios
# sources: https://support.apple.com/en-us/100100
# complete-until: 2024-04-30
version,released,line,eol,exploited
16.7.6,2024-03-05,16,2024-09-16,
16.7.7,2024-03-21,16,2024-09-16,
17.3.1,2024-02-08,17,,false
17.4,2024-03-05,17,,true
17.4.1,2024-03-21,17,,false
"""

CHROME = """# product: chrome
# complete-until: 2024-05-31
version,released,line,eol,exploited
123,2024-03-19,123,2024-04-16,
124.0.6367.60,2024-04-16,124,,
"""


@pytest.fixture
def shipped(tmp_path, monkeypatch, no_settings):
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "ios.csv").write_text(IOS)
    (folder / "chrome.csv").write_text(CHROME)
    monkeypatch.setattr(catalog, "CATALOG_DIR", folder)
    monkeypatch.setattr(catalog, "UPDATES_FILE", tmp_path / "processed" / "catalog-updates.csv")
    return folder


def test_version_key_orders_real_schemes():
    ordered = ["9.3.6", "10.0.19045", "10.0.22631.3296", "10.0.22631.3447", "16.5.1", "16.5.1 (a)",
               "16.5.1 (c)", "16.5.2", "16.6", "17", "17.0.1", "124", "124.0.6367.60", "124.0.6367.201", "125"]
    shuffled = pd.Series(ordered).sample(frac=1, random_state=3)
    keys = catalog.version_key(shuffled)
    assert shuffled[keys.sort_values().index].tolist() == ordered


def test_version_key_equal_forms_and_unreadable_text():
    keys = catalog.version_key(pd.Series(["17.3", "17.3.0", "17.3.0.0", "Mozilla", "", None, "=cmd()"]))
    assert keys.iloc[0] == keys.iloc[1] == keys.iloc[2]
    assert keys.iloc[3:].isna().all()


def test_version_key_keeps_index_and_repeats():
    versions = pd.Series(["17.4", "16.5.1 (c)"] * 1000, index=range(5, 2005))
    keys = catalog.version_key(versions)
    assert keys.index.equals(versions.index)
    assert keys.nunique() == 2


def test_major_key_groups_a_line():
    keys = catalog.version_key(pd.Series(["124", "124.0.6367.60", "125.0.1"]))
    assert catalog.major_key(keys).tolist()[:2] == [catalog.major_key(keys).iloc[0]] * 2
    assert catalog.major_key(keys).iloc[2] > catalog.major_key(keys).iloc[1]


def test_load_reads_headers_and_contract_dtypes(shipped):
    releases = catalog.load()
    assert list(releases.columns) == catalog.COLUMNS
    assert str(releases["product"].dtype) == "category"
    assert releases["released"].dtype == "datetime64[us]" and releases["eol"].dtype == "datetime64[us]"
    assert str(releases["exploited"].dtype) == "boolean"
    assert releases["exploited"].isna().sum() == 4
    assert releases.attrs["complete_until"] == {"chrome": pd.Timestamp("2024-05-31"), "ios": pd.Timestamp("2024-04-30")}
    assert catalog.coverage(releases).astype(str).to_dict() == {"chrome": "2024-05-31", "ios": "2024-04-30"}


def test_overlay_and_user_file_win_per_version_and_keep_stated_eol(shipped, tmp_path):
    catalog.UPDATES_FILE.parent.mkdir(parents=True)
    catalog.UPDATES_FILE.write_text(
        "product,version,released,line,eol,exploited,source,complete_until\n"
        "ios,17.4.1,2024-03-21,17,,true,sofa,2024-06-30\n"
        "ios,17.5,2024-05-13,17,,false,sofa,2024-06-30\n")
    mine = tmp_path / "mine.csv"
    mine.write_text("product,version,released,line,eol\nios,17.5,2024-05-14,17,2025-09-15\n")
    releases = catalog.load(extra=mine)
    ios = releases[releases["product"] == "ios"].set_index("version")
    assert bool(ios.loc["17.4.1", "exploited"]) is True  # the overlay's flag wins
    assert ios.loc["17.5", "released"] == pd.Timestamp("2024-05-14")  # the user's file wins
    assert (ios.loc[["17.3.1", "17.4", "17.5"], "eol"] == pd.Timestamp("2025-09-15")).all()  # line-wide
    assert (ios.loc[["16.7.6", "16.7.7"], "eol"] == pd.Timestamp("2024-09-16")).all()  # not erased
    assert releases.attrs["complete_until"]["ios"] == pd.Timestamp("2024-06-30")


@pytest.mark.parametrize(("text", "problem"), [
    ("version,released,line\n17.4,2024-13-01,17\n", "record 1: released: not a date: '2024-13-01'"),
    ("version,released\n17.4,2024-03-05\n", "header: missing column(s) line"),
    ("version,released,line,exploited\n17.4,2024-03-05,17,maybe\n", "record 1: exploited: not true/false: 'maybe'"),
    ("version,released,line\n17.4,2024-03-05,17\n,2024-03-06,17\n", "record 2: version is empty"),
    ("version,released,line\n17.4,2024-03-05,17\nabc,2024-03-06,17\n", "record 2: version: not a version number: 'abc'"),
])
def test_bad_user_catalog_names_file_and_record(tmp_path, text, problem):
    path = tmp_path / "mine.csv"
    path.write_text(text)
    with pytest.raises(BadInput) as caught:
        catalog.load_releases_csv(path, product="ios")
    assert str(caught.value) == f"{path}: {problem}"


def test_unknown_product_and_missing_file(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("product,version,released,line\nblackberry,10.3,2014-01-01,10\n")
    with pytest.raises(BadInput, match="record 1: unknown product 'blackberry'"):
        catalog.load(extra=path, updates=False, files=[])
    with pytest.raises(BadInput, match="no such catalog file"):
        catalog.load(extra=tmp_path / "absent.csv", updates=False, files=[])


def test_as_of_uses_only_releases_out_by_then(shipped):
    releases = catalog.load()
    march = catalog.as_of(releases, "2024-03-10")
    assert list(march.columns) == ["product", "line", "latest", "released", "supported", "offered"]
    ios = march[march["product"] == "ios"]
    assert ios[["line", "latest"]].values.tolist() == [["17", "17.4"], ["16", "16.7.6"]]
    assert "chrome" not in set(march["product"])  # nothing released yet on that date


def test_as_of_line_support_ends_on_its_eol_day(shipped):
    releases = catalog.load()
    before = catalog.as_of(releases, "2024-09-15").set_index(["product", "line"])
    on = catalog.as_of(releases, "2024-09-16").set_index(["product", "line"])
    assert bool(before.loc[("ios", "16"), "supported"]) is True
    assert bool(on.loc[("ios", "16"), "supported"]) is False
    assert bool(on.loc[("chrome", "123"), "supported"]) is False


def test_shipped_catalog_loads_with_contract_columns():
    releases = catalog.load(updates=False)
    assert list(releases.columns) == catalog.COLUMNS
    assert set(releases["product"].astype(str)) <= set(catalog.PRODUCTS)
    assert catalog.version_key(releases["version"]).notna().all()
    assert releases["released"].notna().all()


def test_cli_show_json_has_exactly_the_documented_keys(shipped, capsys):
    assert cli.main(["catalog", "show", "--as-of", "2024-04-20", "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert all(set(item) == {"product", "line", "latest", "released", "supported", "offered"} for item in shown)
    assert {"product": "ios", "line": "17", "latest": "17.4.1", "released": "2024-03-21", "supported": True,
            "offered": True} in shown
    assert {"product": "chrome", "line": "123", "latest": "123", "released": "2024-03-19", "supported": False,
            "offered": True} in shown


def test_cli_show_table_and_csv_for_one_product(shipped, capsys):
    assert cli.main(["catalog", "show", "--product", "chrome", "--as-of", "2024-04-20"]) == 0
    table = capsys.readouterr().out
    assert "124.0.6367.60" in table and "ios" not in table
    assert cli.main(["catalog", "show", "--product", "ios", "--as-of", "2024-04-20", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "product,line,latest,released,supported,offered"
    assert lines[1] == "ios,17,17.4.1,2024-03-21,true,true"


def test_cli_show_says_which_windows_line_is_for_new_devices_only(tmp_path, monkeypatch, no_settings, capsys):
    """In the shipped catalog, Windows 11 26H1 ships on new devices only: it is listed, marked
    not offered, while 26H2, the update offered that autumn, is."""
    monkeypatch.setattr(catalog, "UPDATES_FILE", tmp_path / "catalog-updates.csv")
    assert cli.main(["catalog", "show", "--product", "windows", "--as-of", "2026-10-01", "--format", "json"]) == 0
    shown = {item["line"]: item for item in json.loads(capsys.readouterr().out)}
    assert shown["11 26H1"]["offered"] is False and shown["11 26H1"]["latest"].startswith("10.0.28000")
    assert shown["11 26H2"]["offered"] is True and shown["11 26H2"]["latest"] == "10.0.26300"


def test_cli_show_warns_when_the_date_is_past_the_catalog(shipped, capsys):
    assert cli.main(["catalog", "show", "--product", "ios", "--as-of", "2024-06-01"]) == 0
    assert "catalog covers ios only until 2024-04-30" in capsys.readouterr().err


def test_cli_show_bad_options_exit_2(shipped, capsys):
    assert cli.main(["catalog", "show", "--as-of", "yesterday-ish"]) == 2
    assert cli.main(["catalog", "show", "--product", "blackberry"]) == 2
    assert cli.main(["catalog", "show", "--format", "xml"]) == 2


def test_cli_show_bad_user_catalog_exits_2(shipped, tmp_path, monkeypatch, capsys):
    settings = tmp_path / "fleetanalysis.toml"
    settings.write_text('[data]\ncatalog = "mine.csv"\n')
    (tmp_path / "mine.csv").write_text("product,version,released,line\nios,17.5,someday,17\n")
    monkeypatch.setenv("FLEETANALYSIS_CONFIG", str(settings))
    assert cli.main(["catalog", "show"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mine.csv: record 1: released: not a date" in err


def test_coverage_table_names_each_product_and_whether_a_source_vouches(shipped, tmp_path):
    mine = tmp_path / "mine.csv"
    mine.write_text("product,version,released,line\nslack-ios,25.10.10,2025-10-07,25.10\n")
    table = catalog.coverage_table(catalog.load(extra=mine)).set_index("product")
    assert table.index.tolist() == ["chrome", "ios", "slack-ios"]
    assert table.loc["ios", ["complete_until", "stated"]].tolist() == [pd.Timestamp("2024-04-30"), True]
    # No layer vouches for slack-ios: only its newest release is known, and the table says so.
    assert table.loc["slack-ios"].tolist() == [pd.Timestamp("2025-10-07"), False, "25.10.10",
                                               pd.Timestamp("2025-10-07")]
    assert table["complete_until"].dtype == "datetime64[us]" and table["stated"].dtype == bool


def test_coverage_table_names_the_newest_release_offered_as_an_update(shipped_catalog):
    # Windows 11 26H1 (10.0.28000, 2026-02-10) ships on new PCs only and sorts above 26H2
    # (10.0.26300, 2026-09-29): the table's newest Windows is the one an owner can install.
    table = catalog.coverage_table(shipped_catalog).set_index("product")
    assert table.loc["windows", ["newest_version", "newest_released"]].tolist() == [
        "10.0.26300", pd.Timestamp("2026-09-29")]


def test_as_of_counts_a_moment_by_its_utc_day():
    # iOS 17.4 came out on 2024-03-05 (Apple's security releases page); 08:00 in Tokyo that
    # day is still 2024-03-04 in UTC, the day every verdict is dated by.
    rows = catalog.load_releases_csv(catalog._EXAMPLE, name="ios.csv")
    tokyo_morning = pd.Timestamp("2024-03-05 08:00", tz="Asia/Tokyo")
    assert catalog.as_of(rows, tokyo_morning)["latest"].tolist() == ["17.3.1"]
    assert catalog.as_of(rows, tokyo_morning.tz_convert("UTC") + pd.Timedelta(hours=1))["latest"].tolist() == ["17.4"]


@pytest.mark.parametrize("depth", range(0, 8))
def test_a_shortened_key_is_the_key_of_the_version_cut_to_that_many_parts(depth):
    # Real version shapes: Windows 11 builds with a patch, Chrome builds, an Apple Rapid
    # Security Response ("16.5.1 (c)", support.apple.com/en-us/100100), bare majors.
    versions = pd.Series(["10.0.26100.2314", "124.0.6367.60", "16.5.1 (c)", "17", "1.2.3.4.5.6", "0.9"])
    cut = [".".join(text.split(" ")[0].split(".")[:depth]) or "0" for text in versions]
    expected = catalog.version_key(pd.Series([number + (" (c)" if "(c)" in text else "")
                                              for number, text in zip(cut, versions)]))
    shortened = catalog.shorten_key(catalog.version_key(versions), [depth] * len(versions))
    assert shortened.tolist() == expected.tolist()
    assert catalog.shorten_key(pd.Series([None], dtype="str"), [depth]).isna().all()


# Windows apps state the build they run on (browsers freeze "Windows NT 10.0"). The agents are
# as logged: the OneDrive sync client's request header from a public capture of its traffic
# (found by exact-string search), and Okta Verify for Windows from an Okta System Log sample
# (a detection-rule fixture). 10.0.26200 is Windows 11 25H2, 10.0.19045 Windows 10 22H2.
ONEDRIVE_25H2 = "Microsoft SkyDriveSync 25.199.1012.0002 ship; Windows NT 10.0 (26200)"
OKTA_VERIFY_10_22H2 = ("OktaVerify/4.4.1.0 WPFDeviceSDK/1.7.4.17 Windows/10.0.19045.3570 "
                       "Micro-Star_International_Co._L/MS-7B51")


def _windows_devices_on(shipped_catalog, rules, day, agents=(ONEDRIVE_25H2, OKTA_VERIFY_10_22H2)):
    from fleetanalysis import clients, fleet

    count = len(agents)
    access = pd.DataFrame({
        "source": pd.Categorical(["entra", "okta", "entra", "okta"][:count]),
        "user_id": [f"u{number}" for number in range(1, count + 1)],
        "user": ["di@x.io", "ed@x.io", "fa@x.io", "gu@x.io"][:count],
        "user_agent": pd.Categorical(list(agents)),
        "first_seen": pd.to_datetime(["2026-06-20 08:00"] * count, utc=True),
        "last_seen": pd.to_datetime(["2026-11-18 08:00"] * count, utc=True),
        "ip": [f"10.0.0.{number}" for number in range(4, 4 + count)]})
    return fleet.snapshot(fleet.sightings(clients.facts(access)), shipped_catalog, rules, day)


def test_shipped_windows_rows_judge_apps_after_25h2(shipped_catalog, rules):
    """The shipped Windows file reaches past 25H2's release (it stopped at 2025-09-30): an app
    on 25H2 gets a verdict in mid-2026, and a device whose line ended is sent to the newest
    update it can install, 11 26H2 once that is out (never 26H1, which only new PCs run)."""
    from fleetanalysis import metrics

    june = _windows_devices_on(shipped_catalog, rules, "2026-06-30")
    assert june["os_verdict"].tolist() == ["current", "unsupported"]
    assert june["os_reason"].iloc[1] == "windows 10 22H2 out of support since 2025-10-14"
    assert june["target"].iloc[1] == "Windows 10.0.26200"

    october = _windows_devices_on(shipped_catalog, rules, "2026-10-05")
    assert october["os_verdict"].tolist() == ["current", "unsupported"]
    assert metrics.fixes(october)[["product", "version"]].values.tolist() == [["Windows", "11 26H2 (10.0.26300)"]]


def test_shipped_windows_rows_stop_at_their_complete_until(shipped_catalog, rules):
    """After the day the file is complete until, a release may be missing: the 25H2 app is
    unknown and says why; the ended Windows 10 line stays unsupported (no release can help it)."""
    assert str(shipped_catalog.attrs["complete_until"]["windows"].date()) == "2026-10-11"
    november = _windows_devices_on(shipped_catalog, rules, "2026-11-18")
    assert november["os_verdict"].tolist() == ["unknown", "unsupported"]
    assert november["os_reason"].iloc[0] == "catalog covers windows only until 2026-10-11"


def test_shipped_windows_lines_end_on_microsofts_home_and_pro_dates(shipped_catalog):
    windows = shipped_catalog[shipped_catalog["product"] == "windows"].set_index("line")
    ends = windows["eol"].dt.strftime("%Y-%m-%d").to_dict()
    assert {line: ends[line] for line in ("10 22H2", "11 23H2", "11 24H2", "11 25H2", "11 26H1", "11 26H2")} == {
        "10 22H2": "2025-10-14", "11 23H2": "2025-11-11", "11 24H2": "2026-10-13",
        "11 25H2": "2027-10-12", "11 26H1": "2028-03-14", "11 26H2": "2028-10-10"}
    # Microsoft ends servicing on a Patch Tuesday (the second Tuesday of the month).
    stated = windows["eol"].dropna()
    assert (stated.dt.day_of_week == 1).all() and stated.dt.day.between(8, 14).all()
    # 26H1 (build 28000) ships on new PCs only and is not offered as an update, nor are the
    # lines before Windows 10 (listed so that their end can be told); every other line is.
    assert sorted(windows.loc[~windows["offered"], "version"]) == ["10.0.28000", "5.1", "6.0", "6.1", "6.2", "6.3"]


@pytest.mark.parametrize(("agent_os", "seen", "verdict"), [
    ("Windows NT 6.1", "2019-06-01", "current"), ("Windows NT 6.1", "2024-05-01", "unsupported"),
    ("Windows NT 6.3", "2022-06-01", "current"), ("Windows NT 6.3", "2023-02-01", "unsupported"),
    ("Windows NT 5.1", "2024-05-01", "unsupported")])
def test_windows_before_10_is_told_out_of_support_after_its_end(agent_os, seen, verdict, shipped_catalog):
    # Found on real agents (Slack's audit log sample in elastic/integrations: Firefox 23 on
    # Windows NT 6.1): the catalog had no line before Windows 10, so Windows 7 was "not judged".
    from fleetanalysis import clients, policy

    agent = f"Mozilla/5.0 ({agent_os}; Win64; x64; rv:23.0) Gecko/20131011 Firefox/23.0"
    facts = clients.describe(pd.Series([agent]))
    parts = pd.DataFrame({"product": ["windows"], "version": facts["os_version"].astype("str"),
                          "evidence": facts["os_evidence"].astype("str"), "as_of": [pd.Timestamp(seen)]})
    judged = policy.judge(parts, shipped_catalog, policy.load())
    assert judged["verdict"].tolist() == [verdict]
    if verdict == "unsupported":
        # Sent to a Windows that is offered, never to another old line.
        assert judged["target"].str.startswith("10.0.").all()


# Windows 11 26H1 (build 28000) ships preinstalled on new Snapdragon X2 PCs only; Microsoft
# never offers it as an update (Windows IT Pro Blog "What to know about Windows 11, version
# 26H1"; release information page). The OneDrive agent has the logged shape above with the
# 26H1 build; the Okta Verify one carries 28000.2269, the build a 26H1 machine reported in a
# public BenchmarkDotNet run ("Windows 11 (10.0.28000.2269/26H1/2026Update)").
ONEDRIVE_26H1 = "Microsoft SkyDriveSync 25.199.1012.0002 ship; Windows NT 10.0 (28000)"
OKTA_VERIFY_26H1 = ("OktaVerify/4.4.1.0 WPFDeviceSDK/1.7.4.17 Windows/10.0.28000.2269 "
                    "Micro-Star_International_Co._L/MS-7B51")


def _fixes_and_dm(devices, day, person):
    from fleetanalysis import metrics, nudges

    table = metrics.fixes(devices)[["product", "version"]].values.tolist()
    planned = nudges.plan(devices, None, pd.Timestamp(day, tz="UTC")).set_index("person")
    return table, planned.loc[person, "text"]


def test_a_new_devices_only_release_is_judged_but_never_anyone_elses_target(shipped_catalog, rules):
    """26H1 sorts above 26H2 (28000 > 26300) and came out first, but no PC on another line can
    install it: the Windows 10 owner is sent to 25H2, then 26H2, while the 26H1 PC is judged
    within its own line (before, it was unknown: newer than anything the catalog knew)."""
    agents = (ONEDRIVE_25H2, OKTA_VERIFY_10_22H2, ONEDRIVE_26H1)
    june = _windows_devices_on(shipped_catalog, rules, "2026-06-30", agents)
    assert june["os_verdict"].tolist() == ["current", "unsupported", "current"]
    assert june["target"].iloc[1] == "Windows 10.0.26200"

    october = _windows_devices_on(shipped_catalog, rules, "2026-10-05", agents)
    assert october["os_verdict"].tolist() == ["current", "unsupported", "current"]
    assert october["target"].iloc[1] == "Windows 10.0.26300"
    table, dm = _fixes_and_dm(october, "2026-10-05", "ed@x.io")
    assert table == [["Windows", "11 26H2 (10.0.26300)"]]
    assert "update to Windows 11 26H2 (10.0.26300) or newer." in dm and "28000" not in dm


def test_a_new_devices_only_line_ends_without_a_target_below_it(shipped_catalog, rules):
    """After 26H1's Home/Pro end the PC is out of support like any line; 26H2 is no way forward
    (Microsoft: 26H1 PCs cannot take the 2026 feature update), so no target is named."""
    from fleetanalysis import clients, policy

    [version] = clients.lookup([OKTA_VERIFY_26H1])["os_version"].tolist()
    parts = pd.DataFrame({"product": "windows", "version": [version], "evidence": "exact",
                          "as_of": pd.Timestamp("2028-04-04")})
    april = policy.judge(parts, shipped_catalog, rules)
    assert april[["verdict", "reason"]].values.tolist() == [
        ["unsupported", "windows 11 26H1 out of support since 2028-03-14"]]
    assert pd.isna(april["target"].iloc[0])


def test_a_catalog_without_offered_offers_everything_and_a_bad_flag_is_one_line():
    plain = catalog.load_releases_csv(IOS, name="ios.csv")
    assert catalog.merge([plain])["offered"].all()
    with pytest.raises(BadInput, match=r"^mine.csv: record 1: offered: not true/false: 'maybe'$"):
        catalog.load_releases_csv("version,released,line,offered\n17.4,2024-03-05,17,maybe\n",
                                  name="mine.csv", product="ios")


def test_the_latest_rule_is_not_put_behind_by_a_release_it_is_not_offered():
    """The notion is general: under ``latest`` a new-devices-only line neither makes the
    offered line outdated nor is offered to it, while its own devices follow its releases."""
    from fleetanalysis import policy

    rows = catalog.load_releases_csv(
        "# complete-until: 2024-04-30\nversion,released,line,eol,offered\n"
        "17.3.1,2024-02-08,17,,\n17.4,2024-03-05,17,,\n18.0,2024-02-20,18,,false\n18.1,2024-03-01,18,,\n",
        name="mine.csv", product="ios")
    rules = policy.Policy(products={"ios": policy.ProductPolicy(rule="latest", grace_days=7)})
    parts = pd.DataFrame({"product": "ios", "evidence": "exact", "version": ["17.3.1", "17.4", "18.0"],
                          "as_of": pd.Timestamp("2024-04-01")})
    judged = policy.judge(parts, catalog.merge([rows]), rules)
    assert judged["verdict"].tolist() == ["outdated", "current", "outdated"]
    assert judged["target"].fillna("-").tolist() == ["17.4", "-", "18.1"]


# Microsoft's release information pages as served in 2026-09/10, in the shape the copies in
# Avnsx/win11_release_guard tests/fixtures (windows11-release-health-26h2-pending-b.html,
# windows11-release-health-current-d-26h1.html) show: the 26H1 note, then per version an
# <h3>Version R (OS build B)</h3> over a history table with an Update type column. Builds,
# dates and KB numbers are those pages'; 28000.1575 is 26H1's release build (KB5077179).
NOT_OFFERED_NOTE = ("<p>Windows 11, version 26H1 is scoped to support new devices that started coming to market "
                    "in early 2026 and is not designed as a feature update for existing devices. This version is "
                    "not offered as an in-place update from 24H2 or 25H2 on existing devices.</p>")
WINDOWS_11_HISTORY = [
    ("26H2", "26300", [("2026-09 D", "2026-09-29", "9550", "KB5124010"), ("", "2026-09-29", "9457", "")]),
    ("26H1", "28000", [("2026-09 D", "2026-09-22", "3086", "KB5124006"), ("2026-09 OOB", "2026-09-14", "2956", "KB5129194"),
                       ("2026-09 B", "2026-09-08", "2954", "KB5124012"), ("2026-05 B", "2026-05-12", "2113", "KB5089548"),
                       ("", "2026-02-10", "1575", "KB5077179")]),
    ("25H2", "26200", [("2026-09 OOB", "2026-09-14", "9457", "KB5129195"), ("2026-09 B", "2026-09-08", "9445", "KB5124008")]),
    ("24H2", "26100", [("2026-09 D", "2026-09-22", "9550", "KB5124010"), ("2026-09 B", "2026-09-08", "9445", "KB5124008")]),
]


def _release_page(title, note, history):
    sections = "".join(
        f"<h3>Version {release} (OS build {build})</h3><table><thead><tr><th>Servicing option</th><th>Update type</th>"
        "<th>Availability date</th><th>Build</th><th>KB article</th></tr></thead><tbody>"
        + "".join(f"<tr><td>General Availability Channel</td><td>{kind}</td><td>{day}</td><td>{build}.{revision}</td>"
                  f"<td>{kb}</td></tr>" for kind, day, revision, kb in rows) + "</tbody></table>"
        for release, build, rows in history)
    return f"<html><head><title>{title}</title></head><body><h1>{title}</h1>{note}{sections}</body></html>"


@pytest.fixture(params=[True, False], ids=["page-says-not-offered", "page-silent"])
def windows_feed(request):
    """Microsoft's two pages on 127.0.0.1; without the note the shipped line must still decide."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    pages = {
        "/en-us/windows/release-health/release-information": _release_page(
            "Windows 10 release information", "", [("22H2", "19045", [("2025-10 B", "2025-10-14", "6456", "KB5066791")])]),
        "/en-us/windows/release-health/windows11-release-information": _release_page(
            "Windows 11 release information", NOT_OFFERED_NOTE if request.param else "", WINDOWS_11_HISTORY),
    }

    class Pages(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            body = pages.get(self.path.split("?")[0])
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write((body or "").encode())

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", request.param
    httpd.shutdown()
    httpd.server_close()


def test_a_catalog_update_holding_26h1_builds_keeps_26h2_the_target(windows_feed, tmp_path, rules):
    """`catalog update` reads 26H1's monthly builds (10.0.28000.2956 sorts above every 26H2
    build): the overlay must not bring the wrong target back, whether or not the page words
    the restriction. The 26H1 PC is judged against its own line's builds in 2026-11."""
    from fleetanalysis import feeds

    url, page_says = windows_feed
    out = tmp_path / "catalog-updates.csv"
    [result] = feeds.update(out, ["windows"], {"windows": url}, timeout=5, today=pd.Timestamp("2026-11-20"))
    assert result.ok, result.problem
    overlay = catalog.load_releases_csv(out)
    builds_26h1 = overlay[overlay["line"] == "11 26H1"]
    assert builds_26h1["version"].tolist() == ["10.0.28000.1575", "10.0.28000.2113", "10.0.28000.2954",
                                               "10.0.28000.2956"]
    assert builds_26h1["offered"].tolist() == ([False] * 4 if page_says else [pd.NA] * 4)
    assert overlay.loc[overlay["line"] != "11 26H1", "offered"].isna().all()

    merged = catalog.load(updates=out)
    november = _windows_devices_on(merged, rules, "2026-11-20", (OKTA_VERIFY_10_22H2, OKTA_VERIFY_26H1))
    assert november["os_verdict"].tolist() == ["unsupported", "outdated"]
    assert november["target"].tolist() == ["Windows 10.0.26300.9457", "Windows 10.0.28000.2956"]
    assert november["os_reason"].iloc[1] == "windows 10.0.28000.2956 released 2026-09-14, due after 14 days"
    table, dm = _fixes_and_dm(november.iloc[[0]], "2026-11-20", "di@x.io")
    assert table == [["Windows", "11 26H2 (10.0.26300.9457)"]]
    assert "update to Windows 11 26H2 (10.0.26300.9457) or newer." in dm and "28000" not in dm


@pytest.mark.parametrize("note, marked", [
    # Microsoft's own sentences about 26H1 (release information page; Windows IT Pro Blog).
    ("Windows 11, version 26H1 is not offered as an in-place update from Windows 11, version 24H2 or 25H2 "
     "on existing devices.", True),
    ("Unlike annual Windows feature updates, Windows 11, version 26H1 isn’t offered through Windows Update.", True),
    ("Windows 11, version 26H1 is not a feature update for version 25H2.", True),
    # Other notes on the same pages say nothing about how a version is offered.
    ("Windows 11 has an annual feature update cadence. Feature updates are released in the second half of "
     "the calendar year.", False),
    ("Windows 11, version 26H1 will continue receiving monthly updates for security, quality, and new features.",
     False),
    ("Windows 10, version 22H2 reached the end of servicing on October 14, 2025; devices no longer get updates.",
     False),
])
def test_the_windows_feed_marks_only_a_version_the_page_says_is_not_offered(note, marked):
    from fleetanalysis import feeds

    page = _release_page("Windows 11 release information", f"<p>{note}</p>", WINDOWS_11_HISTORY)
    rows = feeds.windows_releases([page], pd.Timestamp("2026-11-20"))
    assert set(rows.loc[rows["offered"].eq(False).fillna(False).astype(bool), "line"]) == ({"11 26H1"} if marked else set())
