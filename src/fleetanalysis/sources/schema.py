"""The canonical access table every loader produces, and the checks every row passes.

One row per piece of sign-in evidence (docs/pipeline.md, section 1):

========================  ======================  ==============================================
column                    dtype                   meaning
========================  ======================  ==============================================
source                    category                ``slack_access``, ``okta``, ... (``SOURCES``)
event_id                  str (nullable)          the source's own event id (dedupe key)
user_id                   str (nullable)          the source's user id
user                      str (nullable)          email where known, else name or login
first_seen                datetime64[us, UTC]     first sighting
last_seen                 datetime64[us, UTC]     last sighting
count                     int64                   sightings in the row (>= 1)
ip                        str (nullable)          client IP address
user_agent                category (nullable)     raw user-agent string, untouched
reported_os               category (nullable)     OS name the source reports directly
reported_os_version       str (nullable)          OS version the source reports directly
device_model              str (nullable)          device model the source reports
managed                   boolean (nullable)      managed flag the source reports
reported_browser          category (nullable)     browser name the source reports directly
reported_browser_version  str (nullable)          browser version the source reports directly
compliant                 boolean (nullable)      compliance flag the source reports (Entra)
trust_type                category (nullable)     join type the source reports (Entra)
reported_from             category (nullable)     which source field gave each reported fact
========================  ======================  ==============================================

Loaders build *candidates*: the columns above (dates already parsed, NaT where a value
could not be read) plus ``record`` (where the row came from, e.g. ``line 7``), ``raw``
(the original text) and ``problem`` (a reason found while parsing, else NA).
``screen`` applies the checks shared by every source and splits candidates into access
rows and rejected rows (``REJECTED_COLUMNS``).

About 510 lines, over the project's ~450, on purpose: this is the one contract every
source writes to, so the columns, ``conform``, ``screen`` and the few field readers
that every source's module uses (``field``, ``pick``, times, versions, what a source
states) stay together; splitting them would make each source import from several rooms.

Examples:
    >>> list(empty_access().dtypes.astype(str))[:5]
    ['category', 'str', 'str', 'str', 'datetime64[us, UTC]']
    >>> conform(pd.DataFrame({"source": ["okta"], "count": [1]}))["managed"].dtype
    BooleanDtype
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pyarrow as pa

SOURCES = ["slack_access", "slack_audit", "okta", "entra", "google_mobile", "github", "csv"]

COLUMNS: dict[str, object] = {
    "source": pd.CategoricalDtype(SOURCES),
    "event_id": "str",
    "user_id": "str",
    "user": "str",
    "first_seen": "datetime64[us, UTC]",
    "last_seen": "datetime64[us, UTC]",
    "count": "int64",
    "ip": "str",
    "user_agent": "category",
    "reported_os": "category",
    "reported_os_version": "str",
    "device_model": "str",
    "managed": "boolean",
    "reported_browser": "category",
    "reported_browser_version": "str",
    "compliant": "boolean",
    "trust_type": "category",
    "reported_from": "category",
}

REJECTED_COLUMNS = ["file", "record", "reason", "raw"]

# A real user agent is a few hundred characters; megabytes of text is an attack or a bug.
MAX_USER_AGENT = 4096
# An e-mail address is at most 254 characters and vendor ids far less: a longer user, id
# or address is a broken export (a quote that ran on), never a person.
MAX_FIELD = 1024
RAW_LIMIT = 200
# Beyond 2**53 a count cannot even be held exactly; no real log reports that many sightings.
MAX_COUNT = 2**53
EARLIEST = pd.Timestamp("2000-01-01", tz="UTC")
FUTURE_SLACK = pd.Timedelta(days=1)


def empty_access() -> pd.DataFrame:
    """An access table with no rows and exactly the documented dtypes.

    Examples:
        >>> frame = empty_access()
        >>> len(frame), list(frame.columns) == list(COLUMNS)
        (0, True)
    """
    return conform(pd.DataFrame({name: [] for name in COLUMNS}))


def empty_rejected() -> pd.DataFrame:
    """A rejected-rows frame (``file, record, reason, raw``) with no rows.

    Examples:
        >>> list(empty_rejected().columns)
        ['file', 'record', 'reason', 'raw']
    """
    return pd.DataFrame({name: pd.Series([], dtype="str") for name in REJECTED_COLUMNS})


def _text(values: pd.Series) -> pd.Series:
    """Cast to nullable ``str``; empty strings mean "not reported".

    Only columns that mix text with numbers or booleans pay for a per-cell conversion. A
    JSON object or array where a log has a value is none (``"user_agent": ["a"]`` is no
    user agent), not the text of its brackets.

    Examples:
        >>> _text(pd.Series(["Mozilla/5.0", 123, ["a"], {"x": 1}, ""], dtype="object")).tolist()
        ['Mozilla/5.0', '123', nan, nan, nan]
    """
    if not isinstance(values.dtype, (pd.StringDtype, pd.CategoricalDtype)):
        values = values.astype("object")
        if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty", "integer"):
            values = values.map(lambda cell: cell if isinstance(cell, str) or _missing(cell)
                                else None if isinstance(cell, (list, dict)) else str(cell))
    text = values.astype("str")
    empty = text == ""
    # Most columns have no empty strings (CSV ones are read as missing): no copy for them.
    return text.mask(empty, pd.NA) if empty.any() else text


def _missing(cell: object) -> bool:
    """True for None, NaN, NA and NaT; False for anything else, lists and dicts included."""
    return cell is None or (not isinstance(cell, (list, dict)) and bool(pd.isna(cell)))


def conform(df: pd.DataFrame) -> pd.DataFrame:
    """Cast ``df`` to the access table: documented columns, order and dtypes.

    Missing columns are added empty; extra columns are dropped; ``count`` defaults to 1.

    Examples:
        >>> out = conform(pd.DataFrame({"source": ["csv"], "user_agent": ["Mozilla/5.0"]}))
        >>> out["count"].tolist(), str(out["user_agent"].dtype)
        ([1], 'category')
    """
    columns = {}
    for name, dtype in COLUMNS.items():
        if name not in df.columns:
            columns[name] = _absent(len(df), dtype, 1 if name == "count" else None)
            continue
        values = df[name]
        if name == "count":
            if values.dtype != "int64":
                values = pd.to_numeric(values, errors="coerce").fillna(1).astype("int64")
        elif name in ("first_seen", "last_seen"):
            if not isinstance(values.dtype, pd.DatetimeTZDtype):
                values = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
            values = values.astype(dtype)
        elif COLUMNS[name] == "boolean":
            values = values.astype("boolean")
        elif name == "source":
            if values.dtype != dtype:
                # Per distinct source name, not per row.
                codes, names = pd.factorize(values)
                # Unknown names, like missing ones (code -1), become NA.
                known = np.append(dtype.categories.get_indexer(pd.Index(names, dtype="object")), -1)
                values = pd.Series(pd.Categorical.from_codes(known[codes], dtype=dtype), index=values.index)
        elif dtype == "category":
            if not (isinstance(values.dtype, pd.CategoricalDtype)
                    and isinstance(values.cat.categories.dtype, pd.StringDtype)):
                values = _text(values).astype("category")
        else:
            values = _text(values)
        columns[name] = values.reset_index(drop=True)
    # Not consolidated: same-dtype columns stay apart instead of being copied into one block.
    return pd.DataFrame(columns, index=pd.RangeIndex(len(df)), copy=False)


_NULL_BLOCK = 2**20


def _absent(rows: int, dtype, default) -> pd.api.extensions.ExtensionArray | np.ndarray:
    """A column the input lacks: ``rows`` nulls (or ``default``) of ``dtype``, built without
    a Python object per row."""
    if default is not None:
        return np.full(rows, default, dtype=dtype)
    if dtype == "str":
        # One block of nulls repeated: the column's chunks share its buffers, so that an
        # empty column costs the same at ten million rows as at one million.
        block = pa.nulls(min(rows, _NULL_BLOCK), pa.large_string())
        return pd.array(pa.chunked_array([block] * (rows // _NULL_BLOCK) + [block.slice(0, rows % _NULL_BLOCK)],
                                          type=pa.large_string()), dtype="str")
    if dtype == "boolean":
        return pd.arrays.BooleanArray(np.zeros(rows, dtype=bool), np.ones(rows, dtype=bool))
    if isinstance(dtype, pd.CategoricalDtype):
        return pd.Categorical.from_codes(np.full(rows, -1, dtype="int8"), dtype=dtype)
    if dtype == "category":
        return pd.Categorical.from_codes(np.full(rows, -1, dtype="int8"), categories=pd.Index([], dtype="str"))
    return pd.array(np.full(rows, np.datetime64("NaT"), dtype="datetime64[us]")).tz_localize("UTC")


def _nothing(index: pd.Index) -> pd.Series:
    """Missing text on every row of ``index``, built without a Python object per row."""
    return pd.Series(_absent(len(index), "str", None), index=index)


def truncate_raw(raw: pd.Series) -> pd.Series:
    """Raw text cut to ``RAW_LIMIT`` characters, for the rejected file.

    Records that are still parsed JSON are serialised here, so that only rejected rows
    pay for it.

    Examples:
        >>> truncate_raw(pd.Series(["x" * 300, {"a": 1}])).tolist()[1]
        '{"a": 1}'
    """
    def as_text(cell: object) -> object:
        if isinstance(cell, str) or cell is None or cell is pd.NA:
            return cell
        try:
            return json.dumps(cell, ensure_ascii=False, default=str)[:RAW_LIMIT]
        except (TypeError, ValueError, RecursionError):
            return f"<{type(cell).__name__} too deep or odd to print>"

    return _text(raw.astype("object").map(as_text)).fillna("").str.slice(0, RAW_LIMIT)


def screen(candidates: pd.DataFrame, file: str, *,
           now: pd.Timestamp | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split loader candidates into access rows and rejected rows with a reason.

    A row is rejected when its loader already found a ``problem``, or it has no usable
    date, a date before 2000 or more than a day in the future, a first date after its last,
    a count below 1, neither
    a user agent nor a reported OS or browser, NUL bytes in the user agent or user, a user agent over
    ``MAX_USER_AGENT`` characters, no user and no user id (no one's device), or a user,
    user id, event id or IP address over ``MAX_FIELD``. The first reason found is kept.

    Examples:
        >>> rows = pd.DataFrame({"source": ["okta", "okta"], "record": ["record 1", "record 2"],
        ...     "raw": ["{}", "{}"], "problem": [pd.NA, pd.NA], "count": [1, -3],
        ...     "first_seen": pd.to_datetime(["2024-05-01", "2024-05-01"], utc=True),
        ...     "last_seen": pd.to_datetime(["2024-05-01", "2024-05-01"], utc=True),
        ...     "user": ["ann", "bob"], "user_agent": ["Mozilla/5.0", "Mozilla/5.0"]})
        >>> access, rejected = screen(rows, "okta.json")
        >>> len(access), rejected["reason"].tolist()
        (1, ['count is -3, must be at least 1'])
    """
    now = pd.Timestamp.now(tz="UTC") if now is None else now
    index = candidates.index
    reason = _nothing(index)
    if "problem" in candidates.columns:
        reason = _text(candidates["problem"])

    def flag(mask: pd.Series, text) -> None:
        """Give rows in ``mask`` (and no reason yet) ``text``: a str, or a function building
        the per-row text, called only when some row is flagged."""
        nonlocal reason
        mask = mask.fillna(False).astype(bool) & reason.isna()
        if mask.any():
            text = text if isinstance(text, str) else text()
            reason = reason.mask(mask, text if isinstance(text, str) else text.astype("str"))

    if "time_problem" in candidates.columns:
        # The loader's words for a time it could not read: the column and the value.
        flag(candidates["time_problem"].notna(), lambda: _text(candidates["time_problem"]))
    for column in ("first_seen", "last_seen"):
        when = candidates[column] if column in candidates.columns else pd.Series(pd.NaT, index=index)
        if not isinstance(when.dtype, pd.DatetimeTZDtype):
            when = pd.to_datetime(when, utc=True, errors="coerce")
        flag(when.isna(), f"{column.replace('_', ' ')} missing or not a date")
        flag(when < EARLIEST, f"{column.replace('_', ' ')} is before 2000")
        flag(when > now + FUTURE_SLACK, f"{column.replace('_', ' ')} is in the future")
    if {"first_seen", "last_seen"} <= set(candidates.columns):
        # A range that ends before it starts is not a sighting of anything (a Slack login
        # whose date_first is after its date_last).
        flag(pd.to_datetime(candidates["first_seen"], utc=True, errors="coerce")
             > pd.to_datetime(candidates["last_seen"], utc=True, errors="coerce"), "first seen is after last seen")
    if "count" in candidates.columns:
        count = pd.to_numeric(candidates["count"], errors="coerce")
        flag(count.isna(), "count missing or not a number")
        flag(count < 1, lambda: "count is " + count.astype("str").str.removesuffix(".0") + ", must be at least 1")
        # Whole-number columns (the usual case) cannot hold a fraction: no per-row test.
        fraction = count % 1 != 0 if count.dtype.kind == "f" else False
        flag(fraction | (count > MAX_COUNT),
             lambda: "count is " + count.astype("str") + ", not a whole number of sightings")
    # Agents repeat: each check runs once per distinct agent and is taken back to the rows.
    agents = candidates["user_agent"] if "user_agent" in candidates.columns else _nothing(index)
    if isinstance(agents.dtype, pd.CategoricalDtype):
        # A categorical is already factorised; unused categories are checked but never taken.
        codes, agents = agents.cat.codes.to_numpy(), agents.cat.categories
    else:
        codes, agents = pd.factorize(agents)
    agents = _text(pd.Series(agents, dtype="object"))
    length = agents.str.len().astype("Int64")

    # Rows without an agent take the extra value appended after the agents' own.
    position = np.where(codes < 0, len(agents), codes)

    def per_row(values: pd.Series, missing) -> pd.Series:
        found = pd.concat([values, pd.Series([missing], dtype=values.dtype)], ignore_index=True)
        return found.take(position).set_axis(index)

    reported = pick(candidates, "reported_os").fillna(pick(candidates, "reported_browser"))
    # A row is device evidence through its user agent or an OS or browser the source reports itself.
    flag(per_row(agents.isna() | (agents.str.strip() == ""), True) & reported.isna(), "no user agent")
    flag(per_row(agents.str.contains("\x00", regex=False), False)
         | pick(candidates, "user").str.contains("\x00", regex=False), "contains NUL bytes")
    flag(per_row(length > MAX_USER_AGENT, False),
         lambda: "user agent is " + per_row(length, pd.NA).astype("str") + f" characters (limit {MAX_USER_AGENT})")
    # Devices are people's: a record naming no one (Okta's actor "unknown", a null actor) is
    # no one's device, and would otherwise be stored and then silently never counted.
    named = [pick(candidates, column) for column in ("user", "user_id")]
    flag(named[0].fillna("").str.strip().eq("") & named[1].fillna("").str.strip().eq(""),
         "names no user: no one's device")
    for column in ("user", "user_id", "event_id", "ip"):
        size = pick(candidates, column).str.len()
        flag(size > MAX_FIELD,
             lambda column=column, size=size: f"{column} is " + size.astype("str") + f" characters (limit {MAX_FIELD})")
    bad = reason.notna()
    flagged = candidates[bad]
    rejected = pd.DataFrame({
        "file": pd.Series(file, index=flagged.index, dtype="str"),
        "record": _text(flagged.get("record", pd.Series("", index=flagged.index))),
        "reason": reason[bad],
        "raw": truncate_raw(flagged.get("raw", pd.Series("", index=flagged.index))),
    }).reset_index(drop=True)
    return conform(candidates[~bad] if len(rejected) else candidates), rejected


