"""Nudge planning, pure: who to nudge, with which step, and whether it would be a double.

``plan`` turns the devices frame and the message history into one row per person (no
I/O, no Slack), with the message each would get (written by ``messages``). The
escalation steps after a first DM are ``ladder``'s; the files a run reads are ``inputs``'.

Examples:
    >>> import pandas as pd
    >>> one = [{"device_id": "a", "os_version": "1"}]
    >>> fingerprint(one) == fingerprint([{"device_id": "a", "os_version": "2"}])
    False
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable

import pandas as pd

from fleetanalysis.days import utc
from fleetanalysis.metrics import fix_targets
from fleetanalysis.nudges import ladder as escalation
from fleetanalysis.nudges.advice import NEEDS_UPDATE
from fleetanalysis.nudges.messages import message

PLAN_COLUMNS = ["user_id", "user", "devices", "text", "blocks", "fingerprint", "action", "skip_reason"]
# With the escalation ladder: the step, an office row's channel or lead, and since when an
# equal message would be a double.
LADDER_COLUMNS = ["step", "target", "since"]

# Slack member ids start with U (or W on Enterprise Grid); Okta and Entra ids do not look like this.
SLACK_ID = re.compile(r"^[UW][A-Z0-9]{6,}$")


def fingerprint(devices: list[dict]) -> str:
    """A short hash of a person's sorted outdated devices (records) and their versions.

    The target is left out on purpose: a new release alone is no reason to write again
    within the cooldown; a device updated, added or gone is.

    Examples:
        >>> one = [{"device_id": "a", "os_version": "1", "clients": "x"}, {"device_id": "b", "os_version": "2"}]
        >>> fingerprint(one) == fingerprint(one[::-1])
        True
        >>> fingerprint(one) == fingerprint([one[0], {"device_id": "b", "os_version": "3"}])
        False
    """
    lines = sorted(
        "|".join("" if row.get(column) is None else str(row[column])
                 for column in ("device_id", "os_version", "clients"))
        for row in devices
    )
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:16]


def people(devices: pd.DataFrame) -> pd.DataFrame:
    """One row per person owning an outdated-past-grace device, and those devices.

    A person is their email when known (so Slack and Okta rows of one person meet),
    else their user id. Returns ``person, user_id`` (a Slack member id or NA), ``user``,
    ``exempt`` (all their outdated devices are exempt) and ``rows`` (the non-exempt
    devices as records, None for missing values; all of them when everything is exempt).

    Examples:
        >>> devices = pd.DataFrame({"device_id": ["1", "2", "3"], "user_id": ["00u9", "U0ANA0001", pd.NA],
        ...     "user": ["Ana@x.io", "ana@x.io", pd.NA], "verdict": ["unsupported", "outdated", "outdated"],
        ...     "exempt": [False, True, False]})
        >>> found = people(devices)
        >>> found[["person", "user_id", "exempt"]].values.tolist(), len(found["rows"][0])
        ([['ana@x.io', 'U0ANA0001', False]], 1)
    """
    columns = ["person", "user_id", "user", "exempt", "rows"]
    behind = devices[devices["verdict"].isin(NEEDS_UPDATE).fillna(False).astype(bool)]
    if behind.empty:
        return pd.DataFrame(columns=columns)
    user = behind["user"].astype("string").str.strip()
    user_id = behind["user_id"].astype("string").str.strip()
    email = user.str.lower().where(user.str.contains("@", regex=False).fillna(False))
    person = email.fillna(user_id).fillna(user)
    behind = behind.assign(_person=person, _slack=user_id.where(user_id.str.match(SLACK_ID).fillna(False)))
    behind = behind[behind["_person"].notna()]
    exempt = behind.get("exempt", pd.Series(False, index=behind.index)).astype("boolean").fillna(False)
    behind = behind.assign(_exempt=exempt.astype(bool))
    # Records once, then plain Python per person: per-person DataFrame slicing costs
    # milliseconds each, which thousands of people turn into minutes.
    fields = [column for column in behind.columns if column not in ("_person", "_slack", "_exempt")]
    records = behind[fields].astype(object).where(behind[fields].notna(), None).to_dict("records")
    slack_ids = behind["_slack"].astype(object).where(behind["_slack"].notna(), None).tolist()
    exempts = behind["_exempt"].tolist()
    found = []
    for key, positions in sorted(behind.groupby("_person", sort=False).indices.items()):
        keep = [records[at] for at in positions if not exempts[at]]
        slack = [slack_ids[at] for at in positions if slack_ids[at] is not None]
        names = [records[at]["user"] for at in positions if records[at]["user"] is not None]
        found.append({
            "person": key,
            "user_id": slack[0] if slack else pd.NA,
            "user": names[0] if names else pd.NA,
            "exempt": not keep,
            "rows": keep or [records[at] for at in positions],
        })
    return pd.DataFrame(found, columns=columns)


def plan(devices: pd.DataFrame, state: pd.DataFrame | None, as_of: pd.Timestamp,
         cooldown_days: int = 7, max_messages: int = 50,
         opt_out: Iterable[str] | None = None, answers: pd.DataFrame | None = None,
         stop_after: int | None = None, ladder=None) -> pd.DataFrame:
    """Plan one message per person with a device outdated past grace (dry run, no I/O).

    ``devices`` is the devices frame of docs/pipeline.md (sections 5-6); ``state`` is
    ``State.history()`` (or None for no history). Only ``outdated`` and ``unsupported``
    devices count: never ``unknown``, never ``grace``, never ``exempt``. Returns
    ``user_id, user, devices, text, blocks (JSON), fingerprint, action (send|skip),
    skip_reason`` (``exempt``, ``opt-out``, ``no-slack-id``, ``unconfirmed`` — a
    message whose delivery a crash left unknown, treated as sent —, ``cooldown``,
    ``max``, ``snoozed``, ``not-my-device``, ``unanswered``), plus ``person`` and
    ``device_ids`` (JSON list). Unsupported devices and people with more devices go first
    when ``max_messages`` cuts the run. ``answers`` is ``State.answers()``: a person who
    pressed "Remind me in 3 days" is ``snoozed`` until then; a device they called "Not
    my device" is left out of their messages (all of them: ``not-my-device``). With
    ``stop_after`` N, a person sent N DMs since their last answer (or ever, when they
    never answered) is not sent another (``unanswered``): habituation has set in, and
    someone should talk to them instead.

    ``ladder`` (``validation.NudgesTable``, the policy's ``[nudges]``) adds the
    escalation steps (module ``ladder``): a person whose last first DM was sent at least
    ``reminder.after_days`` ago and still owns devices it named gets a ``reminder`` DM
    about those instead (one per first DM, none within ``reminder.cooldown_days`` of the
    last, at most ``reminder.max_messages`` a run; ``answered`` when they pressed
    "Updated" on it; before it is due the first DM's cooldown applies, so ``after_days``
    should be shorter than ``cooldown_days``); then one ``office`` row per office
    with devices behind ``office.after_days`` after a reminder (module ``ladder``). The
    plan then has ``step`` (``first``, ``reminder``, ``office``), ``target`` (an office
    row's channel or lead) and ``since`` (a message of the same step claimed after it
    would be a double, ``State.claim``).

    Examples:
        >>> devices = pd.DataFrame({"device_id": ["d1"], "user_id": ["U0ANA0001"], "user": ["ana@x.io"],
        ...     "platform": ["Windows"], "device_class": ["desktop"], "os_version": ["10.0.19045"],
        ...     "clients": ["Edge 120"], "verdict": ["unsupported"], "reason": ["Windows 10 ended"],
        ...     "target": ["10.0.26100"], "exempt": [False]})
        >>> first = plan(devices, None, pd.Timestamp("2026-05-01", tz="UTC"))
        >>> first[["action", "skip_reason"]].values.tolist()
        [['send', <NA>]]
        >>> history = pd.DataFrame({"person": ["ana@x.io"], "fingerprint": first["fingerprint"],
        ...     "status": ["sent"], "created": [pd.Timestamp("2026-04-28", tz="UTC")]})
        >>> plan(devices, history, pd.Timestamp("2026-05-01", tz="UTC"))["skip_reason"].tolist()
        ['cooldown']
        >>> plan(devices, history, pd.Timestamp("2026-05-06", tz="UTC"))["action"].tolist()
        ['send']
    """
    as_of = utc(as_of)
    opted_out = {item.strip().lower() for item in (opt_out or ())}
    snoozed, not_mine = _answered(answers, as_of)
    # The version each device is asked to install is the one the report's fix table names.
    found = people(devices.assign(fix=fix_targets(devices)) if "target" in devices else devices)
    waiting = escalation.pending(state, answers) if ladder is not None and ladder.reminder.enabled else None
    rows = []
    for person in found.to_dict("records"):
        owned = [row for row in person["rows"] if (person["person"], str(row["device_id"])) not in not_mine]
        disowned = not owned
        owned = owned or person["rows"]
        step, since, named = "first", as_of - pd.Timedelta(days=cooldown_days), owned
        if waiting is not None and person["person"] in waiting.index and not disowned:
            first = waiting.loc[person["person"]]
            still = [row for row in owned if str(row["device_id"]) in set(first["devices"])]
            # Until the reminder is due, the first DM's own rules (cooldown, news) apply.
            if still and first["first_created"] <= as_of - pd.Timedelta(days=ladder.reminder.after_days):
                step, named = "reminder", still
                since = min(first["first_created"], as_of - pd.Timedelta(days=ladder.reminder.cooldown_days))
        text, blocks = message(named, reminder=step == "reminder")
        rows.append({
            "person": person["person"],
            "user_id": person["user_id"],
            "user": person["user"],
            "devices": len(named),
            "text": text,
            "blocks": json.dumps(blocks, ensure_ascii=False),
            "fingerprint": fingerprint(named),
            "device_ids": json.dumps([str(row["device_id"]) for row in named], ensure_ascii=False),
            "exempt": person["exempt"],
            "step": step,
            "since": since,
            "_disowned": disowned,
            "_unsupported": any(row["verdict"] == "unsupported" for row in named),
            "_rows": owned,
        })
    columns = PLAN_COLUMNS + ["person", "device_ids"] + (LADDER_COLUMNS if ladder is not None else [])
    if not rows:
        return _typed_plan(pd.DataFrame(columns=columns))
    planned = pd.DataFrame(rows)
    reason = pd.Series(pd.NA, index=planned.index, dtype="string")

    def skip(mask: pd.Series, why: str) -> None:
        reason.loc[mask & reason.isna()] = why

    skip(planned["exempt"], "exempt")
    ids = planned["user_id"].astype("string").str.lower()
    names = planned["user"].astype("string").str.strip().str.lower()
    skip(planned["person"].str.lower().isin(opted_out) | ids.isin(opted_out).fillna(False)
         | names.isin(opted_out).fillna(False), "opt-out")
    skip(planned["user_id"].isna() & ~planned["person"].str.contains("@", regex=False), "no-slack-id")
    skip(planned["_disowned"], "not-my-device")
    skip(planned["person"].isin(snoozed), "snoozed")
    if stop_after is not None:
        skip(planned["person"].map(_unanswered(state, answers)).fillna(0) >= stop_after, "unanswered")
    stopped = set(planned.loc[reason.eq("unanswered").fillna(False), "person"])
    reminder = planned["step"] == "reminder"
    if waiting is not None and reminder.any():
        first = waiting.reindex(planned["person"])
        skip(reminder & first["answered_updated"].fillna(False).to_numpy(), "answered")
        last = escalation.last_step(state, "dm", "reminder").reindex(planned["person"])
        recent = (last["created"] > pd.Timestamp(as_of - pd.Timedelta(days=ladder.reminder.cooldown_days))).fillna(False)
        skip(reminder & recent.to_numpy() & last["status"].eq("sent").fillna(False).to_numpy(), "cooldown")
        skip(reminder & recent.to_numpy(), "unconfirmed")
    # The same list within the cooldown was already asked about; a changed list is news.
    recent = _recent_messages(state, as_of - pd.Timedelta(days=cooldown_days))
    key = pd.MultiIndex.from_frame(planned[["person", "fingerprint"]].astype("string"))
    sent = pd.MultiIndex.from_frame(recent[["person", "fingerprint"]])
    unsure = pd.MultiIndex.from_frame(
        recent.loc[recent["status"].isin(["sending", "unconfirmed"]), ["person", "fingerprint"]])
    first_step = planned["step"] == "first"
    skip(first_step & key.isin(unsure), "unconfirmed")
    skip(first_step & key.isin(sent), "cooldown")
    order = planned.assign(_free=reason.isna()).sort_values(
        ["_free", "_unsupported", "devices", "person"], ascending=[False, False, False, True])
    cap = {"first": max_messages, "reminder": ladder.reminder.max_messages if ladder is not None else 0}
    for step, limit in cap.items():
        free = order.index[order["_free"] & (order["step"] == step)]
        skip(planned.index.isin(free[max(limit, 0):]), "max")
    planned = planned.assign(action=reason.isna().map({True: "send", False: "skip"}), skip_reason=reason)
    behind = planned.loc[order.index]
    planned = behind.reset_index(drop=True)
    if ladder is not None and ladder.office.enabled:
        excused = ~behind["skip_reason"].isin(["exempt", "not-my-device"]).fillna(False)
        offices = escalation.office_plan(behind.loc[excused, ["person"]].assign(rows=behind.loc[excused, "_rows"]),
                                        state, as_of, ladder.office, stopped)
        planned = pd.concat([planned, offices], ignore_index=True)
    return _typed_plan(planned.reindex(columns=columns))


def _answered(answers: pd.DataFrame | None, as_of: pd.Timestamp) -> tuple[set[str], set[tuple[str, str]]]:
    """From ``State.answers()``: people snoozed past ``as_of``, and (person, device id)
    pairs the person said are not theirs."""
    if answers is None or len(answers) == 0:
        return set(), set()
    until = pd.to_datetime(answers["snooze_until"], utc=True, format="ISO8601")
    snoozed = set(answers.loc[(answers["action"] == "snooze") & (until > as_of), "person"])
    disowned = answers[answers["action"] == "not_mine"]
    return snoozed, set(zip(disowned["person"], disowned["device_id"]))


def _unanswered(state: pd.DataFrame | None, answers: pd.DataFrame | None) -> dict[str, int]:
    """Per person, the DMs sent to them after their last answer (all, when none)."""
    if state is None or len(state) == 0:
        return {}
    sent = state[(state["kind"].fillna("dm") == "dm") & (state["status"] == "sent")]
    created = pd.to_datetime(sent["created"], utc=True, format="ISO8601")
    last = {}
    if answers is not None and len(answers):
        last = pd.to_datetime(answers["answered"], utc=True, format="ISO8601").groupby(answers["person"]).max().to_dict()
    later = [person not in last or moment > last[person] for person, moment in zip(sent["person"], created)]
    return sent[later].groupby("person").size().to_dict()


def _typed_plan(planned: pd.DataFrame) -> pd.DataFrame:
    """The plan with its documented dtypes, also when empty."""
    types = {"user_id": "string", "user": "string", "devices": "int64", "text": "string",
             "blocks": "string", "fingerprint": "string", "action": "string",
             "skip_reason": "string", "person": "string", "device_ids": "string",
             "step": "string", "target": "string", "since": "datetime64[ns, UTC]"}
    return planned.astype({column: kind for column, kind in types.items() if column in planned})


def _recent_messages(state: pd.DataFrame | None, since: pd.Timestamp) -> pd.DataFrame:
    """The direct messages since ``since`` that may have reached someone: ``person,
    fingerprint, status``.

    Failed messages never reached anyone; ``sending`` and ``unconfirmed`` ones may have
    (a crash or a lost answer hid the outcome).
    """
    if state is None or len(state) == 0:
        return pd.DataFrame({"person": [], "fingerprint": [], "status": []}, dtype="string")
    recent = state[state["status"].isin(["sent", "sending", "unconfirmed"])]
    recent = recent[pd.to_datetime(recent["created"], utc=True) > since]
    if "kind" in recent:
        recent = recent[recent["kind"].fillna("dm") == "dm"]
    return recent[["person", "fingerprint", "status"]].astype("string")
