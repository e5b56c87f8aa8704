"""Slack nudges: ask each owner of an outdated device, directly, to update it.

Reports inform management; nudges fix devices. The risk is habituation, so a person
gets one message naming all their devices that are outdated past grace, nobody is asked
twice within the cooldown unless their list changed, a run is capped, opt-outs and
exemptions are honoured, and a SQLite state file records every message before and after
it is sent so that a crash or a re-run never messages anyone twice.

A message whose fate is unknown (Slack answered 5xx, or the answer was lost after the
request left) is never posted again blindly: it is ``unconfirmed`` in the state until
``resolve`` finds its nudge id, carried in the message's ``metadata``, in the
conversation's history (then it was ``sent``) or reads that history to the end without
it (then it ``failed`` and may be sent again). One send run at a time holds the state
file (``State`` locks it), so a run never mistakes another's message in flight for a
lost one.

``plan`` is pure (devices + message history -> one row per person); ``State`` is the
SQLite file; ``resolve``, ``send`` and ``post_league`` talk to Slack through
``fleetanalysis.slack.client``.
Everything that reaches Slack is escaped for mrkdwn, because versions and client names
come from attacker-shaped user agents.

Examples:
    >>> import pandas as pd
    >>> devices = pd.DataFrame({
    ...     "device_id": ["ana@x.io|iOS|phone", "ana@x.io|macOS|desktop", "bo@x.io|Windows|desktop"],
    ...     "user_id": ["U0ANA0001", "U0ANA0001", pd.NA], "user": ["ana@x.io", "ana@x.io", "bo@x.io"],
    ...     "platform": ["iOS", "macOS", "Windows"], "device_class": ["phone", "desktop", "desktop"],
    ...     "os_version": ["16.1", "14.5", "10.0.22631"], "clients": ["Slack 24.01", "Chrome 124", pd.NA],
    ...     "verdict": ["outdated", "current", "grace"], "reason": ["behind 17.5", pd.NA, pd.NA],
    ...     "target": ["17.5", pd.NA, pd.NA], "exempt": [False, False, False]})
    >>> plan(devices, None, pd.Timestamp("2026-05-01", tz="UTC"))[["user_id", "devices", "action"]].values.tolist()
    [['U0ANA0001', 1, 'send']]
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import sqlite3
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from http.client import HTTPException
from pathlib import Path

import pandas as pd
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import ActionsBlock, ButtonElement

from fleetanalysis import slack
from fleetanalysis.config import PROCESSED_DIR
from fleetanalysis.errors import BadInput, JobFailed
from fleetanalysis.writing import atomic_path, escape_controls

DEFAULT_STATE = PROCESSED_DIR / "nudges.sqlite"
DEFAULT_TOKEN_ENV = "SLACK_BOT_TOKEN"
NEEDS_UPDATE = ("outdated", "unsupported")
PLAN_COLUMNS = ["user_id", "user", "devices", "text", "blocks", "fingerprint", "action", "skip_reason"]

# Slack member ids start with U (or W on Enterprise Grid); Okta and Entra ids do not look like this.
SLACK_ID = re.compile(r"^[UW][A-Z0-9]{6,}$")
# Block Kit refuses a message with more than 50 blocks; leave room for header and context.
MAX_DEVICE_BLOCKS = 40
# Versions and client names come from user agents; nobody needs more than this to recognise one.
MAX_FIELD = 120
# Message metadata (Slack's event_type/event_payload) carrying each message's nudge id.
EVENT_TYPE = "fleetanalysis_nudge"
# A message is looked for in history from its claim time minus this (clocks differ).
CLOCK_SKEW = pd.Timedelta(minutes=15)
HISTORY_PAGES = 20
# How long a send run waits for another one holding the state file.
LOCK_WAIT = 600.0
# The buttons on each DM (answered through `fleetanalysis slack-events`, module answers).
ANSWER_ACTIONS = {"fleetanalysis_updated": "updated", "fleetanalysis_snooze": "snooze",
                  "fleetanalysis_not_mine": "not_mine"}
# Slack refuses a button value longer than this; such a device gets no "Not my device" button.
MAX_BUTTON_VALUE = 2000

OS_STEPS = {
    "iOS": "Connect to Wi-Fi and charge, then open Settings > General > Software Update.",
    "iPadOS": "Connect to Wi-Fi and charge, then open Settings > General > Software Update.",
    "Android": "Open Settings > System > Software update (the menu name varies by maker). "
               "Your phone's maker decides when an update reaches it; if none is offered, "
               "check again in a few days.",
    "macOS": "Open System Settings > General > Software Update (on older Macs: System "
             "Preferences > Software Update).",
    "Windows": "Open Settings > Windows Update and select Check for updates, then restart.",
    "ChromeOS": "Open Settings > About ChromeOS > Check for updates, then restart.",
    "Linux": "Install your distribution's security updates with its package manager or "
             "software centre, then reboot.",
}
CLIENT_STEPS = {
    "Chrome": "Chrome updates itself; relaunch it to finish. To check: menu > Help > About Google Chrome.",
    "Edge": "Edge updates itself; relaunch it to finish. To check: menu > Help and feedback > About Microsoft Edge.",
    "Firefox": "Firefox updates itself; restart it to finish. To check: menu > Help > About Firefox.",
    "Safari": "Safari is updated together with the operating system: use Software Update.",
    "Samsung Internet": "Update Samsung Internet from the Galaxy Store or Google Play.",
    "Opera": "Opera updates itself; restart it to finish. To check: menu > Update & Recovery.",
    "Chromium": "Update Chromium from wherever you installed it, then relaunch it.",
    "Slack desktop": "Quit and reopen Slack to apply a downloaded update, or use Help > Check for "
                     "Updates (on a Mac: the Slack menu > Check for Updates).",
    "Slack mobile": "Update Slack from the App Store (iPhone, iPad) or Google Play (Android).",
}
# Distribution Chromium packages trail upstream because each distribution rebuilds and tests
# every release; the fix is either those security updates or a build that tracks upstream.
LINUX_CHROMIUM_STEPS = (
    "Chromium packaged by a Linux distribution often lags the upstream release while the "
    "distribution rebuilds and tests it. Install your distribution's security updates, or "
    "switch to a build that tracks upstream: Google Chrome from Google's own package "
    "repository, or the Chromium Flatpak from Flathub."
)
PLATFORM_LABEL = {"iOS": "iPhone", "iPadOS": "iPad", "Android": "Android", "macOS": "Mac",
                  "Windows": "Windows PC", "Linux": "Linux computer", "ChromeOS": "Chromebook"}


def escape_mrkdwn(text: object, limit: int | None = MAX_FIELD) -> str:
    """Text made inert for Slack mrkdwn: ``&``, ``<`` and ``>`` escaped, length capped.

    Slack reads ``<...>`` as links and mentions (``<!channel>``), so attacker-shaped text
    must never reach it raw; control characters are shown as ``\\xNN`` because the same
    text is printed to a terminal by a dry run.

    Examples:
        >>> escape_mrkdwn("<!channel> & <https://evil.example|click>")
        '&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;'
        >>> escape_mrkdwn(None)
        ''
    """
    if text is None or text is pd.NA or (isinstance(text, float) and text != text):
        return ""
    text = escape_controls(str(text))
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def client_families(clients: object) -> list[str]:
    """The client names in a devices ``clients`` cell (``"Chrome 124; Slack 4.38"``).

    Examples:
        >>> client_families("Chrome 124.0.6367; Samsung Internet 24.0; Slack")
        ['Chrome', 'Samsung Internet', 'Slack']
        >>> client_families("Chromium 120.0 <!channel>")
        ['Chromium']
        >>> client_families(pd.NA)
        []
    """
    if not isinstance(clients, str):
        return []
    families = []
    for part in clients.split(";"):
        # The name is everything before the version; anything after it is not ours to trust.
        words = []
        for word in part.strip().split(" "):
            if word[:1].isdigit():
                break
            words.append(word)
        name = " ".join(words).strip()
        if name:
            families.append(name)
    return families


def update_steps(device: dict) -> list[str]:
    """How to update one device: steps for its OS and/or its clients, whichever is behind.

    Uses ``os_verdict``/``client_verdict`` when the devices frame has them; otherwise
    gives the steps for the OS and every named client.

    Examples:
        >>> update_steps({"platform": "Linux", "device_class": "desktop", "clients": "Chromium 120",
        ...               "os_verdict": "current", "client_verdict": "outdated"})[0][:33]
        'Chromium packaged by a Linux dist'
        >>> update_steps({"platform": "iOS", "device_class": "phone", "clients": "Slack 24.01",
        ...               "os_verdict": "outdated", "client_verdict": "current"})
        ['Connect to Wi-Fi and charge, then open Settings > General > Software Update.']
        >>> update_steps({"platform": "macOS", "clients": "Chrome 131; Slack 4.20.0", "target": "Chrome 138.0",
        ...               "os_verdict": "unknown", "client_verdict": "unsupported"})[0][:24]
        'Chrome updates itself; r'
    """
    platform = device.get("platform")
    os_behind = _behind(device.get("os_verdict"))
    client_behind = _behind(device.get("client_verdict"))
    steps = []
    if os_behind is not False and platform in OS_STEPS:
        steps.append(OS_STEPS[platform])
    if client_behind is not False:
        mobile = device.get("device_class") in ("phone", "tablet") or platform in ("iOS", "iPadOS", "Android")
        families = client_families(device.get("clients"))
        # The target names the client to update ("Chrome 138.0..."): steps for the others are noise.
        named = [family for family in client_families(device.get("target")) if family in families]
        for family in named or families:
            if family == "Chromium" and platform == "Linux":
                step = LINUX_CHROMIUM_STEPS
            elif family.startswith("Slack"):
                step = CLIENT_STEPS["Slack mobile" if mobile else "Slack desktop"]
            else:
                step = CLIENT_STEPS.get(family)
            if step and step not in steps:
                steps.append(step)
    return steps


def _behind(verdict: object) -> bool | None:
    """True/False when a part verdict is known, None when the frame does not say."""
    if not isinstance(verdict, str):
        return None
    return verdict in NEEDS_UPDATE


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


def message(devices: list[dict]) -> tuple[str, list[dict]]:
    """The plain-text fallback and Block Kit blocks asking one person to update
    ``devices`` (records of the devices frame, None for missing values).

    Examples:
        >>> text, blocks = message([{"platform": "macOS", "device_class": "desktop",
        ...     "os_version": "13.1", "clients": "Chrome <b>", "verdict": "outdated",
        ...     "reason": "behind 13.7", "target": "13.7.8"}])
        >>> [block["type"] for block in blocks]
        ['header', 'section', 'section', 'actions', 'context']
        >>> [element["text"]["text"] for element in blocks[3]["elements"]]
        ['Updated', 'Remind me in 3 days']
        >>> "Chrome &lt;b&gt;" in text
        True
    """
    count = len(devices)
    noun = "device needs" if count == 1 else f"{count} devices need"
    intro = (f"Hi! Your {noun} an update. Updates close security holes that attackers "
             "already know about, and take a few minutes:")
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Time for a quick update"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": intro}},
    ]
    lines = [intro]
    reasons = []
    for row in devices[:MAX_DEVICE_BLOCKS]:
        name = PLATFORM_LABEL.get(row.get("platform"), escape_mrkdwn(row.get("platform")) or "Device")
        running = " ".join(part for part in (escape_mrkdwn(row.get("platform")),
                                             escape_mrkdwn(row.get("os_version"))) if part)
        clients = escape_mrkdwn(row.get("clients"))
        target = escape_mrkdwn(row.get("target")) or "the latest version"
        # Menu paths read better with an arrow than with an escaped ">".
        steps = " ".join(update_steps(row)).replace(" > ", " › ") or "Install the latest updates offered for it."
        steps = escape_mrkdwn(steps, limit=None)
        fields = [
            {"type": "mrkdwn", "text": f"*{name}*\n{running or 'version unknown'}"},
            {"type": "mrkdwn", "text": f"*Update to*\n{target}"},
        ]
        if clients:
            fields.append({"type": "mrkdwn", "text": f"*Apps seen*\n{clients}"})
        section = {"type": "section", "fields": fields, "text": {"type": "mrkdwn", "text": steps}}
        device_id = row.get("device_id")
        if isinstance(device_id, str) and 0 < len(device_id) <= MAX_BUTTON_VALUE:
            section["accessory"] = ButtonElement(text="Not my device", action_id="fleetanalysis_not_mine",
                                                 value=device_id).to_dict()
        blocks.append(section)
        lines.append(f"- {name} ({running}{'; ' + clients if clients else ''}): update to {target}. "
                     f"{steps}")
        if isinstance(row.get("reason"), str):
            reasons.append(escape_mrkdwn(row["reason"]))
    if count > MAX_DEVICE_BLOCKS:
        more = f"…and {count - MAX_DEVICE_BLOCKS} more devices."
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": more}})
        lines.append(more)
    why = ("Why: this device" if count == 1 else "Why: these devices") + \
        " signed in to work apps recently on a version that is behind. "
    why += ("; ".join(list(dict.fromkeys(reasons))[:10]) + ". " if reasons else "")
    why += "Thank you!"
    blocks.append(ActionsBlock(block_id="fleetanalysis_answer", elements=[
        ButtonElement(text="Updated", action_id="fleetanalysis_updated", value="updated", style="primary"),
        ButtonElement(text="Remind me in 3 days", action_id="fleetanalysis_snooze", value="snooze"),
    ]).to_dict())
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": why}]})
    lines.append(why)
    return "\n".join(lines), blocks


def read_opt_out(path: str | os.PathLike) -> set[str]:
    """User ids and emails (one a line, ``#`` comments) of people who asked not to be nudged.

    Examples:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "opt-out.txt"
        >>> _ = path.write_text("# on leave\\nU0ANA0001\\nBo@X.io  # ceo\\n")
        >>> sorted(read_opt_out(path))
        ['bo@x.io', 'u0ana0001']
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise BadInput(path, "cannot read the opt-out list", type(error).__name__) from None
    return {line.split("#", 1)[0].strip().lower() for line in text.splitlines()} - {""}


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
         stop_after: int | None = None) -> pd.DataFrame:
    """Plan one message per person with a device outdated past grace (dry run, no I/O).

    ``devices`` is the devices frame of docs/pipeline.md (sections 5-6); ``state`` is
    ``State.history()`` (or None for no history). Only ``outdated`` and ``unsupported``
    devices count: never ``unknown``, never ``grace``, never ``exempt``. Returns
    ``user_id, user, devices, text, blocks (JSON), fingerprint, action (send|skip),
    skip_reason`` (``exempt``, ``opt-out``, ``no-slack-id``, ``unconfirmed`` — a
    message whose delivery a crash left unknown, treated as sent —, ``cooldown``,
    ``max``, ``snoozed``, ``not-my-device``), plus ``person`` and ``device_ids`` (JSON
    list). Unsupported devices and people with more devices go first when
    ``max_messages`` cuts the run. ``answers`` is ``State.answers()``: a person who
    pressed "Remind me in 3 days" is ``snoozed`` until then; a device they called "Not
    my device" is left out of their messages (all of them: ``not-my-device``). With
    ``stop_after`` N, a person sent N DMs since their last answer (or ever, when they
    never answered) is not sent another (``unanswered``): habituation has set in, and
    someone should talk to them instead.

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
    as_of = _utc(as_of)
    opted_out = {item.strip().lower() for item in (opt_out or ())}
    snoozed, not_mine = _answered(answers, as_of)
    found = people(devices)
    rows = []
    for person in found.to_dict("records"):
        owned = [row for row in person["rows"] if (person["person"], str(row["device_id"])) not in not_mine]
        disowned = not owned
        owned = owned or person["rows"]
        text, blocks = message(owned)
        rows.append({
            "person": person["person"],
            "user_id": person["user_id"],
            "user": person["user"],
            "devices": len(owned),
            "text": text,
            "blocks": json.dumps(blocks, ensure_ascii=False),
            "fingerprint": fingerprint(owned),
            "device_ids": json.dumps([str(row["device_id"]) for row in owned], ensure_ascii=False),
            "exempt": person["exempt"],
            "_disowned": disowned,
            "_unsupported": any(row["verdict"] == "unsupported" for row in owned),
        })
    columns = PLAN_COLUMNS + ["person", "device_ids"]
    if not rows:
        return _typed_plan(pd.DataFrame(columns=columns))
    planned = pd.DataFrame(rows)
    reason = pd.Series(pd.NA, index=planned.index, dtype="string")

    def skip(mask: pd.Series, why: str) -> None:
        reason.loc[mask & reason.isna()] = why

    skip(planned["exempt"], "exempt")
    ids = planned["user_id"].astype("string").str.lower()
    skip(planned["person"].str.lower().isin(opted_out) | ids.isin(opted_out).fillna(False), "opt-out")
    skip(planned["user_id"].isna() & ~planned["person"].str.contains("@", regex=False), "no-slack-id")
    skip(planned["_disowned"], "not-my-device")
    skip(planned["person"].isin(snoozed), "snoozed")
    if stop_after is not None:
        skip(planned["person"].map(_unanswered(state, answers)).fillna(0) >= stop_after, "unanswered")
    # The same list within the cooldown was already asked about; a changed list is news.
    recent = _recent_messages(state, as_of - pd.Timedelta(days=cooldown_days))
    key = pd.MultiIndex.from_frame(planned[["person", "fingerprint"]].astype("string"))
    sent = pd.MultiIndex.from_frame(recent[["person", "fingerprint"]])
    unsure = pd.MultiIndex.from_frame(
        recent.loc[recent["status"].isin(["sending", "unconfirmed"]), ["person", "fingerprint"]])
    skip(pd.Series(key.isin(unsure), index=planned.index), "unconfirmed")
    skip(pd.Series(key.isin(sent), index=planned.index), "cooldown")
    order = planned.assign(_free=reason.isna()).sort_values(
        ["_free", "_unsupported", "devices", "person"], ascending=[False, False, False, True])
    free = order.index[order["_free"]]
    skip(planned.index.isin(free[max(max_messages, 0):]), "max")
    planned = planned.assign(action=reason.isna().map({True: "send", False: "skip"}), skip_reason=reason)
    planned = planned.loc[order.index].reset_index(drop=True)
    return _typed_plan(planned[columns])


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
    return planned.astype({"user_id": "string", "user": "string", "devices": "int64", "text": "string",
                           "blocks": "string", "fingerprint": "string", "action": "string",
                           "skip_reason": "string", "person": "string", "device_ids": "string"})


def _stamp(moment: object) -> str:
    """A UTC time as fixed-width text, so that SQLite compares it in time order."""
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _utc(moment: object) -> pd.Timestamp:
    """A timestamp in UTC; naive dates are taken as UTC."""
    moment = pd.Timestamp(moment)
    return moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")


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


MESSAGES = """
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,            -- 'dm' to a person, 'league' to a channel
    person TEXT,                   -- email or user id the plan grouped by
    user_id TEXT,                  -- Slack member id messaged
    channel TEXT,                  -- Slack channel (DM or league channel)
    fingerprint TEXT,
    devices TEXT,                  -- JSON list of device ids named in the message
    week TEXT,                     -- ISO week of a league post
    created TEXT NOT NULL,         -- UTC time the send began
    updated TEXT NOT NULL,
    -- sending: claimed, not answered yet (or the run died), unconfirmed: 5xx or lost answer
    status TEXT NOT NULL CHECK (status IN ('sending', 'unconfirmed', 'sent', 'failed')),
    ts TEXT,                       -- Slack's message timestamp once sent
    error TEXT,
    nudge_id TEXT                  -- carried in the message's metadata, found again in history
);
CREATE INDEX messages_person ON messages (person, created);
"""
ANSWERS = """
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages (id),
    person TEXT NOT NULL,          -- the person the message was planned for
    user_id TEXT NOT NULL,         -- Slack member id who pressed the button
    action TEXT NOT NULL CHECK (action IN ('updated', 'snooze', 'not_mine')),
    device_id TEXT NOT NULL DEFAULT '',  -- the device called "not my device"; '' otherwise
    answered TEXT NOT NULL,        -- UTC time the answer arrived
    snooze_until TEXT,             -- for a snooze: no message to the person before this
    UNIQUE (message_id, action, device_id)
);
"""
SCHEMA = MESSAGES + ANSWERS + """
CREATE TABLE lookups (
    email TEXT PRIMARY KEY,
    user_id TEXT,                  -- NULL when Slack knows no such user
    looked_up TEXT NOT NULL
);
"""


def _hold_lock(path: Path, wait: float) -> int:
    """An open descriptor of ``<path>.lock`` holding its exclusive lock, waiting up to
    ``wait`` seconds for another run to let go; the lock dies with the process."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        raise BadInput(lock_path, "cannot create the state's lock file", error.strerror or type(error).__name__) from None
    deadline = time.monotonic() + wait
    told = False
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(handle)
                raise JobFailed(f"{path}: another nudges run has held it for {wait:.0f} s; "
                                "try again when it has finished") from None
            if not told:
                print(f"waiting for another nudges run to finish with {path}", file=sys.stderr)
                told = True
            time.sleep(0.1)


