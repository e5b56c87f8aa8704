"""The `status` and `devices` commands, run on a small Parquet store built here."""

import json
from pathlib import Path

import pandas as pd
import pytest

from fleetanalysis import cli
from fleetanalysis.cli.arguments import FLEET_OPTIONS
from fleetanalysis.errors import BadInput
from fleetanalysis.sources.schema import conform
from fleetanalysis.writing import write_parquet

PHONE_OLD = "com.tinyspeck.chatlyio/24.03.10 (iPhone; iOS 17.4.1; Scale/3.00)"
PHONE_NEW = "com.tinyspeck.chatlyio/24.05.10 (iPhone; iOS 17.5; Scale/3.00)"
MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
       "(KHTML, like Gecko) Version/17.4.1 Safari/605.1.15")


@pytest.fixture
def paths(tmp_path, no_settings):
    rows = [
        ("U1", "ann@example.org", "2024-04-01", "2024-05-20", "198.51.100.7", PHONE_OLD),
        ("U1", "ann@example.org", "2024-05-21", "2024-06-28", "198.51.100.8", PHONE_NEW),
        ("U1", "ann@example.org", "2024-04-01", "2024-06-29", "198.51.100.7", MAC),
        ("U2", "=HYPERLINK(\"http://x\")", "2024-06-01", "2024-06-20", "10.1.2.3", PHONE_OLD),
    ]
    access = pd.DataFrame(rows, columns=["user_id", "user", "first_seen", "last_seen", "ip", "user_agent"])
    access["source"] = "slack_access"
    access["count"] = 3
    for column in ("first_seen", "last_seen"):
        access[column] = pd.to_datetime(access[column], utc=True)
    store = write_parquet(conform(access), tmp_path / "access.parquet")
    directory = tmp_path / "people.csv"
    directory.write_text("user_id,email,office,department\nU1,ann@example.org,Oslo,Sales\n")
    networks = tmp_path / "networks.csv"
    networks.write_text("cidr,office\n10.0.0.0/8,Bergen\n")
    return {"store": str(store), "directory": str(directory), "networks": str(networks)}


def _options(paths):
    return ["--store", paths["store"], "--directory", paths["directory"], "--networks", paths["networks"]]


def test_status_json_by_office(paths, capsys):
    assert cli.main(["status", *_options(paths), "--by", "office", "--format", "json"]) == 0
    out, err = capsys.readouterr()
    rows = {row["office"]: row for row in json.loads(out)}
    assert set(rows) == {"Oslo", "Bergen", "Total"}
    assert set(rows["Total"]) == {"office", "devices", "current", "grace", "outdated", "unsupported",
                                  "unknown", "outdated_rate"}
    assert rows["Oslo"]["devices"] == 2  # a phone (two log rows) and a laptop
    assert rows["Total"]["devices"] == 3
    assert "before 2024-06-29" in err  # the newest evidence, not today


def test_status_table_names_the_date(paths, capsys):
    assert cli.main(["status", *_options(paths), "--as-of", "2024-05-25", "--by", "platform,office"]) == 0
    out, _ = capsys.readouterr()
    assert out.splitlines()[0].startswith("devices seen in the 30 days before 2024-05-25: 2")
    assert "Total" in out


def test_devices_csv_is_formula_safe(paths, capsys):
    assert cli.main(["devices", *_options(paths)]) == 0
    out, _ = capsys.readouterr()
    table = pd.read_csv(pd.io.common.StringIO(out))
    assert len(table) == 3
    assert "'=HYPERLINK" in out and "\n=HYPERLINK" not in out
    assert table.loc[table["user_id"] == "U2", "office"].item() == "Bergen"


def test_bad_directory_exits_2(paths, tmp_path, capsys):
    broken = tmp_path / "broken.csv"
    broken.write_text("user_id,department\nU1,IT\n")
    options = ["--store", paths["store"], "--directory", str(broken)]
    assert cli.main(["devices", *options]) == 2
    assert "broken.csv: header: missing column 'office'" in capsys.readouterr().err


FLEET_COMMANDS = ["status", "devices", "nudges", "report"]


def _fleet_option_values(paths, tmp_path):
    catalog = tmp_path / "releases.csv"
    catalog.write_text("product,version,released\n")  # only its existence is checked here
    policy = tmp_path / "policy.toml"
    policy.write_text("")
    return {"store": (paths["store"], Path(paths["store"])),
            "as_of": ("2024-05-25", pd.Timestamp("2024-05-25")),
            "directory": (paths["directory"], Path(paths["directory"])),
            "networks": (paths["networks"], Path(paths["networks"])),
            "policy": (str(policy), policy),
            "catalog": (str(catalog), catalog),
            "window_days": ("45", 45)}


def test_the_fleet_options_are_the_ones_the_parameters_test_knows():
    assert set(FLEET_OPTIONS) == {"store", "as_of", "directory", "networks", "policy", "catalog", "window_days"}


@pytest.mark.parametrize("option", FLEET_OPTIONS)
@pytest.mark.parametrize("command", FLEET_COMMANDS)
def test_every_fleet_option_reaches_every_fleet_command(command, option, paths, tmp_path, monkeypatch):
    from fleetanalysis import analysis, reporting

    given, expected = _fleet_option_values(paths, tmp_path)[option]
    seen = {}

    def judged(inputs, **_):
        seen.update(vars(inputs))
        raise BadInput("stop here")

    def published(notebook, out, as_of, parameters, **_):
        seen.update(parameters, as_of=as_of)
        return tmp_path / "page.html"

    monkeypatch.setattr(analysis, "prepare", judged)
    monkeypatch.setattr(reporting, "run", published)
    argv = [command, "--store", paths["store"], f"--{option.replace('_', '-')}", given]
    if command == "report":
        argv += ["--out", str(tmp_path / "reports")]
    assert cli.main(argv) == (0 if command == "report" else 2)
    assert seen[option] == expected


def test_a_fresh_project_writes_the_demo_once_saying_so_and_places_its_people(tmp_path):
    # A fresh clone: no settings, no demo. The command writes the demo visibly, then judges it
    # with the demo's directory (written in the same run), so the offices are the directory's.
    import os
    import subprocess
    import sys

    env = {**os.environ, "FLEETANALYSIS_HOME": str(tmp_path), "FLEETANALYSIS_CONFIG": str(tmp_path / "none.toml")}
    argv = [sys.executable, "-m", "fleetanalysis.cli", "status", "--by", "office", "--format", "json"]
    first = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert first.stderr.count("no logs configured: writing demo data") == 1
    offices = {row["office"] for row in json.loads(first.stdout)} - {"Total", "Unknown office"}
    assert offices and offices <= set(pd.read_csv(tmp_path / "data" / "demo" / "directory.csv")["office"])
    again = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert "writing demo data" not in again.stderr and json.loads(again.stdout) == json.loads(first.stdout)