# How many rows of a JSON array or NDJSON file are looked at to tell its format.
PROBE_ROWS = 100


def any_row(rows: list, matches) -> bool:
    """Whether one of the first ``PROBE_ROWS`` of ``rows`` has a format's shape (``matches``):
    a log may open with events the shape test cannot place, such as a GitHub ``git.fetch``
    without an actor.

    Examples:
        >>> any_row([{"action": "git.fetch"}, {"actor": "ann"}], lambda row: "actor" in row), any_row([], bool)
        (True, False)
    """
    return any(matches(row) for row in rows[:PROBE_ROWS])


def failed_code(code: pd.Series) -> pd.Series:
    """Whether each sign-in's error code says it failed: a number other than 0 (Entra's
    ``status.errorCode``, ``ResultType``, a download's "Sign-in error code"); none is no failure.

    Examples:
        >>> failed_code(pd.Series(["50126", "0", None, " 0 "])).tolist()
        [True, False, False, False]
    """
    number = pd.to_numeric(code.str.strip(), errors="coerce")
    return (number.notna() & (number != 0)).astype(bool)


def failed_action(action: pd.Series) -> pd.Series:
    """Whether each event's action names a failure (GitHub's ``user.failed_login`` and
    ``user.two_factor_challenge_failure``, Slack's ``user_login_failed``): whoever tried
    did not get in, so the client is no evidence of the user's device.

    Examples:
        >>> failed_action(pd.Series(["user.failed_login", "user.two_factor_challenge_failure",
        ...                          "user_login_failed", "user_login", None])).tolist()
        [True, True, True, False, False]
    """
    return action.str.contains("fail", case=False, regex=False).fillna(False).astype(bool)


