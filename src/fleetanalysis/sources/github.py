"""GitHub audit log exports (JSON array, NDJSON or CSV), one row per event.

Fields: ``actor`` (login), ``actor_id``, ``@timestamp`` or ``created_at`` (epoch
milliseconds, or ISO 8601 text as some exports write it), ``user_agent``, ``_document_id``
(the event id), ``actor_ip`` and ``action``.
Events without a user agent (most are made by integrations) are rejected with that reason,
and an action naming a failure (``user.failed_login``, ``user.two_factor_challenge_failure``)
as a failed sign-in: an attempt is no evidence of a device.

Examples:
    >>> event = {"@timestamp": 1714521600000, "action": "user.login", "actor": "ann", "actor_id": 7,
    ...     "_document_id": "d1", "user_agent": "Mozilla/5.0", "actor_ip": "192.0.2.1"}
    >>> matches(event), matches_header(["@timestamp", "action", "actor", "_document_id"])
    (True, True)
    >>> from fleetanalysis.sources.schema import flatten
    >>> row = candidates(flatten(rows([event]), FIELDS)).iloc[0]
    >>> row["user"], row["user_id"], str(row["first_seen"])
    ('ann', '7', '2024-05-01 00:00:00+00:00')
"""

from __future__ import annotations

import pandas as pd

from fleetanalysis.sources.schema import (ISO_TIMES, any_row, failed_action, failed_attempt, field, from_iso, from_unix,
                                          pick, time_problems)

# The fields read from each record (dotted paths into nested objects).
FIELDS = [
    "@timestamp", "created_at", "_document_id", "actor", "actor_id", "actor_ip", "user_agent", "action",
]
FORMAT = "github"


def matches(doc: object) -> bool:
    """True for one audit event or a list of them.

    Examples:
        >>> matches({"created_at": 1714521600000, "action": "repo.create", "actor": "ann"})
        True
    """
    if isinstance(doc, list):
        return any_row(doc, matches)
    if not isinstance(doc, dict):
        return False
    dated = "@timestamp" in doc or "created_at" in doc
    return "_document_id" in doc or ("action" in doc and "actor" in doc and dated)


def matches_header(columns: list[str]) -> bool:
    """True for the header of a GitHub audit log CSV export.

    Examples:
        >>> matches_header(["user", "time", "ua"])
        False
    """
    names = set(columns)
    return "_document_id" in names or {"action", "actor"} <= names and bool({"@timestamp", "created_at"} & names)


def rows(doc: object) -> list:
    """The events of an array, or a single event.

    Examples:
        >>> len(rows([{}, {}]))
        2
    """
    return doc if isinstance(doc, list) else [doc]


def candidates(frame: pd.DataFrame) -> pd.DataFrame:
    """Access-table candidates from flattened events or CSV rows.

    Examples:
        >>> candidates(pd.DataFrame({"created_at": ["1714521600000", "2024-05-01T09:15:42.123Z"],
        ...                          "@timestamp": [None, None]}))["first_seen"].dt.year.tolist()
        [2024, 2024]
    """
    stamp = field(frame, "@timestamp", "created_at")
    when = from_unix(stamp, unit="ms")
    if when.isna().any():
        when = when.fillna(from_iso(pick(pd.DataFrame({"stamp": stamp.where(when.isna())}), "stamp")))
    action = pick(frame, "action")
    return pd.DataFrame({
        "source": FORMAT,
        "event_id": pick(frame, "_document_id"),
        "user_id": pick(frame, "actor_id").str.replace(r"\.0$", "", regex=True),
        "user": pick(frame, "actor"),
        "first_seen": when,
        "last_seen": when,
        "count": 1,
        "ip": pick(frame, "actor_ip"),
        "user_agent": pick(frame, "user_agent"),
        "problem": failed_attempt(failed_action(action), action),
        "time_problem": time_problems(when, pick(pd.DataFrame({"stamp": stamp}), "stamp"),
                                      "@timestamp" if "@timestamp" in frame.columns else "created_at",
                                      f"epoch milliseconds or {ISO_TIMES}"),
    }, index=frame.index)
