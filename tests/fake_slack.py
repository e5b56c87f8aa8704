"""The local Slack-shaped Web API the nudge tests talk to with the real slack_sdk client,
and the small fleet whose people it knows.

Slack facts used: a message's ``ts`` is the epoch second it was posted, and
``conversations.history`` answers newest first, with a message's ``metadata`` only given
``include_all_metadata`` and ``oldest`` exclusive (api.slack.com/methods/conversations.history).
"""

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd

TOKEN = "xoxb-111-222-NeverWriteThisTokenAnywhere"
DAY0 = pd.Timestamp("2026-05-04 09:00", tz="UTC")


class FakeSlack:
    """A local Web API: records every call; answers scripted failures first, then success.

    Posted messages are kept per channel, with their metadata, and served back by
    conversations.history as Slack documents it: newest first, ``metadata`` only with
    ``include_all_metadata``, ``oldest`` exclusive. ``after_post`` lists faults served
    after a message was posted: an HTTP status (500, 503) or None (the connection closes
    without an answer), the ways Slack can post and still look as if it failed.
    """

    def __init__(self):
        self.calls = []
        self.script = {}
        self.after_post = []
        self.channels = {}
        self.post_delay = 0.0
        self.users = {"ana@x.io": "U0ANA0001", "bo@x.io": "U0BO00001"}
        # Slack stamps a message with the second it was posted: here the tests' clock, not
        # the machine's, so a test can move it days ahead (the ladder's steps).
        self.now = DAY0
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._answer(urllib.parse.urlsplit(self.path).query)

            def do_POST(self):
                self._answer(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())

            def _answer(self, body):
                method = urllib.parse.urlsplit(self.path).path.rsplit("/", 1)[-1]
                if body.startswith("{"):
                    args = json.loads(body)
                else:
                    args = {key: values[0] for key, values in urllib.parse.parse_qs(body).items()}
                if method == "chat.postMessage":
                    time.sleep(fake.post_delay)
                with fake.lock:
                    fake.calls.append({"method": method, "args": args,
                                       "auth": self.headers.get("Authorization")})
                    queued = fake.script.get(method) or []
                    status, headers, reply = queued.pop(0) if queued else (200, {}, fake.reply(method, args))
                    if method == "chat.postMessage" and reply.get("ok") and fake.after_post:
                        status = fake.after_post.pop(0)
                        headers, reply = {}, {"ok": False, "error": "internal_error"}
                if status is None:  # the connection breaks after the request arrived
                    self.close_connection = True
                    return
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def reply(self, method, args):
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + args["users"]}}
        if method == "chat.postMessage":
            ts = f"{int(self.now.timestamp()) + len(self.calls)}.000100"
            self.channels.setdefault(args["channel"], []).append(
                {"type": "message", "ts": ts, "text": args["text"], "metadata": args.get("metadata")})
            return {"ok": True, "channel": args["channel"], "ts": ts}
        if method == "conversations.history":
            kept = [message for message in self.channels.get(args["channel"], [])
                    if float(message["ts"]) > float(args.get("oldest") or 0)]
            if args.get("include_all_metadata") not in ("1", "true", True):
                kept = [{key: value for key, value in message.items() if key != "metadata"} for message in kept]
            return {"ok": True, "messages": kept[::-1], "has_more": False}
        if method == "users.lookupByEmail":
            if args["email"] in self.users:
                return {"ok": True, "user": {"id": self.users[args["email"]]}}
            return {"ok": False, "error": "users_not_found"}
        return {"ok": False, "error": "unknown_method"}

    def posts(self):
        return [call for call in self.calls if call["method"] == "chat.postMessage"]

    def delivered(self, channel):
        """The messages a person can read in their DM with the bot."""
        return self.channels.get(channel, [])


def posts_to(slack, channel):
    return [call for call in slack.posts() if call["args"]["channel"] == channel]


def devices(**changes):
    """A small fleet: Ana has two outdated devices, Bo one by email only, others must not be nudged."""
    frame = pd.DataFrame({
        "device_id": ["ana@x.io|iOS|phone", "ana@x.io|Linux|desktop", "bo@x.io|Windows|desktop",
                      "cy@x.io|macOS|desktop", "di@x.io|Android|phone", "ed@x.io|macOS|desktop",
                      "fi@x.io|Windows|desktop"],
        "user_id": ["U0ANA0001", "U0ANA0001", "00u1bo", "U0CY00001", "U0DI00001", "U0ED00001", "U0FI00001"],
        "user": ["ana@x.io", "ana@x.io", "bo@x.io", "cy@x.io", "di@x.io", "ed@x.io", "fi@x.io"],
        "platform": ["iOS", "Linux", "Windows", "macOS", "Android", "macOS", "Windows"],
        "device_class": ["phone", "desktop", "desktop", "desktop", "phone", "desktop", "desktop"],
        "os_version": ["16.1", pd.NA, "10.0.19045", "14.1", "10", "15.5", "10.0.22631"],
        "clients": ["Slack 24.01 <@U0BOSS>", "Chromium 120.0.6099 <!channel>", "Edge 120", "Chrome 124", "Chrome 124",
                    "Safari 18", "Edge 140"],
        "os_verdict": ["outdated", "unknown", "unsupported", "grace", "unknown", "current", "outdated"],
        "client_verdict": ["current", "outdated", "current", "current", "unknown", "current", "current"],
        "verdict": ["outdated", "outdated", "unsupported", "grace", "unknown", "current", "outdated"],
        # Reasons and targets as fleet.snapshot words them (policy's templates, parts joined by "; ").
        "reason": ["ios 17.5.1 released 2024-05-20, due after 14 days",
                   "chrome 124.0.6367.60 released 2024-04-16, due after 14 days; Linux not judged: no version in the evidence",
                   "windows 10 out of support since 2025-10-14", pd.NA,
                   "Android not judged: version frozen in the user agent; Chrome not judged: only the major version is known",
                   pd.NA, "windows 10.0.26100 released 2024-10-01, due after 14 days"],
        "target": ["iOS 17.5.1", "Chromium 124.0.6367", "Windows 10.0.26100", pd.NA, pd.NA, pd.NA, "Windows 10.0.26100"],
        "office": ["Oslo"] * 7, "department": ["IT"] * 7,
        "exempt": [False, False, False, False, False, False, True],
    })
    return frame.assign(**changes)
