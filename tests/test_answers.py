"""Answers to nudges through the interactivity endpoint on 127.0.0.1, with real HMAC signatures.

The payload shape (type block_actions, user.id, container.message_ts/channel_id,
actions[].action_id/value) follows a recorded Slack button press in TotoroSyd/heybot
payload.py; the signature is Slack's documented v0 scheme, computed here with hmac.
"""

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pandas as pd
import pytest

from fleetanalysis import answers, cli, nudges

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SENT_AT = pd.Timestamp("2026-05-04 09:00", tz="UTC")
TS = "1777885200.000100"
PHONE, MAC = "ana@x.io|iOS|phone", "ana@x.io|macOS|desktop"


def signed(body: bytes, secret: str = SECRET, at: int | None = None) -> dict:
    timestamp = str(int(time.time()) if at is None else at)
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": f"v0={digest}"}


def press(action_id: str, value: str, user: str = "U0ANA0001", ts: str = TS) -> bytes:
    payload = {
        "type": "block_actions", "user": {"id": user, "username": "ana", "team_id": "T01B5M3VC1X"},
        "api_app_id": "A01BGTV24LQ", "token": "legacy-verification-token-unused",
        "container": {"type": "message", "message_ts": ts, "channel_id": "D0ANA0001", "is_ephemeral": False},
        "trigger_id": "1388105719492.1379717998065.9bc163894734c1f415a2c504e81dec91",
        "team": {"id": "T01B5M3VC1X", "domain": "example"}, "channel": {"id": "D0ANA0001", "name": "directmessage"},
        "message": {"type": "message", "ts": ts, "text": "Time for a quick update"},
        "response_url": "https://hooks.slack.com/actions/T01B5M3VC1X/1/abc",
        "actions": [{"type": "button", "action_id": action_id, "block_id": "fleetanalysis_answer",
                     "value": value, "action_ts": "1777885300.000200"}]}
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


@pytest.fixture
def endpoint(tmp_path):
    path = tmp_path / "nudges.sqlite"
    with nudges.State(path) as state:
        row = state.record_sending("dm", SENT_AT, person="ana@x.io", user_id="U0ANA0001", channel="D0ANA0001",
                                   fingerprint="f", devices=json.dumps([PHONE, MAC]), nudge_id="n1")
        state.record_sent(row, TS, SENT_AT)
    log = []

    class Log:
        def write(self, text):
            log.append(text)

        def flush(self):
            pass

    server = answers.server(path, SECRET, "127.0.0.1", 0, log=Log())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/slack/events"

    def post(body: bytes, headers: dict | None) -> int:
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code

    post.port = server.server_address[1]

    def recorded() -> pd.DataFrame:
        return nudges.read_answers(path)

    yield post, recorded, path, log
    server.shutdown()
    server.server_close()


def test_a_signed_press_is_recorded_once_and_a_replay_is_refused(endpoint):
    post, recorded, _, log = endpoint
    body = press("fleetanalysis_updated", "updated")
    headers = signed(body)
    assert post(body, headers) == 200
    assert recorded()[["person", "user_id", "action", "device_id"]].values.tolist() == [
        ["ana@x.io", "U0ANA0001", "updated", ""]]
    assert post(body, headers) == 401  # the same request again: a replay
    # A second genuine press (another timestamp, so a new signature) changes nothing. Its
    # timestamp is taken from the first one's: "now - 1" met it again when a second passed.
    assert post(body, signed(body, at=int(headers["X-Slack-Request-Timestamp"]) - 1)) == 200
    assert len(recorded()) == 1
    assert any("refused: replayed" in line for line in log) and any("already recorded" in line for line in log)


def test_a_replay_is_refused_by_an_endpoint_started_since(endpoint):
    # An outside trial: a captured press played again after slack-events restarted got 200.
    post, recorded, path, _ = endpoint
    body = press("fleetanalysis_snooze", "snooze")
    headers = signed(body)
    assert post(body, headers) == 200
    with open(os.devnull, "w") as quiet:
        restarted = answers.server(path, SECRET, "127.0.0.1", 0, log=quiet)
        threading.Thread(target=restarted.serve_forever, daemon=True).start()
        request = urllib.request.Request(f"http://127.0.0.1:{restarted.server_address[1]}/slack/events", data=body,
                                         method="POST", headers=headers)
        try:
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)
        finally:
            restarted.shutdown()
            restarted.server_close()
    assert refused.value.code == 401
    assert len(recorded()) == 1


