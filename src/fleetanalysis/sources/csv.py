"""Any CSV with a user, a time and a user-agent column, one row per sighting.

The columns are named by the ``--user-column``, ``--time-column`` and ``--ua-column``
options or guessed from common header names (``email``, ``timestamp``, ``user_agent``...),
compared without case, spaces or punctuation. Times may be ISO 8601 text or unix
seconds or milliseconds. Optional ``ip``, ``id`` and ``user_id`` columns are kept. A row
whose sign-in error code is not 0, whose outcome column says the attempt did not finish
(``schema.UNFINISHED``: Okta's ``FAILURE``, ``DENY``...) or whose action names a failure
(``user_login_failed``) is rejected as a failed sign-in; Okta's ``UNKNOWN`` user agent is
no agent (``schema.known``). An ``Operating System`` and a ``Browser`` column are read as
the source's stated OS and browser, as Entra's ``deviceDetail`` is (``entra``): a row with
them needs no user agent.

Examples:
    >>> frame = pd.DataFrame({"Email": ["ann@example.com"], "Timestamp": ["2024-05-01 10:00"],
    ...     "User-Agent": ["Mozilla/5.0"], "IP Address": ["192.0.2.1"]})
    >>> candidates(frame)[["user", "ip", "user_agent"]].iloc[0].tolist()
    ['ann@example.com', '192.0.2.1', 'Mozilla/5.0']
"""

from __future__ import annotations

import logging
import re

import pandas as pd
import pyarrow
import pyarrow.compute

from fleetanalysis.errors import BadInput
from fleetanalysis.sources.schema import (COLUMNS, ISO_TIMES, failed_action, failed_attempt, failed_code,
                                          failed_outcome, from_iso, from_unix, known, pick, provenance, split_browser,
                                          stated_version, time_problems, version_number, zone_problem)

_log = logging.getLogger(__name__)

FORMAT = "csv"

# Header names per field, most specific first, as ``plain_name`` gives them; they cover
# the exports of common admin consoles ("Last Login (UTC)", "Sign-in time", "Browser User
# Agent", "IP Address").
GUESSES = {
    # An email, then another identifier, before a bare "User" or "Actor": Entra's sign-in
    # download has "User" (display name) beside "Username" (the UPN the directory knows),
    # audit exports "Actor" (a name: two people may share it) beside "Actor Email".
    "user": ["email", "emailaddress", "primaryemail", "useremail", "actoremail", "mail", "userprincipalname", "upn",
             "username", "alternateid", "user", "login", "actor", "account"],
    "time": ["timestamp", "time", "datetime", "date", "createdat", "createddatetime", "eventtime",
             "published", "lastseen", "datelast", "lastaccess", "signintime", "signindate", "signindatetime",
             "lastlogin", "lastlogintime", "lastsignin", "lastsignintime", "logintime", "logindate",
             "lastactivity", "accesstime", "eventdate", "timegenerated", "occurredat"],
    "user_agent": ["useragent", "ua", "rawuseragent", "browseruseragent", "useragentstring", "httpuseragent",
                   "clientuseragent", "agent"],
    "ip": ["ip", "ipaddress", "clientip", "clientipaddress", "sourceip", "sourceipaddress", "actorip",
           "remoteaddr", "remoteip", "loginip", "calleripaddress"],
    "event_id": ["eventid", "id", "uuid", "documentid"],
    "user_id": ["userid", "actorid", "uid"],
    # A sign-in's error code (Entra's download: "Sign-in error code"): not 0 is a failed attempt.
    "error_code": ["signinerrorcode", "errorcode", "resulttype"],
    # An event's stated outcome (Okta's "outcome.result"): FAILURE, DENY... is a failed attempt.
    "outcome": ["outcomeresult", "outcome"],
    # An event's action (Slack's and GitHub's audit logs): one naming a failure is a failed attempt.
    "action": ["action"],
    # What the source states about the device beside the agent (Entra's download: "Operating
    # System" and "Browser", its JSON's deviceDetail.operatingSystem and .browser).
    "reported_os": ["operatingsystem"],
    "reported_browser": ["browser"],
}
OPTIONS = {"user": "--user-column", "time": "--time-column", "user_agent": "--ua-column"}
# Entra's service-principal sign-in download (ApplicationSignIns_*.csv) names an application,
# never a person or a user agent.
_APPLICATION = ["serviceprincipalid", "serviceprincipalname"]
# What ``repeated`` puts between a repeated name and its number.
REPEAT = " (repeat "
_NUMERIC = r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$"


