"""Okta System Log events (JSON array or NDJSON, Event Hook deliveries, or CSV), one row per event.

Fields: ``uuid``, ``published`` (ISO 8601), ``actor.alternateId`` and ``actor.id``,
``client.userAgent.rawUserAgent``, ``client.ipAddress``; what Okta states about the device:
``client.userAgent.os`` and ``.browser`` (Okta's reading of the agent: names, no versions)
and, when Okta Verify registered the device, the top-level ``device`` block
(``os_platform``, ``os_version``, ``managed``, ``name``). The device block wins over the
agent reading; ``reported_from`` names the fields used. Okta writes the literal
``UNKNOWN`` (or ``Unknown``) when it has no value; that is no evidence, so it becomes NA.
An event whose ``outcome.result`` says the attempt did not finish as the user's sign-in
(``FAILURE``, ``DENY``, ``CHALLENGE``, ``RATE_LIMIT``, ``ABANDONED``, ``UNANSWERED``) is
rejected as a failed sign-in: an attempt is no evidence of the user's device; so is a
ThreatInsight ``security.threat.detected`` event, whose client is the suspected attacker's.
An actor ``unknown`` (Okta's placeholder when no user was identified) names no one. So is an event whose ``actor.type``
is not ``User`` (``SystemPrincipal``, ``PublicClientApp``...): Okta or an application acted,
and the agent is not a person's device.

A CSV whose header names the events' fields by their dotted paths (``published``,
``actor.alternateId``, ``uuid`` or ``eventType``...), as flattened System Log exports do,
is read by the same rules (``matches_header``).

Examples:
    >>> event = {"uuid": "u1", "published": "2024-05-01T10:00:00.000Z", "eventType": "user.session.start",
    ...     "actor": {"id": "00u1", "alternateId": "ann@example.com"},
    ...     "client": {"userAgent": {"rawUserAgent": "Mozilla/5.0", "os": "Mac OS X", "browser": "CHROME"},
    ...                "ipAddress": "192.0.2.1"},
    ...     "device": {"os_platform": "IOS", "os_version": "17.4.1", "managed": True}}
    >>> matches([event])
    True
    >>> from fleetanalysis.sources.schema import flatten
    >>> row = candidates(flatten(rows([event]), FIELDS)).iloc[0]
    >>> row["user"], row["reported_os"], row["reported_os_version"], row["reported_browser"], bool(row["managed"])
    ('ann@example.com', 'IOS', '17.4.1', 'CHROME', True)
    >>> row["reported_from"]
    'os<-device.os_platform, os_version<-device.os_version, browser<-client.userAgent.browser, managed<-device.managed'
"""

from __future__ import annotations

import pandas as pd

from fleetanalysis.sources.schema import (ISO_TIMES, any_row, failed_attempt, failed_outcome, field, from_iso, known,
                                          pick, provenance, split_browser, time_problems, true_or_false)

# The fields read from each record (dotted paths into nested objects).
FIELDS = [
    "uuid", "published", "actor.id", "actor.alternateId", "client.userAgent.rawUserAgent",
    "client.userAgent.os", "client.userAgent.browser", "client.ipAddress",
    "device.os_platform", "device.os_version", "device.managed", "device.name", "outcome.result",
    "actor.type", "eventType",
]
FORMAT = "okta"
# ThreatInsight names the account a suspected attacker targeted, whatever the outcome.
THREAT_EVENTS = ["security.threat.detected"]
# What Okta's Event Hooks POST: System Log events under ``data.events``.
EVENT_HOOK = "com.okta.event_hook"
THREAT_REASON = "security.threat.detected: the client is a suspected attacker's, not the user's device"


def matches(doc: object) -> bool:
    """True for one System Log event, an Event Hook delivery (its events under
    ``data.events``), or a list of either.

    Examples:
        >>> matches({"uuid": "u1", "published": "2024-05-01T10:00:00Z", "eventType": "x"})
        True
        >>> matches({"eventType": "com.okta.event_hook", "data": {"events": []}})
        True
    """
    if isinstance(doc, list):
        return any_row(doc, matches)
    if _hook_events(doc) is not None:
        return True
    return isinstance(doc, dict) and "published" in doc and ("eventType" in doc or "uuid" in doc)