# Outcomes of an attempt that did not finish as the user's sign-in: refused, stopped for
# too many requests, or waiting on a factor nobody gave (Okta System Log API, LogOutcome).
UNFINISHED = ["FAILURE", "DENY", "CHALLENGE", "RATE_LIMIT", "ABANDONED", "UNANSWERED"]


def failed_outcome(outcome: pd.Series) -> pd.Series:
    """Whether each event's stated outcome (Okta's ``outcome.result``) says the attempt did
    not finish as the user's sign-in (``UNFINISHED``, any case); none is no failure.

    Examples:
        >>> failed_outcome(pd.Series(["FAILURE", "deny", "SUCCESS", None])).tolist()
        [True, True, False, False]
    """
    return outcome.str.strip().str.upper().isin(UNFINISHED).astype(bool)


def known(values: pd.Series) -> pd.Series:
    """Text with Okta's placeholders for "no value" (``UNKNOWN``, ``Unknown``, the agent
    ``UNKNOWN-DOWNLOAD`` of its Event Hooks sample) as NA: a placeholder is no evidence.

    Examples:
        >>> known(pd.Series(["UNKNOWN", " unknown ", "UNKNOWN-DOWNLOAD", "curl/8", None])).tolist()
        [nan, nan, nan, 'curl/8', nan]
    """
    placeholder = values.str.strip().str.upper()
    return values.mask((placeholder == "UNKNOWN") | placeholder.str.startswith("UNKNOWN-"))


