"""Microsoft Entra ID sign-ins from Graph ``auditLogs/signIns``, one row per sign-in.

Accepts a response page ``{"value": [...], "@odata.nextLink": ...}``, a list of pages, or
NDJSON of sign-ins. Fields: ``id``, ``createdDateTime``, ``userPrincipalName``,
``userId``, ``ipAddress``, ``userAgent`` (not every tenant/API version returns it) and
``deviceDetail{operatingSystem, isManaged}``; ``operatingSystem`` is kept as reported
(``Windows10``, ``Ios``), since Entra gives a name rather than a full version.

Examples:
    >>> page = {"value": [{"id": "s1", "createdDateTime": "2024-05-01T10:00:00Z",
    ...     "userPrincipalName": "ann@example.com", "userId": "oid-1", "ipAddress": "192.0.2.1",
    ...     "deviceDetail": {"operatingSystem": "Ios", "browser": "Mobile Safari", "isManaged": False}}]}
    >>> matches(page)
    True
    >>> from fleetanalysis.sources.schema import flatten
    >>> row = candidates(flatten(rows(page), FIELDS)).iloc[0]
    >>> row["user"], row["reported_os"], bool(row["managed"])
    ('ann@example.com', 'Ios', False)
"""

from __future__ import annotations

import pandas as pd

from fleetanalysis.sources.schema import field, from_iso, pick, true_or_false

# The fields read from each record (dotted paths into nested objects).
FIELDS = [
    "id", "createdDateTime", "userId", "userPrincipalName", "userDisplayName", "ipAddress",
    "userAgent", "deviceDetail.operatingSystem", "deviceDetail.isManaged",
]
FORMAT = "entra"


def matches(doc: object) -> bool:
    """True for a Graph page of sign-ins, a list of pages, or one sign-in.

    Examples:
        >>> matches({"@odata.context": "x", "value": []}), matches({"createdDateTime": "x", "userPrincipalName": "a"})
        (True, True)
    """
    if isinstance(doc, list):
        return bool(doc) and matches(doc[0])
    if not isinstance(doc, dict):
        return False
    return isinstance(doc.get("value"), list) or {"createdDateTime", "userPrincipalName"} <= doc.keys()


def rows(doc: object) -> list:
    """The sign-ins of a page, a list of pages, or a single sign-in.

    Examples:
        >>> len(rows([{"value": [{}]}, {"value": [{}, {}]}]))
        3
    """
    if isinstance(doc, list):
        return [row for page in doc for row in rows(page)]
    if isinstance(doc, dict) and isinstance(doc.get("value"), list):
        return doc["value"]
    return [doc]


def candidates(frame: pd.DataFrame) -> pd.DataFrame:
    """Access-table candidates from flattened sign-ins.

    Examples:
        >>> candidates(pd.DataFrame({"createdDateTime": ["2024-05-01T10:00:00Z"]}))["count"].tolist()
        [1]
    """
    when = from_iso(pick(frame, "createdDateTime"))
    managed = field(frame, "deviceDetail.isManaged")
    return pd.DataFrame({
        "source": FORMAT,
        "event_id": pick(frame, "id"),
        "user_id": pick(frame, "userId"),
        "user": pick(frame, "userPrincipalName", "userDisplayName"),
        "first_seen": when,
        "last_seen": when,
        "count": 1,
        "ip": pick(frame, "ipAddress"),
        "user_agent": pick(frame, "userAgent"),
        "reported_os": pick(frame, "deviceDetail.operatingSystem"),
        "managed": true_or_false(managed),
    }, index=frame.index)
