"""Verdicts pinned on dated examples: every rule, every product, the grace and end-of-support edges."""

import pandas as pd
import pytest

from fleetanalysis import catalog as releases
from fleetanalysis import policy
from fleetanalysis.errors import BadInput

# A small catalog in the user-CSV shape (product column, complete_until column).
CATALOG_CSV = """product,version,released,line,eol,exploited,complete_until
ios,15.8.1,2024-01-22,15,2024-09-16,,2025-12-31
ios,16.5.1,2023-06-21,16,,true,2025-12-31
ios,16.5.1 (c),2023-07-12,16,,true,2025-12-31
ios,16.6,2023-07-24,16,,false,2025-12-31
ios,16.6.1,2023-09-07,16,,true,2025-12-31
ios,16.7.6,2024-03-05,16,,,2025-12-31
ios,16.7.7,2024-03-21,16,,,2025-12-31
ios,17.0,2023-09-18,17,,,2025-12-31
ios,17.3.1,2024-02-08,17,,false,2025-12-31
ios,17.4,2024-03-05,17,,true,2025-12-31
ios,17.4.1,2024-03-21,17,,false,2025-12-31
ipados,17.4,2024-03-05,17,,false,2025-12-31
ipados,17.4.1,2024-03-21,17,,false,2025-12-31
macos,12.7.4,2024-03-07,12,2024-09-16,,2025-12-31
macos,12.7.6,2024-07-29,12,2024-09-16,,2025-12-31
macos,13.6.5,2024-03-07,13,,,2025-12-31
macos,13.6.6,2024-03-25,13,,,2025-12-31
macos,14.4.1,2024-03-25,14,,,2025-12-31
windows,10.0.19045.4170,2024-03-12,10-22H2,2025-10-14,,2025-12-31
windows,10.0.22631.3296,2024-03-12,11-23H2,,,2025-12-31
windows,10.0.22631.3447,2024-04-09,11-23H2,,,2025-12-31
windows-enterprise,10.0.22631,2023-10-31,11-23H2,2026-11-10,,2025-12-31
android,12,2021-10-04,12,2025-03-31,,2025-12-31
android,13,2022-08-15,13,,,2025-12-31
android,14,2023-10-04,14,,,2025-12-31
chrome,123.0.6312.58,2024-03-19,123,2024-04-16,,2025-12-31
chrome,123.0.6312.86,2024-03-26,123,2024-04-16,true,2025-12-31
chrome,124.0.6367.60,2024-04-16,124,,,2025-12-31
firefox,124.0,2024-03-19,124,,,2025-12-31
firefox,125.0.1,2024-04-16,125,,,2025-12-31
firefox-esr,115.9.0,2024-03-19,115,,,2025-12-31
firefox-esr,115.10.0,2024-04-16,115,,,2025-12-31
firefox-esr,128.0,2024-07-09,128,,,2025-12-31
safari,17.4,2024-03-05,17,,,2025-12-31
safari,17.4.1,2024-04-15,17,,,2025-12-31
edge,123.0.2420.53,2024-03-22,123,,,2025-12-31
edge,124.0.2478.51,2024-04-18,124,,,2025-12-31
slack-desktop,4.37.94,2024-03-12,4,,,2025-12-31
slack-desktop,4.38.115,2024-04-22,4,,,2025-12-31
slack-ios,24.03.10,2024-03-18,24,,,2025-12-31
slack-ios,24.04.10,2024-04-15,24,,,2025-12-31
slack-android,24.03.10.0,2024-03-18,24,,,2025-12-31
slack-android,24.04.10.0,2024-04-15,24,,,2025-12-31
edge-legacy,18.19042,2020-10-20,18,2021-03-09,,2025-12-31
internet-explorer,11.0,2013-10-17,11,2022-06-15,,2025-12-31
"""


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    path = tmp_path_factory.mktemp("catalog") / "releases.csv"
    path.write_text(CATALOG_CSV)
    return releases.load(extra=path, updates=False, files=[])


def _judge(catalog, rules, product, version, evidence, as_of):
    parts = pd.DataFrame({"product": [product], "version": [version], "evidence": [evidence],
                          "as_of": pd.to_datetime([as_of])})
    return policy.judge(parts, catalog, rules).iloc[0]