def failed_attempt(failed: pd.Series, what, prefix: str = "") -> pd.Series:
    """The rejection reason of the rows ``failed`` marks: a failed sign-in names a device
    someone tried, not one the user runs (a password spray from old browsers would make its
    targets look outdated and get them nudged), so it is no evidence; ``prefix`` and ``what``
    say how the log records the failure. Text is built for the failed rows alone.

    Examples:
        >>> failed_attempt(pd.Series([True, False]), pd.Series(["50126", "0"]), "error ").tolist()
        ["failed sign-in (error 50126): an attempt is no evidence of the user's device", nan]
    """
    failed = failed.fillna(False).astype(bool)
    reason = pd.Series(np.nan, index=failed.index, dtype="object")
    if failed.any():
        said = pd.Series(what, index=failed.index, dtype="object")[failed].astype("str")
        reason[failed] = "failed sign-in (" + prefix + said + "): an attempt is no evidence of the user's device"
    return reason


def field(frame: pd.DataFrame, *names: str) -> pd.Series:
    """The first of ``names`` that ``frame`` has, filled from the later ones, values untouched.

    For numbers (unix times, counts), which need no detour through text.

    Examples:
        >>> field(pd.DataFrame({"a": [1, None], "b": [3, 4]}), "a", "b").tolist()
        [1.0, 4.0]
    """
    result = pd.Series(None, index=frame.index, dtype="object")
    for name in names:
        if name in frame.columns:
            result = result.fillna(frame[name]) if result.notna().any() else frame[name]
    return result