class State:
    """The SQLite file recording every nudge before and after it is sent.

    Created atomically on first use (schema written to a temporary file, then renamed),
    so a half-created state file never exists. Each change is its own transaction. A
    ``State`` opened with ``lock=True`` (the default) holds an exclusive lock on
    ``<path>.lock`` until closed, so that one send run at a time works on the file; a
    second one waits up to ``wait`` seconds, saying so, then fails (``JobFailed``).

    Examples:
        >>> import pathlib, tempfile
        >>> state = State(pathlib.Path(tempfile.mkdtemp()) / "nudges.sqlite")
        >>> row = state.record_sending("dm", pd.Timestamp("2026-05-01", tz="UTC"), person="ana@x.io",
        ...                            user_id="U0ANA0001", channel="D1", fingerprint="ab", devices="[]")
        >>> state.record_sent(row, "1714550400.000100", pd.Timestamp("2026-05-01", tz="UTC"))
        >>> state.history()[["person", "status", "ts"]].values.tolist()
        [['ana@x.io', 'sent', '1714550400.000100']]
        >>> state.close()
    """

    def __init__(self, path: str | os.PathLike = DEFAULT_STATE, lock: bool = True, wait: float = LOCK_WAIT) -> None:
        self.path = Path(path)
        self._lock = _hold_lock(self.path, wait) if lock else None
        try:
            if not self.path.exists():
                with atomic_path(self.path) as temporary:
                    with contextlib.closing(sqlite3.connect(temporary)) as fresh:
                        fresh.executescript(SCHEMA)
                        fresh.commit()
            try:
                # Autocommit: every change below opens its own BEGIN IMMEDIATE transaction.
                self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                self._upgrade()
            except sqlite3.DatabaseError as error:
                raise BadInput(self.path, "not a nudges state file", str(error)) from None
        except BaseException:
            self._release()
            raise

    def _upgrade(self) -> None:
        """Bring a state file written by an earlier version to this schema (``unconfirmed``
        status, ``nudge_id`` column); SQLite cannot change a CHECK, so the table is rebuilt."""
        found = self._db.execute("SELECT sql FROM sqlite_master WHERE name = 'messages'").fetchone()
        if found is None:
            raise sqlite3.DatabaseError("no messages table")
        # Files from before issue 19 have no answers table; it is only ever added to.
        if self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'answers'").fetchone() is None:
            self._db.executescript(ANSWERS)
        if "'unconfirmed'" in found[0]:
            return
        columns = ", ".join(row[1] for row in self._db.execute("PRAGMA table_info(messages)"))
        with self._transaction():
            self._db.execute("ALTER TABLE messages RENAME TO messages_before")
            self._db.execute("DROP INDEX IF EXISTS messages_person")
            for statement in MESSAGES.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute(f"INSERT INTO messages ({columns}) SELECT {columns} FROM messages_before")
            self._db.execute("DROP TABLE messages_before")

    def _release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the lock
            self._lock = None

    def close(self) -> None:
        """Close the database and release the lock."""
        with contextlib.suppress(AttributeError):
            self._db.close()
        self._release()

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction, taking the write lock at once so concurrent runs queue."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def history(self) -> pd.DataFrame:
        """Every recorded message: ``id, kind, person, user_id, channel, fingerprint,
        devices, week, created (datetime UTC), updated, status, ts, error``."""
        frame = pd.read_sql_query("SELECT * FROM messages ORDER BY id", self._db)
        frame["created"] = pd.to_datetime(frame["created"], utc=True, format="ISO8601")
        return frame

    def record_sending(self, kind: str, at: pd.Timestamp, **fields: object) -> int:
        """Record a message about to be sent; return its row id (committed before sending)."""
        return self.claim(kind, at, None, **fields)

    def claim(self, kind: str, at: pd.Timestamp, since: pd.Timestamp | None, **fields: object) -> int | None:
        """Record a message about to be sent, unless the same ``person`` and ``fingerprint``
        were sent (or left unconfirmed) after ``since``; return its row id, or None.

        Checked and written in one transaction, so two runs at once cannot both send.
        """
        fields = {key: (None if value is None or value is pd.NA else str(value)) for key, value in fields.items()}
        when = _stamp(at)
        names = ", ".join(["kind", "created", "updated", "status", *fields])
        marks = ", ".join("?" * (4 + len(fields)))
        with self._transaction():
            if since is not None and self._db.execute(
                    "SELECT 1 FROM messages WHERE kind = ? AND person = ? AND fingerprint = ? "
                    "AND status != 'failed' AND created > ? LIMIT 1",
                    [kind, fields.get("person"), fields.get("fingerprint"), _stamp(since)]).fetchone():
                return None
            cursor = self._db.execute(f"INSERT INTO messages ({names}) VALUES ({marks})",
                                      [kind, when, when, "sending", *fields.values()])
        return int(cursor.lastrowid)

    def record_sent(self, row: int, ts: str, at: pd.Timestamp) -> None:
        """Record that Slack accepted message ``row`` with timestamp ``ts``."""
        with self._transaction():
            self._db.execute("UPDATE messages SET status = 'sent', ts = ?, updated = ? WHERE id = ?",
                             [ts, _stamp(at), row])

    def record_failed(self, row: int, error: str, at: pd.Timestamp) -> None:
        """Record that message ``row`` was not delivered, and why."""
        with self._transaction():
            self._db.execute("UPDATE messages SET status = 'failed', error = ?, updated = ? WHERE id = ?",
                             [error[:500], _stamp(at), row])

    def record_unconfirmed(self, row: int, error: str, at: pd.Timestamp) -> None:
        """Record that message ``row`` may or may not have arrived, and why (``resolve`` settles it)."""
        with self._transaction():
            self._db.execute("UPDATE messages SET status = 'unconfirmed', error = ?, updated = ? WHERE id = ?",
                             [error[:500], _stamp(at), row])

    def record_not_sent(self, kind: str, at: pd.Timestamp, error: str, **fields: object) -> int:
        """Record a message that failed before anything was posted (no channel, a refused lookup)."""
        row = self.record_sending(kind, at, **fields)
        self.record_failed(row, error, at)
        return row

    def unresolved(self) -> list[dict]:
        """Messages whose delivery is unknown and can be looked for: ``id, kind, channel,
        nudge_id, created`` of ``sending``/``unconfirmed`` rows that carry a nudge id."""
        found = self._db.execute(
            "SELECT id, kind, channel, nudge_id, created FROM messages WHERE status IN ('sending', 'unconfirmed') "
            "AND nudge_id IS NOT NULL AND channel IS NOT NULL ORDER BY id").fetchall()
        return [dict(zip(["id", "kind", "channel", "nudge_id", "created"], row)) for row in found]

    def lookup(self, email: str) -> tuple[bool, str | None]:
        """``(known, user_id)`` from the cache of users.lookupByEmail answers."""
        found = self._db.execute("SELECT user_id FROM lookups WHERE email = ?", [email.lower()]).fetchone()
        return (False, None) if found is None else (True, found[0])

    def remember_lookup(self, email: str, user_id: str | None, at: pd.Timestamp) -> None:
        """Cache Slack's answer for ``email`` (``None``: no such user)."""
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO lookups VALUES (?, ?, ?)",
                             [email.lower(), user_id, _stamp(at)])

    def sent_message(self, channel: str, ts: str) -> dict | None:
        """The sent DM Slack knows as ``ts`` in ``channel``: ``id, person, user_id, devices``."""
        found = self._db.execute(
            "SELECT id, person, user_id, devices FROM messages WHERE kind = 'dm' AND status = 'sent' "
            "AND channel = ? AND ts = ? ORDER BY id DESC LIMIT 1", [channel, ts]).fetchone()
        return None if found is None else dict(zip(["id", "person", "user_id", "devices"], found))

    def record_answer(self, message_id: int, person: str, user_id: str, action: str, at: pd.Timestamp,
                      device_id: str = "", snooze_until: pd.Timestamp | None = None) -> bool:
        """Record a button press once; False when that answer to that message was already recorded."""
        with self._transaction():
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO answers (message_id, person, user_id, action, device_id, answered, "
                "snooze_until) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [message_id, person, user_id, action, device_id, _stamp(at),
                 None if snooze_until is None else _stamp(snooze_until)])
        return cursor.rowcount == 1

    def answers(self) -> pd.DataFrame:
        """Every recorded answer: ``id, message_id, person, user_id, action, device_id,
        answered, snooze_until`` (times as UTC text)."""
        return pd.read_sql_query("SELECT * FROM answers ORDER BY id", self._db)

    def league_posted(self, channel: str, week: str) -> str | None:
        """The status of this week's league post to ``channel`` (None when never tried or failed)."""
        found = self._db.execute(
            "SELECT status FROM messages WHERE kind = 'league' AND channel = ? AND week = ? "
            "AND status != 'failed' ORDER BY id DESC LIMIT 1", [channel, week]).fetchone()
        return None if found is None else found[0]


