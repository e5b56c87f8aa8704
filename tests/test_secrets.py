"""Tokens in a scheduled job's environment never reach a file, a notebook, the state
database or the output: fetch, ingest, report and nudges --send run as real commands
against a local Slack-shaped server that even echoes the token back in an error.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

BOT = f"xoxb-TEST-SECRET-{secrets.token_hex(12)}"
USER = f"xoxp-TEST-SECRET-{secrets.token_hex(12)}"


class Slack:
    """team.accessLogs, conversations.open, chat.postMessage and users.lookupByEmail on 127.0.0.1.

    The first chat.postMessage fails with an error that quotes the caller's token, as a
    hostile or buggy peer might.
    """

    def __init__(self, logins):
        self.logins = logins
        self.auth: list[str] = []
        self.posts = 0
        self.lock = threading.Lock()
        slack = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                url = urllib.parse.urlsplit(self.path)
                args = json.loads(body) if body.startswith("{") else {
                    key: values[0] for key, values in urllib.parse.parse_qs(body or url.query).items()}
                auth = self.headers.get("Authorization", "")
                with slack.lock:
                    slack.auth.append(auth)
                    reply = slack.reply(url.path.rsplit("/", 1)[-1], args, auth)
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def reply(self, method, args, auth):
        if method == "team.accessLogs":
            return {"ok": True, "logins": self.logins,
                    "paging": {"count": len(self.logins), "total": len(self.logins), "page": 1, "pages": 1}}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + args["users"]}}
        if method == "chat.postMessage":
            self.posts += 1
            if self.posts == 1:
                return {"ok": False, "error": f"invalid_auth for {auth.removeprefix('Bearer ')}"}
            return {"ok": True, "channel": args["channel"], "ts": f"1777000{self.posts:03d}.000100"}
        if method == "users.lookupByEmail":
            return {"ok": False, "error": "users_not_found"}
        return {"ok": False, "error": "unknown_method"}


@pytest.fixture
def slack():
    fake = Slack([])
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def forms(token: str) -> list[bytes]:
    """The token as it could be written: plain, its secret part, JSON- and URL-quoted, base64."""
    secret_part = token.split("SECRET-")[1]
    return [token.encode(), secret_part.encode(), json.dumps(token).encode(),
            urllib.parse.quote(token).encode(), base64.b64encode(token.encode())]


def test_no_token_is_written_or_printed_anywhere(tmp_path, slack):
    data, reports = tmp_path / "data", tmp_path / "reports"
    env = {**os.environ, "SLACK_BOT_TOKEN": BOT, "SLACK_USER_TOKEN": USER, "PYTHONWARNINGS": "ignore",
           "FLEETANALYSIS_CONFIG": str(tmp_path / "empty.toml"), "SLACK_SDK_LOG_LEVEL": "DEBUG"}
    (tmp_path / "empty.toml").write_text("")
    store_path = data / "processed" / "access.parquet"
    state = data / "processed" / "nudges.sqlite"
    outputs: list[str] = []

    def run(*argv, ok=(0,)):
        done = subprocess.run([sys.executable, "-m", "fleetanalysis.cli", *map(str, argv)], capture_output=True,
                              text=True, timeout=240, env=env, cwd=tmp_path)
        outputs.extend([done.stdout, done.stderr])
        assert done.returncode in ok, done.stderr[-2000:]
        return done

    run("demo", "--out", data / "demo", "--users", "40", "--weeks", "6", "--seed", "3")
    slack.logins = json.loads((data / "demo" / "slack" / "access_logs_page_001.json").read_text())["logins"]
    run("fetch", "slack", "--base-url", slack.url, "--raw-dir", data / "raw" / "slack", "--store", store_path)
    run("ingest", data / "demo" / "slack", "--store", store_path)
    run("report", "--store", store_path, "--directory", data / "demo" / "directory.csv",
        "--networks", data / "demo" / "networks.csv", "--out", reports)
    fleet = ["--store", store_path, "--directory", data / "demo" / "directory.csv", "--state", state]
    run("nudges", *fleet, "--format", "json")
    run("nudges", *fleet, "--send", "--base-url", slack.url, "--max", "3", "--format", "csv", ok=(0, 1))
    # The scheduled job reads the tokens from an environment file; its units only name the file.
    env_file = tmp_path / "private" / "fleetanalysis.env"
    env_file.parent.mkdir()
    env_file.write_text(f"SLACK_BOT_TOKEN={BOT}\nSLACK_USER_TOKEN={USER}\n")
    run("schedule", "--print", "systemd", "--env-file", env_file)
    run("schedule", "--print", "cron", "--env-file", env_file)

    # The tokens were really used, so finding none below means something.
    assert f"Bearer {USER}" in slack.auth and f"Bearer {BOT}" in slack.auth
    assert slack.posts >= 2
    files = [path for path in tmp_path.rglob("*") if path.is_file() and path != env_file]
    assert state in files and any(path.suffix == ".ipynb" for path in files)
    assert any(path.suffix == ".html" for path in files) and list((data / "raw" / "slack").iterdir())
    for token in (BOT, USER):
        needles = forms(token)
        for path in files:
            content = path.read_bytes()
            assert not [needle for needle in needles if needle in content], path
        for text in outputs:
            assert not [needle for needle in needles if needle.decode() in text]
    # The echoed error is kept, scrubbed, in the state database.
    assert b"[token]" in state.read_bytes()


@pytest.mark.parametrize("variable, argv", [
    ("SLACK_USER_TOKEN", ["fetch", "slack", "--base-url", "http://127.0.0.1:9"]),
    ("SLACK_BOT_TOKEN", ["nudges", "--send", "--devices", "devices.csv", "--base-url", "http://127.0.0.1:9"]),
])
def test_a_token_on_two_lines_is_one_line_naming_its_variable_never_the_token(tmp_path, variable, argv):
    # An outside trial: a wrapped paste in an environment file gave a traceback quoting the
    # whole token ("Invalid header value b'Bearer xoxp-...\nSECOND'"), which cron appends to its log.
    (tmp_path / "devices.csv").write_text("device_id,user_id,user,verdict\nd1,U0ANA0001,ana@x.io,outdated\n")
    (tmp_path / "empty.toml").write_text("")
    token = USER if variable == "SLACK_USER_TOKEN" else BOT
    env = {**os.environ, variable: token + "\nSECONDLINE", "PYTHONWARNINGS": "ignore",
           "FLEETANALYSIS_CONFIG": str(tmp_path / "empty.toml")}
    done = subprocess.run([sys.executable, "-m", "fleetanalysis.cli", *argv], capture_output=True, text=True,
                          timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"fleetanalysis: ${variable}: the Slack token holds a line break, space or control character: set it to "
        f"{'a user token with the admin scope (xoxp-...)' if variable == 'SLACK_USER_TOKEN' else 'a bot token (xoxb-...)'}"
        " on one line"]
    assert token.split("-")[-1] not in done.stdout + done.stderr
