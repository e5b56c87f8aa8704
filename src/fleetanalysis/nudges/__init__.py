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

The package keeps the jobs apart: ``planning`` is pure (devices + message history
-> one row per person and the step it takes); ``messages`` what Slack shows (the DM's and
the league's text and Block Kit); ``advice`` what a message says about each device
(update steps, mrkdwn escaping); ``inputs`` the devices or league table and the opt-out
list a run reads; ``ladder``, pure too, the
escalation steps after a first DM (a reminder, then counts to the office); ``state`` is the SQLite
file (``State``); ``delivery`` (``resolve``, ``send``, ``post_league``) talks to Slack
through ``fleetanalysis.slack.client``. This face re-exports their public names, so
``nudges.plan`` and ``nudges.State`` read as before.
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

from fleetanalysis.nudges.advice import MAX_FIELD, NEEDS_UPDATE, client_families, escape_mrkdwn, update_steps
from fleetanalysis.nudges.ladder import office_message
from fleetanalysis.nudges.messages import ANSWER_ACTIONS, MAX_BUTTON_VALUE, MAX_DEVICE_BLOCKS, league_message, message
from fleetanalysis.nudges.planning import LADDER_COLUMNS, PLAN_COLUMNS, SLACK_ID, fingerprint, people, plan
from fleetanalysis.nudges.inputs import read_opt_out, read_table
from fleetanalysis.nudges.state import (
    ANSWERS, DEFAULT_STATE, DEMO_STATE, LOCK_WAIT, SCHEMA, State, default_state, read_answers, read_history, write_history,
)
from fleetanalysis.nudges.delivery import (
    CLOCK_SKEW, DEFAULT_TOKEN_ENV, EVENT_TYPE, HISTORY_PAGES, find_posted, iso_week, post_league, resolve, send,
    slack_client,
)

__all__ = [
    "ANSWER_ACTIONS", "ANSWERS", "LADDER_COLUMNS", "MAX_BUTTON_VALUE", "CLOCK_SKEW", "DEFAULT_STATE", "DEFAULT_TOKEN_ENV", "DEMO_STATE", "EVENT_TYPE", "HISTORY_PAGES", "LOCK_WAIT",
    "MAX_DEVICE_BLOCKS", "MAX_FIELD", "NEEDS_UPDATE", "PLAN_COLUMNS", "SCHEMA", "SLACK_ID", "State",
    "client_families", "default_state", "escape_mrkdwn", "find_posted", "fingerprint", "iso_week", "league_message", "message",
    "office_message", "people", "plan", "post_league", "read_answers", "read_history", "read_opt_out", "read_table", "resolve", "send",
    "slack_client", "update_steps", "write_history",
]