def slack_client(token_env: str = DEFAULT_TOKEN_ENV, base_url: str | None = None, retries: int = slack.RETRIES):
    """A WebClient (``fleetanalysis.slack.client``) with the token from ``token_env``.

    Rate limits are retried at most ``retries`` times, waiting as Slack asks up to a
    minute; server errors and lost answers too, except for chat.postMessage, which is
    never repeated once Slack may have posted. A missing token is the user's mistake
    (``BadInput``); the token itself is never put in any message.

    Examples:
        >>> slack_client("FLEETANALYSIS_NO_SUCH_VARIABLE")
        Traceback (most recent call last):
        ...
        fleetanalysis.errors.BadInput: $FLEETANALYSIS_NO_SUCH_VARIABLE: no Slack token: set it to a bot token (xoxb-...)
    """
    return slack.client(slack.token_from_env(token_env, "bot token (xoxb-...)"), base_url, retries)


def _slack_error(error: Exception, client) -> str:
    """A short description of a Slack failure, with the token scrubbed from it."""
    if isinstance(error, JobFailed):
        text = str(error)
    elif isinstance(error, SlackApiError):
        # Kept whole (scrubbed below): a peer's odd error text is what someone debugging needs.
        detail = error.response.data.get("error") if isinstance(error.response.data, dict) else None
        text = f"{type(error).__name__}: {detail if isinstance(detail, str) else slack.error_name(error)}"
    else:
        text = f"{type(error).__name__}: {error}"
    text = text[:300]
    token = getattr(client, "token", None)
    return text.replace(token, "[token]") if token else text