@pytest.mark.parametrize("stall", [b"", b"POST /slack/events HTTP/1.1\r\nContent-Length: 100\r\n\r\npay"],
                         ids=["silent", "short-body"])
def test_a_client_that_stalls_holds_up_no_one_else_s_press(endpoint, stall):
    # An outside trial: one connection that sent nothing kept a genuine press waiting 10 s;
    # Slack gives up after 3.
    post, recorded, _, _ = endpoint
    body = press("fleetanalysis_updated", "updated")
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", post.port)) as idle:
        idle.sendall(stall)
        assert post(body, signed(body)) == 200
        assert time.monotonic() - started < answers.IDLE_SECONDS
    assert len(recorded()) == 1


@pytest.mark.parametrize("headers", [
    lambda body: {},
    lambda body: {"X-Slack-Request-Timestamp": str(int(time.time()))},
    lambda body: signed(body, secret="not-the-signing-secret"),
    lambda body: signed(body + b"&extra=1"),
    lambda body: {**signed(body), "X-Slack-Signature": signed(body)["X-Slack-Signature"].replace("v0=", "v1=")},
    lambda body: signed(body, at=int(time.time()) - 301),
    # A minute past the 300 s limit: "+ 301" was accepted when the server's clock had moved a
    # second on by the time it checked, under load. Stale timestamps only get staler.
    lambda body: signed(body, at=int(time.time()) + 360),
    lambda body: {**signed(body), "X-Slack-Request-Timestamp": "1777885200.5"},
], ids=["unsigned", "no-signature", "wrong-secret", "other-body", "other-version", "stale", "future",
        "fractional-timestamp"])
def test_unsigned_badly_signed_and_stale_requests_are_refused(endpoint, headers):
    post, recorded, _, _ = endpoint
    body = press("fleetanalysis_updated", "updated")
    assert post(body, headers(body)) == 401
    assert recorded().empty