CASES = [
    # latest-in-line (ios, ipados, macos, windows, firefox-esr, safari)
    ("ios", "17.3.1", "exact", "2024-02-20", "current"),
    ("ios", "17.3.1", "exact", "2024-04-10", "outdated"),
    ("ios", "16.7.6", "exact", "2024-03-20", "current"),  # newest of its own line, though 17.4 exists
    ("ios", "16.7.6", "exact", "2024-04-05", "outdated"),
    ("ios", "15.8.1", "exact", "2024-09-15", "current"),
    ("ios", "15.8.1", "exact", "2024-09-16", "unsupported"),  # the day line 15 loses support
    ("ipados", "17.4", "exact", "2024-04-04", "grace"),  # 17.4.1 is exactly 14 days old
    ("ipados", "17.4", "exact", "2024-04-05", "outdated"),  # day 15
    ("macos", "13.6.5", "exact", "2024-04-20", "outdated"),
    ("macos", "12.7.6", "exact", "2024-09-15", "current"),
    ("macos", "12.7.6", "exact", "2024-09-16", "unsupported"),
    ("macos", "14.4.1", "exact", "2024-04-20", "current"),
    ("windows", "10.0.22631.3296", "exact", "2024-04-23", "grace"),
    ("windows", "10.0.22631.3296", "exact", "2024-04-24", "outdated"),
    ("windows", "10.0.22631.3447", "exact", "2024-04-24", "current"),
    ("windows", "10.0.19045.4170", "exact", "2025-10-14", "unsupported"),
    ("windows-enterprise", "10.0.22631", "exact", "2024-04-24", "current"),
    ("firefox-esr", "115.9.0", "exact", "2024-05-01", "outdated"),
    ("firefox-esr", "115.10.0", "exact", "2024-08-01", "current"),  # ESR stays on its line
    ("safari", "17.4", "exact", "2024-04-20", "grace"),
    # latest (chrome, edge, firefox, slack apps)
    ("chrome", "124.0.0.0", "major", "2024-04-20", "current"),
    ("chrome", "123.0.0.0", "major", "2024-04-20", "grace"),  # 124 four days old
    # past grace: behind, not "unsupported" (a rolling browser's old major is due like any release)
    ("chrome", "123.0.0.0", "major", "2024-05-01", "outdated"),
    ("chrome", "123.0.6312.58", "exact", "2024-04-02", "grace"),  # exploited fix, day 7
    ("chrome", "123.0.6312.58", "exact", "2024-04-03", "outdated"),  # exploited fix, day 8
    ("chrome", "123.0.6312.86", "exact", "2024-04-10", "current"),
    ("edge", "123.0.2420.53", "exact", "2024-05-10", "outdated"),
    ("firefox", "124.0", "exact", "2024-04-20", "grace"),
    ("firefox", "124.0", "exact", "2024-05-01", "outdated"),
    ("slack-desktop", "4.37.94", "exact", "2024-05-10", "outdated"),
    ("slack-ios", "24.04.10", "exact", "2024-04-20", "current"),
    ("slack-android", "24.03.10.0", "exact", "2024-04-20", "grace"),
    # supported (android, and the browsers Microsoft ended)
    ("edge-legacy", "18.19042", "exact", "2021-03-08", "current"),
    ("edge-legacy", "18.19042", "exact", "2021-03-09", "unsupported"),
    ("internet-explorer", "11.0", "exact", "2022-06-15", "unsupported"),
    ("android", "13", "exact", "2024-05-01", "current"),
    ("android", "12", "exact", "2025-03-30", "current"),
    ("android", "12", "exact", "2025-03-31", "unsupported"),
    # Apple Rapid Security Responses sort between 16.5.1 and 16.5.2
    ("ios", "16.5.1 (c)", "exact", "2023-07-20", "current"),
    ("ios", "16.5.1", "exact", "2023-07-20", "outdated"),  # (c) fixed an exploited bug 8 days ago
    ("ios", "16.5.1 (c)", "exact", "2023-08-07", "grace"),  # 16.6 is 14 days old
    ("ios", "16.5.1 (c)", "exact", "2023-08-08", "outdated"),
    # missing trailing zeros are equal
    ("ios", "17", "exact", "2023-10-01", "current"),
    # a lower bound can show a device is current, never that it is old
    ("ios", "17.4.1", "lower-bound", "2024-04-10", "current"),
]


@pytest.fixture(scope="module")
def judged_cases(catalog, rules):
    """All pinned cases judged in one call, keyed by the case."""
    cases = CASES + UNKNOWN
    parts = pd.DataFrame([case[:4] for case in cases], columns=["product", "version", "evidence", "as_of"])
    parts["as_of"] = pd.to_datetime(parts["as_of"])
    judged = policy.judge(parts, catalog, rules)
    return {case[:4]: judged.iloc[number] for number, case in enumerate(cases)}


@pytest.mark.parametrize(("product", "version", "evidence", "as_of", "expected"), CASES)
def test_dated_verdicts(judged_cases, product, version, evidence, as_of, expected):
    assert judged_cases[product, version, evidence, as_of]["verdict"] == expected


def test_every_product_has_a_pinned_case():
    assert {case[0] for case in CASES} == set(releases.PRODUCTS)


