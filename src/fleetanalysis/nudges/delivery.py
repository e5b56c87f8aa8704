"""Nudge delivery: send the planned messages and the office league through Slack.

Everything here talks to Slack through ``fleetanalysis.slack.client`` and records each
message in the ``State`` before and after it is sent. ``resolve`` first settles the
messages whose fate a crash or a lost answer left unknown, by their nudge id in the
conversation's history; ``send`` posts the plan; ``post_league`` the weekly league.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable

import pandas as pd
from slack_sdk.errors import SlackApiError

from fleetanalysis import slack
from fleetanalysis.days import utc
from fleetanalysis.errors import JobFailed
from fleetanalysis.nudges.messages import league_message
from fleetanalysis.nudges.planning import SLACK_ID
from fleetanalysis.nudges.state import State

DEFAULT_TOKEN_ENV = "SLACK_BOT_TOKEN"
# Message metadata (Slack's event_type/event_payload) carrying each message's nudge id.
EVENT_TYPE = "fleetanalysis_nudge"
# A message is looked for in history from its claim time minus this (clocks differ).
CLOCK_SKEW = pd.Timedelta(minutes=15)
HISTORY_PAGES = 20


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
    return slack.client(slack.token_from_env(token_env, "a bot token (xoxb-...)"), base_url, retries)


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


def _office_channel(target: str, client) -> tuple[str | None, str]:
    """``(member id or None, channel)`` for an office step's target: a channel id as it is,
    a lead's member id through conversations.open (their DM with the bot)."""
    if SLACK_ID.match(target):
        return target, slack.field(client.conversations_open(users=target), "conversations.open", "channel", "id")
    return None, target


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
    oldest = f"{(utc(since) - CLOCK_SKEW).timestamp():.6f}"
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
    at = utc(at if at is not None else pd.Timestamp.now(tz="UTC"))
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


def _opted_out_members(listed: set[str], client, state: State, at: pd.Timestamp) -> set[str]:
    """The member ids (lower case) of the emails on the opt-out list, looked up as a row's
    email is (users.lookupByEmail, cached in the state): a Slack access log names the same
    person by member id, so an email alone would not keep them from being messaged."""
    found = set()
    for email in sorted(item for item in listed if "@" in item):
        user_id = _resolve({"person": email}, client, state, at)
        if user_id:
            found.add(user_id.lower())
    return found


