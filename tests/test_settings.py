"""fleetanalysis.toml and policy.toml are checked at the edge: a wrong type, an unknown key or
an impossible value is one line naming the file, the key and the problem (with the nearest
valid key for a typo), exit 2; and the project root never depends on where the package is
installed."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from fleetanalysis import cli, config, policy, validation
from fleetanalysis.catalog import _EXAMPLE, load_releases_csv
from fleetanalysis.sources.schema import conform
from fleetanalysis.writing import write_parquet

# A Slack iOS client's agent as Slack's access logs show it (slack-ios 24.03, iOS 17.4.1).
PHONE = "com.tinyspeck.chatlyio/24.03.10 (iPhone; iOS 17.4.1; Scale/3.00)"


@pytest.fixture
def fleet(tmp_path, no_settings):
    """A one-device store and a directory; no settings file."""
    access = pd.DataFrame([("U1", "ann@example.org", "2024-04-01", "2024-06-20", "198.51.100.7", PHONE)],
                          columns=["user_id", "user", "first_seen", "last_seen", "ip", "user_agent"])
    access = access.assign(source="slack_access", count=3)
    for column in ("first_seen", "last_seen"):
        access[column] = pd.to_datetime(access[column], utc=True)
    store = write_parquet(conform(access), tmp_path / "access.parquet")
    directory = tmp_path / "people.csv"
    directory.write_text("user_id,email,office,department\nU1,ann@example.org,Oslo,Sales\n")
    return {"root": tmp_path, "options": ["--store", str(store), "--directory", str(directory)]}


def one_line_error(capsys) -> str:
    error = capsys.readouterr().err
    assert "Traceback" not in error
    lines = error.strip().splitlines()
    assert len(lines) == 1, error
    return lines[0]


SETTINGS = [
    # (file content, key named, problem)
    ("[data]\nlogs = 5\n", "data.logs", "must be a list, not 5"),
    ('data = "x"\n', "data", "must be a TOML table, not 'x'"),
    ("[data]\nlogs = [5]\n", "data.logs[0]", "must be a string, not 5"),
    ('[data]\nlog = "data/raw"\n', "data.log", "unknown key (did you mean 'logs'?)"),
    ('[data]\ndirectroy = "people.csv"\n', "data.directroy", "did you mean 'directory'?"),
    ('[date]\nlogs = "data/raw"\n', "date", "unknown section (did you mean 'data'?)"),
    ("[data]\nstore = true\n", "data.store", "must be a string, not True"),
    ('[data]\ndirectory = ""\n', "data.directory", "must not be empty"),
    ('[data]\nstore = "a\\u0000b.parquet"\n', "data.store", "NUL"),
    ("[data\nlogs = 1\n", "", "not a valid settings file (TOML: "),
    # An outside trial: "logs = []" ran on the demo organisation without a word.
    ("[data]\nlogs = []\n", "data.logs", "an empty list names no log"),
    ('[data]\ndirectory = "/dev/null"\n', "data.directory", "'/dev/null': not a regular file"),
]


@pytest.mark.parametrize(("text", "key", "problem"), SETTINGS, ids=[case[1] or "toml" for case in SETTINGS])
def test_a_bad_settings_file_is_one_line_naming_file_and_key(fleet, capsys, monkeypatch, text, key, problem):
    settings = fleet["root"] / "fleetanalysis.toml"
    settings.write_text(text)
    monkeypatch.setenv("FLEETANALYSIS_CONFIG", str(settings))
    assert cli.main(["status", *fleet["options"]]) == 2
    line = one_line_error(capsys)
    assert line.startswith(f"fleetanalysis: {settings}: {key + ': ' if key else ''}"), line
    assert problem in line


@pytest.mark.parametrize("command", [["ingest"], ["status"], ["devices"], ["catalog", "show"], ["nudges"]])
def test_every_command_reading_settings_refuses_a_bad_file(tmp_path, capsys, monkeypatch, command):
    settings = tmp_path / "fleetanalysis.toml"
    settings.write_text("[data]\nlogs = 5\n")
    monkeypatch.setenv("FLEETANALYSIS_CONFIG", str(settings))
    assert cli.main(command) == 2
    assert "data.logs: must be a list" in one_line_error(capsys)


def test_a_settings_file_that_is_not_utf8_names_the_line(fleet, capsys, monkeypatch):
    settings = fleet["root"] / "fleetanalysis.toml"
    settings.write_bytes(b'[data]\n# Z\xfcrich office\ndirectory = "people.csv"\n')  # Latin-1, not UTF-8
    monkeypatch.setenv("FLEETANALYSIS_CONFIG", str(settings))
    assert cli.main(["status", *fleet["options"]]) == 2
    assert one_line_error(capsys) == (f"fleetanalysis: {settings}: line 2: not UTF-8 (byte 0xfc); "
                                      f"save the settings file as UTF-8")


def test_a_settings_path_that_is_a_folder_is_one_line(fleet, capsys, monkeypatch):
    folder = fleet["root"] / "fleetanalysis.toml"
    folder.mkdir()
    monkeypatch.setenv("FLEETANALYSIS_CONFIG", str(folder))
    assert cli.main(["status", *fleet["options"]]) == 2
    assert one_line_error(capsys) == f"fleetanalysis: {folder}: is a folder, not a settings file"


def test_a_good_settings_file_is_resolved_from_its_folder(tmp_path):
    settings = tmp_path / "conf" / "fleetanalysis.toml"
    settings.parent.mkdir()
    # A single path for logs is a list of one; every relative path is from the file's folder.
    settings.write_text('[data]\nlogs = "raw/slack"\ndirectory = "people.csv"\nstore = "out/access.parquet"\n')
    (settings.parent / "people.csv").write_text("user_id,email,office,department\n")
    loaded = config.load_settings(settings)
    assert loaded.logs == [settings.parent / "raw" / "slack"]
    assert loaded.directory == settings.parent / "people.csv"
    assert loaded.store == settings.parent / "out" / "access.parquet"
    assert loaded.policy is None and loaded.configured


POLICIES = [
    ('products = "x"\n', "products", "must be a TOML table, not 'x'"),
    ('defaults = "x"\n', "defaults", "must be a TOML table, not 'x'"),
    ('[products]\nios = "x"\n', "products.ios", "must be a TOML table, not 'x'"),
    ("[defaults]\ngrace_days = 1000000000000\n", "defaults.grace_days", "must be at most 36500 days"),
    ("[products.chrome]\nexploited_grace_days = 36501\n", "products.chrome.exploited_grace_days",
     "must be at most 36500 days"),
    ("[products.ios]\ngrace_days = true\n", "products.ios.grace_days", "must be a whole number of days, not True"),
    ('[products.ios]\ngrace_days = "14"\n', "products.ios.grace_days", "must be a whole number of days, not '14'"),
    ('[products.chrom]\nrule = "latest"\n', "products.chrom", "unknown product (did you mean 'chrome'?)"),
    ("[products.ios]\ngrace_day = 3\n", "products.ios.grace_day", "unknown key (did you mean 'grace_days'?)"),
    ("[default]\ngrace_days = 3\n", "default", "unknown section (did you mean 'defaults'?)"),
    ("[products.ios]\nminimum = 17\n", "products.ios.minimum", "must be a string, not 17"),
    # An outside trial: a minimum under the shipped rule "latest" was ignored without a word.
    ('[products.chrome]\nminimum = "120"\n', "products.chrome.minimum",
     'only rule = "minimum" reads a minimum; the rule is "latest"'),
]


@pytest.mark.parametrize(("text", "key", "problem"), POLICIES, ids=[case[1] for case in POLICIES])
def test_a_bad_policy_file_is_one_line_naming_file_and_key(fleet, capsys, text, key, problem):
    mine = fleet["root"] / "policy.toml"
    mine.write_text(text)
    assert cli.main(["status", *fleet["options"], "--policy", str(mine)]) == 2
    line = one_line_error(capsys)
    assert line.startswith(f"fleetanalysis: {mine}: {key}: "), line
    assert problem in line


def test_a_bad_policy_named_by_the_settings_file_is_refused_too(fleet, capsys, monkeypatch):
    (fleet["root"] / "mine.toml").write_text("[defaults]\ngrace_days = 1000000000000\n")
    settings = fleet["root"] / "fleetanalysis.toml"
    settings.write_text('[data]\npolicy = "mine.toml"\n')
    monkeypatch.setenv("FLEETANALYSIS_CONFIG", str(settings))
    assert cli.main(["status", *fleet["options"]]) == 2
    assert "mine.toml: defaults.grace_days: must be at most 36500 days" in one_line_error(capsys)


def test_the_longest_grace_allowed_still_judges(tmp_path):
    """36500 days is the limit because the day arithmetic must not overflow at it."""
    mine = tmp_path / "policy.toml"
    mine.write_text("[defaults]\ngrace_days = 36500\nexploited_grace_days = 36500\n")
    loaded = policy.load(mine)
    assert loaded.products["ios"].grace_days == 36500 and loaded.products["firefox-esr"].rule == "latest-in-line"
    catalog = load_releases_csv(_EXAMPLE, name="ios.csv")
    parts = pd.DataFrame({"product": ["ios"], "version": ["17.3.1"], "evidence": ["exact"],
                          "as_of": pd.to_datetime(["2024-04-10"])})
    assert policy.judge(parts, catalog, loaded)["verdict"].tolist() == ["grace"]


def test_a_policy_file_keeps_its_public_shape(tmp_path):
    mine = tmp_path / "policy.toml"
    mine.write_text('[products.firefox-esr]\nrule = "latest"\ngrace_days = 3\n')
    loaded = policy.load(mine)
    assert loaded.products["firefox-esr"] == policy.ProductPolicy(rule="latest", grace_days=3,
                                                                  exploited_grace_days=7)
    assert loaded.products["ios"] == policy.load().products["ios"]
    assert loaded.source.endswith(str(mine))


def project_root(cwd, **environment) -> str:
    env = {name: value for name, value in os.environ.items()
           if name not in ("FLEETANALYSIS_HOME", "FLEETANALYSIS_CONFIG")}
    done = subprocess.run([sys.executable, "-c", "from fleetanalysis import config; print(config.PROJECT_ROOT)"],
                          cwd=cwd, env={**env, **environment}, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_project_root_is_the_environment_then_the_settings_folder_then_the_working_directory(tmp_path):
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir(), elsewhere.mkdir()
    assert project_root(elsewhere) == str(elsewhere)
    assert project_root(elsewhere, FLEETANALYSIS_HOME=str(home)) == str(home)
    assert project_root(elsewhere, FLEETANALYSIS_CONFIG=str(home / "fleetanalysis.toml")) == str(home)
    # Never the folder the package was installed into (site-packages for a wheel install).
    assert project_root(elsewhere) != str(config.PACKAGE_DATA.parents[2])


def test_the_settings_and_the_options_bound_days_by_one_figure():
    # Written twice so config (the package's bottom) imports nothing above it; never apart.
    assert validation.MAX_DAYS == config.MAX_DAYS


def test_validation_stands_below_every_stage():
    # config imports validation to check a settings file, and every stage imports config:
    # validation importing a stage (catalog, policy) would close a loop through config.
    done = subprocess.run([sys.executable, "-c", "import sys, fleetanalysis.validation; "
                           "print(*sorted(name for name in sys.modules if name.startswith('fleetanalysis.')))"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["fleetanalysis.errors", "fleetanalysis.validation"]


def test_a_store_of_ones_own_never_takes_the_demo_organisations_people(fleet, capsys, monkeypatch):
    # A trial: `status --store mine.parquet` with no settings file used data/demo's directory
    # silently, so everyone was "Unknown office".
    demo = fleet["root"] / "demo"
    demo.mkdir()
    (demo / "directory.csv").write_text("user_id,email,office,department\nU9,bo@example.org,Lima,IT\n")
    (demo / "networks.csv").write_text("cidr,office\n198.51.100.0/24,Lima\n")
    monkeypatch.setattr(config, "DEMO_DIR", demo)
    store = fleet["options"][1]
    inputs = config.fleet_inputs(store)
    assert inputs.directory is None and inputs.networks is None
    assert cli.main(["status", "--store", store, "--by", "office", "--format", "csv"]) == 0
    assert "Lima" not in capsys.readouterr().out
    # The demo's own store keeps the demo's people.
    assert config.fleet_inputs().directory == demo / "directory.csv"
    assert config.fleet_inputs(config.DEMO_STORE if config.DEMO_STORE.exists() else None).networks == demo / "networks.csv"


def test_your_own_file_never_goes_into_the_demo_store(tmp_path):
    # With nothing configured, `ingest mine.csv` went into the demo organisation's store,
    # and the next plain `ingest` mixed the made-up people in with the real ones.
    (tmp_path / "mine.csv").write_text("user,time,user_agent\nann@example.com,2026-06-01T09:00:00Z,curl/8.4.0\n")
    env = {**{key: value for key, value in os.environ.items() if key != "FLEETANALYSIS_CONFIG"},
           "FLEETANALYSIS_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "fleetanalysis.cli", "ingest", "mine.csv"], env=env, cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    processed = tmp_path / "data" / "processed"
    assert (processed / "access.parquet").is_dir() and not (processed / "demo-access.parquet").exists()
    assert f"give them --store {processed / 'access.parquet'}" in done.stderr


def test_ingest_with_no_settings_file_says_where_to_configure_logs(tmp_path, capsys, monkeypatch):
    # A trial: "no logs configured in fleetanalysis.toml" when there was no such file.
    monkeypatch.delenv("FLEETANALYSIS_CONFIG")
    monkeypatch.setattr(config, "SETTINGS_FILE", tmp_path / "fleetanalysis.toml")
    assert cli.main(["ingest", "--store", str(tmp_path / "access.parquet")]) == 0
    said = capsys.readouterr().err.splitlines()[0]
    assert said.startswith(f"no logs configured: no {config.settings_path()} (create it with [data] logs = [...]")


def test_a_settings_file_naming_only_a_store_is_that_store_not_the_demo(fleet, tmp_path, capsys, monkeypatch):
    # A trial: `[data] store = "mystore.parquet"` (a store `fetch slack` fills) without `logs`
    # ran status and report on the demo organisation, and a store that is no store at all
    # went unnoticed.
    store = fleet["options"][1]
    settings = tmp_path / "own.toml"
    settings.write_text(f'[data]\nstore = "{store}"\n')
    monkeypatch.setenv("FLEETANALYSIS_CONFIG", str(settings))
    assert config.active_settings().store == config.Path(store) and not config.active_settings().demo
    assert cli.main(["ingest"]) == 0
    assert "nothing to ingest" in capsys.readouterr().err
    assert cli.main(["status", "--format", "csv"]) == 0
    mine = capsys.readouterr()
    assert cli.main(["status", "--store", store, "--format", "csv"]) == 0
    assert capsys.readouterr().out == mine.out and "demo" not in mine.err
    settings.write_text('[data]\nstore = "/etc/passwd"\n')
    for command in (["status"], ["ingest"]):
        assert cli.main(command) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
    settings.write_text(f'[data]\nstore = "{tmp_path / "not-yet.parquet"}"\n')
    assert cli.main(["ingest"]) == 2
    assert "no store here yet" in capsys.readouterr().err


def test_report_refuses_a_store_that_is_no_store_before_running_the_notebook(tmp_path, capsys, monkeypatch, no_settings):
    settings = tmp_path / "own.toml"
    settings.write_text('[data]\nstore = "/etc/passwd"\n')
    monkeypatch.setenv("FLEETANALYSIS_CONFIG", str(settings))
    assert cli.main(["report", "--out", str(tmp_path / "reports")]) == 2
    assert "not a readable access store" in capsys.readouterr().err
    assert not (tmp_path / "reports" / "failed").exists()