_UNIT = re.compile(r"\s*[(\[][^)\]]*[)\]]\s*$")


def plain_name(name: str) -> str:
    """A header name compared without case, spaces, punctuation or a trailing unit.

    Examples:
        >>> plain_name("User-Agent"), plain_name("Last Login (UTC)"), plain_name("TimeGenerated [UTC]")
        ('useragent', 'lastlogin', 'timegenerated')
    """
    return re.sub(r"[^a-z0-9]", "", _UNIT.sub("", str(name)).lower())


def mapping(columns: list[str], user_column: str | None = None, time_column: str | None = None,
            ua_column: str | None = None, file: str = "") -> dict[str, str]:
    """Which CSV column holds each access field: the options given, else a guess by header.

    Raises ``BadInput`` naming the option to use when user, time or user agent is missing.

    Examples:
        >>> mapping(["Login", "When", "Agent"], time_column="When")
        {'user': 'Login', 'time': 'When', 'user_agent': 'Agent'}
        >>> mapping(["a", "b"], file="x.csv")
        Traceback (most recent call last):
        fleetanalysis.errors.BadInput: x.csv: header: no user column (use --user-column), no time column (use --time-column), no user agent column (use --ua-column)
        >>> mapping(["email", "time", "ua", "email (repeat 2)"], file="x.csv")
        Traceback (most recent call last):
        fleetanalysis.errors.BadInput: x.csv: header: column 'email' appears more than once; rename one of them
    """
    chosen = {"user": user_column, "time": time_column, "user_agent": ua_column}
    problems = []
    for field, name in chosen.items():
        if name is not None and name not in columns:
            problems.append(f"no column {name!r} ({OPTIONS[field]})")
    plain = {plain_name(column): column for column in reversed(columns)}
    for field, names in GUESSES.items():
        if chosen.get(field) is None:
            chosen[field] = next((plain[name] for name in names if name in plain), None)
    for field in OPTIONS:
        if chosen[field] is None:
            problems.append(f"no {field.replace('_', ' ')} column (use {OPTIONS[field]})")
    if chosen["time"] is not None and zone_problem(chosen["time"]) is not None:
        problems.append(zone_problem(chosen["time"]))
    for name in dict.fromkeys(column for column in chosen.values() if column is not None):
        if repeated(name, 2) in columns:
            problems.append(f"column {_shown(name)} appears more than once; rename one of them")
    if problems:
        raise BadInput(file, "header", ", ".join(problems))
    return {field: column for field, column in chosen.items() if column is not None}


def _applications_only(columns: list[str]) -> bool:
    """Whether a header names service principals and neither a user nor a user agent.

    Examples:
        >>> _applications_only(["Date (UTC)", "Service principal ID", "Service principal name", "IP address"])
        True
        >>> _applications_only(["Date (UTC)", "Service principal ID", "Username", "User agent"])
        False
    """
    plain = {plain_name(column) for column in columns}
    return bool(plain & set(_APPLICATION)) and not plain & set(GUESSES["user"] + GUESSES["user_agent"])


