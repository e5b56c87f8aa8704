"""The canonical access table every loader produces, and the checks every row passes.

One row per piece of sign-in evidence (docs/pipeline.md, section 1):

=====================  ======================  ==============================================
column                 dtype                   meaning
=====================  ======================  ==============================================
source                 category                ``slack_access``, ``okta``, ... (``SOURCES``)
event_id               str (nullable)          the source's own event id (dedupe key)
user_id                str (nullable)          the source's user id
user                   str (nullable)          email where known, else name or login
first_seen             datetime64[us, UTC]     first sighting
last_seen              datetime64[us, UTC]     last sighting
count                  int64                   sightings in the row (>= 1)
ip                     str (nullable)          client IP address
user_agent             category (nullable)     raw user-agent string, untouched
reported_os            category (nullable)     OS name the source reports directly
reported_os_version    str (nullable)          OS version the source reports directly
device_model           str (nullable)          device model the source reports
managed                boolean (nullable)      managed flag the source reports
=====================  ======================  ==============================================

Loaders build *candidates*: the columns above (dates already parsed, NaT where a value
could not be read) plus ``record`` (where the row came from, e.g. ``line 7``), ``raw``
(the original text) and ``problem`` (a reason found while parsing, else NA).
``screen`` applies the checks shared by every source and splits candidates into access
rows and rejected rows (``REJECTED_COLUMNS``).

Examples:
    >>> list(empty_access().dtypes.astype(str))[:5]
    ['category', 'str', 'str', 'str', 'datetime64[us, UTC]']
    >>> conform(pd.DataFrame({"source": ["okta"], "count": [1]}))["managed"].dtype
    BooleanDtype
"""

from __future__ import annotations

import pandas as pd

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
}

REJECTED_COLUMNS = ["file", "record", "reason", "raw"]

# A real user agent is a few hundred characters; megabytes of text is an attack or a bug.
MAX_USER_AGENT = 4096
RAW_LIMIT = 200
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
    """Cast to nullable ``str``; empty strings mean "not reported"."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype("object")
    text = values.astype("object").map(lambda cell: cell if isinstance(cell, str) or pd.isna(cell) else str(cell))
    text = text.astype("str")
    return text.where(text != "", pd.NA)


def conform(df: pd.DataFrame) -> pd.DataFrame:
    """Cast ``df`` to the access table: documented columns, order and dtypes.

    Missing columns are added empty; extra columns are dropped; ``count`` defaults to 1.

    Examples:
        >>> out = conform(pd.DataFrame({"source": ["csv"], "user_agent": ["Mozilla/5.0"]}))
        >>> out["count"].tolist(), str(out["user_agent"].dtype)
        ([1], 'category')
    """
    out = pd.DataFrame(index=df.index)
    for name, dtype in COLUMNS.items():
        values = df[name] if name in df.columns else pd.Series(pd.NA, index=df.index, dtype="object")
        if name == "count":
            values = pd.to_numeric(values, errors="coerce").fillna(1).astype("int64")
        elif name in ("first_seen", "last_seen"):
            if not isinstance(values.dtype, pd.DatetimeTZDtype):
                values = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
            values = values.astype(dtype)
        elif name == "managed":
            values = values.astype("boolean")
        elif name == "source":
            values = values.astype("object").astype(dtype)
        elif dtype == "category":
            values = _text(values).astype("category")
        else:
            values = _text(values)
        out[name] = values
    return out.reset_index(drop=True)


def truncate_raw(raw: pd.Series) -> pd.Series:
    """Raw text cut to ``RAW_LIMIT`` characters, for the rejected file.

    Examples:
        >>> truncate_raw(pd.Series(["x" * 300])).str.len().tolist()
        [200]
    """
    return _text(raw).fillna("").str.slice(0, RAW_LIMIT)


def screen(candidates: pd.DataFrame, file: str, *, need_user_agent: bool = True,
           now: pd.Timestamp | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split loader candidates into access rows and rejected rows with a reason.

    A row is rejected when its loader already found a ``problem``, or it has no usable
    date, a date before 2000 or more than a day in the future, a count below 1, no
    user agent (when the source always sends one) or a user agent over
    ``MAX_USER_AGENT`` characters. The first reason found is kept.

    Examples:
        >>> rows = pd.DataFrame({"source": ["okta", "okta"], "record": ["record 1", "record 2"],
        ...     "raw": ["{}", "{}"], "problem": [pd.NA, pd.NA], "count": [1, -3],
        ...     "first_seen": pd.to_datetime(["2024-05-01", "2024-05-01"], utc=True),
        ...     "last_seen": pd.to_datetime(["2024-05-01", "2024-05-01"], utc=True),
        ...     "user_agent": ["Mozilla/5.0", "Mozilla/5.0"]})
        >>> access, rejected = screen(rows, "okta.json")
        >>> len(access), rejected["reason"].tolist()
        (1, ['count is -3, must be at least 1'])
    """
    now = pd.Timestamp.now(tz="UTC") if now is None else now
    index = candidates.index
    reason = pd.Series(pd.NA, index=index, dtype="str")
    if "problem" in candidates.columns:
        reason = _text(candidates["problem"])

    def flag(mask: pd.Series, text: pd.Series | str) -> None:
        nonlocal reason
        mask = mask.fillna(False).astype(bool) & reason.isna()
        if mask.any():
            reason = reason.mask(mask, text if isinstance(text, str) else text.astype("str"))

    for column in ("first_seen", "last_seen"):
        when = candidates[column] if column in candidates.columns else pd.Series(pd.NaT, index=index)
        when = pd.to_datetime(when, utc=True, errors="coerce")
        flag(when.isna(), f"{column.replace('_', ' ')} missing or not a date")
        flag(when < EARLIEST, f"{column.replace('_', ' ')} is before 2000")
        flag(when > now + FUTURE_SLACK, f"{column.replace('_', ' ')} is in the future")
    if "count" in candidates.columns:
        count = pd.to_numeric(candidates["count"], errors="coerce")
        flag(count.isna(), "count missing or not a number")
        flag(count < 1, "count is " + count.astype("str") + ", must be at least 1")
    agent = _text(candidates["user_agent"]) if "user_agent" in candidates.columns else pd.Series(
        pd.NA, index=index, dtype="str")
    if need_user_agent:
        flag(agent.isna() | (agent.str.strip() == ""), "no user agent")
    flag(agent.str.len() > MAX_USER_AGENT,
         "user agent is " + agent.str.len().astype("str") + f" characters (limit {MAX_USER_AGENT})")
    bad = reason.notna()
    rejected = pd.DataFrame({
        "file": pd.Series(file, index=index, dtype="str")[bad],
        "record": _text(candidates.get("record", pd.Series("", index=index)))[bad],
        "reason": reason[bad],
        "raw": truncate_raw(candidates.get("raw", pd.Series("", index=index)))[bad],
    }).reset_index(drop=True)
    return conform(candidates[~bad]), rejected
