"""People answer their nudge: Slack's interactivity requests, checked, recorded once.

Each DM carries buttons (``nudges.message``): "Updated", "Remind me in 3 days" and, on
every device, "Not my device". Slack posts each press to the app's Interactivity Request
URL as ``application/x-www-form-urlencoded`` with one field, ``payload`` (JSON of type
``block_actions``), signed with the app's signing secret: ``X-Slack-Signature`` is
``v0=`` + hex HMAC-SHA256 of ``v0:{X-Slack-Request-Timestamp}:{body}``.

``Gate`` refuses a request that is unsigned, badly signed, older or newer than five
minutes, or already seen (a replay of a captured request within those minutes; older
ones are stale anyway). ``read_payload`` takes out who pressed what on which message;
``record`` writes it into the nudge state's ``answers`` table once, only for a sent DM
and only from the person it was sent to. ``server`` is the HTTP endpoint
(``fleetanalysis slack-events``), one request at a time, opening the state per request
without its send lock (each write is its own transaction).

Examples:
    >>> gate = Gate("8f742231b10e8888abcd99yyyzzz85a5", now=lambda: 1531420618)
    >>> body = b"payload=%7B%7D"
    >>> signature = sign("8f742231b10e8888abcd99yyyzzz85a5", 1531420618, body)
    >>> headers = {"X-Slack-Request-Timestamp": "1531420618", "X-Slack-Signature": signature}
    >>> gate.check(body, headers), gate.check(body, headers)
    (None, 'replayed')
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer

import pandas as pd
from slack_sdk.signature import Clock, SignatureVerifier

from fleetanalysis import nudges
from fleetanalysis.errors import BadInput
from fleetanalysis.writing import escape_controls

DEFAULT_SECRET_ENV = "SLACK_SIGNING_SECRET"
# Slack's own advice: refuse requests more than five minutes from now.
MAX_AGE_SECONDS = 300
# An interactivity payload carries the message's blocks; 50 blocks stay far below this.
MAX_BODY = 512 * 1024
# Seconds a connection may stay silent: Slack sends a press at once and gives up after 3 s,
# so a client slower than this is not Slack, and must not hold a handler.
IDLE_SECONDS = 5
SNOOZE = pd.Timedelta(days=3)


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """Slack's v0 signature of ``body`` sent at ``timestamp`` (for tests and tools).

    Examples:
        >>> sign("secret", 1, b"x")[:3]
        'v0='
    """
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class _Clock(Clock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


class Gate:
    """Decides whether a request came from Slack, just now, for the first time.

    ``check(body, headers)`` returns None for a request to act on, else the reason it
    is refused: ``unsigned``, ``stale``, ``bad signature`` or ``replayed``. Signatures
    are remembered for as long as their timestamp is fresh, so a captured request cannot
    be played again; only a correctly signed one is remembered, so forged requests cannot
    crowd them out.
    """

    def __init__(self, secret: str, now: Callable[[], float] | None = None) -> None:
        self._now = now or time.time
        self._verifier = SignatureVerifier(secret, clock=_Clock(self._now))
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def check(self, body: bytes, headers: Mapping[str, str]) -> str | None:
        timestamp = headers.get("X-Slack-Request-Timestamp")
        signature = headers.get("X-Slack-Signature")
        if not timestamp or not signature:
            return "unsigned"
        if not timestamp.isascii() or not timestamp.isdigit():
            return "bad signature"
        now = self._now()
        if abs(now - int(timestamp)) > MAX_AGE_SECONDS:
            return "stale"
        try:
            valid = self._verifier.is_valid(body, timestamp, signature)
        except (UnicodeError, TypeError, ValueError):
            # slack_sdk decodes the body as UTF-8 and compares the signature as ASCII: a body
            # or a signature that is neither was never signed by Slack.
            valid = False
        if not valid:
            return "bad signature"
        with self._lock:
            self._seen = {seen: at for seen, at in self._seen.items() if abs(now - at) <= MAX_AGE_SECONDS}
            if signature in self._seen:
                return "replayed"
            self._seen[signature] = int(timestamp)
        return None


def read_payload(body: bytes) -> dict:
    """Who pressed which button on which message: ``action`` (``updated``, ``snooze``,
    ``not_mine``), ``user_id``, ``channel``, ``ts`` (the message's) and ``device_id``
    (``""`` unless ``not_mine``). ``ValueError`` names what is missing.

    Shape as Slack sends it (fields as in TotoroSyd/heybot payload.py, a recorded button press).

    Examples:
        >>> payload = {"type": "block_actions", "user": {"id": "U01AZ88AQQ4"},
        ...     "container": {"type": "message", "message_ts": "1600857119.015400", "channel_id": "D01ACC2E8S3"},
        ...     "actions": [{"type": "button", "action_id": "fleetanalysis_snooze", "value": "snooze"}]}
        >>> read_payload(urllib.parse.urlencode({"payload": json.dumps(payload)}).encode())
        {'action': 'snooze', 'user_id': 'U01AZ88AQQ4', 'channel': 'D01ACC2E8S3', 'ts': '1600857119.015400', 'device_id': ''}
    """
    try:
        fields = urllib.parse.parse_qs(body.decode("utf-8"), strict_parsing=True)
        payload = json.loads(fields["payload"][0])
    except (UnicodeDecodeError, ValueError, KeyError) as error:
        raise ValueError(f"not an interactivity payload ({type(error).__name__})") from None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        raise ValueError("not a block_actions payload")
    actions = payload.get("actions")
    action = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
    kind = nudges.ANSWER_ACTIONS.get(action.get("action_id"))
    container = payload.get("container") if isinstance(payload.get("container"), dict) else {}
    user = payload.get("user") if isinstance(payload.get("user"), dict) else {}
    found = {"action": kind, "user_id": user.get("id"), "channel": container.get("channel_id"),
             "ts": container.get("message_ts"),
             "device_id": action.get("value") if kind == "not_mine" else ""}
    missing = [name for name, value in found.items()
               if not isinstance(value, str) or (value == "" and name != "device_id")]
    if kind == "not_mine" and not found["device_id"]:
        missing.append("device_id")
    if missing:
        raise ValueError(f"payload without {', '.join(missing)}")
    return found


def record(state: nudges.State, answer: dict, at: pd.Timestamp) -> str:
    """Write ``answer`` (``read_payload``'s) into ``state``; return ``recorded`` or
    ``already recorded``, or raise ``LookupError`` (not a sent nudge, or a device it did
    not name) or ``PermissionError`` (pressed by someone the message was not sent to).
    """
    sent = state.sent_message(answer["channel"], answer["ts"])
    if sent is None:
        raise LookupError("no sent nudge with that channel and ts")
    if sent["user_id"] != answer["user_id"]:
        raise PermissionError("pressed by someone the nudge was not sent to")
    if answer["action"] == "not_mine" and answer["device_id"] not in json.loads(sent["devices"] or "[]"):
        raise LookupError("a device the nudge did not name")
    snooze_until = at + SNOOZE if answer["action"] == "snooze" else None
    new = state.record_answer(sent["id"], sent["person"], answer["user_id"], answer["action"], at,
                              answer["device_id"], snooze_until)
    return "recorded" if new else "already recorded"


def flagged(answers: pd.DataFrame) -> pd.DataFrame:
    """Devices someone called "not my device", for review: ``device_id, person, answered``
    (the first such answer per device and person).

    Examples:
        >>> flagged(pd.DataFrame({"action": ["snooze", "not_mine", "not_mine"], "device_id": ["", "d1", "d1"],
        ...     "person": ["a@x.io"] * 3, "answered": ["1", "2", "3"]})).values.tolist()
        [['d1', 'a@x.io', '2']]
    """
    disowned = answers[answers["action"] == "not_mine"]
    return disowned.drop_duplicates(["device_id", "person"])[["device_id", "person", "answered"]].reset_index(drop=True)


def server(state_path: str | os.PathLike, secret: str, host: str = "127.0.0.1", port: int = 0,
           now: Callable[[], float] | None = None, log=sys.stderr) -> HTTPServer:
    """An HTTP server taking Slack interactivity requests into the state at ``state_path``
    (call ``serve_forever``; ``server_address`` has the port when ``port`` is 0).

    Answers: 200 recorded (or already recorded), 400 not a button press of ours, 401
    unsigned, badly signed, stale or replayed, 403 from someone else, 404 an unknown
    message or device, 408 a body that did not arrive, 413 too large. One line per request
    goes to ``log``. Each connection is served on its own thread and may stay silent for
    ``IDLE_SECONDS``, so a client that connects and sends nothing holds up no one's press;
    ``server_close`` waits for the requests in hand.
    """
    clock = now or time.time
    gate = Gate(secret, clock)

    class Handler(BaseHTTPRequestHandler):
        timeout = IDLE_SECONDS

        def log_message(self, *args) -> None:
            pass

        def _reply(self, status: int, what: str) -> None:
            print(f"slack-events: {status} {escape_controls(what, one_line=True)}", file=log, flush=True)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY:
                return self._reply(413, "body missing a length or too large")
            try:
                body = self.rfile.read(length)
            except TimeoutError:
                self.close_connection = True
                return self._reply(408, "the body did not arrive in time")
            if len(body) < length:
                return self._reply(408, "the body ended before its length")
            problem = gate.check(body, self.headers)
            if problem:
                return self._reply(401, f"refused: {problem}")
            try:
                answer = read_payload(body)
            except ValueError as error:
                return self._reply(400, str(error))
            at = pd.Timestamp(clock(), unit="s", tz="UTC")
            try:
                with nudges.State(state_path, lock=False) as state:
                    # The gate remembers this process's requests; the state, those of the
                    # endpoint's earlier runs.
                    if not state.first_request(self.headers["X-Slack-Signature"],
                                               int(self.headers["X-Slack-Request-Timestamp"]), clock(),
                                               MAX_AGE_SECONDS):
                        return self._reply(401, "refused: replayed")
                    outcome = record(state, answer, at)
            except PermissionError as error:
                return self._reply(403, str(error))
            except LookupError as error:
                return self._reply(404, str(error))
            except BadInput as error:
                return self._reply(500, str(error))
            self._reply(200, f"{answer['action']} {outcome}")

    served = ThreadingHTTPServer((host, port), Handler)
    # Not daemon threads: closing the server waits for the presses in hand to be recorded.
    served.daemon_threads = False
    return served
