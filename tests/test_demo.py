"""Tests for fleetanalysis.demo: real shapes, true versions, deterministic bytes."""

from __future__ import annotations

import ipaddress
import json
import re

import numpy as np
import pandas as pd
import pytest

from fleetanalysis import catalog as releases
from fleetanalysis import clients, demo
from fleetanalysis.cli import main

LOGIN_FIELDS = ["user_id", "username", "date_first", "date_last", "count", "ip", "user_agent",
                "isp", "country", "region"]
DOCUMENTATION = [ipaddress.ip_network(net) for net in
                 ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")]


@pytest.fixture(scope="module")
def catalog():
    return releases.load(updates=None)


@pytest.fixture(scope="module")
def written(tmp_path_factory, catalog):
    out = tmp_path_factory.mktemp("demo")
    return out, demo.write(out, users=60, weeks=8, seed=11, catalog=catalog)


@pytest.fixture(scope="module")
def logins(written):
    _, paths = written
    return pd.DataFrame([row for path in paths["slack"] for row in json.loads(path.read_text())["logins"]])


def _files(folder):
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file()}


def test_same_seed_writes_identical_bytes_and_another_seed_does_not(tmp_path, written, catalog):
    first, _ = written
    demo.write(tmp_path / "again", users=60, weeks=8, seed=11, catalog=catalog)
    demo.write(tmp_path / "other", users=60, weeks=8, seed=12, catalog=catalog)
    assert _files(first) == _files(tmp_path / "again")
    page = "slack/access_logs_page_001.json"
    assert _files(first)[page] != _files(tmp_path / "other")[page]


def test_pages_have_the_documented_access_logs_shape(written):
    _, paths = written
    pages = [json.loads(path.read_text()) for path in paths["slack"]]
    total = sum(len(page["logins"]) for page in pages)
    for number, page in enumerate(pages, start=1):
        assert list(page) == ["ok", "logins", "paging"] and page["ok"] is True
        assert page["paging"] == {"count": 1000, "total": total, "page": number, "pages": len(pages)}
        assert 0 < len(page["logins"]) <= 1000
        for login in page["logins"]:
            assert list(login) == LOGIN_FIELDS
            assert all(type(login[field]) is int for field in ("date_first", "date_last", "count"))
            assert all(isinstance(login[field], str) for field in ("user_id", "username", "ip", "user_agent"))
            assert all(login[field] is None or isinstance(login[field], str) for field in ("isp", "country", "region"))


def test_logins_look_like_slack(logins):
    assert logins["user_id"].str.fullmatch(r"U0[A-Z0-9]{8,10}").all()
    assert logins["username"].str.fullmatch(r"[a-z]+\.[a-z]+\d*").all()
    assert (logins["date_first"] <= logins["date_last"]).all() and (logins["count"] >= 1).all()
    # The API orders by date_first, newest first, across pages.
    assert logins["date_first"].is_monotonic_decreasing
    assert all(any(ipaddress.ip_address(ip) in net for net in DOCUMENTATION) for ip in logins["ip"].unique())
    assert logins["ip"].str.contains(":").any()
    assert logins["isp"].isna().any() and logins["isp"].notna().mean() > 0.9
    assert not logins.duplicated(["user_id", "ip", "user_agent"]).any()


def test_page_splitting_keeps_every_row_once():
    rows = pd.DataFrame({"user_id": [f"U0{number:08d}" for number in range(2500)], "username": "a.b",
                         "date_first": range(2500), "date_last": range(2500), "count": 1, "ip": "192.0.2.1",
                         "user_agent": "x", "isp": None, "country": None, "region": None})
    pages = demo.access_log_pages(rows)
    assert [len(page["logins"]) for page in pages] == [1000, 1000, 500]
    assert [page["paging"]["page"] for page in pages] == [1, 2, 3]
    assert pages[0]["logins"][0]["date_first"] == 2499 and pages[-1]["logins"][-1]["date_first"] == 0


