"""The escalation ladder, pure: after a person's first DM, a reminder, then the office.

The original bot's approach: ask the person; if the device is still behind some days
later, ask again more urgently; if that goes unheeded too, tell the office (its channel or
its lead) how many devices remain behind there, counts only, never names. Each step has
its own delay (``after_days``), cooldown and cap per run (``[nudges.reminder]`` and
``[nudges.office]`` of the policy, ``validation.NudgesTable``).

``pending`` reads the message history for each person's last first DM and whether a
reminder followed it; ``office_plan`` counts the devices left behind after a reminder (or
by people nudges stopped reaching, ``stop_after_unanswered``) per office. ``plan`` in
``planning`` uses both; ``delivery.send`` claims every step in the nudge state before
posting, matching on the person (or office) and step, so no step is ever sent twice.

Examples:
    >>> history = pd.DataFrame({"id": [1], "kind": ["dm"], "person": ["ana@x.io"], "status": ["sent"],
    ...     "step": [None], "devices": ['["a"]'], "fingerprint": ["f1"],
    ...     "created": [pd.Timestamp("2026-05-01 09:00", tz="UTC")]})
    >>> waiting = pending(history, None)
    >>> int(waiting.loc["ana@x.io", "first_id"]), waiting.loc["ana@x.io", "devices"]
    (1, ['a'])
"""

from __future__ import annotations

import hashlib
import json

import pandas as pd
from slack_sdk.models.blocks import ContextBlock, HeaderBlock, MarkdownTextObject, PlainTextObject, SectionBlock

from fleetanalysis.nudges.advice import PLATFORM_LABEL, escape_mrkdwn

FIRST, REMINDER, OFFICE = "first", "reminder", "office"
# Messages that may have reached someone: a failed one never did.
MAY_HAVE_ARRIVED = ("sent", "sending", "unconfirmed")


def steps(history: pd.DataFrame | None) -> pd.DataFrame:
    """The DMs of ``history`` (``State.history()``) with ``step`` filled: ``first`` for
    files from before the ladder, which only knew first DMs."""
    if history is None or len(history) == 0:
        return pd.DataFrame({"id": [], "person": [], "status": [], "step": [], "devices": [],
                             "fingerprint": [], "created": pd.Series([], dtype="datetime64[ns, UTC]")})
    dms = history[history["kind"].fillna("dm") == "dm"]
    step = dms["step"] if "step" in dms else pd.Series(None, index=dms.index, dtype=object)
    return dms.assign(step=step.fillna(FIRST),
                      created=pd.to_datetime(dms["created"], utc=True, format="ISO8601"))


def pending(history: pd.DataFrame | None, answers: pd.DataFrame | None) -> pd.DataFrame:
    """Per person whose last first DM was sent and no reminder has followed it: ``first_id``,
    ``first_created``, ``fingerprint`` (of that DM) and ``devices`` (the ids it named),
    ``answered_updated`` (the person pressed "Updated" on it). Indexed by person.

    A reminder left ``sending`` or ``unconfirmed`` counts as followed: it may have arrived.
    """
    columns = ["first_id", "first_created", "fingerprint", "devices", "answered_updated"]
    dms = steps(history)
    first = dms[(dms["step"] == FIRST) & (dms["status"] == "sent")].sort_values(["created", "id"])
    if first.empty:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="person"))
    last = first.groupby("person").tail(1).set_index("person")
    later = dms[(dms["step"] == REMINDER) & dms["status"].isin(MAY_HAVE_ARRIVED)]
    followed = later.merge(last[["created"]], left_on="person", right_index=True, suffixes=("", "_first"))
    followed = set(followed.loc[followed["created"] > followed["created_first"], "person"])
    last = last[~last.index.isin(followed)]
    said = set()
    if answers is not None and len(answers):
        said = set(answers.loc[answers["action"] == "updated", "message_id"].astype("int64"))
    return pd.DataFrame({
        "first_id": last["id"].astype("int64"),
        "first_created": last["created"],
        "fingerprint": last["fingerprint"],
        "devices": last["devices"].map(lambda text: json.loads(text) if isinstance(text, str) else []),
        "answered_updated": last["id"].astype("int64").isin(said),
    }, index=last.index.rename("person"))[columns]


def last_step(history: pd.DataFrame | None, kind: str, step: str) -> pd.DataFrame:
    """Per person (an office for ``kind="office"``), the newest message of ``step`` that may
    have arrived: ``created`` and ``status``."""
    if history is None or len(history) == 0:
        return pd.DataFrame(columns=["created", "status"], index=pd.Index([], name="person"))
    rows = history[(history["kind"].fillna("dm") == kind) & history["status"].isin(MAY_HAVE_ARRIVED)]
    if kind == "dm":
        rows = steps(rows)
        rows = rows[rows["step"] == step]
    rows = rows.assign(created=pd.to_datetime(rows["created"], utc=True, format="ISO8601"))
    return rows.sort_values(["created", "id"]).groupby("person").tail(1).set_index("person")[["created", "status"]]