def matches_header(columns: list[str]) -> bool:
    """True for a CSV header naming System Log fields by their dotted paths.

    Examples:
        >>> matches_header(["uuid", "published", "eventType", "actor.alternateId", "client.userAgent.rawUserAgent"])
        True
        >>> matches_header(["published", "user", "ua"])
        False
    """
    names = set(columns)
    return {"published", "actor.alternateId"} <= names and bool({"uuid", "eventType"} & names)


def rows(doc: object) -> list:
    """The events of an array, a single event, or of Event Hook deliveries.

    Examples:
        >>> rows({"uuid": "u1"})
        [{'uuid': 'u1'}]
        >>> rows([{"eventType": "com.okta.event_hook", "data": {"events": [{"uuid": "u1"}, {"uuid": "u2"}]}}])
        [{'uuid': 'u1'}, {'uuid': 'u2'}]
    """
    found = []
    for item in doc if isinstance(doc, list) else [doc]:
        events = _hook_events(item)
        found.extend([item] if events is None else events)
    return found


def _hook_events(doc: object) -> list | None:
    """The System Log events an Event Hook delivery carries, None for anything else."""
    if isinstance(doc, dict) and doc.get("eventType") == EVENT_HOOK and isinstance(doc.get("data"), dict) \
            and isinstance(doc["data"].get("events"), list):
        return doc["data"]["events"]
    return None


def candidates(frame: pd.DataFrame) -> pd.DataFrame:
    """Access-table candidates from flattened System Log events.

    Examples:
        >>> candidates(pd.DataFrame({"client.userAgent.rawUserAgent": ["UNKNOWN"]}))["user_agent"].isna().tolist()
        [True]
    """
    stamp = pick(frame, "published")
    when = from_iso(stamp)
    agent = known(pick(frame, "client.userAgent.rawUserAgent"))
    platform = known(pick(frame, "device.os_platform"))
    agent_os = known(pick(frame, "client.userAgent.os"))
    # Okta Verify reads the OS version from the system, not from an agent: no frozen echo
    # to drop. It is taken only beside a platform.
    version = known(pick(frame, "device.os_version")).where(platform.notna())
    browser, _ = split_browser(pick(frame, "client.userAgent.browser"))
    model = known(pick(frame, "device.name"))
    managed = true_or_false(field(frame, "device.managed"))
    outcome = pick(frame, "outcome.result").str.upper()
    actor = pick(frame, "actor.type")
    not_a_person = ("made by actor type " + actor + ", not a person: no device by design").where(
        actor.notna() & (actor.str.lower() != "user"))
    threat = pd.Series(THREAT_REASON, index=frame.index, dtype="object").where(
        pick(frame, "eventType").str.lower().isin(THREAT_EVENTS))
    return pd.DataFrame({
        "source": FORMAT,
        "event_id": pick(frame, "uuid"),
        "user_id": known(pick(frame, "actor.id")),
        "user": known(pick(frame, "actor.alternateId")),
        "first_seen": when,
        "last_seen": when,
        "count": 1,
        "ip": pick(frame, "client.ipAddress"),
        "user_agent": agent,
        "reported_os": platform.fillna(agent_os),
        "reported_os_version": version,
        "reported_browser": browser,
        "device_model": model,
        "managed": managed,
        "reported_from": provenance([
            ("os", platform.notna(), "device.os_platform"),
            ("os", platform.isna() & agent_os.notna(), "client.userAgent.os"),
            ("os_version", version.notna(), "device.os_version"),
            ("browser", browser.notna(), "client.userAgent.browser"),
            ("model", model.notna(), "device.name"),
            ("managed", managed.notna(), "device.managed"),
        ], frame.index),
        "problem": not_a_person.fillna(threat).fillna(failed_attempt(failed_outcome(outcome), outcome, "outcome ")),
        "time_problem": time_problems(when, stamp, "published", ISO_TIMES),
    }, index=frame.index)