def pick(frame: pd.DataFrame, *names: str) -> pd.Series:
    """The first of ``names`` that ``frame`` has, filled from the later ones, as nullable text.

    Examples:
        >>> frame = pd.DataFrame({"email": [None, "a@x.io"], "name": ["ann", "bo"]})
        >>> pick(frame, "email", "name").tolist()
        ['ann', 'a@x.io']
        >>> pick(frame, "missing").isna().all()
        np.True_
    """
    result = None
    for name in names:
        if name in frame.columns:
            found = _text(frame[name])
            result = found if result is None else result.fillna(found) if result.isna().any() else result
    return _nothing(frame.index) if result is None else result


# Unix seconds beyond year 9999 cannot be a date; letting them through would overflow.
_LAST_SECOND = 253402300799


def from_unix(values: pd.Series, unit: str = "s") -> pd.Series:
    """Unix times (seconds or ``unit="ms"``) as UTC timestamps; NaT where not a number.

    Examples:
        >>> from_unix(pd.Series([1714521600, "x", None, 1e300])).isna().tolist()
        [False, True, True, True]
        >>> from_unix(pd.Series(["1714521600123"]), unit="ms").iloc[0]
        Timestamp('2024-05-01 00:00:00.123000+0000', tz='UTC')
    """
    numbers = pd.to_numeric(values.astype("object"), errors="coerce").astype("float64")
    seconds = numbers / 1000 if unit == "ms" else numbers
    seconds = seconds.where((seconds >= 0) & (seconds <= _LAST_SECOND))
    micros = (seconds * 1_000_000).round()
    stamps = pd.to_datetime(micros.astype("Int64"), unit="us", utc=True, errors="coerce")
    return stamps.astype("datetime64[us, UTC]")