def _resolve(row: dict, client, state: State, at: pd.Timestamp) -> str | None:
    """The Slack member id for a planned person, looking emails up once and caching them."""
    if isinstance(row.get("user_id"), str):
        return row["user_id"]
    email = row["person"]
    known, user_id = state.lookup(email)
    if known:
        return user_id
    try:
        user_id = slack.field(client.users_lookupByEmail(email=email), "users.lookupByEmail", "user", "id")
    except SlackApiError as error:
        if slack.error_name(error) != "users_not_found":
            raise
        user_id = None
    state.remember_lookup(email, user_id, at)
    return user_id


def _metadata(nudge_id: str) -> dict:
    """Slack message metadata naming the nudge, so that the message can be found again."""
    return {"event_type": EVENT_TYPE, "event_payload": {"nudge_id": nudge_id}}


def _carries(message: object, nudge_id: str) -> bool:
    """Whether a message from conversations.history carries ``nudge_id`` in its metadata."""
    metadata = message.get("metadata") if isinstance(message, dict) else None
    payload = metadata.get("event_payload") if isinstance(metadata, dict) else None
    return (isinstance(payload, dict) and metadata.get("event_type") == EVENT_TYPE
            and payload.get("nudge_id") == nudge_id)


def find_posted(client, channel: str, nudge_id: str, since: pd.Timestamp) -> tuple[bool | None, str | None]:
    """Look for the message carrying ``nudge_id`` in ``channel`` since ``since``:
    ``(True, ts)`` found, ``(False, None)`` the history was read to its end without it,
    ``(None, None)`` undecided (more than ``HISTORY_PAGES`` pages, or a pager that
    repeats its cursor or claims more without one)."""
    oldest = f"{(_utc(since) - CLOCK_SKEW).timestamp():.6f}"
    cursor, cursors = None, set()
    for _ in range(HISTORY_PAGES):
        answer = client.conversations_history(channel=channel, oldest=oldest, include_all_metadata=True,
                                              limit=200, cursor=cursor)
        data = answer.data if isinstance(answer.data, dict) else {}
        messages = data.get("messages") if isinstance(data.get("messages"), list) else []
        for message in messages:
            if _carries(message, nudge_id):
                ts = message.get("ts")
                return True, ts if isinstance(ts, str) else None
        paging = data.get("response_metadata") if isinstance(data.get("response_metadata"), dict) else {}
        cursor = paging.get("next_cursor") if isinstance(paging.get("next_cursor"), str) else None
        if not cursor:
            return (None, None) if data.get("has_more") else (False, None)
        if cursor in cursors:
            return None, None
        cursors.add(cursor)
    return None, None


