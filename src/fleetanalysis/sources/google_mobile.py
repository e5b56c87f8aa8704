"""Google Workspace Reports API ``mobile`` activity: device syncs with a reported OS.

Accepts ``{"kind": "admin#reports#activities", "items": [...]}``, a list of such pages or
NDJSON of activities. A page without ``items`` is what the API returns when nothing
happened: it holds no rows. Each activity has ``id{time, uniqueQualifier,
applicationName}``, ``actor{email}`` and ``events[{name, parameters[{name, value}]}]``.
The device's user is the ``USER_EMAIL`` parameter where there is one (an admin's action on
a device names the admin as actor), else the actor.
There is no user agent: the evidence is ``DEVICE_TYPE`` (-> ``reported_os``, e.g.
``ANDROID``, ``IOS_SYNC``), ``OS_VERSION`` (``Android 14`` -> ``14``; a version that only
echoes a frozen user-agent token, ``macOS 10.15.7``, becomes NA) and ``DEVICE_MODEL``.
Activities of other applications (``login``, ``drive``...) carry no device evidence by
design: they are rejected with that reason.

Examples:
    >>> page = {"kind": "admin#reports#activities", "items": [{"id": {"time": "2024-05-01T10:00:00.000Z",
    ...     "uniqueQualifier": "-42"}, "actor": {"email": "ann@example.com"}, "events": [{"name": "DEVICE_SYNC_EVENT",
    ...     "parameters": [{"name": "DEVICE_MODEL", "value": "Pixel 8"}, {"name": "DEVICE_TYPE", "value": "ANDROID"},
    ...     {"name": "OS_VERSION", "value": "Android 14"}]}]}]}
    >>> matches(page)
    True
    >>> from fleetanalysis.sources.schema import flatten
    >>> row = candidates(flatten(rows(page), FIELDS)).iloc[0]
    >>> row[["reported_os", "reported_os_version", "device_model"]].tolist()
    ['ANDROID', '14', 'Pixel 8']
    >>> row["reported_from"]
    'os<-DEVICE_TYPE, os_version<-OS_VERSION, model<-DEVICE_MODEL'
"""

from __future__ import annotations

import pandas as pd

from fleetanalysis.sources.schema import (ISO_TIMES, any_row, from_iso, pick, provenance, stated_version, time_problems,
                                          version_number)

# The fields read from each record (dotted paths into nested objects).
FIELDS = [
    "id.time", "id.uniqueQualifier", "id.applicationName", "actor.profileId", "actor.email", "ipAddress", "events",
]
FORMAT = "google_mobile"
KIND = "admin#reports#activities"


def matches(doc: object) -> bool:
    """True for a Reports API activities page, a list of pages, or one mobile activity.

    Examples:
        >>> matches({"kind": "admin#reports#activity", "id": {"applicationName": "mobile"}})
        True
    """
    if isinstance(doc, list):
        return any_row(doc, matches)
    if not isinstance(doc, dict):
        return False
    kind = doc.get("kind")
    return kind in (KIND, "admin#reports#activity") or ("items" in doc and str(kind).startswith("admin#reports"))


def rows(doc: object) -> list:
    """The activities of a page, a list of pages, or a single activity.

    Examples:
        >>> len(rows({"kind": KIND, "items": [{}, {}]})), rows({"kind": KIND, "etag": "x"})
        (2, [])
    """
    if isinstance(doc, list):
        return [row for page in doc for row in rows(page)]
    if isinstance(doc, dict) and "items" in doc:
        items = doc["items"]
        return items if isinstance(items, list) else [items]
    if isinstance(doc, dict) and doc.get("kind") == KIND:
        # The API leaves "items" out of a page when nothing happened.
        return []
    return [doc]


def _parameters(events: object) -> dict:
    """All event parameters of one activity, by name (later events fill gaps)."""
    found: dict = {}
    # A collector that split the list may hand one event over as an object.
    for event in events if isinstance(events, list) else [events] if isinstance(events, dict) else []:
        for parameter in (event.get("parameters") or []) if isinstance(event, dict) else []:
            if not isinstance(parameter, dict) or "name" not in parameter:
                continue
            value = next((parameter[key] for key in ("value", "intValue", "boolValue") if key in parameter), None)
            found.setdefault(parameter["name"], value)
    return found


def candidates(frame: pd.DataFrame) -> pd.DataFrame:
    """Access-table candidates from flattened mobile activities.

    Examples:
        >>> candidates(pd.DataFrame({"events": [[{"parameters": [{"name": "OS_VERSION", "value": "iOS 17.4.1"}]}]]}))[
        ...     "reported_os_version"].tolist()
        ['17.4.1']
    """
    events = frame["events"] if "events" in frame.columns else pd.Series(None, index=frame.index, dtype="object")
    parameters = pd.DataFrame(events.map(_parameters).tolist(), index=frame.index)
    stamp = pick(frame, "id.time")
    when = from_iso(stamp)
    stated = pick(parameters, "OS_VERSION")
    # The OS word may sit in DEVICE_TYPE (ANDROID) or only in OS_VERSION (macOS 10.15.7,
    # "iOS 17.4" with no DEVICE_TYPE).
    named = stated.str.extract(r"^\s*([A-Za-z][A-Za-z ]*?)\s*\d", expand=False)
    system = pick(parameters, "DEVICE_TYPE").fillna(named)
    version, frozen = stated_version(system.fillna("") + " " + stated.fillna(""), version_number(stated))
    model = pick(parameters, "DEVICE_MODEL")
    application = pick(frame, "id.applicationName")
    owner, actor = pick(parameters, "USER_EMAIL"), pick(frame, "actor.email")
    return pd.DataFrame({
        "source": FORMAT,
        "event_id": pick(frame, "id.uniqueQualifier"),
        # An admin's action on a device (DEVICE_ACTION_EVENT) has the admin as actor and the
        # device's user in USER_EMAIL: the device is the user's, and the profile id the admin's.
        "user_id": pick(frame, "actor.profileId").where(owner.isna() | owner.eq(actor)),
        "user": owner.fillna(actor),
        "first_seen": when,
        "last_seen": when,
        "count": 1,
        "ip": pick(frame, "ipAddress"),
        "reported_os": system,
        "reported_os_version": version,
        "device_model": model,
        "reported_from": provenance([
            ("os", system.notna(), "DEVICE_TYPE"),
            ("os_version", version.notna(), "OS_VERSION"),
            ("os_version frozen", frozen, "OS_VERSION"),
            ("model", model.notna(), "DEVICE_MODEL"),
        ], frame.index),
        "problem": ("Google " + application + " activity: no device evidence by design (skipped)").where(
            application.notna() & (application != "mobile")).fillna(pd.Series(
                "a Google mobile activity naming no system (no DEVICE_TYPE, and no OS_VERSION naming one)",
                index=frame.index, dtype="object").where(system.isna())),
        "time_problem": time_problems(when, stamp, "id.time", ISO_TIMES),
    }, index=frame.index)