def test_targets_and_reasons(catalog, rules):
    outdated = _judge(catalog, rules, "ios", "17.3.1", "exact", "2024-04-10")
    assert outdated["target"] == "17.4.1"
    assert outdated["released_target"] == pd.Timestamp("2024-03-21")
    assert "17.4.1 released 2024-03-21" in outdated["reason"]
    rsr = _judge(catalog, rules, "ios", "16.5.1", "exact", "2023-07-20")
    assert rsr["target"] == "16.5.1 (c)"
    unsupported = _judge(catalog, rules, "ios", "15.8.1", "exact", "2024-10-01")
    assert unsupported["reason"] == "ios 15 out of support since 2024-09-16"
    assert unsupported["target"] == "17.4.1"  # the newest release overall, not the dead line's
    current = _judge(catalog, rules, "ios", "17.4.1", "exact", "2024-04-10")
    assert pd.isna(current["target"]) and pd.isna(current["reason"])


UNKNOWN = [
    ("ios", None, "absent", "2024-04-10", "no version in the evidence"),
    ("macos", "10.15.7", "frozen", "2024-04-10", "version frozen in the user agent"),
    ("ios", "18.0", "exact", "2024-04-20", "ios 18.0 is newer than anything the catalog knows"),
    ("ios", "17.4.1", "exact", "2026-01-10", "catalog covers ios only until 2025-12-31"),
    ("opera", "109.0", "exact", "2024-04-10", "no policy for opera"),
    ("ios", "beta", "exact", "2024-04-10", "cannot read a version in 'beta'"),
    ("ios", "12.0", "exact", "2020-01-01", "the catalog lists no ios release before 2023-06-21"),
    ("ios", "16.0", "lower-bound", "2024-04-10", "only a lower bound is known (at least ios 16.0)"),
    ("ios", "17.0.0.0", "major", "2024-04-10", "only the major version is known"),
]


@pytest.mark.parametrize(("product", "version", "evidence", "as_of", "reason"), UNKNOWN)
def test_unknown_says_why(judged_cases, product, version, evidence, as_of, reason):
    judged = judged_cases[product, version, evidence, as_of]
    assert (judged["verdict"], judged["reason"]) == ("unknown", reason)
    assert pd.isna(judged["target"])


# Pairs of overrides a row can meet at once; the later row of policy.OVERRIDES must win.
PRECEDENCE = [
    (("ios", "17.3.1", "frozen", None), "frozen", "version frozen in the user agent"),
    (("ios", None, "absent", None), "no_version", "no version in the evidence"),
    ((None, "17.3.1", "exact", None), "no_date", "no date for the evidence"),
    ((None, "17.3.1", "exact", "2024-04-10"), "no_product", "no product to judge against"),
    (("opera", "beta", "exact", "2024-04-10"), "no_policy", "no policy for opera"),
    (("ios", "beta", "exact", "2026-06-01"), "unreadable", "cannot read a version in 'beta'"),
    (("ios", "99.0", "exact", "2026-06-01"), "past_coverage", "catalog covers ios only until 2025-12-31"),
    (("ios", "99.0", "lower-bound", "2024-04-10"), "newer_than_catalog",
     "ios 99.0 is newer than anything the catalog knows"),
]


@pytest.mark.parametrize(("row", "winner", "reason"), PRECEDENCE)
def test_the_later_override_wins(catalog, rules, row, winner, reason):
    judged = _judge(catalog, rules, *row)
    assert (judged["verdict"], judged["reason"]) == ("unknown", reason)
    names = [override.when for override in policy.OVERRIDES]
    assert winner in names


def test_the_table_order_decides(catalog, rules, monkeypatch):
    """Reversed, the table lets the least fundamental check speak: its order is what decides."""
    monkeypatch.setattr(policy.verdicts, "OVERRIDES", policy.OVERRIDES[::-1])
    reversed_reason = _judge(catalog, rules, "ios", "17.3.1", "frozen", None)["reason"]
    assert reversed_reason == "the catalog lists no ios release before 2023-06-21"


def test_an_override_leaves_the_verdicts_it_does_not_replace(catalog, rules):
    """Past the catalog's coverage a device already behind stays outdated (past_coverage replaces
    only unknown, current and grace); a lower bound only unsettles outdated and unsupported."""
    behind = _judge(catalog, rules, "ios", "16.5.1", "exact", "2026-06-01")
    assert behind["verdict"] == "outdated"
    assert _judge(catalog, rules, "ios", "17.4.1", "lower-bound", "2024-04-10")["verdict"] == "current"
    assert {override.verdict for override in policy.OVERRIDES} == {"unknown", "current"}


def test_a_lower_bound_within_an_ended_line_is_out_of_support(catalog, rules):
    """A Darwin kernel names its line: "iOS 15.0 or a later 15.x" is out of support whichever
    release it runs once the line has ended, while "iOS 15.0 or any later iOS" may run a
    supported one; within a live line the bound cannot tell behind from up to date."""
    in_line = _judge(catalog, rules, "ios", "15.0", "lower-bound-in-line", "2024-10-01")
    assert (in_line["verdict"], in_line["reason"]) == ("unsupported", "ios 15 out of support since 2024-09-16")
    assert _judge(catalog, rules, "ios", "15.0", "lower-bound", "2024-10-01")["verdict"] == "unknown"
    live = _judge(catalog, rules, "ios", "16.0", "lower-bound-in-line", "2024-04-10")
    assert (live["verdict"], live["reason"]) == (
        "unknown", "only a lower bound is known (at least ios 16.0, or a later ios 16 release)")
    assert _judge(catalog, rules, "ios", "17.4.1", "lower-bound-in-line", "2024-04-10")["verdict"] == "current"