def test_a_body_that_is_not_utf8_is_refused_not_a_traceback(endpoint, capfd):
    # slack_sdk's verifier decodes the body as UTF-8 before it checks anything.
    post, recorded, _, log = endpoint
    body = b"payload=%7B\xff\xfe"
    assert post(body, {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=deadbeef"}) == 401
    assert post(body, {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=\u00e9"}) == 401
    assert recorded().empty and "Traceback" not in capfd.readouterr().err
    assert sum("refused: bad signature" in line for line in log) == 2


def test_presses_that_are_not_ours_to_record(endpoint):
    post, recorded, _, _ = endpoint
    cases = [(press("fleetanalysis_updated", "updated", user="U0MALLORY1"), 403),
             (press("fleetanalysis_updated", "updated", ts="1777885999.000100"), 404),
             (press("fleetanalysis_not_mine", "mallory@x.io|Windows|desktop"), 404),
             (press("someone_elses_button", "x"), 400),
             (b"payload=%7Bnot-json", 400),
             (b"", 400)]
    for body, status in cases:
        assert post(body, signed(body)) == status, body[:60]
    assert recorded().empty


DEVICES = pd.DataFrame({
    "device_id": [PHONE, MAC], "user_id": ["U0ANA0001"] * 2, "user": ["ana@x.io"] * 2,
    "platform": ["iOS", "macOS"], "device_class": ["phone", "desktop"], "os_version": ["16.1", "13.1"],
    "clients": ["Slack 24.01", "Chrome 124"], "verdict": ["outdated", "outdated"],
    "reason": ["behind 17.5", "behind 13.7"], "target": ["17.5", "13.7.8"], "exempt": [False, False]})


def test_a_snooze_holds_the_next_messages_for_three_days(endpoint):
    post, recorded, path, _ = endpoint
    body = press("fleetanalysis_snooze", "snooze")
    assert post(body, signed(body)) == 200
    answered = recorded()
    until = pd.Timestamp(answered["snooze_until"].iloc[0])
    assert until - pd.Timestamp(answered["answered"].iloc[0]) == pd.Timedelta(days=3)
    # A changed device list (new fingerprint) would be sent at once without the snooze.
    changed = DEVICES.assign(os_version=["16.2", "13.2"])
    assert nudges.plan(changed, nudges.read_history(path), until - pd.Timedelta(hours=1),
                       answers=answered)["skip_reason"].tolist() == ["snoozed"]
    assert nudges.plan(changed, nudges.read_history(path), until + pd.Timedelta(hours=1),
                       answers=answered)["action"].tolist() == ["send"]


def test_not_my_device_leaves_it_out_of_that_persons_nudges_and_flags_it(endpoint):
    post, recorded, path, _ = endpoint
    body = press("fleetanalysis_not_mine", MAC)
    assert post(body, signed(body)) == 200
    answered = recorded()
    assert answers.flagged(answered)[["device_id", "person"]].values.tolist() == [[MAC, "ana@x.io"]]
    later = SENT_AT + pd.Timedelta(days=10)
    planned = nudges.plan(DEVICES, nudges.read_history(path), later, answers=answered)
    assert json.loads(planned["device_ids"].iloc[0]) == [PHONE] and planned["action"].tolist() == ["send"]
    body = press("fleetanalysis_not_mine", PHONE)
    assert post(body, signed(body)) == 200
    planned = nudges.plan(DEVICES, nudges.read_history(path), later, answers=recorded())
    assert planned["skip_reason"].tolist() == ["not-my-device"]


def test_each_dm_carries_the_three_answers():
    _, blocks = nudges.message(DEVICES.to_dict("records"))
    actions = [element["action_id"] for block in blocks if block["type"] == "actions" for element in block["elements"]]
    accessories = [block["accessory"] for block in blocks if "accessory" in block]
    assert actions == ["fleetanalysis_updated", "fleetanalysis_snooze"]
    assert [(button["action_id"], button["value"], button["text"]["text"]) for button in accessories] == [
        ("fleetanalysis_not_mine", PHONE, "Not my device"), ("fleetanalysis_not_mine", MAC, "Not my device")]


def test_slack_events_command_serves_signed_presses(tmp_path):
    path = tmp_path / "nudges.sqlite"
    with nudges.State(path) as state:
        row = state.record_sending("dm", SENT_AT, person="ana@x.io", user_id="U0ANA0001", channel="D0ANA0001",
                                   fingerprint="f", devices=json.dumps([PHONE]), nudge_id="n1")
        state.record_sent(row, TS, SENT_AT)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = subprocess.Popen(
        [sys.executable, "-m", "fleetanalysis.cli", "slack-events", "--port", str(port), "--state", str(path)],
        env={**os.environ, "SLACK_SIGNING_SECRET": SECRET}, stderr=subprocess.PIPE, text=True)
    try:
        assert "listening on http://127.0.0.1:" in command.stderr.readline()
        body = press("fleetanalysis_updated", "updated")
        request = urllib.request.Request(f"http://127.0.0.1:{port}/", data=body, method="POST", headers=signed(body))
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
    finally:
        command.terminate()
        command.wait(timeout=10)
        command.stderr.close()
    assert nudges.read_answers(path)["action"].tolist() == ["updated"]


def test_slack_events_without_a_secret_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    assert cli.main(["slack-events", "--port", "8080", "--state", str(tmp_path / "n.sqlite")]) == 2
    error = capsys.readouterr().err
    assert "$SLACK_SIGNING_SECRET: no Slack signing secret" in error and error.count("\n") == 1
    # An outside trial: a secret on two lines was taken, and every button press then failed
    # its signature check ("401 bad signature") with no hint why.
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "8f742231b10e8888abcd99yyyzzz85a5\nsecond")
    assert cli.main(["slack-events", "--port", "8080", "--state", str(tmp_path / "n.sqlite")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "signing secret holds a line break" in error and "second" not in error


def test_stop_after_n_unanswered_nudges_and_start_again_after_an_answer(endpoint):
    post, recorded, path, _ = endpoint
    with nudges.State(path) as state:  # a 2nd DM a week later, with no answer to either
        later = SENT_AT + pd.Timedelta(days=7)
        row = state.record_sending("dm", later, person="ana@x.io", user_id="U0ANA0001", channel="D0ANA0001",
                                   fingerprint="g", devices=json.dumps([PHONE]), nudge_id="n2")
        state.record_sent(row, "1777890000.000100", later)
    when = SENT_AT + pd.Timedelta(days=20)
    plan = lambda answered, stop: nudges.plan(DEVICES, nudges.read_history(path), when, answers=answered,  # noqa: E731
                                              stop_after=stop)
    assert plan(None, 2)["skip_reason"].tolist() == ["unanswered"]
    assert plan(None, 3)["action"].tolist() == ["send"]
    assert plan(None, None)["action"].tolist() == ["send"]
    body = press("fleetanalysis_updated", "updated", ts="1777890000.000100")  # answers the 2nd
    assert post(body, signed(body)) == 200
    assert plan(recorded(), 1)["action"].tolist() == ["send"]
