"""The weekly schedule: the cron line and the systemd units that run ``make weekly``."""

from __future__ import annotations

import pytest

from fleetanalysis import cli, config, schedule
from fleetanalysis.errors import BadInput


@pytest.mark.parametrize("weekday, at, expected", [("mon", "06:00", "0 6 * * 1 "),
                                                    ("Sunday", "23:59", "59 23 * * 0 ")])
def test_cron_entry_runs_make_weekly_with_absolute_paths(weekday, at, expected, tmp_path):
    line = schedule.cron_entry(weekday, at, tmp_path / "env")
    assert line.startswith(expected) and "\n" not in line
    assert f"make -C {schedule._checkout()} weekly" in line
    assert f". {tmp_path / 'env'}" in line


def test_a_relative_env_file_is_named_from_where_schedule_ran(tmp_path, monkeypatch, capsys):
    # An outside trial: "--env-file envfile" printed ". envfile" (looked up on $PATH by the
    # job's shell) and "EnvironmentFile=envfile" (refused by systemd: not absolute).
    monkeypatch.chdir(tmp_path)
    assert cli.main(["schedule", "--print", "cron", "--env-file", "envfile"]) == 0
    assert cli.main(["schedule", "--print", "systemd", "--env-file", "envfile"]) == 0
    printed = capsys.readouterr().out
    assert f". {tmp_path / 'envfile'} " in printed and f"EnvironmentFile={tmp_path / 'envfile'}" in printed


def test_schedule_systemd_prints_units_and_never_a_token(capsys, monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-do-not-print")
    assert cli.main(["schedule", "--print", "systemd", "--weekday", "tue", "--time", "7:30"]) == 0
    printed = capsys.readouterr().out
    assert "OnCalendar=Tue *-*-* 07:30:00" in printed and "Persistent=true" in printed
    assert "EnvironmentFile=" in printed and f"WorkingDirectory={config.PROJECT_ROOT}" in printed
    assert "xoxb" not in printed


def test_schedule_rejects_a_bad_day_with_exit_2(capsys):
    assert cli.main(["schedule", "--print", "cron", "--weekday", "someday"]) == 2
    assert "--weekday" in capsys.readouterr().err
    with pytest.raises(BadInput):
        schedule.cron_entry("mon", "6pm")


def test_a_checkout_path_with_a_space_and_a_percent_survives_cron_and_systemd(tmp_path, monkeypatch):
    # crontab(5): an unescaped % in the command is a newline; systemd reads % as a specifier
    # and ends an unquoted Environment= assignment at the first space.
    import re
    import shutil
    import subprocess

    root = tmp_path / "fleet 50%x"
    monkeypatch.setattr(config, "PROJECT_ROOT", root)
    monkeypatch.setattr(config, "REPORTS_DIR", root / "reports")
    monkeypatch.setattr(schedule, "_checkout", lambda: root)
    line = schedule.cron_entry("mon", "06:00", tmp_path / "env")
    assert not re.search(r"(?<!\\)%", line) and "fleet 50\\%x" in line
    units = schedule.systemd_units("mon", "06:00", tmp_path / "env")
    service = units["fleetanalysis-weekly.service"]
    assert f'Environment="PATH={tmp_path}/fleet 50%%x/.venv/bin:' in service
    assert f"WorkingDirectory={tmp_path}/fleet 50%%x\n" in service
    if shutil.which("systemd-analyze"):
        for name, text in units.items():
            (tmp_path / name).write_text(text)
        done = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "fleetanalysis-weekly.service")],
                              capture_output=True, text=True)
        assert "Invalid environment assignment" not in done.stderr
        assert "Failed to resolve" not in done.stderr and "specifier" not in done.stderr, done.stderr


def test_a_dollar_in_the_checkout_path_is_no_variable_in_the_service(tmp_path, monkeypatch):
    # systemd.service(5): ExecStart= substitutes $NAME and ${NAME}, quoted or not; "$$" is a "$".
    root = tmp_path / "fleet$HOME${USER}"
    monkeypatch.setattr(config, "PROJECT_ROOT", root)
    monkeypatch.setattr(config, "REPORTS_DIR", root / "reports")
    monkeypatch.setattr(schedule, "_checkout", lambda: root)
    service = schedule.systemd_units("mon", "06:00", tmp_path / "env")["fleetanalysis-weekly.service"]
    start = next(line for line in service.splitlines() if line.startswith("ExecStart="))
    assert "fleet$$HOME$${USER}" in start and "$HOME" not in start.replace("$$HOME", "")
    assert f"WorkingDirectory={root}\n" in service


def test_a_project_root_apart_from_the_checkout_runs_the_checkouts_make_on_that_root(tmp_path, monkeypatch):
    # $FLEETANALYSIS_HOME may name a data folder: the job still needs the checkout's Makefile
    # and .venv, and must tell them where the project is.
    home = tmp_path / "fleet-data"
    monkeypatch.setattr(config, "PROJECT_ROOT", home)
    monkeypatch.setattr(config, "REPORTS_DIR", home / "reports")
    checkout = config.PACKAGE_DATA.parents[2]
    line = schedule.cron_entry("mon", "06:00", tmp_path / "env")
    assert f"make -C {checkout} weekly" in line and f"FLEETANALYSIS_HOME={home}" in line
    assert f"PATH={checkout}/.venv/bin:" in line and f"cd {home} " in line
    service = schedule.systemd_units("mon", "06:00", tmp_path / "env")["fleetanalysis-weekly.service"]
    assert f"ExecStart=/usr/bin/make -C {checkout} weekly" in service.replace(schedule._weekly_command()[0],
                                                                             "/usr/bin/make")
    assert f'Environment="FLEETANALYSIS_HOME={home}"' in service


@pytest.mark.parametrize("style", ["cron", "systemd"])
def test_a_line_break_in_a_path_is_refused_not_printed_into_the_job(style, tmp_path, capsys):
    # A newline would end the cron line, or add a unit setting such as ExecStartPre=.
    env_file = f"{tmp_path}/x\nExecStartPre=/bin/touch {tmp_path}/pwned"
    assert cli.main(["schedule", "--print", style, "--env-file", env_file]) == 2
    captured = capsys.readouterr()
    assert "ExecStartPre" not in captured.out and "--env-file" in captured.err
    assert len(captured.err.strip().splitlines()) == 1