def test_product_missing_from_catalog(catalog, rules):
    empty = catalog[catalog["product"] != "edge"]
    judged = _judge(empty, rules, "edge", "124.0.2478.51", "exact", "2024-05-01")
    assert (judged["verdict"], judged["reason"]) == ("unknown", "edge is not in the catalog")


def test_prerelease_is_not_outdated(catalog, rules):
    judged = _judge(catalog, rules, "ios", "17.0", "exact", "2023-09-01")
    assert judged["verdict"] == "current"
    assert judged["reason"] == "newer than ios 16.6 (2023-07-24), the newest ios release the catalog lists by then"


def test_minimum_rule(catalog, tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text('[products.slack-desktop]\nrule = "minimum"\nminimum = "4.38"\n')
    rules = policy.load(path)
    low = _judge(catalog, rules, "slack-desktop", "4.37.94", "exact", "2024-05-10")
    assert (low["verdict"], low["target"], low["reason"]) == ("outdated", "4.38", "below the minimum slack-desktop 4.38")
    assert _judge(catalog, rules, "slack-desktop", "4.38.0", "exact", "2024-05-10")["verdict"] == "current"
    assert _judge(catalog, rules, "slack-desktop", "4.38", "exact", "2024-05-10")["verdict"] == "current"
    assert _judge(catalog, rules, "slack-desktop", "4.0.0.0", "major", "2024-05-10")["verdict"] == "unknown"
    assert _judge(catalog, rules, "slack-desktop", "3.0.0.0", "major", "2024-05-10")["verdict"] == "outdated"


def test_grace_days_come_from_the_policy(catalog, tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text("[defaults]\ngrace_days = 30\nexploited_grace_days = 30\n")
    rules = policy.load(path)
    assert _judge(catalog, rules, "ios", "17.3.1", "exact", "2024-04-04")["verdict"] == "grace"
    assert _judge(catalog, rules, "ios", "17.3.1", "exact", "2024-04-05")["verdict"] == "outdated"


def test_timezone_aware_evidence_is_judged_on_its_utc_day(catalog, rules):
    parts = pd.DataFrame({"product": ["chrome"], "version": ["123.0.6312.58"], "evidence": ["exact"],
                          "as_of": pd.to_datetime(["2024-04-02T23:59:00Z"])})
    assert policy.judge(parts, catalog, rules)["verdict"].iloc[0] == "grace"


def test_judging_distinct_rows_equals_judging_each_row(catalog, rules):
    cases = pd.DataFrame([case[:4] for case in CASES + UNKNOWN], columns=["product", "version", "evidence", "as_of"])
    cases["as_of"] = pd.to_datetime(cases["as_of"])
    many = pd.concat([cases] * 5, ignore_index=True).sample(frac=1, random_state=1)
    together = policy.judge(many, catalog, rules)
    assert list(together.columns) == ["verdict", "reason", "target", "released_target"]
    assert together.index.equals(many.index)
    one_by_one = pd.concat([policy.judge(many.loc[[i]], catalog, rules) for i in many.index[:12]])
    pd.testing.assert_frame_equal(together.loc[many.index[:12]], one_by_one)


def test_empty_input(catalog, rules):
    parts = pd.DataFrame({"product": [], "version": [], "evidence": [], "as_of": pd.to_datetime([])})
    judged = policy.judge(parts, catalog, rules)
    assert judged.empty and list(judged.columns) == ["verdict", "reason", "target", "released_target"]


def test_worst_prefers_any_judgement_over_unknown():
    frame = pd.DataFrame({"os": ["unknown", "grace", "current", None],
                          "client": ["unknown", "outdated", "unsupported", "current"]})
    assert policy.worst(frame).tolist() == ["unknown", "outdated", "unsupported", "current"]


def test_stale_versions_name_product_and_version(catalog):
    parts = pd.DataFrame({"product": ["ios", "ios", "chrome", "chrome", "macos"],
                          "version": ["18.1", "17.4.1", "125.0.0.0", "124.0.0.0", "15.0"],
                          "evidence": ["exact", "exact", "major", "major", "frozen"]})
    stale = policy.stale_versions(parts, catalog)
    assert stale[["product", "version", "newest_known"]].values.tolist() == [
        ["chrome", "125.0.0.0", "124.0.6367.60"], ["ios", "18.1", "17.4.1"]]


@pytest.mark.parametrize(("text", "key", "problem"), [
    ('[products.blackberry]\nrule = "latest"\n', "products.blackberry", "unknown product"),
    ('[products.ios]\nrule = "newest"\n', "products.ios.rule", "unknown rule 'newest'"),
    ("[products.ios]\ngrace_days = -3\n", "products.ios.grace_days", "must be a whole number"),
    ("[defaults]\ngrace_days = 1.5\n", "defaults.grace_days", "must be a whole number"),
    ("[defaults]\ngrace = 3\n", "defaults.grace", "unknown key"),
    ("[products.ios]\ncolour = 3\n", "products.ios.colour", "unknown key"),
    ('[products.ios]\nrule = "minimum"\n', "products.ios", "needs minimum"),
    ('[products.ios]\nrule = "minimum"\nminimum = "soon"\n', "products.ios.minimum", "not a version"),
    ("[products.ios\n", "", "not a valid policy file"),
    ("[limits]\n", "limits", "unknown section"),
])
def test_policy_file_errors_name_file_and_key(tmp_path, text, key, problem):
    path = tmp_path / "policy.toml"
    path.write_text(text)
    with pytest.raises(BadInput) as caught:
        policy.load(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and f": {key}:" in message if key else message.startswith(str(path))
    assert problem in message


def test_missing_policy_file(tmp_path):
    with pytest.raises(BadInput, match="no such policy file"):
        policy.load(tmp_path / "nope.toml")


def test_shipped_policy_covers_every_product():
    shipped = policy.load()
    assert set(shipped.products) == set(releases.PRODUCTS)
    assert shipped.products["android"].rule == "supported"
    assert shipped.products["chrome"].rule == "latest"
    assert {shipped.products[p].rule for p in ("ios", "ipados", "macos", "windows")} == {"latest-in-line"}
    assert shipped.products["ios"].grace_days == 14


def test_build_level_catalog_knows_patches_of_its_builds(rules):
    builds = releases.load_releases_csv(
        "# product: windows\n# complete-until: 2025-12-31\nversion,released,line,eol\n"
        "10.0.22631,2023-10-31,11 23H2,2025-11-11\n10.0.26100,2024-10-01,11 24H2,\n", name="windows.csv")
    parts = pd.DataFrame({"product": "windows", "version": ["10.0.26100.2314", "10.0.22631.4460", "10.0.26200.1"],
                          "evidence": "exact", "as_of": pd.Timestamp("2024-12-01")})
    judged = policy.judge(parts, builds, rules)
    assert judged["verdict"].tolist() == ["current", "current", "unknown"]
    assert judged["reason"].iloc[2] == "windows 10.0.26200.1 is newer than anything the catalog knows"
    assert policy.stale_versions(parts, builds)["version"].tolist() == ["10.0.26200.1"]


def test_a_version_older_than_the_catalog_is_not_called_current(catalog, rules):
    judged = _judge(catalog, rules, "android", "6.0.1", "exact", "2024-05-01")
    assert (judged["verdict"], judged["reason"]) == ("unknown", "the catalog does not place android 6.0.1 in a line")


def test_the_shipped_catalog_dates_the_issue_example(shipped_catalog, rules):
    parts = pd.DataFrame({"product": "ios", "version": "17.3.1", "evidence": "exact",
                          "as_of": pd.to_datetime(["2024-02-20", "2024-04-15"])})
    assert policy.judge(parts, shipped_catalog, rules)["verdict"].tolist() == ["current", "outdated"]


def test_past_the_catalogs_coverage_only_proven_verdicts_stand(catalog, rules):
    # A release missing after complete-until could only make a device further behind, so an
    # outdated verdict that rests on a listed release stands, and "current" becomes unknown.
    behind = _judge(catalog, rules, "ios", "17.3.1", "exact", "2026-01-10")
    newest = _judge(catalog, rules, "ios", "17.4.1", "exact", "2026-01-10")
    assert behind["verdict"] == "outdated" and behind["target"] == "17.4.1"
    assert (newest["verdict"], newest["reason"]) == ("unknown", "catalog covers ios only until 2025-12-31")


def test_every_day_of_an_epoch_gets_the_answer_of_its_first_day(shipped_catalog, rules):
    """The invariant that lets judge() judge one day per epoch: on the shipped catalog and
    policy, a version judged on any day is judged exactly as on its ``equivalent_day``."""
    shipped = shipped_catalog
    days = pd.date_range("2023-06-01", "2026-12-31", freq="D")
    rows = []
    for product, listed in shipped.groupby(shipped["product"].astype("str"))["version"]:
        versions = listed.iloc[:: max(len(listed) // 4, 1)].tolist()
        versions += [listed.iloc[-1], "1.0", "999.0", versions[0].split(".")[0]]
        for version in versions:
            evidence = "major" if "." not in version else "exact"
            rows.append(pd.DataFrame({"product": product, "version": version, "evidence": evidence, "as_of": days}))
    parts = pd.concat(rows, ignore_index=True)
    settled = parts.assign(as_of=policy.equivalent_day(parts["product"], parts["as_of"], shipped, rules))
    assert settled["as_of"].nunique() < days.size / 2  # the point: far fewer days to judge
    on_the_day = policy.verdicts._judge_distinct(parts, shipped, rules)
    on_the_first_day = policy.verdicts._judge_distinct(settled, shipped, rules)
    pd.testing.assert_frame_equal(on_the_day, on_the_first_day)


@pytest.mark.parametrize(("chrome_rule", "monthly"), [(None, False), ('rule = "minimum"\nminimum = "124.5"', False),
                                                     (None, True)])
def test_versions_judged_alike_get_the_same_answer_on_every_day(tmp_path, chrome_rule, monthly):
    """The invariant that lets judge() judge one version per class: every listed version of
    every shipped product, builds between them, bare majors and lower bounds, on dates
    from 2019 to 2026, are judged exactly as their ``equivalent_version``. With Windows
    monthly builds in the catalog, bare builds (``10.0.26100``) span several releases."""
    mine = tmp_path / "policy.toml"
    mine.write_text(f"[products.chrome]\n{chrome_rule}\n" if chrome_rule else "")
    (tmp_path / "monthly.csv").write_text(MONTHLY)
    shipped = releases.load(extra=tmp_path / "monthly.csv" if monthly else None, updates=False)
    rules = policy.load(mine)
    listed = shipped[["product", "version"]].astype("str").drop_duplicates()
    variants = [listed.assign(evidence="exact"),
                listed.assign(version=listed["version"] + ".1", evidence="exact"),
                listed.assign(version=listed["version"].str.split(".").str[0], evidence="major"),
                listed.assign(evidence="lower-bound"),
                pd.DataFrame({"product": ["chrome", "chrome", "chrome", "windows", "ios", "windows", "windows",
                                          "chrome", "firefox", "edge-legacy"],
                              "version": ["999.0", "124.1", "124.9", "10.0.26100.2314", "beta", "10.0.26100",
                                          "10.0.19045", "124.0.0.0", "124.0", "18.19043"], "evidence": "exact"})]
    versions = pd.concat(variants, ignore_index=True).drop_duplicates()
    days = pd.Series(pd.date_range("2019-01-01", "2026-12-31", periods=40).normalize())
    parts = versions.merge(days.rename("as_of"), how="cross")
    alike = parts.assign(version=policy.equivalent_version(parts, shipped, rules))
    assert alike["version"].nunique() < versions["version"].nunique()
    pd.testing.assert_frame_equal(policy.verdicts._judge_distinct(parts, shipped, rules),
                                  policy.verdicts._judge_distinct(alike, shipped, rules))


# The hand-worked scenarios of issue 14, on the shipped catalog. Dates from firefox.csv,
# chrome.csv, macos.csv, edge-legacy.csv: Firefox 124.0 2024-03-19, 124.0.1 03-22, 124.0.2
# 04-02, 125.0.1 2024-04-16; Chrome 121 2024-01-23, 122 2024-02-20 (not flagged exploited,
# so the 14-day grace applies); macOS 12's end 2024-09-16; EdgeHTML's end 2021-03-09.
def _on(catalog, rules, product, version, evidence, days):
    parts = pd.DataFrame({"product": product, "version": version, "evidence": evidence,
                          "as_of": pd.to_datetime(days)})
    return policy.judge(parts, catalog, rules)


def test_firefox_124_0_stays_current_after_124_0_1(shipped_catalog, rules):
    # Firefox's agent says Firefox/124.0 on 124.0, 124.0.1 and 124.0.2 alike.
    judged = _on(shipped_catalog, rules, "firefox", "124.0", "exact",
                 ["2024-03-23", "2024-04-15", "2024-04-16", "2024-04-30", "2024-05-01"])
    assert judged["verdict"].tolist() == ["current", "current", "grace", "grace", "outdated"]
    assert judged["reason"].iloc[-1] == "firefox 125.0.1 released 2024-04-16, due after 14 days"


def test_a_firefox_major_that_is_a_supported_esr_line_is_never_called_behind(shipped_catalog, rules):
    """Firefox ESR writes "Firefox/128.0" as Firefox 128 does (Debian ships firefox-esr by
    default): while ESR 128 is supported, the agent cannot show the device behind. The class:
    every ESR line of the shipped catalog, judged as Firefox through its life and after."""
    esr = shipped_catalog[shipped_catalog["product"].astype("str") == "firefox-esr"]
    lines = esr.groupby(esr["line"].astype("str")).agg(start=("released", "min"), end=("eol", "max"))
    for line, (start, end) in lines.iterrows():
        last = end - pd.Timedelta(days=1) if pd.notna(end) else start + pd.Timedelta(days=400)
        days = pd.date_range(start, last, freq="7D").append(pd.DatetimeIndex([last]))
        judged = _on(shipped_catalog, rules, "firefox", f"{line}.0", "exact", days)
        assert not judged["verdict"].isin(["grace", "outdated", "unsupported"]).any(), line
        held = judged["reason"].str.contains(f"firefox {line} may be firefox-esr {line}, a line supported then", regex=False)
        assert held.any() and judged.loc[~held, "verdict"].isin(["current", "unknown"]).all(), line
        if pd.notna(end):
            after = _on(shipped_catalog, rules, "firefox", f"{line}.0", "exact", [end])
            assert after["verdict"].tolist() == ["outdated"], line
    # A major that was never an ESR line is behind as before.
    assert _on(shipped_catalog, rules, "firefox", "127.0", "exact", ["2024-12-10"])["verdict"].tolist() == ["outdated"]


def test_windows_10_builds_of_2015_to_2018_are_judged_against_the_windows_of_their_day(shipped_catalog, rules):
    # Microsoft's Windows 10 release information: 1507 (10240) serviced until 2017-05-09,
    # 1607 (14393) until 2018-04-10, 1703 (15063) GA 2017-04-11.
    # 1607's Enterprise and Education editions were serviced until 2019-04-09.
    judged = _on(shipped_catalog, rules, "windows", ["10.0.10240", "10.0.14393", "10.0.14393", "10.0.14393"], "exact",
                 ["2017-06-01", "2017-06-01", "2018-04-10", "2019-04-09"])
    assert judged["verdict"].tolist() == ["unsupported", "current", "unknown", "unsupported"]
    assert judged["reason"].iloc[0] == "windows 10 1507 out of support since 2017-05-09"
    assert judged["target"].iloc[0] == "10.0.15063"


def test_chrome_previous_major_is_grace_then_outdated_never_unsupported(shipped_catalog, rules):
    days = pd.date_range("2024-02-20", "2024-04-30")
    for version, evidence in (("121", "major"), ("121.0.6167.184", "exact")):
        judged = _on(shipped_catalog, rules, "chrome", version, evidence, days).set_index(days)["verdict"]
        assert judged["2024-02-27"] == "grace"  # a week after 122: within the 14-day grace
        assert judged["2024-03-05"] == "grace"  # day 14
        assert judged["2024-03-06"] == "outdated"  # day 15
        assert "unsupported" not in set(judged)


def test_no_old_major_of_a_rolling_product_is_unsupported(shipped_catalog, rules):
    """The class, not the example: every listed release of every rolling product, judged
    after each of its successors shipped, is never called unsupported."""
    listed = shipped_catalog[shipped_catalog["product"].astype("str").isin(policy.ROLLING)]
    parts = listed[["product", "version"]].astype("str").assign(evidence="exact")
    days = pd.Series(pd.date_range("2019-01-01", "2026-09-01", periods=30)).rename("as_of")
    judged = policy.judge(parts.merge(days, how="cross"), shipped_catalog, rules)
    assert judged["verdict"].isin(["outdated"]).any() and not judged["verdict"].eq("unsupported").any()


def test_an_os_line_past_its_end_is_unsupported(shipped_catalog, rules, catalog):
    mac = _on(shipped_catalog, rules, "macos", "12.7.6", "exact", ["2024-09-15", "2024-09-16"])
    assert mac["verdict"].tolist() == ["current", "unsupported"]
    assert mac["reason"].iloc[1] == "macos 12 out of support since 2024-09-16"
    # Apple still ships 15.8.x, so the shipped catalog records no end for iOS 15; where a
    # catalog states one (the test catalog does), the day of it on iOS 15 is unsupported.
    ios = _on(catalog, rules, "ios", "15.8.1", "exact", ["2024-09-16", "2025-06-01"])
    assert ios["verdict"].tolist() == ["unsupported", "unsupported"]
    assert ios["reason"].iloc[0] == "ios 15 out of support since 2024-09-16"


@pytest.mark.parametrize(("product", "version", "day", "reason"), [
    # Edge/18.19042 is the token of EdgeHTML 18 on Windows 10 20H2 (the issue's example)
    ("edge-legacy", "18.19042", "2021-03-09", "edge-legacy 18 out of support since 2021-03-09"),
    ("edge-legacy", "18.19043", "2022-01-10", "edge-legacy 18 out of support since 2021-03-09"),
    ("edge-legacy", "17.17134", "2024-05-01", "edge-legacy 17 out of support since 2021-03-09"),
    ("internet-explorer", "11.0", "2022-06-15", "internet-explorer 11 out of support since 2022-06-15"),
    ("internet-explorer", "10.0", "2020-01-01", "internet-explorer 10 out of support since 2016-01-12"),
])
def test_ended_microsoft_browsers_are_unsupported_with_the_date(shipped_catalog, rules, product, version, day, reason):
    judged = _on(shipped_catalog, rules, product, version, "exact", [day]).iloc[0]
    assert (judged["verdict"], judged["reason"]) == ("unsupported", reason)
    # IE 10 in 2020 could still move to IE 11; once the product ended there is nothing to update to.
    assert judged["target"] == "11.0" if version == "10.0" else pd.isna(judged["target"])


def test_an_ended_product_never_makes_the_catalog_look_stale(shipped_catalog):
    parts = pd.DataFrame({"product": ["edge-legacy", "chrome"], "version": ["18.19043", "999"],
                          "evidence": ["exact", "major"]})
    assert policy.stale_versions(parts, shipped_catalog)["product"].tolist() == ["chrome"]


def test_legacy_edge_before_its_end_is_current(shipped_catalog, rules):
    judged = _on(shipped_catalog, rules, "edge-legacy", "18.19042", "exact", ["2021-03-08"]).iloc[0]
    assert judged["verdict"] == "current"


# Windows 11 24H2 cumulative updates: 26100.1742 (general availability, 2024-10-01),
# 26100.3775 (KB5055523, 2025-04-08), as Microsoft's Windows 11 release information lists.
MONTHLY = """product,version,released,line,eol,exploited,complete_until
windows,10.0.19045.4170,2024-03-12,10 22H2,2025-10-14,,2025-12-31
windows,10.0.26100.1742,2024-10-01,11 24H2,,,2025-12-31
windows,10.0.26100.3775,2025-04-08,11 24H2,,,2025-12-31
"""


def test_a_bare_windows_build_is_judged_within_its_line_never_outdated(tmp_path, rules):
    (tmp_path / "monthly.csv").write_text(MONTHLY)
    monthly = releases.load(extra=tmp_path / "monthly.csv", updates=False, files=[])
    bare = _on(monthly, rules, "windows", "10.0.26100", "exact", ["2024-11-01", "2025-06-01"])
    assert bare["verdict"].tolist() == ["unknown", "unknown"]
    assert bare["reason"].iloc[1] == "only windows 10.0.26100 is known, not the update it runs"
    ended = _on(monthly, rules, "windows", "10.0.19045", "exact", ["2025-10-14"]).iloc[0]
    assert (ended["verdict"], ended["reason"]) == ("unsupported", "windows 10 22H2 out of support since 2025-10-14")
    # The same build with its revision is judged on it.
    stated = _on(monthly, rules, "windows", "10.0.26100.1742", "exact", ["2025-06-01"]).iloc[0]
    assert (stated["verdict"], stated["target"]) == ("outdated", "10.0.26100.3775")


def test_a_bare_build_against_a_build_level_catalog_is_judged_as_before(shipped_catalog, rules):
    # windows.csv lists feature updates only: there the bare build is all the catalog tells apart.
    judged = _on(shipped_catalog, rules, "windows", "10.0.26100", "exact", ["2025-06-01"]).iloc[0]
    assert judged["verdict"] == "current"


@pytest.mark.parametrize(("product", "version", "evidence", "depth"), [
    ("firefox", "124.0", "exact", 1), ("firefox-esr", "115.0", "exact", 1), ("chrome", "124.0.0.0", "exact", 1),
    ("edge", "124.0.0.0", "exact", 1), ("firefox", "124.0.1", "exact", 0), ("chrome", "124.0.6367.60", "exact", 0),
    ("ios", "17.0", "exact", 0), ("windows", "10.0.26100", "exact", 3), ("windows", "10.0.26100.2314", "exact", 0),
    ("android", "14", "exact", 0), ("safari", "17", "major", 1), ("firefox", "124.0", "lower-bound", 0),
])
def test_shown_depth(product, version, evidence, depth):
    parts = pd.DataFrame({"product": [product], "version": [version], "evidence": [evidence]})
    assert policy.shown_depth(parts).tolist() == [depth]


def test_a_windows_line_past_its_home_and_pro_end_is_unknown_while_enterprise_is_serviced(shipped_catalog, rules):
    # Microsoft's release information: Windows 11 23H2 ended for Home and Pro on 2025-11-11,
    # for Enterprise and Education on 2026-11-10; 22H2 on 2024-10-08 and 2025-10-14. No agent
    # shows the edition, and most company PCs run Enterprise or Education.
    judged = _on(shipped_catalog, rules, "windows", ["10.0.22631.6199"] * 3 + ["10.0.22621.4317"] * 2, "exact",
                 ["2025-11-10", "2025-12-01", "2026-11-10", "2025-06-01", "2025-10-14"])
    assert judged["verdict"].tolist()[1:] == ["unknown", "unsupported", "unknown", "unsupported"]
    assert judged["reason"].iloc[1] == ("windows 11 23H2 ended for Home and Pro on 2025-11-11; Enterprise and "
                                        "Education were still updated then: the evidence does not show the edition")
    # Unsupported for every edition only from the Enterprise end, the day the reason names.
    assert judged["reason"].iloc[2] == "windows 11 23H2 out of support since 2026-11-10"