# (product, regex): each user-agent token that names a release, read back independently.
CLAIMS = [
    ("slack-ios", r"^com\.tinyspeck\.chatlyio/(\S+) "),
    ("ios", r"\(iPhone; iOS ([\d.]+);"),
    ("ipados", r"\(iPad; iOS ([\d.]+);"),
    ("slack-android", r"^com\.Slack/(\S+) "),
    ("android", r"; Android (\d+)\)$"),
    ("chrome", r"Chrome/(\d+)\.0\.0\.0"),
    ("chrome", r"Slack/\S+ Chrome/(\d+\.0\.[1-9]\d*\.\d+)"),
    ("slack-desktop", r"Slack_SSB/(\S+)$"),
    ("edge", r"Edg/(\d+)\.0\.0\.0"),
    ("firefox", r"Firefox/(\d+)\.0$"),
]


def _released(catalog, product, claim):
    """The first date a release matching the claimed version existed (a claim may be a prefix)."""
    rows = catalog[catalog["product"].astype(str) == product]
    match = rows["version"].eq(claim) | rows["version"].str.startswith(claim + ".")
    return rows.loc[match, "released"].min()


def _uncatalogued(catalog):
    """The Slack mobile apps the catalog does not list completely up to the demo's default end."""
    covered = releases.coverage(catalog)
    end = demo.default_end(catalog)
    return tuple(product for product in demo.SYNTHETIC if not covered.get(product, pd.NaT) >= end)


def test_every_version_in_every_user_agent_existed_on_that_day(logins, catalog):
    assert _check_versions(logins, catalog, synthetic=_uncatalogued(catalog)) > 100


def _synthetic_released(version):
    """The day a synthetic Slack mobile release came out, read from its YY.MM.NN name (None if off-scheme)."""
    match = re.fullmatch(r"(\d\d)\.(\d\d)\.([12])0", version)
    return match and pd.Timestamp(2000 + int(match[1]), int(match[2]), 4 if match[3] == "1" else 18)


def _check_versions(logins, catalog, synthetic=()):
    """Read every version back out of the user agents; each must be out by the row's first day.

    Versions of ``synthetic`` products must follow Slack's scheme and be out by that day.
    """
    checked = 0
    agents = logins.assign(day=pd.to_datetime(logins["date_first"], unit="s").dt.normalize())
    agents = agents.groupby("user_agent", as_index=False)["day"].min()
    for agent, day in zip(agents["user_agent"], agents["day"]):
        agent = re.sub(r"^SlackWeb/[0-9a-f]+ ", "", agent)
        if agent.startswith(("Python/", "ApiApp/", "Slackbot")):
            continue
        claims = [(product, match.group(1)) for product, pattern in CLAIMS
                  for match in [re.search(pattern, agent)] if match]
        old_ios = re.search(r"iPhone OS (\d+(?:_\d+)+) like", agent)
        safari = re.search(r"Version/(\d+)\.\d+", agent)
        if old_ios and int(safari.group(1)) < 26:
            claims.append(("ios", old_ios.group(1).replace("_", ".")))
        if "Safari/60" in agent and "Version/" in agent:
            # Safari's own version; an iPad's Safari presents itself as a Mac.
            version = re.search(r"Version/([\d.]+)", agent).group(1)
            first = pd.Series([_released(catalog, product, version) for product in ("safari", "ios", "ipados")]).min()
            assert first <= day, agent
            checked += 1
        assert claims or "Safari/60" in agent, f"no version read from {agent}"
        for product, version in claims:
            first = _synthetic_released(version) if product in synthetic else _released(catalog, product, version)
            assert pd.notna(first) and first <= day, f"{product} {version} not out by {day.date()}: {agent}"
            checked += 1
    return checked