def send(planned: pd.DataFrame, client, state: State, at: pd.Timestamp | None = None,
         cooldown_days: int = 7, progress: bool | None = None, opt_out: Iterable[str] | None = None) -> pd.DataFrame:
    """Send the planned messages (``action == "send"``), recording each before and after.

    Rows of the escalation ladder (``step`` ``reminder`` or ``office``) are claimed as
    that step for that person or office since the plan's ``since``: a second run, a re-run
    after a crash or a run racing this one finds the claim and skips (``cooldown``). An
    office row goes to its ``target``: a channel, or its lead's DM.

    Returns ``planned`` plus ``outcome`` (``sent``, ``failed``, ``skipped``, or
    ``unconfirmed`` when Slack answered 5xx or the answer was lost), ``channel``, ``ts``
    and ``error``. A message is claimed as ``sending`` (with a fresh nudge id, carried in
    its metadata) before chat.postMessage and recorded ``sent``, ``failed`` or
    ``unconfirmed`` after it; a failure before posting (lookup, conversations.open
    without a channel) is recorded ``failed``. An email Slack does not know turns the
    row into ``skip``/``no-slack-id``; users with an email but no Slack id are looked up
    (users.lookupByEmail, cached in the state), and one whose member id is in ``opt_out``
    (the plan's list: a person listed by id whom the log names by email, or listed by
    email whom the log names by id: the list's emails are looked up before any message)
    becomes ``skip``/``opt-out``. A member already messaged in this run (one person the
    logs name by id and by email) is ``skip``/``same-member``: their other devices wait
    for the next run. A message another run sent since the
    plan was made is skipped (``cooldown``). When Slack asks to wait longer than a
    minute, the run stops: what was done is recorded and ``slack.WaitTooLong`` raised.

    Examples:
        >>> import pathlib, tempfile
        >>> from fleetanalysis.nudges.planning import plan
        >>> state = State(pathlib.Path(tempfile.mkdtemp()) / "nudges.sqlite")
        >>> empty = plan(pd.DataFrame({"device_id": [], "user_id": [], "user": [], "verdict": []}),
        ...              None, pd.Timestamp("2026-05-01"))
        >>> send(empty, client=None, state=state)[["outcome"]].shape
        (0, 1)
    """
    from tqdm import tqdm

    at = utc(at if at is not None else pd.Timestamp.now(tz="UTC"))
    outcome = pd.DataFrame({"outcome": "skipped", "channel": pd.NA, "ts": pd.NA, "error": pd.NA},
                           index=planned.index).astype("string")
    skipped = planned["skip_reason"].copy()
    opted_out = {item.strip().lower() for item in (opt_out or ())}
    due = planned.index[planned["action"] == "send"]
    if len(due) and opted_out:
        try:
            opted_out |= _opted_out_members(opted_out, client, state, at)
        except slack.FAILURES as error:
            # Sending without knowing who asked not to be messaged could message them.
            raise JobFailed(f"looking up the opt-out list's emails in Slack: {_slack_error(error, client)}; "
                            "nothing was sent") from None
    messaged: set[str] = set()
    for index in tqdm(due, desc="nudges", unit="message", disable=None if progress is None else not progress):
        row = planned.loc[index].to_dict()
        step = row["step"] if isinstance(row.get("step"), str) else "first"
        kind = "office" if step == "office" else "dm"
        person = {"person": row["person"], "fingerprint": row["fingerprint"], "devices": row["device_ids"],
                  "step": step}
        user_id = channel = None
        try:
            if kind == "office":
                user_id, channel = _office_channel(row["target"], client)
            else:
                user_id = _resolve(row, client, state, at)
                if user_id is None:
                    skipped.loc[index] = "no-slack-id"
                    continue
                if user_id.lower() in opted_out:
                    skipped.loc[index] = "opt-out"
                    continue
                if user_id in messaged:
                    skipped.loc[index] = "same-member"
                    continue
                channel = slack.field(client.conversations_open(users=user_id), "conversations.open",
                                      "channel", "id")
        except slack.FAILURES as error:
            problem = _slack_error(error, client)
            state.record_not_sent(kind, at, problem, user_id=user_id, channel=channel, **person)
            outcome.loc[index, ["outcome", "error"]] = ["failed", problem]
            continue
        nudge_id = uuid.uuid4().hex
        if step == "first":
            since, match = at - pd.Timedelta(days=cooldown_days), ("person", "fingerprint")
        else:  # a ladder step is sent once per person (or office) and step since the plan's moment
            since, match = utc(row["since"]), ("person", "step")
        record = state.claim(kind, at, since, match, user_id=user_id, channel=channel, nudge_id=nudge_id, **person)
        if record is None:  # another run sent it since this plan was made
            skipped.loc[index] = "cooldown"
            continue
        if kind == "dm":
            messaged.add(user_id)
        result, detail = _post(client, state, record, channel, nudge_id, at, row["text"], json.loads(row["blocks"]))
        outcome.loc[index, ["outcome", "channel", "ts" if result == "sent" else "error"]] = [result, channel, detail]
    action = skipped.isna().map({True: "send", False: "skip"}).astype("string")
    return planned.assign(skip_reason=skipped, action=action).join(outcome)


def iso_week(moment: pd.Timestamp) -> str:
    """The ISO week of ``moment``, e.g. ``2026-W18``.

    Examples:
        >>> iso_week(pd.Timestamp("2026-01-01"))
        '2026-W01'
    """
    year, week, _ = utc(moment).isocalendar()
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
    at = utc(at if at is not None else pd.Timestamp.now(tz="UTC"))
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