# What ``from_iso`` takes, for messages.
ISO_TIMES = "ISO 8601 such as 2024-05-01T10:00:00Z"
# A lowercase "z" (RFC 3339 allows it) and a trailing " UTC" say UTC as plainly as "Z".
_UTC_SPELLED = r"(?<=\d)(?:z|\s*UTC)$"


def from_iso(values: pd.Series) -> pd.Series:
    """ISO 8601 text as UTC timestamps (naive text is taken as UTC); NaT where not a date.

    A lowercase ``z`` and a trailing `` UTC`` are read as ``Z``.

    Examples:
        >>> from_iso(pd.Series(["2024-05-01T10:00:00.000Z", "2024-05-01 12:00:00+02:00", "soon"])).dt.hour.tolist()
        [10.0, 10.0, nan]
        >>> from_iso(pd.Series(["2024-05-01 10:00:00z", "2024-05-01 10:00:00 UTC"])).dt.hour.tolist()
        [10, 10]
    """
    text = _text(values)
    stamps = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601").astype("datetime64[us, UTC]")
    missed = stamps.isna() & text.str.contains(_UTC_SPELLED, regex=True, na=False)
    if missed.any():
        spelled = text[missed].str.replace(_UTC_SPELLED, "Z", regex=True)
        stamps = stamps.fillna(pd.to_datetime(spelled, utc=True, errors="coerce", format="ISO8601")
                               .astype("datetime64[us, UTC]"))
    return stamps


# A time column's header unit naming a zone other than UTC: Log Analytics' "[Local Time]"
# when the portal displays local time, or an offset ("[UTC+01:00]").
_ZONED = re.compile(r"[(\[]\s*((?:local\b[^)\]]*)|(?:UTC|GMT)\s*[+-][^)\]]*)[)\]]\s*$", re.IGNORECASE)


def zone_problem(column: str) -> str | None:
    """Why a time column cannot be read as UTC: its header says the times are in another
    zone (``TimeGenerated [Local Time]``); None for ``[UTC]``, ``(UTC)`` or no zone.

    Examples:
        >>> zone_problem("TimeGenerated [Local Time]")
        "column 'TimeGenerated [Local Time]' holds times in Local Time, not UTC; export it again with the time zone set to UTC"
        >>> zone_problem("TimeGenerated [UTC]"), zone_problem("Last Login (UTC)"), zone_problem("time")
        (None, None, None)
    """
    found = _ZONED.search(str(column))
    if found is None:
        return None
    return (f"column {column!r} holds times in {found.group(1).strip()}, not UTC; "
            "export it again with the time zone set to UTC")


def time_problems(when: pd.Series, text: pd.Series, column: str, expected: str) -> pd.Series:
    """Why each row has no time (``when`` NaT), naming ``column`` and the value it holds;
    NA where a time was read. ``expected`` says what the reader takes.

    Examples:
        >>> when = pd.Series(pd.to_datetime([None, None, "2024-05-01"], utc=True))
        >>> time_problems(when, pd.Series([None, "soon", "2024-05-01"]), "published", "ISO 8601").tolist()
        ["first seen missing (nothing in 'published')", "first seen 'soon' in column 'published' is not a date (expected ISO 8601)", nan]
    """
    missing = when.isna()
    problems = pd.Series(np.nan, index=when.index, dtype="object")
    if missing.any():
        problems[missing] = [f"first seen missing (nothing in {column!r})" if pd.isna(value)
                             else f"first seen {value!r} in column {column!r} is not a date (expected {expected})"
                             for value in _text(text)[missing]]
    return problems