def _fake_catalog(tmp_path):
    """Every product the demo can use, complete until 2025-06-30 (made-up releases, real shapes)."""
    days = pd.date_range("2024-01-02", "2025-06-24", freq="7D")
    versions = {
        "ios": [f"{17 + (n > 36)}.{n % 7}.{n % 3}" for n in range(len(days))],
        "android": [str(14 + n // 40) for n in range(len(days))],
        "chrome": [f"{120 + n // 4}.0.{6000 + n}.{n % 4 * 20 + 5}" for n in range(len(days))],
        "firefox": [f"{122 + n // 4}.0" if n % 4 == 0 else f"{122 + n // 4}.0.{n % 4}" for n in range(len(days))],
        "edge": [f"{120 + n // 4}.0.{2200 + n}.{n % 4 * 10 + 1}" for n in range(len(days))],
        "safari": [f"{17 + (n > 36)}.{n % 7}" for n in range(len(days))],
        "slack-desktop": [f"4.{36 + n // 4}.{100 + n}" for n in range(len(days))],
        "slack-ios": [f"{day:%y.%m}.{10 * (n % 4 + 1)}" for n, day in enumerate(days)],
        "slack-android": [f"{day:%y.%m}.{10 * (n % 4 + 1)}.0" for n, day in enumerate(days)],
    }
    versions["ipados"] = versions["ios"]
    files = []
    for product, listed in versions.items():
        frame = pd.DataFrame({"version": listed, "released": days.strftime("%Y-%m-%d"),
                              "line": [version.split(".")[0] for version in listed]})
        frame = frame.drop_duplicates("version")
        path = tmp_path / f"{product}.csv"
        path.write_text(f"# product: {product}\n# complete-until: 2025-06-30\n" + frame.to_csv(index=False))
        files.append(path)
    return releases.load(updates=None, files=files)


def test_every_client_shape_appears_when_the_catalog_lists_every_product(tmp_path):
    fake = _fake_catalog(tmp_path)
    org = demo.simulate(users=80, weeks=6, seed=5, catalog=fake)
    assert org.omitted == () and org.synthetic == () and org.end == pd.Timestamp("2025-06-30")
    assert set(org.logins["client"].dropna()) == {
        "slack-ios", "slack-ipad", "slack-android", "slack-desktop", "safari-ios", "safari-ipad", "safari-mac",
        "chrome", "chromium", "chrome-android", "edge", "firefox", "sdk"}
    assert _check_versions(org.logins, fake) > 200
    agents = org.logins["user_agent"]
    assert agents.str.fullmatch(r"com\.tinyspeck\.chatlyio/[\d.]+ \(iPhone; iOS [\d.]+; Scale/[23]\.00\)").any()
    electron = r"Slack/[\d.]+ Chrome/\d+\.0\.\d+\.\d+ Electron/\d+\.\d+\.\d+ Safari/537\.36 Slack_SSB/"
    assert agents.str.contains(electron).any()


def test_slack_mobile_apps_sign_in_with_synthetic_versions_the_readme_owns_up_to(written, logins, catalog):
    out, _ = written
    # The shipped catalog has no dated list of Slack for iOS; the demo's period does not wait for it.
    assert _uncatalogued(catalog) and "slack-ios" in _uncatalogued(catalog)
    agents = logins["user_agent"]
    assert agents.str.fullmatch(r"com\.tinyspeck\.chatlyio/\d\d\.\d\d\.\d+ \(iPhone; iOS [\d.]+; Scale/[23]\.00\)").any()
    assert agents.str.fullmatch(r"com\.tinyspeck\.chatlyio/\d\d\.\d\d\.\d+ \(iPad; iOS [\d.]+; Scale/2\.00\)").any()
    assert agents.str.fullmatch(r"com\.Slack/\d\d\.\d\d\.\d+ \([^;()]+; Android \d+\)").any()
    readme = " ".join((out / "README.md").read_text().split())
    assert ("Slack's mobile app versions are synthetic: the release catalog has no dated list of them, so "
            "those clients are judged unknown; the OS version they carry is real and judged. "
            f"This applies to {', '.join(_uncatalogued(catalog))}:") in readme
    assert "slack-ios" not in readme.split("Left out")[-1]


def test_default_end_ignores_the_slack_apps_coverage(catalog):
    end = demo.default_end(catalog)
    assert end == releases.coverage(catalog)[list(demo.CORE)].min()
    for stated in ("2019-01-01", "2030-01-01"):
        changed = catalog.copy()
        changed.attrs = {**catalog.attrs, "complete_until": {
            **catalog.attrs["complete_until"], **dict.fromkeys(demo.SYNTHETIC, pd.Timestamp(stated))}}
        assert demo.default_end(changed) == end


def test_most_phones_use_the_slack_app_and_some_a_browser_too(catalog):
    org = demo.simulate(users=120, weeks=4, seed=4, catalog=catalog)
    assert org.synthetic == _uncatalogued(catalog) and not set(demo.SYNTHETIC) & set(org.omitted)
    phones = org.logins[org.logins["kind"].isin(["iphone", "android"])]
    clients = phones.groupby("device_id")["client"].agg(set)
    assert clients.map(lambda used: bool(used & {"slack-ios", "slack-android"})).mean() > 0.85
    assert 0.2 < clients.map(lambda used: bool(used & {"safari-ios", "chrome-android"})).mean() < 0.6
    assert set(phones.loc[phones["kind"].eq("android"), "client"]) == {"slack-android", "chrome-android"}


def _slack_app_rows(org):
    apps = org.logins[org.logins["client"].isin(["slack-ios", "slack-ipad", "slack-android"])]
    return apps.drop_duplicates("user_agent").reset_index(drop=True)


def test_slack_app_user_agents_carry_the_exact_os_version(catalog):
    # Pinned to a date when iOS 18.6/18.7 were current, whatever the catalog's coverage.
    org = demo.simulate(users=150, weeks=8, seed=9, end=pd.Timestamp("2026-01-13"), catalog=catalog)
    apps = _slack_app_rows(org)
    # iOS 18.6/18.7 from the app is the real version, unlike WebKit's frozen 18_6 token.
    assert apps["os_version"].isin(["18.6", "18.7"]).any()
    assert set(apps["client"]) == {"slack-ios", "slack-ipad", "slack-android"}
    facts = clients.describe(apps["user_agent"])
    assert facts["os_evidence"].eq("exact").all() and facts["client_family"].eq("Slack").all()
    assert facts["os_version"].tolist() == apps["os_version"].tolist()
    assert facts["client_version"].tolist() == apps["client_version"].tolist()
    assert facts["client_product"].astype(str).tolist() == apps["client_product"].tolist()
    platform = apps["kind"].map({"iphone": "iOS", "ipad": "iPadOS", "android": "Android"})
    assert facts["platform"].astype(str).tolist() == platform.tolist()


def test_synthetic_track_follows_slacks_scheme_a_release_a_fortnight():
    start, end = pd.Timestamp("2025-03-03"), pd.Timestamp("2025-08-31")
    track = demo.synthetic_track(start, end)
    assert track["released"].min() < start - pd.Timedelta(days=90) and track["released"].max() <= end
    assert track["version"].is_unique and releases.version_key(track["version"]).is_monotonic_increasing
    assert track["released"].diff().dropna().dt.days.between(13, 17).all()
    assert all(_synthetic_released(version) == day for version, day in zip(track["version"], track["released"]))


def test_frozen_tokens_are_the_real_ones(logins):
    agents = logins["user_agent"]
    chrome = agents[agents.str.contains("Chrome/") & ~agents.str.contains("Slack/")]
    assert chrome.str.contains(r"Chrome/\d+\.0\.0\.0").all()
    assert agents.str.contains("Mac OS X 10_15_7").any()
    assert not agents.str.contains(r"Windows NT (?!10\.0)").any()
    android_chrome = agents[agents.str.contains("Android") & agents.str.contains("Chrome/")]
    assert android_chrome.str.contains("Android 10; K").all()
    ios_26 = agents[agents.str.contains(r"Version/2[6-9][\d.]* Mobile")]
    assert ios_26.str.contains("iPhone OS 18_6 like").all()


def test_scripts_and_bots_are_present(logins):
    agents = logins["user_agent"]
    assert agents.str.match(r"Python/[\d.]+ slackclient/[\d.]+ Linux/").any()
    assert agents.str.match(r"ApiApp/A0[A-Z0-9]+ Python/").any()
    assert agents.str.startswith("Slackbot-LinkExpanding").any()


def test_devices_per_user_and_rows_per_device_are_sensible(catalog):
    org = demo.simulate(users=60, weeks=8, seed=11, end=pd.Timestamp("2026-01-13"), catalog=catalog)
    devices = org.logins.dropna(subset=["device_id"])
    per_user = devices.groupby("user_id")["device_id"].nunique()
    assert per_user.between(1, 3).all() and per_user.mean() > 1.3
    per_device = devices.groupby("device_id").size()
    assert per_device.median() >= 3 and per_device.max() < 400
    # A device never goes back to an older OS, and updating gives a new row.
    phones = devices[devices["os_version"].notna()].sort_values("date_first")
    for _, rows in phones.groupby("device_id"):
        keys = releases.version_key(rows["os_version"])
        assert keys.is_monotonic_increasing
    assert phones.groupby("device_id")["os_version"].nunique().max() > 1
    assert org.directory["user_id"].is_unique
    assert org.directory["user_id"].isin(org.logins["user_id"]).mean() > 0.9
    assert org.directory["exempt_until"].ne("").sum() == 1
    assert set(org.directory["ownership"]) >= {"managed", "personal"}


def _outdated(org, catalog, column, held_column, at):
    """Share of phones whose OS is older than the newest release on their track out a fortnight before ``at``."""
    phones = org.devices[org.devices["kind"].isin(["iphone", "android"])]
    newest = {}
    for kind, held in set(zip(phones["kind"], phones[held_column])):
        rows = catalog[(catalog["product"].astype(str) == demo.OS_PRODUCT[kind])
                       & (catalog["released"] <= org.end)].assign(key=lambda f: releases.version_key(f["version"]))
        if held:
            rows = rows[rows["line"] != rows.loc[rows["key"].idxmax(), "line"]]
        newest[kind, held] = rows[rows["released"] <= at - pd.Timedelta(days=14)]["key"].max()
    keys = releases.version_key(phones[column])
    behind = [key < newest[kind, held] for key, kind, held in zip(keys, phones["kind"], phones[held_column])]
    return sum(behind) / len(behind)


def test_about_a_fifth_of_phones_are_outdated_at_the_start_and_fewer_after_the_nudge(catalog):
    org = demo.simulate(users=300, weeks=12, seed=7, catalog=catalog)
    at_start = _outdated(org, catalog, "os_at_start", "held", org.start)
    assert 0.15 <= at_start <= 0.25
    assert _outdated(org, catalog, "os_at_end", "held_after", org.end) < at_start


def test_a_period_the_catalog_or_the_shapes_cannot_carry_is_bad_input(catalog, tmp_path, capsys):
    later = demo.default_end(catalog) + pd.Timedelta(days=1)
    assert main(["demo", "--out", str(tmp_path), "--end", str(later.date())]) == 2
    assert "complete until" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path), "--end", "2023-07-01", "--weeks", "8"]) == 2
    assert "since 2023-06-01" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_cli_writes_the_files_and_clears_stale_pages(tmp_path, capsys):
    stale = tmp_path / "slack" / "access_logs_page_099.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    assert main(["demo", "--out", str(tmp_path), "--users", "20", "--weeks", "2", "--seed", "3"]) == 0
    assert "access-log page" in capsys.readouterr().out
    assert not stale.exists()
    assert (tmp_path / "README.md").read_text().startswith("# Demo data")
    directory = pd.read_csv(tmp_path / "directory.csv", dtype=str, keep_default_na=False)
    assert directory.columns.tolist() == ["user_id", "email", "office", "department", "ownership", "exempt_until"]
    assert directory["email"].str.endswith("@example.com").all()
    networks = pd.read_csv(tmp_path / "networks.csv", dtype=str)
    assert networks.columns.tolist() == ["cidr", "office"]
    assert all(ipaddress.ip_network(cidr) for cidr in networks["cidr"])