def resolve(client, state: State, at: pd.Timestamp | None = None) -> dict[str, int]:
    """Settle every message whose delivery is unknown before anything is sent again.

    Each ``sending`` (a run died) or ``unconfirmed`` (5xx, lost answer) message with a
    nudge id is looked for in its channel's history (conversations.history with
    metadata; the bot needs ``im:history``, and ``channels:history`` for the league):
    found, it is ``sent`` with Slack's ``ts``; absent from the whole history since it was
    claimed, it ``failed`` and the next plan may send it again; anything else (Slack
    unreachable, a history too long or a pager going round) leaves it ``unconfirmed``,
    which plans skip. Returns how many ended ``sent``, ``failed`` and ``unconfirmed``.
    Call it holding the state's lock (``State(lock=True)``), so that no other run has a
    message in flight. Raises ``slack.WaitTooLong`` when Slack asks to wait too long.

    Examples:
        >>> import pathlib, tempfile
        >>> resolve(None, State(pathlib.Path(tempfile.mkdtemp()) / "nudges.sqlite"))
        {'sent': 0, 'failed': 0, 'unconfirmed': 0}
    """
    at = _utc(at if at is not None else pd.Timestamp.now(tz="UTC"))
    counts = {"sent": 0, "failed": 0, "unconfirmed": 0}
    for record in state.unresolved():
        problem = "the history has no end in sight"
        try:
            found, ts = find_posted(client, record["channel"], record["nudge_id"], record["created"])
        except slack.FAILURES as error:
            found, problem = None, _slack_error(error, client)
        if found:
            state.record_sent(record["id"], ts, at)
            counts["sent"] += 1
        elif found is False:
            state.record_failed(record["id"], "not in the conversation's history: never posted", at)
            counts["failed"] += 1
        else:
            state.record_unconfirmed(record["id"], f"history not conclusive: {problem}", at)
            counts["unconfirmed"] += 1
    return counts