def no_times(candidates: pd.DataFrame) -> str | None:
    """The problem of a file none of whose rows has a time (``time_problems`` says why, the
    first row's reason standing for all), rows a loader already rejected aside; None when
    some row has one: a layout the reader cannot take, not that many bad rows.

    Examples:
        >>> rows = pd.DataFrame({"first_seen": pd.Series([pd.NaT], dtype="datetime64[us, UTC]"),
        ...                      "time_problem": ["first seen 'x' in column 't' is not a date (expected ISO 8601)"]})
        >>> no_times(rows)
        "no row has a time this reader takes; the first: first seen 'x' in column 't' is not a date (expected ISO 8601)"
    """
    if "time_problem" not in candidates.columns:
        return None
    open_rows = candidates["problem"].isna() if "problem" in candidates.columns else pd.Series(True, candidates.index)
    found = candidates.loc[open_rows, "time_problem"]
    if not len(found) or candidates.loc[open_rows, "first_seen"].notna().any() or found.isna().all():
        return None
    return f"no row has a time this reader takes; the first: {found.dropna().iloc[0]}"


_NUMBER = re.compile(r"(\d+(?:\.\d+)*)")


def version_number(values: pd.Series) -> pd.Series:
    """The dotted number inside a reported version (``iOS 17.4.1`` -> ``17.4.1``).

    Examples:
        >>> version_number(pd.Series(["iOS 17.4.1", "Android 14", None, "beta"])).tolist()
        ['17.4.1', '14', nan, nan]
    """
    return _text(values).str.extract(_NUMBER, expand=False).astype("str")


def flatten(rows: list, paths: list[str]) -> pd.DataFrame:
    """One column per dotted ``path`` (``actor.user.id``) taken from each JSON object in ``rows``.

    Only the fields a loader reads are walked, so cost does not grow with what else an
    event carries, and nesting depth never matters. Missing fields are None.

    Examples:
        >>> flatten([{"actor": {"user": {"id": "W1"}}}, {"actor": "not an object"}], ["actor.user.id", "ip"])
          actor.user.id    ip
        0            W1  None
        1          None  None
    """
    columns = {}
    for path in paths:
        keys = path.split(".")
        values = []
        for row in rows:
            for key in keys:
                row = row.get(key) if isinstance(row, dict) else None
            values.append(row)
        columns[path] = pd.Series(values, dtype="object")
    return pd.DataFrame(columns, index=pd.RangeIndex(len(rows)))


def true_or_false(values: pd.Series) -> pd.Series:
    """A reported flag as nullable boolean: JSON true/false kept, anything else unknown.

    Examples:
        >>> true_or_false(pd.Series([True, False, "yes", None])).tolist()
        [True, False, <NA>, <NA>]
    """
    return values.astype("object").map(lambda cell: cell if isinstance(cell, bool) else pd.NA).astype("boolean")


# Versions that a source copied from a frozen user-agent token rather than read from the
# device: Google's endpoint reports and Entra's parsed agent echo them on every later
# release (Chrome's "Mac OS X 10_15_7", "Windows NT 10.0", "Android 10; K").
_FROZEN_ECHOES = [
    (re.compile(r"mac|osx", re.IGNORECASE), re.compile(r"^10\.15(\.\d+)?$")),
    (re.compile(r"windows", re.IGNORECASE), re.compile(r"^(10|10\.0|11)$")),
    (re.compile(r"android", re.IGNORECASE), re.compile(r"^10$")),
]


