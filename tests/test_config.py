"""config.fleet_inputs: a run's inputs resolved once, at the edge (given values over the
settings file over the demo organisation), into one checked object."""

from pathlib import Path

import pytest

from fleetanalysis import config
from fleetanalysis.errors import BadInput


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project whose fleetanalysis.toml configures logs, a directory and a store."""
    (tmp_path / "people.csv").write_text("user_id,email,office,department\n")
    (tmp_path / "access.parquet").write_bytes(b"")
    settings = tmp_path / "fleetanalysis.toml"
    settings.write_text('[data]\nlogs = ["logs"]\ndirectory = "people.csv"\nstore = "access.parquet"\n')
    monkeypatch.setenv("FLEETANALYSIS_CONFIG", str(settings))
    return tmp_path


def test_the_settings_file_fills_what_is_not_given(project):
    inputs = config.fleet_inputs()
    assert inputs.store == project / "access.parquet" and not inputs.demo
    assert inputs.directory == project / "people.csv"
    assert inputs.networks is None  # not configured
    assert inputs.window_days == config.DEFAULT_WINDOW_DAYS and inputs.as_of is None


def test_a_given_value_wins_over_the_settings(project, tmp_path):
    other = tmp_path / "other.csv"
    other.write_text("user_id,email,office,department\n")
    inputs = config.fleet_inputs(directory=other, window_days=7, as_of="2024-05-02")
    assert (inputs.directory, inputs.window_days, inputs.as_of) == (other, 7, "2024-05-02")


@pytest.mark.parametrize("name", ["directory", "networks", "policy", "catalog"])
def test_a_configured_file_that_does_not_exist_is_one_line_naming_the_key(name, project):
    # A misspelt path silently dropped every office, exemption or policy rule it held.
    settings = project / "fleetanalysis.toml"
    text = settings.read_text().replace('directory = "people.csv"\n', "")
    settings.write_text(text + f'{name} = "misspelt.csv"\n')
    with pytest.raises(BadInput, match=f"fleetanalysis.toml: data.{name}: 'misspelt.csv': no such file$"):
        config.fleet_inputs()


@pytest.mark.parametrize(("variable", "value"), [("FLEETANALYSIS_CONFIG", "fleetanalsis.toml"),
                                                 ("FLEETANALYSIS_HOME", "no/such/home")])
def test_a_misspelt_settings_variable_is_one_line_never_the_demo(variable, value, tmp_path, monkeypatch):
    # A typo there turned `nudges --send` into DMs about the demo organisation's made-up people.
    import os
    import subprocess
    import sys

    env = {**os.environ, variable: str(tmp_path / value)}
    argv = [sys.executable, "-m", "fleetanalysis.cli", "status"]
    done = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"${variable}: no such" in done.stderr and "demo" not in done.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / value).exists()


@pytest.mark.parametrize("name", config.FILE_INPUTS)
def test_a_given_file_that_does_not_exist_names_the_file(name, project):
    with pytest.raises(BadInput, match=f"nowhere.x: no such {name} file"):
        config.fleet_inputs(**{name: project / "nowhere.x"})


@pytest.mark.parametrize("days", [-1, 36_501, 2.5, True, "30"])
def test_window_days_must_be_a_whole_number_of_days(days, project):
    with pytest.raises(BadInput, match="window_days: must be a whole number of days"):
        config.fleet_inputs(window_days=days)


def test_without_settings_the_demo_organisation_is_the_default(tmp_path, monkeypatch):
    empty = tmp_path / "fleetanalysis.toml"
    empty.write_text("")
    monkeypatch.setenv("FLEETANALYSIS_CONFIG", str(empty))
    inputs = config.fleet_inputs()
    assert inputs.demo and inputs.store == config.DEMO_STORE
    # Naming the store is not the demo, even with nothing configured.
    store = tmp_path / "mine.parquet"
    store.write_bytes(b"")
    assert not config.fleet_inputs(store).demo


def test_inputs_are_paths_whatever_was_given(tmp_path):
    inputs = config.FleetInputs(str(tmp_path / "access.parquet"), directory=str(tmp_path))
    assert isinstance(inputs.store, Path) and isinstance(inputs.directory, Path)
