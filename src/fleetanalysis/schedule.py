"""When the weekly job runs: a crontab line or systemd units for ``make weekly``.

``make weekly`` fetches the Slack access logs (when a token is set or Slack logs are
configured; a failed fetch still lets the rest run, then fails the job), ingests every
configured log and writes the report; this module only prints what to install, with absolute paths, and installs
nothing. Tokens stay in an environment file read at run time, never in a unit or a line.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from pathlib import Path

from fleetanalysis import config
from fleetanalysis.errors import BadInput

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_ENV_FILE = Path("~/.config/fleetanalysis/env")


def _schedule_parts(weekday: str, at: str) -> tuple[str, int, int]:
    day = weekday.strip().lower()[:3]
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", at.strip())
    if day not in WEEKDAYS:
        raise BadInput("--weekday", repr(weekday), f"not a weekday (use one of {', '.join(WEEKDAYS)})")
    if match is None:
        raise BadInput("--time", repr(at), "not a time of day (use HH:MM, 24-hour)")
    return day, int(match[1]), int(match[2])


def _checkout() -> Path:
    """The checkout whose Makefile and .venv run the job: the one the package is installed
    from (``make`` installs it editable), which need not be the project root holding the data
    (``$FLEETANALYSIS_HOME``)."""
    installed_from = config.PACKAGE_DATA.parents[2]
    return installed_from if (installed_from / "Makefile").is_file() else Path(config.PROJECT_ROOT)


def _job_environment() -> dict[str, str]:
    """What the job must see to find this project from the checkout: its root, and the
    settings file when one was named."""
    found = {"FLEETANALYSIS_HOME": str(config.PROJECT_ROOT)}
    if os.environ.get("FLEETANALYSIS_CONFIG"):
        found["FLEETANALYSIS_CONFIG"] = str(Path(os.environ["FLEETANALYSIS_CONFIG"]).expanduser().resolve())
    return found


def _printable_paths(**paths) -> None:
    """Refuse a path that would break the printed line or unit: a line break there ends the
    cron entry, or starts a new unit setting (``ExecStartPre=...``) in a systemd unit."""
    for name, text in paths.items():
        if re.search(r"[\x00-\x1f\x7f]", str(text)):
            raise BadInput(name, repr(str(text)), "contains a line break or control character; a scheduled "
                           "job cannot name it safely (rename or move it)")


def _weekly_command() -> list[str]:
    return [shutil.which("make") or "/usr/bin/make", "-C", str(_checkout()), "weekly"]


def cron_entry(weekday: str = "mon", at: str = "06:00", env_file: Path = DEFAULT_ENV_FILE) -> str:
    """A crontab line that runs ``make weekly`` (fetch, ingest, report) in this checkout.

    The tokens come from ``env_file`` (``NAME=value`` lines, mode 600), read at run time;
    the line itself holds no secret. Output goes to ``reports/weekly.log``.

    Examples:
        >>> line = cron_entry("wed", "7:30", Path("/home/ana/.config/fleetanalysis/env"))
        >>> line.split(" ")[:5]
        ['30', '7', '*', '*', '3']
        >>> "/home/ana/.config/fleetanalysis/env" in line and line.endswith("2>&1")
        True
    """
    day, hour, minute = _schedule_parts(weekday, at)
    quote = shlex.quote
    env_file = Path(env_file).expanduser().absolute()
    venv_bin = _checkout() / ".venv" / "bin"
    log = config.REPORTS_DIR / "weekly.log"
    environment = _job_environment()
    _printable_paths(**{"--env-file": env_file, "the checkout": _checkout(), **environment})
    # cron runs /bin/sh with a bare PATH; `set -a` exports what the env file sets.
    job = (f"mkdir -p {quote(str(log.parent))} && cd {quote(str(config.PROJECT_ROOT))} && set -a && . {quote(str(env_file))} && set +a"
           f" && PATH={quote(str(venv_bin))}:/usr/local/bin:/usr/bin:/bin"
           f" {' '.join(f'{name}={quote(value)}' for name, value in environment.items())}"
           f" {' '.join(quote(part) for part in _weekly_command())}"
           f" >> {quote(str(log))} 2>&1")
    # cron turns an unescaped % of the command into a newline (crontab(5)).
    return f"{minute} {hour} * * {(WEEKDAYS.index(day) + 1) % 7} {job.replace('%', chr(92) + '%')}"


def systemd_units(weekday: str = "mon", at: str = "06:00",
                  env_file: Path = DEFAULT_ENV_FILE) -> dict[str, str]:
    """A systemd service and timer (by file name) that run ``make weekly`` in this checkout.

    ``Persistent=true`` runs a missed week at the next boot; the service reads the tokens
    from ``EnvironmentFile=`` so no secret is in the unit.

    Examples:
        >>> units = systemd_units("mon", "06:00", Path("/etc/fleetanalysis.env"))
        >>> sorted(units)
        ['fleetanalysis-weekly.service', 'fleetanalysis-weekly.timer']
        >>> "OnCalendar=Mon *-*-* 06:00:00" in units["fleetanalysis-weekly.timer"]
        True
    """
    day, hour, minute = _schedule_parts(weekday, at)
    env_file = Path(env_file).expanduser().absolute()
    venv_bin = _checkout() / ".venv" / "bin"
    environment = _job_environment()
    _printable_paths(**{"--env-file": env_file, "the checkout": _checkout(), **environment})
    settings = "".join(f'Environment="{_unit_value(_quoted(f"{name}={value}"))}"\n'
                       for name, value in [("PATH", f"{venv_bin}:/usr/local/bin:/usr/bin:/bin"), *environment.items()])
    service = (
        "[Unit]\n"
        "Description=fleetanalysis weekly fetch, ingest and report\n"
        "Wants=network-online.target\nAfter=network-online.target\n\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"WorkingDirectory={_unit_value(str(config.PROJECT_ROOT))}\n"
        f"EnvironmentFile={_unit_value(str(env_file))}\n"
        # Quoted whole: a checkout path with a space would end the assignment there.
        f"{settings}"
        f"ExecStart={_command_line(_weekly_command())}\n")
    timer = (
        "[Unit]\n"
        "Description=Run fleetanalysis weekly\n\n"
        "[Timer]\n"
        f"OnCalendar={day.capitalize()} *-*-* {hour:02d}:{minute:02d}:00\n"
        "Persistent=true\n\n"
        "[Install]\n"
        "WantedBy=timers.target\n")
    return {"fleetanalysis-weekly.service": service, "fleetanalysis-weekly.timer": timer}


def _quoted(text: str) -> str:
    """``text`` inside a double-quoted systemd ``Environment=`` assignment.

    Examples:
        >>> _quoted('PATH=/srv/a "b"')
        'PATH=/srv/a \\\\"b\\\\"'
    """
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _command_line(words: list[str]) -> str:
    r"""``words`` as a systemd ``ExecStart=`` value: shell-quoted, with ``%`` doubled, and
    backslashes and ``$`` doubled too, since systemd reads C escapes and substitutes
    ``$NAME`` in a command line, quoted or not.

    Examples:
        >>> _command_line(["make", "-C", "/srv/a$b\\c 50%"])
        "make -C '/srv/a$$b\\\\c 50%%'"
    """
    return _unit_value(shlex.join(words)).replace("\\", "\\\\").replace("$", "$$")


def _unit_value(text: str) -> str:
    """``text`` in a systemd unit setting: ``%`` starts a specifier there, so it is doubled.

    Examples:
        >>> _unit_value("/srv/fleet 50%/.venv")
        '/srv/fleet 50%%/.venv'
    """
    return text.replace("%", "%%")
