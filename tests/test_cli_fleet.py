"""The `status` and `devices` commands, run on a small Parquet store built here."""

import json
import re
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

    env = {**{key: value for key, value in os.environ.items() if key != "FLEETANALYSIS_CONFIG"},
           "FLEETANALYSIS_HOME": str(tmp_path)}
    argv = [sys.executable, "-m", "fleetanalysis.cli", "status", "--by", "office", "--format", "json"]
    first = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert first.stderr.count("no logs configured: writing demo data") == 1
    # The demo's Slack app versions are synthetic by design: one note, not a stale-catalog warning.
    assert "stale" not in first.stderr and first.stderr.count("note: the demo's Slack mobile app versions") == 1
    offices = {row["office"] for row in json.loads(first.stdout)} - {"Total", "Unknown office"}
    assert offices and offices <= set(pd.read_csv(tmp_path / "data" / "demo" / "directory.csv")["office"])
    again = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert "writing demo data" not in again.stderr and json.loads(again.stdout) == json.loads(first.stdout)


def test_status_by_help_says_which_groups_and_how_to_join_them(capsys):
    # A first-use trial read "{platform,office,department,platform,office}" as five choices.
    assert cli.main(["status", "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "--by GROUP[,GROUP]" in shown and "{platform,office" not in shown
    assert "group devices by platform, office or department (default: platform); join several with commas" in shown


@pytest.mark.parametrize("by", ["office", "platform,office", "office,platform", "office,department"])
def test_status_by_takes_groups_joined_by_commas(by, paths, capsys):
    assert cli.main(["status", *_options(paths), "--by", by, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert list(rows[0])[:len(by.split(","))] == by.split(",")
    assert rows[-1]["devices"] == sum(row["devices"] for row in rows[:-1])


@pytest.mark.parametrize("by", ["platform+office", "office,office", "os", ""])
def test_status_by_refuses_what_is_not_a_group_in_one_line(by, paths, capsys):
    assert cli.main(["status", *_options(paths), "--by", by]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "use platform, office or department" in error


class _Run:
    """What catalog_notes reads of an analysis run: stale_warnings() and the catalog."""

    def __init__(self, products, catalog):
        self.catalog = catalog
        self._products = products

    def stale_warnings(self):
        return [f"the release catalog is stale for {product}: 2 version(s) in the logs are newer" for product in
                self._products]


def test_the_demos_synthetic_slack_versions_are_one_note_not_stale_warnings(shipped_catalog):
    from fleetanalysis.cli.fleet import catalog_notes

    run = _Run(["chrome", "slack-android", "slack-ios"], shipped_catalog)
    lines = catalog_notes(run, demo=True)
    assert lines[0].startswith("warning: the release catalog is stale for chrome: ")
    assert len(lines) == 2 and lines[1].startswith("note: the demo's Slack mobile app versions are synthetic")
    assert "slack-android until 20" in lines[1] and "slack-ios until 20" in lines[1]
    assert "catalog coverage" in lines[1] and "stale" not in lines[1]
    # Real logs newer than the catalog: the catalog is behind, a warning per product.
    assert catalog_notes(run, demo=False) == [f"warning: {line}" for line in run.stale_warnings()]


def test_nudge_outcomes_name_a_missing_office_as_every_other_table_does():
    from fleetanalysis import outcomes
    from fleetanalysis.org import UNKNOWN_OFFICE

    followed = pd.DataFrame({"group": ["nudged", "nudged"], "wave": ["2026-W10"] * 2, "office": ["Oslo", pd.NA],
                             "nth": ["1st", "1st"], "updated_after_days": pd.array([2, pd.NA], "Int64"),
                             "followup_days": [20, 20]})
    offices = outcomes.breakdown(followed).query("breakdown == 'office'")["value"].tolist()
    assert offices == [UNKNOWN_OFFICE, "Oslo"] or offices == ["Oslo", UNKNOWN_OFFICE]


def test_catalog_show_says_what_it_does_not_cover_in_one_line(tmp_path, monkeypatch, no_settings, capsys):
    from fleetanalysis import catalog

    monkeypatch.setattr(catalog, "UPDATES_FILE", tmp_path / "catalog-updates.csv")
    assert cli.main(["catalog", "show", "--as-of", "2030-01-01", "--format", "csv"]) == 0
    captured = capsys.readouterr()
    products = len(catalog.coverage(catalog.load()))
    assert captured.err.count("\n") == 1
    assert f"the catalog's lists of {products} products end before 2030-01-01 (the oldest: " in captured.err
    assert "'fleetanalysis catalog coverage' lists each" in captured.err
    assert captured.out.startswith("product,line,latest,released,supported,offered\n")


def test_the_nudge_plan_table_shows_each_rows_step(demo_store, tmp_path, capsys):
    # README: "The plan shows each row's step"; the table style left it out (JSON and CSV had it).
    options = ["nudges", "--store", str(demo_store["store"]), "--directory", str(demo_store["directory"]),
               "--networks", str(demo_store["networks"]), "--state", str(tmp_path / "nudges.sqlite")]
    assert cli.main([*options, "--format", "json"]) == 0
    steps = {row["step"] for row in json.loads(capsys.readouterr().out)}
    assert steps and steps <= {"first", "reminder", "office"}
    assert cli.main(options) == 0
    table = capsys.readouterr().out.splitlines()
    header = next(line for line in table if "user_id" in line)
    assert "step" in header.split()
    assert any(step in line.split() for line in table for step in steps)


@pytest.mark.parametrize("as_of, note", [("2030-01-01", True), ("2024-07-05", True), ("2024-06-29", False),
                                         ("2024-05-25", False)])
def test_an_as_of_after_the_evidence_says_where_the_data_ends(as_of, note, paths, capsys):
    # A trial: `devices --as-of 2030-01-01` printed 0 devices, exit 0, and no hint why.
    assert cli.main(["devices", *_options(paths), "--as-of", as_of]) == 0
    lines = capsys.readouterr().err.splitlines()
    said = [line for line in lines if "ends on" in line]
    assert said == ([f"fleetanalysis: note: the evidence in {paths['store']} ends on 2024-06-29, before the "
                     f"as-of date {as_of}: only devices seen in the 30 days before it count"] if note else [])


def test_repeated_by_options_combine(paths, capsys):
    # A trial: `--by platform --by office` kept only the last.
    assert cli.main(["status", *_options(paths), "--by", "platform", "--by", "office", "--format", "json"]) == 0
    repeated = json.loads(capsys.readouterr().out)
    assert cli.main(["status", *_options(paths), "--by", "platform,office", "--format", "json"]) == 0
    assert repeated == json.loads(capsys.readouterr().out)
    assert {"platform", "office"} <= set(repeated[0])
    assert cli.main(["status", *_options(paths), "--by", "office", "--by", "office"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--by: a group given twice" in error


def test_a_scheduler_without_the_dask_engine_is_refused_before_any_work(paths, capsys, monkeypatch):
    from fleetanalysis import analysis

    monkeypatch.setattr(analysis, "prepare", lambda *a, **k: pytest.fail("the fleet was judged"))
    assert cli.main(["status", *_options(paths), "--scheduler", "tcp://10.0.0.5:8786"]) == 2
    error = capsys.readouterr().err
    assert error == ("fleetanalysis: --scheduler: tcp://10.0.0.5:8786: a Dask scheduler is only used "
                     "with --engine dask\n")


@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_an_unusable_opt_out_list_is_one_line_before_the_fleet_is_judged(kind, paths, tmp_path, capsys, monkeypatch):
    # A trial: `nudges --opt-out /tmp/nope.txt` judged the whole fleet, then said FileNotFoundError.
    from fleetanalysis import analysis

    monkeypatch.setattr(analysis, "prepare", lambda *a, **k: pytest.fail("the fleet was judged"))
    opt_out = tmp_path / "opt-out.txt"
    if kind == "folder":
        opt_out.mkdir()
    assert cli.main(["nudges", *_options(paths), "--state", str(tmp_path / "n.sqlite"), "--opt-out", str(opt_out)]) == 2
    problem = "no such opt-out file" if kind == "missing" else "not a file"
    assert capsys.readouterr().err == f"fleetanalysis: {opt_out}: {problem}\n"


def test_the_status_table_names_its_total_row_once(paths, capsys):
    # A trial: `status --by platform,office` showed a "Total Total" row.
    assert cli.main(["status", *_options(paths), "--by", "platform,office,department"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.split()[0] == "Total" and last.count("Total") == 1
    assert cli.main(["status", *_options(paths), "--by", "platform,office", "--format", "json"]) == 0
    total = json.loads(capsys.readouterr().out)[-1]
    assert (total["platform"], total["office"]) == ("Total", "Total")



@pytest.mark.parametrize("option", ["--directory", "--catalog", "--devices", "--history"])
@pytest.mark.parametrize("kind", ["folder", "empty", "not utf-8"])
def test_an_unreadable_input_file_says_why_in_words_not_an_exception_name(option, kind, paths, tmp_path, capsys):
    # A new user's probes: "cannot read catalog (IsADirectoryError)", "cannot read the verdict
    # history: ArrowInvalid", "EmptyDataError", "'utf-8' codec can't decode byte 0xff...".
    from fleetanalysis import outcomes

    given = tmp_path / ("adir.csv" if kind == "folder" else "given.csv")
    if kind == "folder":
        given.mkdir()
    else:
        given.write_bytes(b"" if kind == "empty" else b"as_of,device_id,verdict\n2026-06-01,\xff,current\n")
    if option == "--history":
        # Read before the nudge state is: the reader itself, as `nudges outcomes --history` calls it.
        with pytest.raises(BadInput) as raised:
            outcomes.read_history(given)
        said = str(raised.value)
    else:
        command = {"--directory": ["status", *_options(paths)], "--catalog": ["status", *_options(paths)],
                   "--devices": ["nudges", "--state", str(tmp_path / "n.sqlite")]}[option]
        assert cli.main([*command, option, str(given)]) == 2
        said = capsys.readouterr().err.strip()
    words = {"folder": "is a folder, not a file", "empty": "empty", "not utf-8": "not UTF-8 (byte 0xff at offset"}[kind]
    assert len(said.splitlines()) == 1 and str(given) in said and words in said, said
    assert not re.search(r"[A-Z][a-z]+(Error|Invalid)\b", said), said