def test_the_demo_campaign_is_answered_less_the_more_a_person_is_asked(catalog):
    org = demo.simulate(users=300, weeks=12, seed=7, catalog=catalog)
    dms = org.nudges[org.nudges["kind"] == "dm"].sort_values("created")
    assert set(dms["step"]) == {"first", "reminder"} and (org.nudges["kind"] == "office").any()
    # Ground truth from the simulation: a DM worked when the person's device moved to its
    # after-campaign delays on a day from that DM up to their next one.
    named = {device for text in dms["devices"] for device in json.loads(text)}
    platform = {"iphone": "iOS|phone", "ipad": "iPadOS|tablet"}
    never = np.iinfo(np.int64).max
    moved = {}
    for user, kind, day in org.devices[["user_id", "kind", "update_day"]].values:
        if f"{user}|{platform.get(kind)}" in named and day != never:
            moved.setdefault(user, []).append(day)
    day = (dms["created"] - pd.Timestamp(0, tz="UTC")).dt.days.to_numpy()
    dms = dms.assign(day=day, nth=dms.groupby("person").cumcount() + 1)
    dms["next"] = dms.groupby("person")["day"].shift(-1).fillna(day.max() + 1000).astype("int64")
    dms["worked"] = [any(first <= moment < later for moment in moved.get(person, []))
                     for person, first, later in zip(dms["person"], dms["day"], dms["next"])]
    rate = dms.groupby(dms["nth"].clip(upper=3))["worked"].mean()
    assert rate[1] > rate[2] > rate[3] and rate[1] - rate[3] > 0.25
    # Each person is asked at most four times, and DMs name the ids the analysis gives devices.
    assert dms.groupby("person").size().max() <= 4
    assert all(json.loads(text)[0].split("|")[1] in ("iOS", "iPadOS") for text in dms["devices"])
    answers = org.answers
    assert set(answers["action"]) == {"updated", "snooze", "not_mine"}
    assert answers["message_id"].isin(dms["id"]).all()


