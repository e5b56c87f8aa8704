"""Slack ``team.accessLogs``: one row per user + IP + user agent, already aggregated.

Accepts one API response ``{"ok": true, "logins": [...], "paging": {...}}``, a JSON list
of such responses (as ``fetch slack`` saves them), or NDJSON of login rows. Dates are
unix seconds; ``date_first``/``date_last``/``count`` grow between fetches, so the store
keeps the newest. A ``SlackWeb`` prefix before ``Mozilla/5.0`` stays in ``user_agent``:
it says the client is Slack in a browser, which the clients stage reads.

Examples:
    >>> page = {"ok": True, "logins": [{"user_id": "U1", "username": "ann", "date_first": 1714521600,
    ...     "date_last": 1714608000, "count": 4, "ip": "192.0.2.1",
    ...     "user_agent": "SlackWeb/abc Mozilla/5.0 (Macintosh)", "isp": None, "country": None, "region": None}],
    ...     "paging": {"count": 100, "total": 1, "page": 1, "pages": 1}}
    >>> matches(page)
    True
    >>> from fleetanalysis.sources.schema import flatten
    >>> row = candidates(flatten(rows(page), FIELDS)).iloc[0]
    >>> row["user"], int(row["count"]), row["user_agent"], str(row["last_seen"])
    ('ann', 4, 'SlackWeb/abc Mozilla/5.0 (Macintosh)', '2024-05-02 00:00:00+00:00')
"""

from __future__ import annotations

import pandas as pd

from fleetanalysis.sources.pages import ERROR_FIELDS, error_answers, records
from fleetanalysis.sources.schema import any_row, field, from_unix, pick, time_problems

# The fields read from each record (dotted paths into nested objects).
FIELDS = [
    "user_id", "username", "date_first", "date_last", "count", "ip", "user_agent", *ERROR_FIELDS,
]
FORMAT = "slack_access"


def matches(doc: object) -> bool:
    """True for an accessLogs response, a list of them, or one login row.

    Examples:
        >>> matches({"user_id": "U1", "date_first": 1, "date_last": 2}), matches({"value": []})
        (True, False)
    """
    if isinstance(doc, list):
        return any_row(doc, matches)
    return isinstance(doc, dict) and ("logins" in doc or {"date_first", "date_last"} <= doc.keys())


def rows(doc: object) -> list:
    """The login rows of a response, a list of responses, or a single row.

    Examples:
        >>> len(rows([{"logins": [{}, {}]}, {"logins": [{}]}]))
        3
    """
    return records(doc, "logins")


def candidates(frame: pd.DataFrame) -> pd.DataFrame:
    """Access-table candidates from flattened login rows.

    Examples:
        >>> candidates(pd.DataFrame({"date_first": ["soon"]}))["first_seen"].isna().tolist()
        [True]
    """
    when = from_unix(field(frame, "date_first"))
    return pd.DataFrame({
        "source": FORMAT,
        "user_id": pick(frame, "user_id"),
        "user": pick(frame, "username"),
        "first_seen": when,
        "last_seen": from_unix(field(frame, "date_last")),
        "count": _number(field(frame, "count")),
        "ip": pick(frame, "ip"),
        "user_agent": pick(frame, "user_agent"),
        "problem": error_answers(frame),
        "time_problem": time_problems(when, pick(frame, "date_first"), "date_first", "unix seconds"),
    }, index=frame.index)


def _number(values: pd.Series) -> pd.Series:
    """Counts as numbers; JSON's ``true`` and ``false`` are none (Python would read ``true`` as 1).

    Examples:
        >>> _number(pd.Series([4, True, "7", None], dtype="object")).tolist()
        [4.0, nan, 7.0, nan]
    """
    values = values.astype("object")
    return pd.to_numeric(values.mask(values.map(lambda value: isinstance(value, bool))), errors="coerce")
