"""fleet.timeline: each device's answer changes at its sightings and at catalog events, and
the timeline equals one snapshot per date, row for row, whichever of them moved."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fleetanalysis import catalog as releases
from fleetanalysis import clients, fleet, judging, policy, sources, store

COLUMNS = ["user_id", "user", "platform", "device_class", "os_version", "os_evidence", "client_kind",
           "client_family", "client_product", "client_version", "first_seen", "last_seen", "ip"]

# Release dates from the shipped catalog (data/catalog/ios.csv, chrome.csv, from Apple's
# security releases page and Chrome's stable channel): iOS 17.5 on 2024-05-13 and 17.5.1
# on 2024-05-20; Chrome 125 on 2024-05-14. Slack access logs give one row per user agent
# and address with its first and last sighting, weeks apart.
ROWS = [
    # One row from April to June: no new sighting while 17.5 comes out, falls due and is
    # followed by 17.5.1; quiet from 10 June, so judged as of then until it leaves the window.
    ("U1", "ann@example.org", "iOS", "phone", "17.4.1", "exact", "app", "Slack", "slack-ios", "24.04.10",
     "2024-04-02 08:00", "2024-06-10 18:00", "198.51.100.7"),
    # A laptop with two clients (Chrome and the Slack app) and a frozen OS: its verdict moves
    # with Chrome's releases alone, and names the OS it could not judge.
    ("U2", "bob@example.org", "Windows", "desktop", "10.0", "frozen", "browser", "Chrome", "chrome",
     "124.0.6367.91", "2024-05-01 08:00", "2024-06-25 09:00", "10.1.2.3"),
    ("U2", "bob@example.org", "Windows", "desktop", "10.0", "frozen", "app", "Slack", "slack-desktop",
     "4.38.121", "2024-05-02 08:00", "2024-06-20 09:00", "10.1.2.3"),
    # Updates in the middle: a new sighting changes the answer too.
    ("U3", "cat@example.org", "iOS", "phone", "17.4.1", "exact", "app", "Slack", "slack-ios", "24.04.10",
     "2024-04-20 08:00", "2024-05-24 18:00", "10.9.0.1"),
    ("U3", "cat@example.org", "iOS", "phone", "17.5.1", "exact", "app", "Slack", "slack-ios", "24.05.10",
     "2024-05-25 08:00", "2024-07-01 18:00", "10.9.0.2"),
]


def _facts(rows, text_type="str"):
    facts = pd.DataFrame(rows, columns=COLUMNS)
    for column in COLUMNS[:10] + ["ip"]:
        facts[column] = facts[column].astype(text_type)
    for column in ("first_seen", "last_seen"):
        facts[column] = pd.to_datetime(facts[column], utc=True).astype("datetime64[us, UTC]")
    return facts


@pytest.fixture(scope="module")
def shipped():
    return releases.load(updates=False)


def _stacked_snapshots(seen, catalog, rules, dates, window_days):
    stacked = pd.concat([fleet.snapshot(seen, catalog, rules, day, window_days=window_days).assign(as_of=day)
                         for day in dates], ignore_index=True)
    stacked["as_of"] = stacked["as_of"].astype("datetime64[us]")
    return stacked[["as_of", *fleet.DEVICE_COLUMNS]]


def _as_text(timeline):
    text = [column for column in timeline.columns if isinstance(timeline[column].dtype, pd.CategoricalDtype)]
    return timeline.astype(dict.fromkeys(text, "str"))


@pytest.mark.parametrize("window_days", [30, 7])
def test_daily_timeline_across_releases_and_grace_equals_the_snapshots(shipped, window_days):
    rules = policy.load()
    seen = fleet.sightings(_facts(ROWS))
    dates = pd.date_range("2024-05-08", "2024-07-20", freq="D")
    days = fleet.timeline(seen, shipped, rules, dates[0], dates[-1], freq="D", window_days=window_days)
    pd.testing.assert_frame_equal(_as_text(days), _stacked_snapshots(seen, shipped, rules, dates, window_days))


def test_verdict_moves_with_a_release_and_its_grace_without_a_new_sighting(shipped):
    seen = fleet.sightings(_facts(ROWS))
    days = fleet.timeline(seen, shipped, policy.load(), "2024-05-08", "2024-07-20", freq="D", window_days=30)
    ann = days[days["device_id"] == "U1|iOS|phone"].set_index("as_of")
    verdict = ann["verdict"].astype("str")
    # 17.5 came out on 13 May: current the day before, grace from then, outdated once due.
    assert verdict["2024-05-12"] == "current" and verdict["2024-05-13"] == "grace"
    assert verdict["2024-06-05"] == "outdated"
    assert set(ann["os_version"].astype("str")) == {"17.4.1"}
    # Quiet from 10 June: judged as of that day, and gone once the window has passed.
    assert ann.loc["2024-07-05", "reason"] == ann.loc["2024-06-10", "reason"]
    assert ann.index.max() == pd.Timestamp("2024-07-10")
    bob = days[days["device_id"] == "U2|Windows|desktop"].set_index("as_of")
    assert {"current", "grace", "outdated"} <= set(bob["verdict"].astype("str"))
    assert bob["clients"].astype("str").str.contains("; ").all()


def test_devices_on_the_same_versions_are_judged_once_per_cell_not_per_week(shipped, monkeypatch):
    """A (device, date) is judged as its cell (its parts and their products' epochs): forty
    phones on one iOS and Slack, seen all year, build no more parts than one phone does."""
    built = []
    fold = judging._fold

    def counting(parts, *rest):
        built.append(len(parts[0].device))
        return fold(parts, *rest)

    monkeypatch.setattr(judging, "_fold", counting)
    phone = ROWS[0][2:10] + ("2024-01-02 08:00", "2024-12-30 18:00", "198.51.100.7")
    many = [(f"U{number}", f"p{number}@example.org", *phone) for number in range(40)]
    weeks = [fleet.timeline(fleet.sightings(_facts(rows)), shipped, policy.load(), "2024-01-01", "2024-12-31")
             for rows in (many[:1], many)]
    assert len(weeks[1]) == 40 * len(weeks[0]) > 40 * 50
    assert built[1] == built[0] < len(weeks[0])
    # Same answers on every phone, date by date.
    answers = weeks[1].drop(columns=["device_id", "user_id", "user"]).astype("str").drop_duplicates()
    assert len(answers) == len(weeks[0])


def test_timeline_of_text_sightings_equals_that_of_categoricals(shipped):
    rules = policy.load()
    categorical = fleet.sightings(_facts(ROWS))
    text = categorical.astype({column: "str" for column in categorical.columns
                               if isinstance(categorical[column].dtype, pd.CategoricalDtype)})
    weeks = [fleet.timeline(seen, shipped, rules, "2024-04-01", "2024-08-01", window_days=30)
             for seen in (categorical, text)]
    pd.testing.assert_frame_equal(*weeks)


def test_judging_batches_do_not_change_the_timeline(shipped, monkeypatch):
    rules = policy.load()
    seen = fleet.sightings(_facts(ROWS))
    whole = fleet.timeline(seen, shipped, rules, "2024-04-01", "2024-08-01", freq="3D", window_days=30)
    monkeypatch.setattr(judging, "JUDGE_BATCH", 3)
    pd.testing.assert_frame_equal(
        whole, fleet.timeline(seen, shipped, rules, "2024-04-01", "2024-08-01", freq="3D", window_days=30))


def _sampled_dates(seed, start, end, count):
    """``count`` of the weekly dates between ``start`` and ``end``, drawn with ``seed``."""
    weeks = pd.date_range(start, end, freq="W-SUN")
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(weeks, size=min(count, len(weeks)), replace=False))


def _timeline_equals_snapshots(seen, catalog, rules, start, end, seed, window_days=30):
    """The weekly timeline's rows at dates drawn with ``seed`` equal the snapshot of each."""
    weeks = _as_text(fleet.timeline(seen, catalog, rules, start, end, window_days=window_days))
    for day in _sampled_dates(seed, start, end, 6):
        day = pd.Timestamp(day)
        at_day = weeks[weeks["as_of"] == day].drop(columns="as_of").reset_index(drop=True)
        expected = fleet.snapshot(seen, catalog, rules, day, window_days=window_days)
        pd.testing.assert_frame_equal(at_day, expected, obj=f"devices on {day:%Y-%m-%d}")


def _subsample(facts, seed):
    """About half of the rows, drawn with ``seed``: each draw moves which rows speak for a device when."""
    return facts.sample(frac=0.5, random_state=seed).reset_index(drop=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_timeline_equals_snapshots_on_the_demo_store(demo_store, shipped, seed):
    facts = clients.facts(store.read(demo_store["store"]))
    seen = fleet.sightings(_subsample(facts, seed))
    newest = seen["last_day"].max()
    window_days = int(np.random.default_rng(seed).choice([7, 30]))
    _timeline_equals_snapshots(seen, shipped, policy.load(), newest - pd.Timedelta(weeks=10), newest, seed,
                               window_days)


@pytest.fixture(scope="module")
def generated_facts(tmp_path_factory):
    """A small sample of the benchmark's log: its realistic agents (browsers, Slack apps, SDKs
    of 2019-2026, ``benchmarks/clients_speed.agents``), one row per sign-in event over a year."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import generate

    folder = tmp_path_factory.mktemp("generated")
    written = generate.write(folder, rows=6000, distinct_agents=400, users=150, seed=11)
    return clients.facts(sources.load([written["events"]]).access)


@pytest.mark.parametrize("seed", [1, 2])
def test_timeline_equals_snapshots_on_a_generated_log(generated_facts, shipped, seed):
    seen = fleet.sightings(_subsample(generated_facts, seed))
    newest = seen["last_day"].max()
    _timeline_equals_snapshots(seen, shipped, policy.load(), newest - pd.Timedelta(weeks=52), newest, seed)


def test_clear_caches_lets_each_benchmark_side_pay_its_own_version_parsing():
    # benchmarks/run.py empties the parsed version keys before the snapshot and the timeline,
    # so the one measured second does not read what the first one parsed.
    releases.version_key(pd.Series(["124.0.6367.60", "17.4"]))
    assert releases._one_key.cache_info().currsize > 0
    releases.clear_caches()
    assert releases._one_key.cache_info().currsize == 0


@pytest.mark.parametrize("n_keys", [5, 300, 70_000])
def test_dense_codes_equal_a_sorted_factorize_whatever_the_lookup_width(n_keys):
    # dense writes codes in the narrowest integer that holds them (int8 / int16 / int32 here):
    # the answer is still int64 and equals pd.factorize(sort=True).
    from fleetanalysis.codes import dense
    key = np.random.default_rng(n_keys).integers(0, 2 * n_keys, 3 * n_keys)
    code, keys = dense(key, 2 * n_keys)
    expected_code, expected_keys = pd.factorize(key, sort=True)
    assert code.dtype == np.int64
    np.testing.assert_array_equal(code, expected_code)
    np.testing.assert_array_equal(keys, expected_keys)