def test_the_demo_writes_its_campaign_as_a_nudge_state_the_outcomes_measure(tmp_path, capsys):
    from fleetanalysis import cli, nudges, sources, store

    written = demo.write(tmp_path, users=150, weeks=10, seed=7)
    assert written["nudges"] == tmp_path / "nudges.sqlite"
    sent = nudges.read_history(written["nudges"])
    assert sent["status"].eq("sent").all() and len(nudges.read_answers(written["nudges"])) > 0
    store.merge(tmp_path / "access.parquet", sources.load([tmp_path / "slack"]))
    files = ["--store", str(tmp_path / "access.parquet"), "--directory", str(tmp_path / "directory.csv"),
             "--networks", str(tmp_path / "networks.csv"), "--state", str(written["nudges"])]
    assert cli.main(["nudges", "outcomes", *files, "--format", "json"]) == 0
    out = capsys.readouterr().out
    rows = {(row["breakdown"], row["value"], row["group"]): row for row in json.loads(out)}
    for key in [("all", "", "nudged"), ("nth nudge", "1st", "nudged"), ("nth nudge", "2nd", "nudged"),
                ("ladder step", "reminder", "nudged"), ("all", "", "not nudged (observational)")]:
        assert rows[key]["devices"] > 0, key
    assert rows[("all", "", "nudged")]["updated"] > 0
    assert rows[("nth nudge", "1st", "nudged")]["within_14d"] > rows[("nth nudge", "2nd", "nudged")]["within_14d"]
    directory = pd.read_csv(tmp_path / "directory.csv")
    for name in list(directory["email"]) + list(directory["user_id"]):
        assert name.split("@")[0] not in out


def test_the_report_measures_the_demo_campaign_when_the_store_is_the_demo():
    from fleetanalysis import config, nudges

    assert nudges.default_state(config.DEMO_STORE) == config.DEMO_DIR / "nudges.sqlite"
    assert nudges.default_state(config.PROCESSED_DIR / "access.parquet") == nudges.DEFAULT_STATE


def test_a_demo_too_small_to_have_laggards_writes_an_empty_nudge_state(tmp_path):
    from fleetanalysis import nudges

    written = demo.write(tmp_path, users=10, weeks=2, seed=1)
    assert nudges.read_history(written["nudges"]).empty
    assert "0 DMs and\n  0 button answers" in written["readme"].read_text()