def _post(client, state: State, record: int, channel: str, nudge_id: str, at: pd.Timestamp,
          text: str, blocks: list) -> tuple[str, str | None]:
    """Post one message claimed as ``record``; record and return ``(outcome, ts or error)``.

    Only an answer proving Slack did nothing makes it ``failed``; a 5xx or a lost answer
    makes it ``unconfirmed`` (never re-posted here: ``resolve`` settles it first).
    """
    try:
        answer = client.chat_postMessage(channel=channel, text=text, blocks=blocks, metadata=_metadata(nudge_id))
    except slack.WaitTooLong as stop:  # a 429: Slack did not post
        state.record_failed(record, str(stop), at)
        raise
    except slack.FAILURES as error:
        problem = _slack_error(error, client)
        if slack.refused(error):
            state.record_failed(record, problem, at)
            return "failed", problem
        state.record_unconfirmed(record, problem, at)
        return "unconfirmed", problem
    ts = answer.data.get("ts") if isinstance(answer.data, dict) else None
    state.record_sent(record, ts if isinstance(ts, str) else None, at)
    return "sent", ts


def send(planned: pd.DataFrame, client, state: State, at: pd.Timestamp | None = None,
         cooldown_days: int = 7, progress: bool | None = None) -> pd.DataFrame:
    """Send the planned messages (``action == "send"``), recording each before and after.

    Returns ``planned`` plus ``outcome`` (``sent``, ``failed``, ``skipped``, or
    ``unconfirmed`` when Slack answered 5xx or the answer was lost), ``channel``, ``ts``
    and ``error``. A message is claimed as ``sending`` (with a fresh nudge id, carried in
    its metadata) before chat.postMessage and recorded ``sent``, ``failed`` or
    ``unconfirmed`` after it; a failure before posting (lookup, conversations.open
    without a channel) is recorded ``failed``. An email Slack does not know turns the
    row into ``skip``/``no-slack-id``; users with an email but no Slack id are looked up
    (users.lookupByEmail, cached in the state). A message another run sent since the
    plan was made is skipped (``cooldown``). When Slack asks to wait longer than a
    minute, the run stops: what was done is recorded and ``slack.WaitTooLong`` raised.

    Examples:
        >>> import pathlib, tempfile
        >>> state = State(pathlib.Path(tempfile.mkdtemp()) / "nudges.sqlite")
        >>> empty = plan(pd.DataFrame({"device_id": [], "user_id": [], "user": [], "verdict": []}),
        ...              None, pd.Timestamp("2026-05-01"))
        >>> send(empty, client=None, state=state)[["outcome"]].shape
        (0, 1)
    """
    from tqdm import tqdm

    at = _utc(at if at is not None else pd.Timestamp.now(tz="UTC"))
    outcome = pd.DataFrame({"outcome": "skipped", "channel": pd.NA, "ts": pd.NA, "error": pd.NA},
                           index=planned.index).astype("string")
    skipped = planned["skip_reason"].copy()
    due = planned.index[planned["action"] == "send"]
    for index in tqdm(due, desc="nudges", unit="message", disable=None if progress is None else not progress):
        row = planned.loc[index].to_dict()
        person = {"person": row["person"], "fingerprint": row["fingerprint"], "devices": row["device_ids"]}
        user_id = channel = None
        try:
            user_id = _resolve(row, client, state, at)
            if user_id is None:
                skipped.loc[index] = "no-slack-id"
                continue
            channel = slack.field(client.conversations_open(users=user_id), "conversations.open", "channel", "id")
        except slack.FAILURES as error:
            problem = _slack_error(error, client)
            state.record_not_sent("dm", at, problem, user_id=user_id, **person)
            outcome.loc[index, ["outcome", "error"]] = ["failed", problem]
            continue
        nudge_id = uuid.uuid4().hex
        record = state.claim("dm", at, at - pd.Timedelta(days=cooldown_days), user_id=user_id, channel=channel,
                             nudge_id=nudge_id, **person)
        if record is None:  # another run sent it since this plan was made
            skipped.loc[index] = "cooldown"
            continue
        result, detail = _post(client, state, record, channel, nudge_id, at, row["text"], json.loads(row["blocks"]))
        outcome.loc[index, ["outcome", "channel", "ts" if result == "sent" else "error"]] = [result, channel, detail]
    action = skipped.isna().map({True: "send", False: "skip"}).astype("string")
    return planned.assign(skip_reason=skipped, action=action).join(outcome)