def _applications(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Every row of an application sign-in download, rejected: no device by design."""
    named = {plain_name(column): column for column in reversed(columns)}
    name = pick(frame, *(named[key] for key in _APPLICATION[::-1] if key in named))
    return pd.DataFrame({
        "source": pd.Series(FORMAT, index=frame.index, dtype=COLUMNS["source"]),
        "problem": "sign-in by an application (service principal " + name.fillna("without a name")
                   + "): no device by design",
    }, index=frame.index)


def repeated(name: str, number: int) -> str:
    """The name a header's ``number``-th column called ``name`` is read under.

    Examples:
        >>> repeated("Incoming token type", 2)
        'Incoming token type (repeat 2)'
    """
    return f"{name}{REPEAT}{number})"


def _shown(name: str) -> str:
    return repr(name) if name.strip() else "without a name"


def parse_times(values: pd.Series) -> pd.Series:
    """Times as UTC: unix seconds, unix milliseconds (beyond year 5138 in seconds) or text.

    Examples:
        >>> parse_times(pd.Series(["1714521600", "1714521600000", "2024-05-01T00:00:00Z", "01/05/2024"])).dt.day.tolist()
        [1.0, 1.0, 1.0, nan]
    """
    text = pick(pd.DataFrame({"t": values}), "t")
    pieces, start = [], 0
    # Arrow casts a whole block of text or none of it: a block holding a unix time or
    # junk takes the general path alone, the others stay on the fast one.
    for block in pyarrow.chunked_array(text.array.__arrow_array__()).chunks:
        part = text.iloc[start:start + len(block)]
        start += len(block)
        stamps = _arrow_iso(block)
        pieces.append(_any_times(part) if stamps is None else pd.Series(stamps, index=part.index, name=part.name))
    return pd.concat(pieces) if len(pieces) > 1 else pieces[0] if pieces else _any_times(text)


def _arrow_iso(text: pyarrow.Array) -> pd.arrays.DatetimeArray | None:
    """Times when every value is ISO 8601 text that Arrow's parser takes, else None.

    Arrow's parser runs in C++ at a fraction of pandas' cost, and what it accepts (dates
    with two-digit fields, an optional ``Z`` or offset) it reads exactly as pandas'
    ``format="ISO8601"`` does; anything else (unix numbers, nanoseconds, junk) makes
    the cast fail.

    Examples:
        >>> list(_arrow_iso(pyarrow.array(["2024-05-01T10:00:00+02:00", None])))
        [Timestamp('2024-05-01 08:00:00+0000', tz='UTC'), NaT]
        >>> _arrow_iso(pyarrow.array(["2024-05-01 10:00", "1714521600"])) is None
        True
    """
    utc = pyarrow.timestamp("us", tz="UTC")
    for unit in (utc, pyarrow.timestamp("us")):
        try:
            found = text.cast(unit).cast(utc)
        except (pyarrow.ArrowInvalid, pyarrow.ArrowNotImplementedError):
            continue
        return pd.array(found.to_pandas(), dtype="datetime64[us, UTC]")
    return None


def _any_times(text: pd.Series) -> pd.Series:
    """Times of text that may mix unix seconds, milliseconds and ISO 8601, row by row."""
    # Only text that looks like a number goes through to_numeric: on ISO text (the usual
    # case) it would cost more than the date parsing itself.
    numeric = pd.Series(pyarrow.compute.match_substring_regex(pyarrow.array(text), _NUMERIC).fill_null(False)
                        .to_numpy(zero_copy_only=False), index=text.index)
    if not numeric.any():
        return from_iso(text)
    numbers = pd.to_numeric(text.where(numeric), errors="coerce")
    seconds = from_unix(numbers.where(numbers < 1e11))
    millis = from_unix(numbers.where(numbers >= 1e11), unit="ms")
    # Day-first and month-first text cannot be told apart, so only ISO 8601 is trusted.
    return seconds.fillna(millis).fillna(from_iso(text.where(numbers.isna())))


def picked(fields: dict[str, str], given: dict[str, str | None], file: str = "") -> str | None:
    """The line telling which columns were guessed, or None when the options named them all.

    Examples:
        >>> picked({"user": "Email", "time": "Last Login (UTC)", "user_agent": "Browser User Agent"},
        ...        {"user": None, "time": None, "user_agent": None}, "x.csv")
        "x.csv: columns picked: user 'Email', time 'Last Login (UTC)', user agent 'Browser User Agent' (name them with --user-column, --time-column, --ua-column)"
    """
    if all(given.get(name) is not None for name in OPTIONS):
        return None
    chosen = ", ".join(f"{name.replace('_', ' ')} {column!r}" for name, column in fields.items())
    return f"{file}: columns picked: {chosen} (name them with {', '.join(OPTIONS.values())})"


def candidates(frame: pd.DataFrame, user_column: str | None = None, time_column: str | None = None,
               ua_column: str | None = None, file: str = "", announce: bool = False) -> pd.DataFrame:
    """Access-table candidates from CSV rows read as text.

    ``announce`` logs the ``picked`` line (logger ``fleetanalysis.sources.csv``, INFO) when
    columns were guessed; the command line prints it, a notebook shows it only if asked.

    Examples:
        >>> candidates(pd.DataFrame({"user": ["a"], "time": ["x"], "ua": ["y"]}))["first_seen"].isna().tolist()
        [True]
    """
    columns = [column for column in frame.columns if column not in ("record", "raw")]
    if user_column is None and ua_column is None and _applications_only(columns):
        return _applications(frame, columns)
    fields = mapping(columns, user_column, time_column, ua_column, file)
    line = picked(fields, {"user": user_column, "time": time_column, "user_agent": ua_column}, file)
    if announce and line:
        _log.info(line)
    when = parse_times(frame[fields["time"]])
    rows = pd.DataFrame({
        # Categorical from the start: one string, not one per row.
        "source": pd.Series(FORMAT, index=frame.index, dtype=COLUMNS["source"]),
        "event_id": pick(frame, fields.get("event_id", "")),
        "user_id": pick(frame, fields.get("user_id", "")),
        "user": pick(frame, fields["user"]),
        "first_seen": when,
        "last_seen": when,
        "count": 1,
        "ip": pick(frame, fields.get("ip", "")),
        # Read dictionary-encoded, the user agents stay categorical: one string per distinct agent.
        "user_agent": _agents(frame[fields["user_agent"]]),
        "time_problem": time_problems(when, frame[fields["time"]], fields["time"],
                                      f"{ISO_TIMES}, or unix seconds or milliseconds"),
    }, index=frame.index, copy=False)
    if "reported_os" in fields or "reported_browser" in fields:
        rows = rows.assign(**_stated(frame, fields))
    code = pick(frame, fields.get("error_code", ""))
    outcome = pick(frame, fields.get("outcome", "")).str.upper()
    action = pick(frame, fields.get("action", ""))
    if code.notna().any() or outcome.notna().any() or action.notna().any():
        rows["problem"] = failed_attempt(failed_code(code), code, "error ").fillna(
            failed_attempt(failed_outcome(outcome), outcome, "outcome ")).fillna(
            failed_attempt(failed_action(action), action))
    return rows


def _stated(frame: pd.DataFrame, fields: dict[str, str]) -> dict[str, pd.Series]:
    """The OS and browser a CSV states, read as ``entra`` reads ``deviceDetail``: the OS
    word as given, a version in it unless a frozen echo, the browser split from its version.

    Examples:
        >>> found = _stated(pd.DataFrame({"OS": ["Windows10", "Ios 17.4.1"], "Browser": ["Rich Client 5.2.6.0", None]}),
        ...                 {"reported_os": "OS", "reported_browser": "Browser"})
        >>> found["reported_os"].tolist(), found["reported_os_version"].tolist(), found["reported_browser"].tolist()
        (['Windows10', 'Ios 17.4.1'], [nan, '17.4.1'], ['Rich Client', nan])
        >>> found["reported_from"].tolist()
        ['os<-OS, os_version frozen<-OS, browser<-Browser', 'os<-OS, os_version<-OS']
    """
    system = pick(frame, fields.get("reported_os", ""))
    version, frozen = stated_version(system, version_number(system))
    browser, browser_version = split_browser(pick(frame, fields.get("reported_browser", "")))
    return {"reported_os": system, "reported_os_version": version, "reported_browser": browser,
            "reported_browser_version": browser_version,
            "reported_from": provenance([
                ("os", system.notna(), fields.get("reported_os")),
                ("os_version", version.notna(), fields.get("reported_os")),
                ("os_version frozen", frozen, fields.get("reported_os")),
                ("browser", browser.notna(), fields.get("reported_browser")),
            ], frame.index)}


def _agents(values: pd.Series) -> pd.Series:
    """User agents as nullable text, or as they are when already a categorical of text;
    empty and placeholder agents (Okta's ``UNKNOWN``) missing.

    Examples:
        >>> _agents(pd.Series(["curl/8", "", "UNKNOWN"], dtype="category")).tolist()
        ['curl/8', nan, nan]
    """
    if isinstance(values.dtype, pd.CategoricalDtype) and isinstance(values.cat.categories.dtype, pd.StringDtype):
        categories = pd.Series(values.cat.categories)
        placeholders = categories[categories.eq("") | known(categories).isna()]
        return values.cat.remove_categories(placeholders.tolist()) if len(placeholders) else values
    return known(pick(pd.DataFrame({"user_agent": values}), "user_agent"))
