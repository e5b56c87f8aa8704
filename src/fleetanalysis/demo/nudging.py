"""The demo organisation's nudge campaign: who the bot asked, when, and what they did.

From the campaign's first day the bot runs every morning, as ``fleetanalysis nudges
--send`` would under the shipped policy: a first DM to each person with a lagging iPhone or
iPad (at most ``FIRST_PER_RUN`` a day, so some wait: the observational comparison), a
reminder ``REMINDER_AFTER`` days later while the device is still behind, a first DM again
once the cooldown has passed, nothing more after ``STOP_AFTER`` DMs, and a weekly count of
what remains to each office's channel. Some people opted out and are never asked.

People respond less the more they are asked (habituation): a person updates after their
nth DM with probability ``RESPONSE[n]``, a few days later; that day their devices move to
the current release, and the logs show it. Some press "Updated" (most of them truthfully),
some "Remind me in 3 days", and a few say a device is not theirs (it is never nudged
again, and never updated). The DMs and answers are written as a nudge state
(``nudges.write_history``), so ``fleetanalysis nudges outcomes`` and the report measure a
campaign whose effect is known.

Examples:
    >>> devices = pd.DataFrame({"user_id": ["U0AAAAAAA1", "U0BBBBBBB2"], "kind": ["iphone", "ipad"],
    ...     "office": ["London", "Berlin"], "laggard": [True, True], "held": [False, False],
    ...     "os_lag": [40.0, 50.0], "os_lag_after": [40.0, 50.0]})
    >>> ran = campaign(np.random.default_rng(1), devices, pd.Timestamp("2025-03-03"), pd.Timestamp("2025-04-30"))
    >>> ran.messages["step"].iloc[:2].tolist(), ran.messages["devices"].iloc[0]
    (['first', 'first'], '["U0AAAAAAA1|iOS|phone"]')
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fleetanalysis.demo.people import DAY

# What the simulated bot does, as the shipped policy's [nudges] would.
FIRST_PER_RUN = 12
COOLDOWN = 7
REMINDER_AFTER = 5
STOP_AFTER = 4
OFFICE_EVERY = 7
OPTED_OUT = 0.08
# The chance that a person updates after their 1st, 2nd, 3rd and later DM.
RESPONSE = {1: 0.55, 2: 0.3, 3: 0.14}
# Days from the DM to the update, for those who do update.
DELAY_DAYS = np.array([0, 1, 1, 2, 2, 3, 4, 6, 9])
SAID_UPDATED = 0.5
SAID_UPDATED_BUT_DID_NOT = 0.04
SNOOZED = 0.12
NOT_MINE = 0.03
NUDGED_KINDS = {"iphone": ("iOS", "phone"), "ipad": ("iPadOS", "tablet")}
# The nudge state's columns the campaign fills (nudges.state.SCHEMA).
MESSAGE_COLUMNS = ["id", "kind", "person", "user_id", "channel", "fingerprint", "devices", "created", "status",
                   "ts", "nudge_id", "step"]
ANSWER_COLUMNS = ["message_id", "person", "user_id", "action", "device_id", "answered", "snooze_until"]


@dataclass(frozen=True)
class Campaign:
    """``update_day`` (per device, days since 1970 from which it runs its after-campaign
    delays; NA: never), ``os_lag_after`` (per device) and the nudge state's
    ``messages`` and ``answers`` rows."""

    update_day: np.ndarray
    os_lag_after: np.ndarray
    messages: pd.DataFrame
    answers: pd.DataFrame


def device_id(user_id: str, kind: str) -> str:
    """The id the analysis gives a phone or tablet (``fleet.device_ids``: user, platform, class).

    Examples:
        >>> device_id("U0AAAAAAA1", "ipad")
        'U0AAAAAAA1|iPadOS|tablet'
    """
    platform, device_class = NUDGED_KINDS[kind]
    return f"{user_id}|{platform}|{device_class}"


def campaign(rng: np.random.Generator, devices: pd.DataFrame, first_day: pd.Timestamp,
             end: pd.Timestamp) -> Campaign:
    """Run the bot every day from ``first_day`` to the day before ``end`` over ``devices``
    (``people._devices``' frame: ``user_id, kind, office, laggard, held, os_lag,
    os_lag_after``, and ``seen``: it has a client that signs in, so the bot knows it);
    every device not nudged updates (or not) on ``first_day``, as before."""
    start, stop = int(first_day.timestamp()) // DAY, int(end.timestamp()) // DAY
    count = len(devices)
    update_day = np.full(count, start, dtype=np.int64)
    lag_after = devices["os_lag_after"].to_numpy(dtype=float).copy()
    kind = devices["kind"].to_numpy()
    nudged = devices["laggard"].to_numpy() & ~devices["held"].to_numpy() & np.isin(kind, list(NUDGED_KINDS))
    nudged &= devices["seen"].to_numpy() if "seen" in devices else True
    # A nudged device that updates moves to a recent release; until then it keeps its delay.
    lag_after[nudged] = np.minimum(devices["os_lag"].to_numpy()[nudged], rng.uniform(1, 6, int(nudged.sum())))
    update_day[nudged] = np.iinfo(np.int64).max
    users = devices["user_id"].to_numpy()
    people = sorted(set(users[nudged]))
    opted_out = {person for person in people if rng.random() < OPTED_OUT}
    open_devices = {person: [int(at) for at in np.flatnonzero(nudged & (users == person))] for person in people}
    sent: dict[str, list[tuple[int, str]]] = {person: [] for person in people}
    done: set[str] = set()
    messages, answers = [], []
    for day in range(start, stop):
        firsts = 0
        for person in people:
            if person in opted_out or person in done or not open_devices[person]:
                continue
            history = sent[person]
            if len(history) >= STOP_AFTER:
                continue
            last_day, last_step = history[-1] if history else (None, None)
            if last_step == "first" and day - last_day >= REMINDER_AFTER:
                step = "reminder"
            elif last_day is None or day - last_day >= COOLDOWN:
                if firsts >= FIRST_PER_RUN:
                    continue
                step, firsts = "first", firsts + 1
            else:
                continue
            history.append((day, step))
            message_id = len(messages) + 1
            named = list(open_devices[person])
            messages.append(_message(message_id, "dm", person, day, len(messages), named, devices, step, rng))
            answers.extend(_respond(rng, message_id, person, day, len(history), named, devices, update_day,
                                    open_devices, done))
        if (day - start) % OFFICE_EVERY == OFFICE_EVERY - 1:
            _offices(rng, messages, devices, day, update_day)
    # A small organisation may have nobody to nudge: the tables still have their columns.
    return Campaign(update_day, lag_after, pd.DataFrame(messages, columns=MESSAGE_COLUMNS),
                    pd.DataFrame(answers, columns=ANSWER_COLUMNS))


def _message(message_id: int, kind: str, person: str, day: int, order: int, named: list[int],
             devices: pd.DataFrame, step: str, rng: np.random.Generator) -> dict:
    """One sent message row of the nudge state; DMs leave at 09:00 UTC, a few seconds apart."""
    created = pd.Timestamp(day * DAY + 9 * 3600 + 2 * order, unit="s", tz="UTC")
    ids = [device_id(devices["user_id"].iloc[at], devices["kind"].iloc[at]) for at in named] if kind == "dm" \
        else named
    office = kind == "office"
    return {"id": message_id, "kind": kind, "person": person, "user_id": None if office else person,
            "channel": "C0" + hashlib.sha256(person.encode()).hexdigest()[:8].upper() if office else f"D{person}",
            "fingerprint": hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:16],
            "devices": json.dumps(ids), "created": created, "status": "sent",
            "ts": f"{created.timestamp():.6f}", "nudge_id": f"{rng.integers(1 << 62):016x}", "step": step}


def _respond(rng: np.random.Generator, message_id: int, person: str, day: int, nth: int, named: list[int],
             devices: pd.DataFrame, update_day: np.ndarray, open_devices: dict, done: set) -> list[dict]:
    """What a person does after their ``nth`` DM: update (and perhaps say so), snooze,
    disown a device, or nothing; the answers given, as rows of the state's answers table."""
    answered = []

    def answer(action: str, after_days: float, device: str = "", snooze: bool = False) -> None:
        moment = pd.Timestamp((day + after_days) * DAY + 9 * 3600, unit="s", tz="UTC")
        answered.append({"message_id": message_id, "person": person, "user_id": person, "action": action,
                         "device_id": device, "answered": moment,
                         "snooze_until": moment + pd.Timedelta(days=3) if snooze else None})

    if rng.random() < NOT_MINE:
        gone = named[int(rng.integers(len(named)))]
        open_devices[person].remove(gone)
        answer("not_mine", 0.1, device_id(devices["user_id"].iloc[gone], devices["kind"].iloc[gone]))
        named = [at for at in named if at != gone]
    if named and rng.random() < RESPONSE[min(nth, 3)]:
        delay = int(rng.choice(DELAY_DAYS))
        update_day[named] = day + delay
        done.add(person)
        if rng.random() < SAID_UPDATED:
            answer("updated", delay + 0.3)
    elif named and rng.random() < SAID_UPDATED_BUT_DID_NOT:
        answer("updated", 0.2)  # said so; the logs will show otherwise
    elif named and rng.random() < SNOOZED:
        answer("snooze", 0.1, snooze=True)
    return answered


def _offices(rng: np.random.Generator, messages: list[dict], devices: pd.DataFrame, day: int,
             update_day: np.ndarray) -> None:
    """The weekly office step: per office, devices still behind a week after a reminder
    named them, counted in one message to the office's channel."""
    behind: dict[str, set[str]] = {}
    offices = dict(zip((device_id(user, kind) for user, kind in zip(devices["user_id"], devices["kind"])
                        if kind in NUDGED_KINDS), devices.loc[devices["kind"].isin(list(NUDGED_KINDS)), "office"]))
    updated = {device_id(user, kind) for user, kind, moved in zip(devices["user_id"], devices["kind"], update_day)
               if kind in NUDGED_KINDS and moved <= day}
    for row in messages:
        if row["kind"] == "dm" and row["step"] == "reminder" and (day * DAY - row["created"].timestamp()) >= 7 * DAY:
            for device in json.loads(row["devices"]):
                if device not in updated:
                    behind.setdefault(offices[device], set()).add(device)
    for office, remaining in sorted(behind.items()):
        messages.append(_message(len(messages) + 1, "office", f"office:{office}", day, len(messages),
                                 sorted(remaining), devices, "office", rng))