def league_message(league: pd.DataFrame, title: str = "Office league: devices up to date") -> tuple[str, list[dict]]:
    """The text and blocks of the office league: offices ranked by share of devices up to date.

    ``league`` is ``metrics.league()``: ``rank`` (NA when nothing was judged), ``office``,
    ``share`` (0-1) and ``change`` (since the previous period, 0-1 scale, NaN when new).

    Examples:
        >>> text, blocks = league_message(pd.DataFrame({"office": ["Oslo", "<!here>"], "rank": [1, 2],
        ...     "share": [0.97, 0.8], "change": [0.05, pd.NA]}))
        >>> print(text)
        Office league: devices up to date
        1. Oslo: 97% (+5 pts)
        2. &lt;!here&gt;: 80% (new)
    """
    lines = []
    for row in league.sort_values("rank", na_position="last").to_dict("records"):
        share = row["share"]
        change = row.get("change")
        if change is None or pd.isna(change):
            delta = "new"
        else:
            points = round(float(change) * 100)
            delta = "no change" if points == 0 else f"{points:+d} pts"
        shown = "n/a" if pd.isna(share) else f"{float(share):.0%}"
        place = "-" if pd.isna(row["rank"]) else str(int(row["rank"]))
        lines.append(f"{place}. {escape_mrkdwn(row['office'])}: {shown} ({delta})")
    body = "\n".join(lines) or "No judged devices this week."
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": body[:3000]}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text":
            "Share of each office's devices on a current release (or within its grace period). "
            "Change is since the previous week."}]},
    ]
    return f"{title}\n{body}", blocks


