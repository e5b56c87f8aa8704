"""Okta System Log events (JSON array or NDJSON), one row per event.

Fields: ``uuid``, ``published`` (ISO 8601), ``actor.alternateId`` and ``actor.id``,
``client.userAgent.rawUserAgent``, ``client.ipAddress`` and, when Okta knows the device,
the top-level ``device`` block (``os_platform``, ``os_version``, ``managed``). Okta writes
the literal ``UNKNOWN`` when it has no user agent; that is no evidence, so it becomes NA.

Examples:
    >>> event = {"uuid": "u1", "published": "2024-05-01T10:00:00.000Z", "eventType": "user.session.start",
    ...     "actor": {"id": "00u1", "alternateId": "ann@example.com"},
    ...     "client": {"userAgent": {"rawUserAgent": "Mozilla/5.0"}, "ipAddress": "192.0.2.1"},
    ...     "device": {"os_platform": "IOS", "os_version": "17.4.1", "managed": True}}
    >>> matches([event])
    True
    >>> from fleetanalysis.sources.schema import flatten
    >>> row = candidates(flatten(rows([event]), FIELDS)).iloc[0]
    >>> row["user"], row["reported_os"], row["reported_os_version"], bool(row["managed"])
    ('ann@example.com', 'IOS', '17.4.1', True)
"""

from __future__ import annotations

import pandas as pd

from fleetanalysis.sources.schema import field, from_iso, pick, true_or_false

# The fields read from each record (dotted paths into nested objects).
FIELDS = [
    "uuid", "published", "actor.id", "actor.alternateId", "client.userAgent.rawUserAgent",
    "client.ipAddress", "device.os_platform", "device.os_version", "device.managed",
]
FORMAT = "okta"


def matches(doc: object) -> bool:
    """True for one System Log event or a list of them.

    Examples:
        >>> matches({"uuid": "u1", "published": "2024-05-01T10:00:00Z", "eventType": "x"})
        True
    """
    if isinstance(doc, list):
        return bool(doc) and matches(doc[0])
    return isinstance(doc, dict) and "published" in doc and ("eventType" in doc or "uuid" in doc)


def rows(doc: object) -> list:
    """The events of an array, or a single event.

    Examples:
        >>> rows({"uuid": "u1"})
        [{'uuid': 'u1'}]
    """
    return doc if isinstance(doc, list) else [doc]


def candidates(frame: pd.DataFrame) -> pd.DataFrame:
    """Access-table candidates from flattened System Log events.

    Examples:
        >>> candidates(pd.DataFrame({"client.userAgent.rawUserAgent": ["UNKNOWN"]}))["user_agent"].isna().tolist()
        [True]
    """
    when = from_iso(pick(frame, "published"))
    agent = pick(frame, "client.userAgent.rawUserAgent")
    managed = field(frame, "device.managed")
    return pd.DataFrame({
        "source": FORMAT,
        "event_id": pick(frame, "uuid"),
        "user_id": pick(frame, "actor.id"),
        "user": pick(frame, "actor.alternateId"),
        "first_seen": when,
        "last_seen": when,
        "count": 1,
        "ip": pick(frame, "client.ipAddress"),
        "user_agent": agent.mask(agent.str.upper() == "UNKNOWN"),
        "reported_os": pick(frame, "device.os_platform"),
        "reported_os_version": pick(frame, "device.os_version"),
        "managed": true_or_false(managed),
    }, index=frame.index)
