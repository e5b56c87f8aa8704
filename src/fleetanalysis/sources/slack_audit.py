"""Slack Audit Logs API (Enterprise Grid): ``{"entries": [...]}``, one row per event.

Each entry has ``id``, ``date_create`` (unix seconds), ``action``, ``actor.user{id, name,
email}`` and ``context{ua, ip_address}``. Entries without a user agent (API-driven
actions) carry no device evidence and are rejected with that reason, and an action naming a
failure (``user_login_failed``) as a failed sign-in; an ``anomaly`` entry reports a session
Slack suspects is not the user's, so it is no evidence of their device either.

Examples:
    >>> doc = {"entries": [{"id": "e1", "date_create": 1714521600, "action": "user_login",
    ...     "actor": {"type": "user", "user": {"id": "W1", "name": "ann", "email": "ann@example.com"}},
    ...     "context": {"ua": "Mozilla/5.0", "ip_address": "192.0.2.1"}}]}
    >>> matches(doc)
    True
    >>> from fleetanalysis.sources.schema import flatten
    >>> candidates(flatten(rows(doc), FIELDS))[["event_id", "user_id", "user", "ip"]].iloc[0].tolist()
    ['e1', 'W1', 'ann@example.com', '192.0.2.1']
"""

from __future__ import annotations

import pandas as pd

from fleetanalysis.sources.pages import ERROR_FIELDS, error_answers, records
from fleetanalysis.sources.schema import any_row, failed_action, failed_attempt, field, from_unix, pick, time_problems

# The fields read from each record (dotted paths into nested objects).
FIELDS = [
    "id", "date_create", "actor.user.id", "actor.user.email", "actor.user.name", "context.ua",
    "context.ip_address", "action", *ERROR_FIELDS,
]
FORMAT = "slack_audit"
# Slack's anomaly events report a session it suspects is not the user's (a new ASN, IP or agent).
ANOMALY_REASON = "anomaly: Slack suspects this session is not the user's, so it is no evidence of their device"


def matches(doc: object) -> bool:
    """True for an audit response, a list of them, or one audit entry.

    Examples:
        >>> matches({"id": "e1", "date_create": 1, "action": "user_login"})
        True
    """
    if isinstance(doc, list):
        return any_row(doc, matches)
    return isinstance(doc, dict) and ("entries" in doc or {"date_create", "action"} <= doc.keys())


def rows(doc: object) -> list:
    """The entries of a response, a list of responses, or a single entry.

    Examples:
        >>> len(rows({"entries": [{}, {}]}))
        2
    """
    return records(doc, "entries")


def candidates(frame: pd.DataFrame) -> pd.DataFrame:
    """Access-table candidates from flattened audit entries (one sighting each).

    Examples:
        >>> candidates(pd.DataFrame({"date_create": [1714521600]}))["count"].tolist()
        [1]
    """
    when = from_unix(field(frame, "date_create"))
    action = pick(frame, "action")
    return pd.DataFrame({
        "source": FORMAT,
        "event_id": pick(frame, "id"),
        "user_id": pick(frame, "actor.user.id"),
        "user": pick(frame, "actor.user.email", "actor.user.name"),
        "first_seen": when,
        "last_seen": when,
        "count": 1,
        "ip": pick(frame, "context.ip_address"),
        "user_agent": pick(frame, "context.ua"),
        "problem": error_answers(frame).fillna(
            pd.Series(ANOMALY_REASON, index=frame.index, dtype="object").where(action.eq("anomaly")))
        .fillna(failed_attempt(failed_action(action), action)),
        "time_problem": time_problems(when, pick(frame, "date_create"), "date_create", "unix seconds"),
    }, index=frame.index)