def iso_week(moment: pd.Timestamp) -> str:
    """The ISO week of ``moment``, e.g. ``2026-W18``.

    Examples:
        >>> iso_week(pd.Timestamp("2026-01-01"))
        '2026-W01'
    """
    year, week, _ = _utc(moment).isocalendar()
    return f"{year}-W{week:02d}"


def post_league(league: pd.DataFrame, client, state: State, channel: str,
                at: pd.Timestamp | None = None) -> str:
    """Post the office league to ``channel`` once per ISO week; return ``sent``,
    ``already-posted``, ``unconfirmed`` (a 5xx or a lost answer: ``resolve`` settles it
    before the next try) or raise ``JobFailed`` when Slack refuses.

    Examples:
        >>> import pathlib, tempfile
        >>> state = State(pathlib.Path(tempfile.mkdtemp()) / "nudges.sqlite")
        >>> row = state.record_sending("league", pd.Timestamp("2026-05-01"), channel="C1", week="2026-W18")
        >>> post_league(pd.DataFrame(), None, state, "C1", pd.Timestamp("2026-05-02"))
        'unconfirmed'
    """
    at = _utc(at if at is not None else pd.Timestamp.now(tz="UTC"))
    week = iso_week(at)
    status = state.league_posted(channel, week)
    if status is not None:
        return "already-posted" if status == "sent" else "unconfirmed"
    text, blocks = league_message(league)
    nudge_id = uuid.uuid4().hex
    record = state.record_sending("league", at, channel=channel, week=week, nudge_id=nudge_id)
    result, detail = _post(client, state, record, channel, nudge_id, at, text, blocks)
    if result == "failed":
        raise JobFailed(f"league post to {channel} failed: {detail}")
    return result


def read_table(path: str | os.PathLike, what: str = "devices") -> pd.DataFrame:
    """A devices or league table saved as Parquet or CSV (``BadInput`` when unreadable).

    Examples:
        >>> read_table("no-such-file.parquet")
        Traceback (most recent call last):
        ...
        fleetanalysis.errors.BadInput: no-such-file.parquet: cannot read the devices table: FileNotFoundError
    """
    path = Path(path)
    try:
        if path.suffix.lower() in (".csv", ".txt"):
            table = pd.read_csv(path)
        else:
            table = pd.read_parquet(path)
    except (OSError, ValueError, ImportError) as error:
        raise BadInput(path, f"cannot read the {what} table", type(error).__name__) from None
    needed = {"devices": ["device_id", "user_id", "user", "verdict"],
              "league": ["office", "rank", "share"]}[what]
    missing = [column for column in needed if column not in table.columns]
    if missing:
        raise BadInput(path, f"not a {what} table", f"missing columns {', '.join(missing)}")
    return table


def read_history(path: str | os.PathLike) -> pd.DataFrame | None:
    """The message history in the state file at ``path``, or None when there is none yet
    (a dry run never creates the state file)."""
    if not Path(path).exists():
        return None
    with State(path, lock=False) as state:
        return state.history()


def read_answers(path: str | os.PathLike) -> pd.DataFrame | None:
    """The answers in the state file at ``path`` (``State.answers()``), or None when there
    is no state file yet."""
    if not Path(path).exists():
        return None
    with State(path, lock=False) as state:
        return state.answers()


def render(result: pd.DataFrame, style: str = "table") -> str:
    """The plan (or send result) as a table, JSON records or formula-safe CSV.

    Examples:
        >>> print(render(pd.DataFrame({"user_id": ["=1+1"], "user": ["a"], "devices": [1],
        ...     "action": ["send"], "skip_reason": [pd.NA], "fingerprint": ["ab"]}), "csv"), end="")
        user_id,user,devices,action,skip_reason,fingerprint
        '=1+1,a,1,send,,ab
    """
    from fleetanalysis.writing import neutralise_formulas

    shown = ["user_id", "user", "devices", "action", "skip_reason", "fingerprint", "outcome", "error"]
    if style == "json":
        return result.drop(columns=["person"], errors="ignore").to_json(orient="records", indent=1) + "\n"
    if style == "csv":
        return neutralise_formulas(result.drop(columns=["person"], errors="ignore")).to_csv(index=False)
    # User names are attacker-shaped text: the terminal must not act on escapes in them.
    table = result[[column for column in shown if column in result.columns]].astype("string").fillna("").map(
        escape_controls)
    return ("No one to nudge." if table.empty else table.to_string(index=False)) + "\n"