def stated_version(os_names: pd.Series, versions: pd.Series) -> tuple[pd.Series, pd.Series]:
    """A reported OS version with frozen echoes removed, and where they were.

    A version that only repeats a frozen user-agent token (``macOS 10.15.7``, ``Windows
    10.0``, ``Android 10``) says nothing about the device: it becomes NA and the second
    result is True there. A bare Windows ``10`` or ``11`` names a product, not a build.

    Examples:
        >>> version, frozen = stated_version(pd.Series(["macOS", "MAC_OS", "Windows", "ANDROID", "Windows"]),
        ...     pd.Series(["10.15.7", "14.4.1", "10.0", "10", "10.0.22631.3447"]))
        >>> version.tolist(), frozen.tolist()
        ([nan, '14.4.1', nan, nan, '10.0.22631.3447'], [True, False, True, True, False])
    """
    names, versions = _text(os_names).fillna(""), _text(versions)
    frozen = pd.Series(False, index=versions.index)
    # Per distinct (name, version): a column holds a handful of them.
    pairs = pd.DataFrame({"name": names, "version": versions.fillna("")})
    codes, distinct = pd.factorize(pd.MultiIndex.from_frame(pairs))
    echoes = np.array([any(name_rule.search(name) and version_rule.match(version)
                           for name_rule, version_rule in _FROZEN_ECHOES) for name, version in distinct], dtype=bool)
    if len(echoes):
        frozen = pd.Series(echoes[codes], index=versions.index)
    return versions.mask(frozen), frozen


MAX_BROWSER = 200
_BROWSER = re.compile(r"^\s*(.*?)\s*(?:(\d+(?:\.\d+)*)(?:\.x)?)?\s*$")


def split_browser(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """A reported browser (``Edge 80.0.361``) as name and version; literal unknowns are NA.

    Examples:
        >>> name, version = split_browser(pd.Series(["Edge 80.0.361", "Mobile Safari", "UNKNOWN", "Rich Client 4.x"]))
        >>> name.tolist(), version.tolist()
        (['Edge', 'Mobile Safari', nan, 'Rich Client'], ['80.0.361', nan, nan, '4'])
    """
    codes, distinct = pd.factorize(_text(values), use_na_sentinel=True)
    # Per distinct value; text no browser name is this long is kept whole, unparsed, so that
    # hostile input cannot make the pattern backtrack at length.
    text = pd.Series(distinct, dtype="str")
    text = text.mask(text.str.strip().str.lower().isin(["unknown", "other", "none", "null"]))
    parts = text.where(text.str.len() <= MAX_BROWSER).str.extract(_BROWSER)
    name, version = _text(parts[0]), _text(parts[1])
    name = name.mask(name.isna() & text.notna(), text)
    position = np.where(codes < 0, len(text), codes)

    def per_row(found: pd.Series) -> pd.Series:
        return pd.concat([found, pd.Series([pd.NA], dtype="str")], ignore_index=True).take(position) \
            .set_axis(values.index).astype("str")

    return per_row(name), per_row(version)


def provenance(facts: list[tuple[str, pd.Series, str]], index: pd.Index) -> pd.Series:
    """Which source field gave each reported fact, per row, as ``fact<-field`` joined by ``, ``.

    ``facts`` lists ``(fact, present, field)``: the fact's name, a boolean mask of the rows
    where the source field gave it, and the field's name in the source. Rows with no fact
    are NA. Built once per distinct combination of present facts, not once per row.

    Examples:
        >>> index = pd.RangeIndex(2)
        >>> provenance([("os", pd.Series([True, False]), "deviceDetail.operatingSystem"),
        ...             ("managed", pd.Series([True, True]), "deviceDetail.isManaged")], index).tolist()
        ['os<-deviceDetail.operatingSystem, managed<-deviceDetail.isManaged', 'managed<-deviceDetail.isManaged']
    """
    bits = np.zeros(len(index), dtype=np.int64)
    labels = []
    for position, (fact, present, source_field) in enumerate(facts):
        mask = pd.Series(present, index=index).astype("boolean").fillna(False).to_numpy(dtype=bool)
        bits |= mask.astype(np.int64) << position
        labels.append(f"{fact}<-{source_field}")
    codes, distinct = pd.factorize(bits)
    names = [", ".join(label for position, label in enumerate(labels) if combination >> position & 1)
             for combination in distinct]
    categories = pd.Index(sorted({name for name in names if name}), dtype="str")
    # A combination with no fact at all takes code -1 (missing).
    category_codes = categories.get_indexer(pd.Index(names, dtype="object"))
    return pd.Series(pd.Categorical.from_codes(category_codes[codes] if len(codes) else codes,
                                               categories=categories), index=index)
