"""The command line as a user meets it: --help everywhere, exit 2 with one line for bad usage."""

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from fleetanalysis import cli


def _subcommand_paths(parser: argparse.ArgumentParser, prefix=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield (*prefix, name)
                yield from _subcommand_paths(child, (*prefix, name))


SUBCOMMANDS = list(_subcommand_paths(cli.build_parser()))


def test_top_level_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    shown = capsys.readouterr().out
    for path in SUBCOMMANDS:
        if len(path) == 1:
            assert path[0] in shown


@pytest.mark.parametrize("path", SUBCOMMANDS, ids=" ".join)
def test_every_subcommand_has_help(path, capsys):
    assert cli.main([*path, "--help"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("usage: fleetanalysis " + " ".join(path))


def test_unknown_command_is_one_line_and_exit_2(capsys):
    assert cli.main(["no-such-command"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no-such-command" in error


@pytest.mark.parametrize("path", [(), *SUBCOMMANDS], ids=lambda path: " ".join(path) or "top level")
@pytest.mark.parametrize("bogus", [["--bogus", "3"], ["--bogus=3"], ["-x"]], ids=" ".join)
def test_an_unknown_option_is_named_as_one_in_every_command(path, bogus, capsys, monkeypatch):
    # A first-use trial: "nudges --bogus 3" blamed the positional action ("invalid choice: '3'").
    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: pytest.fail("a request was made"))
    assert cli.main([*path, *bogus]) == 2
    error = capsys.readouterr().err
    name = bogus[0].split("=")[0]
    assert error == f"fleetanalysis{''.join(' ' + word for word in path)}: unrecognized option {name} (see --help)\n"


def test_an_unknown_option_after_a_known_ones_value_is_still_named(capsys):
    assert cli.main(["nudges", "--state", "x.sqlite", "--bogus", "3"]) == 2
    assert "unrecognized option --bogus" in capsys.readouterr().err
    # An abbreviation of a known option is known; a value after -- is an agent, not an option.
    assert cli.main(["ua", "--form", "nope"]) == 2
    assert "argument --format: invalid choice" in capsys.readouterr().err


def test_console_script_runs_without_a_traceback():
    done = subprocess.run([sys.executable, "-m", "fleetanalysis.cli", "--no-such-option"],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("value", ["1000000000000", "0", "-5", "36501", "ten", "1e3"])
def test_window_days_out_of_range_is_one_line_with_the_range(value, capsys):
    assert cli.main(["status", "--window-days", value]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error
    assert "use 1 to 36500 days" in error or "not a whole number" in error


@pytest.mark.parametrize("value", ["2024-13-45", "99999-01-01", "NaT", "", "yesterday-ish", "2024-01-01T99:00",
                                   # Day-first or month-first: which one the user meant cannot be told.
                                   "01/02/2026", "31/12/2026", "2026-01-02T23:00-05:00"])
def test_a_date_that_is_not_one_is_one_line(value, capsys):
    assert cli.main(["status", "--as-of", value]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "not a date" in error and "Traceback" not in error


# Found by the adversarial pass of issue 15: each was a traceback (or an 11-day socket timeout).
@pytest.mark.parametrize("argv", [
    ["demo", "--seed", "-1"],
    ["fetch", "slack", "--base-url", "notaurl"],
    ["nudges", "--send", "--base-url", "ftp://files.example.org/"],
    ["nudges", "--cooldown-days", "1000000000000"],
    ["nudges", "--max", "-1"],
    ["catalog", "update", "--base-url-sofa", "notaurl"],
    ["catalog", "update", "--base-url-endoflife", "http://:80/"],
    ["catalog", "update", "--timeout", "1e308"],
    ["catalog", "update", "--timeout", "nan"],
], ids=" ".join)
def test_an_option_value_out_of_range_is_one_line_before_any_work(argv, capsys, monkeypatch):
    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: pytest.fail("a request was made"))
    assert cli.main(argv) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error
    assert argv[-2] in error  # names the option


def test_building_the_parser_imports_nothing_heavy():
    # --help and --version start instantly only while the parser needs no pandas (0.3-0.4 s
    # to import here); a fresh interpreter, as the console script is.
    heavy = ("pandas", "numpy", "pyarrow", "slack_sdk", "nbformat", "papermill", "ua_parser")
    code = ("import sys; from fleetanalysis import cli; cli.build_parser(); "
            "print(' '.join(sorted({name.split('.')[0] for name in sys.modules})))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert not set(heavy) & set(loaded)


def test_ua_on_a_few_agents_imports_no_pandas():
    # fleetanalysis ua "<agent>" answers in a fraction of a second only while describing a
    # few strings needs no pandas, numpy or pyarrow (ua-parser's resolver it needs).
    heavy = ("pandas", "numpy", "pyarrow", "tqdm", "slack_sdk", "nbformat", "papermill")
    agent = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/124.0.0.0 Safari/537.36")
    code = ("import sys; from fleetanalysis import cli\n"
            f"for style in ('csv', 'json'): assert cli.main(['ua', {agent!r}, 'curl/8.4.0', '--format', style]) == 0\n"
            "print(' '.join(sorted({name.split('.')[0] for name in sys.modules})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = done.stdout.splitlines()[-1].split()
    assert "ua_parser" in loaded and "Chrome" in done.stdout
    assert not set(heavy) & set(loaded)


def test_the_parsers_copies_of_shared_names_equal_their_owners():
    from fleetanalysis import analysis, catalog, feeds, fetch, sources
    from fleetanalysis.cli import choices

    assert choices.FORMATS == tuple(sources.FORMATS)
    assert choices.ENGINES == analysis.ENGINES
    assert choices.PRODUCTS == catalog.PRODUCTS
    assert choices.CATALOG_UPDATES_FILE == catalog.UPDATES_FILE
    assert choices.FEED_BASE_URLS == feeds.DEFAULT_BASE_URLS
    assert choices.SLACK_MAX_PAGES == fetch.MAX_PAGES


def test_every_command_writes_its_table_through_the_one_writer():
    # cli.output.write_table is the one renderer of table/csv/json: no command formats a
    # table its own way (a second renderer drifts: a missing escape, another null).
    from pathlib import Path

    folder = Path(cli.__file__).parent
    renderers = ("to_csv(", "to_json(", "to_string(", "json.dumps(", "json_text(", ".render(", "format_lines(")
    for module in folder.glob("*.py"):
        if module.name != "output.py":
            text = module.read_text(encoding="utf-8")
            assert not [name for name in renderers if name in text], module.name


@pytest.fixture
def slack_raw(tmp_path, monkeypatch):
    """No Slack token in the environment; the raw Slack folder of a tmp project."""
    monkeypatch.delenv("SLACK_USER_TOKEN", raising=False)
    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: pytest.fail("a request was made"))
    return tmp_path / "data" / "raw" / "slack"


def test_a_scheduled_slack_fetch_without_token_or_slack_logs_is_skipped_in_one_line(slack_raw, tmp_path,
                                                                                    monkeypatch, capsys):
    # A trial: an organisation with only Okta exports saw `make weekly` stop at the Slack fetch.
    settings = tmp_path / "fleetanalysis.toml"
    settings.write_text('[data]\nlogs = ["data/raw/okta/*.json.gz"]\n')
    monkeypatch.setenv("FLEETANALYSIS_CONFIG", str(settings))
    assert cli.main(["fetch", "slack", "--if-configured", "--raw-dir", str(slack_raw)]) == 0
    said = capsys.readouterr().err
    assert said.count("\n") == 1 and "skipping the Slack fetch" in said and "$SLACK_USER_TOKEN is unset" in said
    # Asked for by hand, the fetch still needs its token.
    assert cli.main(["fetch", "slack", "--raw-dir", str(slack_raw)]) == 2
    assert "no Slack token" in capsys.readouterr().err


@pytest.mark.parametrize("logs", ['"data/raw/slack"', '"data/raw/slack/*.json"', '"data/raw"'])
def test_a_configured_slack_source_without_its_token_fails_the_scheduled_fetch(logs, slack_raw, tmp_path,
                                                                               monkeypatch, capsys):
    settings = tmp_path / "fleetanalysis.toml"
    settings.write_text(f"[data]\nlogs = [{logs}]\n")
    monkeypatch.setenv("FLEETANALYSIS_CONFIG", str(settings))
    assert cli.main(["fetch", "slack", "--if-configured", "--raw-dir", str(slack_raw)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "$SLACK_USER_TOKEN: no Slack token" in error and str(settings) in error


@pytest.mark.parametrize("fetch_exit", [0, 2])
def test_make_weekly_ingests_and_reports_whatever_the_slack_fetch_did(fetch_exit, tmp_path):
    # The recipe itself, with a stand-in for the command that records what make ran.
    calls = tmp_path / "calls"
    stand_in = tmp_path / "fleetanalysis"
    stand_in.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n[ "$1" = fetch ] && exit {fetch_exit}\nexit 0\n')
    stand_in.chmod(0o755)
    root = Path(cli.__file__).resolve().parents[3]
    done = subprocess.run(["make", "-s", "-C", str(root), "weekly", f"FA={stand_in}", "REFRESH=true", "STAMP="],
                          capture_output=True, text=True)
    assert calls.read_text().splitlines() == ["fetch slack --if-configured", "ingest", "report"]
    assert (done.returncode == 0) == (fetch_exit == 0)


@pytest.mark.parametrize("value", ["2024-13-45", "2026-02-30", "yesterday", "01/02/2026"])
def test_a_bad_date_in_the_years_pandas_holds_asks_for_yyyy_mm_dd_only(value, capsys):
    assert cli.main(["status", "--as-of", value]) == 2
    error = capsys.readouterr().err
    assert f"not a date: {value!r} (use YYYY-MM-DD)" in error and "1678" not in error


def test_make_help_lines_up_every_verb_and_its_description():
    # A trial: `make help` ran "screenshot" into its description.
    root = Path(cli.__file__).resolve().parents[3]
    lines = subprocess.run(["make", "-s", "-C", str(root), "help"], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    starts = {len(line) - len(line.split(None, 2)[2]) for line in lines}
    assert len(lines) >= 8 and len(starts) == 1
    assert all(line.split(None, 2)[1] + " " in line[:next(iter(starts)) - 1] for line in lines)