def reminded_devices(history: pd.DataFrame | None, before: pd.Timestamp) -> set[tuple[str, str]]:
    """(person, device id) pairs named in a sent reminder created at or before ``before``."""
    dms = steps(history)
    sent = dms[(dms["step"] == REMINDER) & (dms["status"] == "sent") & (dms["created"] <= before)]
    return {(person, device) for person, text in zip(sent["person"], sent["devices"])
            for device in (json.loads(text) if isinstance(text, str) else [])}


def office_counts(devices: list[dict]) -> pd.DataFrame:
    """How many devices per platform label (``PLATFORM_LABEL``), most first: ``platform, devices``.

    Examples:
        >>> office_counts([{"platform": "iOS"}, {"platform": "macOS"}, {"platform": "iOS"}]).values.tolist()
        [['iPhone', 2], ['Mac', 1]]
    """
    labels = pd.Series([PLATFORM_LABEL.get(row.get("platform"), "Other device") for row in devices], dtype="string")
    counts = labels.value_counts().rename_axis("platform").reset_index(name="devices")
    return counts.sort_values(["devices", "platform"], ascending=[False, True], kind="stable").reset_index(drop=True)


def office_message(office: str, devices: list[dict]) -> tuple[str, list[dict]]:
    """The text and blocks telling an office how many of its devices are still behind after
    their owners were asked twice: counts by platform, never a name.

    Examples:
        >>> text, blocks = office_message("<!here> Oslo", [{"platform": "iOS", "user": "ana@x.io"}] * 2)
        >>> print(text)
        &lt;!here&gt; Oslo: 2 devices are still behind after two requests to their owners
        - iPhone: 2
        Owners were asked directly and reminded; a word from the office helps. No names are shared here.
        >>> "ana" in json.dumps(blocks)
        False
    """
    count = len(devices)
    place = escape_mrkdwn(office)
    noun = "1 device is" if count == 1 else f"{count} devices are"
    title = f"{place}: {noun} still behind after two requests to their owners"
    lines = [f"- {row['platform']}: {row['devices']}" for row in office_counts(devices).to_dict("records")]
    note = "Owners were asked directly and reminded; a word from the office helps. No names are shared here."
    blocks = [
        HeaderBlock(text=PlainTextObject(text=f"Devices still behind in {office}"[:HeaderBlock.text_max_length])),
        SectionBlock(text=MarkdownTextObject(text=(title + "\n" + "\n".join(lines))[:SectionBlock.text_max_length])),
        ContextBlock(elements=[MarkdownTextObject(text=note)]),
    ]
    return "\n".join([title, *lines, note]), [block.to_dict() for block in blocks]


def office_plan(behind: pd.DataFrame, history: pd.DataFrame | None, as_of: pd.Timestamp, settings,
                stopped: set[str]) -> pd.DataFrame:
    """One row per office with devices still behind after a reminder at least
    ``settings.after_days`` old, or owned by a person nudges stopped reaching (``stopped``):
    the plan's columns with ``step`` = ``office``, ``person`` = ``office:<name>`` (the key
    claimed in the state), ``user`` the office, ``target`` its channel or lead and
    ``since``, the start of its cooldown.

    ``behind`` is one row per person (``planning.people``'s ``person`` and ``rows``, the
    devices they own and were not excused from). Offices without a target in
    ``settings.channels`` are skipped (``no-channel``), as are those told within the
    cooldown (``cooldown``, or ``unconfirmed`` when that message's fate is unknown), and
    those past ``settings.max_messages`` (``max``).
    """
    columns = ["person", "user_id", "user", "devices", "text", "blocks", "fingerprint", "device_ids",
               "step", "target", "since", "action", "skip_reason"]
    reminded = reminded_devices(history, as_of - pd.Timedelta(days=settings.after_days))
    per_office: dict[str, list[dict]] = {}
    for person, rows in zip(behind["person"], behind["rows"]):
        for row in rows:
            if (person, str(row["device_id"])) in reminded or person in stopped:
                office = row.get("office")
                per_office.setdefault(office if isinstance(office, str) and office else "unplaced", []).append(row)
    told = last_step(history, "office", OFFICE)
    since = as_of - pd.Timedelta(days=settings.cooldown_days)
    planned, free = [], 0
    for office, rows in sorted(per_office.items()):
        key = f"office:{office}"
        target = settings.channels.get(office)
        text, blocks = office_message(office, rows)
        reason = pd.NA
        if target is None:
            reason = "no-channel"
        elif key in told.index and told.loc[key, "created"] > since:
            reason = "cooldown" if told.loc[key, "status"] == "sent" else "unconfirmed"
        elif free >= settings.max_messages:
            reason = "max"
        else:
            free += 1
        ids = sorted(str(row["device_id"]) for row in rows)
        planned.append({
            # A member id (U…, W…; validation.SLACK_TARGET) is the lead, messaged directly.
            "person": key, "user_id": target if isinstance(target, str) and target[:1] in "UW" else pd.NA,
            "user": office, "devices": len(rows), "text": text, "blocks": json.dumps(blocks, ensure_ascii=False),
            "fingerprint": hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()[:16],
            "device_ids": json.dumps(ids, ensure_ascii=False), "step": OFFICE, "target": target,
            "since": since, "action": "send" if reason is pd.NA else "skip", "skip_reason": reason,
        })
    return pd.DataFrame(planned, columns=columns)
