"""Nudges against the real slack_sdk WebClient talking to a local Slack-shaped server."""

import json
import os
import subprocess
import sys
import time

import pandas as pd
import pytest
from fake_slack import DAY0, TOKEN, devices, posts_to

from fleetanalysis import cli, nudges
from fleetanalysis.errors import BadInput, JobFailed


def run(fleet, state, at, **options):
    client = nudges.slack_client(base_url=options.pop("base_url"), retries=options.pop("retries", 2))
    nudges.resolve(client, state, at)
    planned = nudges.plan(fleet, state.history(), at, **options)
    return nudges.send(planned, client, state, at, options.get("cooldown_days", 7), progress=False)


def waits(monkeypatch):
    """The waits slack_sdk's retries ask for, recorded instead of slept."""
    from fleetanalysis import slack

    asked = []
    monkeypatch.setattr(slack, "time", type("Clock", (), {"sleep": staticmethod(asked.append),
                                                          "time": staticmethod(time.time)}))
    return asked


def test_plan_is_one_row_per_person_with_outdated_devices_only():
    planned = nudges.plan(devices(), None, DAY0)
    by_person = planned.set_index("person")
    assert sorted(by_person.index) == ["ana@x.io", "bo@x.io", "fi@x.io"]  # never grace, unknown, current
    assert by_person.loc["ana@x.io", "devices"] == 2
    assert by_person.loc["fi@x.io", ["action", "skip_reason"]].tolist() == ["skip", "exempt"]
    assert pd.isna(by_person.loc["bo@x.io", "user_id"])  # Okta id is not a Slack id: looked up at send
    assert by_person.loc["bo@x.io", "action"] == "send"
    assert planned["action"].isin(["send", "skip"]).all()
    # Unsupported first when --max cuts the run.
    capped = nudges.plan(devices(), None, DAY0, max_messages=1).set_index("person")
    assert capped.loc["bo@x.io", "action"] == "send" and capped.loc["ana@x.io", "skip_reason"] == "max"


def test_message_names_devices_steps_and_escapes_attacker_text():
    planned = nudges.plan(devices(), None, DAY0).set_index("person")
    text, blocks = planned.loc["ana@x.io", "text"], json.loads(planned.loc["ana@x.io", "blocks"])
    assert "Settings › General › Software Update" in text and "17.5.1" in text
    assert "Flatpak" in text and "distribution" in text  # Linux Chromium advice
    assert [block["type"] for block in blocks] == ["header", "section", "section", "section", "actions", "context"]
    everything = text + json.dumps(blocks)
    assert "<!channel>" not in everything and "&lt;!channel&gt;" in everything
    assert "<@U0BOSS>" not in everything and "&lt;@U0BOSS&gt;" in everything
    windows = planned.loc["bo@x.io", "text"]
    assert "Windows Update" in windows and "10.0.26100" in windows


def test_opt_out_and_missing_identity_are_skipped(tmp_path):
    opt_out = tmp_path / "opt-out.txt"
    opt_out.write_text("# asked not to\nU0ANA0001\n")
    fleet = devices(user=["ana@x.io", "ana@x.io", pd.NA, "cy@x.io", "di@x.io", "ed@x.io", "fi@x.io"])
    planned = nudges.plan(fleet, None, DAY0, opt_out=nudges.read_opt_out(opt_out)).set_index("person")
    assert planned.loc["ana@x.io", "skip_reason"] == "opt-out"
    assert planned.loc["00u1bo", "skip_reason"] == "no-slack-id"


def test_opt_out_by_email_user_name_or_a_list_saved_with_a_bom(tmp_path):
    # A Slack access log names people by member id and user name: an email on the list is
    # matched through the directory; Notepad and Excel save the list with a byte-order mark.
    fleet = devices(user=["ana", "ana", "bo@x.io", "cy", "di", "ed", "fi"])
    directory = pd.DataFrame({"user_id": ["U0ANA0001"], "email": ["ana@x.io"]})
    for text in ["ana@x.io\n", "Ana  # on leave\n", "\ufeffU0ANA0001\n"]:
        opt_out = tmp_path / "opt-out.txt"
        opt_out.write_bytes(text.encode("utf-8"))
        planned = nudges.plan(fleet, None, DAY0, opt_out=nudges.read_opt_out(opt_out, directory)).set_index("person")
        assert planned.loc["U0ANA0001", "skip_reason"] == "opt-out", text
        assert planned.loc["bo@x.io", "action"] == "send"


def test_an_opt_out_by_member_id_holds_for_a_person_the_log_names_by_email(slack, tmp_path):
    # An outside trial: an Okta, Entra or CSV log names people by email, the opt-out list by
    # the Slack member id; the directory names both, and Slack's lookup answers the same id.
    opt_out = tmp_path / "opt-out.txt"
    opt_out.write_text("U0BO00001\n")
    directory = pd.DataFrame({"user_id": ["U0BO00001"], "email": ["bo@x.io"]})
    planned = nudges.plan(devices(), None, DAY0, opt_out=nudges.read_opt_out(opt_out, directory)).set_index("person")
    assert planned.loc["bo@x.io", "skip_reason"] == "opt-out"
    # Without a directory, the member id Slack gives the email at send time is checked.
    listed = nudges.read_opt_out(opt_out)
    state = nudges.State(tmp_path / "nudges.sqlite")
    client = nudges.slack_client(base_url=slack.url)
    sent = nudges.send(nudges.plan(devices(), None, DAY0, opt_out=listed), client, state, DAY0, progress=False,
                       opt_out=listed).set_index("person")
    assert sent.loc["bo@x.io", ["action", "skip_reason", "outcome"]].tolist() == ["skip", "opt-out", "skipped"]
    assert sent.loc["ana@x.io", "outcome"] == "sent"
    assert [post["args"]["channel"] for post in slack.posts()] == ["DU0ANA0001"]
    state.close()


def _named_twice():
    """Ana's phone seen by the Slack access log (member id and user name), her PC by Okta (email)."""
    fleet = devices()
    fleet.loc[0, ["user_id", "user"]] = ["U0ANA0001", "ana"]
    fleet.loc[1, ["user_id", "user"]] = ["00uana", "ana@x.io"]
    return fleet


def test_one_member_the_logs_name_by_id_and_by_email_gets_one_message_a_run(slack, tmp_path):
    # An outside trial: Slack's lookup gave ana@x.io the member id the Slack log names, and
    # the same person got two DMs in one run.
    state = nudges.State(tmp_path / "nudges.sqlite")
    sent = run(_named_twice(), state, DAY0, base_url=slack.url).set_index("person")
    assert sent.loc[["U0ANA0001", "ana@x.io"], "skip_reason"].fillna("").tolist() == ["", "same-member"]
    assert len(posts_to(slack, "DU0ANA0001")) == 1
    state.close()


@pytest.mark.parametrize("listed", ["ana@x.io", "\u200bAna@X.io\u200b", "<@U0ANA0001>", "<@U0ANA0001|ana>"])
def test_an_opt_out_by_email_holds_for_the_member_the_slack_log_names_by_id(slack, tmp_path, listed):
    # An outside trial: with no directory, an email on the list never kept the person's
    # Slack-seen devices from a DM; a zero-width space or a pasted mention matched no one.
    opt_out = tmp_path / "opt-out.txt"
    opt_out.write_text(listed + "\n", encoding="utf-8")
    listed = nudges.read_opt_out(opt_out)
    state = nudges.State(tmp_path / "nudges.sqlite")
    client = nudges.slack_client(base_url=slack.url)
    sent = nudges.send(nudges.plan(_named_twice(), None, DAY0, opt_out=listed), client, state, DAY0,
                       progress=False, opt_out=listed).set_index("person")
    assert set(sent.loc[["U0ANA0001", "ana@x.io"], "skip_reason"]) == {"opt-out"}
    assert posts_to(slack, "DU0ANA0001") == []
    assert posts_to(slack, "DU0BO00001")  # everyone else is still asked
    state.close()


def test_an_opt_out_list_slack_cannot_look_up_sends_nothing(slack, tmp_path):
    """Without the member ids of the list's emails, a DM could reach someone who opted out."""
    slack.script["users.lookupByEmail"] = [(500, {}, {"ok": False, "error": "internal_error"})] * 10
    listed = {"ana@x.io"}
    state = nudges.State(tmp_path / "nudges.sqlite")
    client = nudges.slack_client(base_url=slack.url, retries=0)
    with pytest.raises(JobFailed, match="opt-out list's emails.*nothing was sent"):
        nudges.send(nudges.plan(_named_twice(), None, DAY0, opt_out=listed), client, state, DAY0,
                    progress=False, opt_out=listed)
    assert slack.posts() == []
    state.close()


def test_send_then_cooldown_then_changed_list_then_after_a_week(slack, tmp_path):
    state = nudges.State(tmp_path / "nudges.sqlite")
    first = run(devices(), state, DAY0, base_url=slack.url)
    assert first.set_index("person")["outcome"].to_dict() == {"ana@x.io": "sent", "bo@x.io": "sent",
                                                              "fi@x.io": "skipped"}
    assert len(slack.posts()) == 2
    assert sum(call["method"] == "users.lookupByEmail" for call in slack.calls) == 1
    post = slack.posts()[0]["args"]
    assert post["channel"].startswith("D") and post["text"] and isinstance(post["blocks"], list)

    again = run(devices(), state, DAY0 + pd.Timedelta(days=3), base_url=slack.url)
    assert len(slack.posts()) == 2 and set(again["skip_reason"].dropna()) == {"cooldown", "exempt"}
    assert sum(call["method"] == "users.lookupByEmail" for call in slack.calls) == 1

    changed = devices(os_version=["16.2", pd.NA, "10.0.19045", "14.1", "10", "15.5", "10.0.22631"])
    third = run(changed, state, DAY0 + pd.Timedelta(days=4), base_url=slack.url).set_index("person")
    assert third["outcome"].to_dict()["ana@x.io"] == "sent" and third.loc["bo@x.io", "skip_reason"] == "cooldown"

    week_later = run(changed, state, DAY0 + pd.Timedelta(days=12), base_url=slack.url)
    assert (week_later.set_index("person").loc[["ana@x.io", "bo@x.io"], "outcome"] == "sent").all()
    history = state.history()
    assert history["status"].eq("sent").sum() == len(slack.posts()) == 5
    state.close()


def test_crash_after_posting_never_sends_twice(slack, tmp_path, monkeypatch):
    state = nudges.State(tmp_path / "nudges.sqlite")

    def crash(*args, **kwargs):
        raise RuntimeError("power cut")

    monkeypatch.setattr(nudges.State, "record_sent", crash)
    with pytest.raises(RuntimeError):
        run(devices(), state, DAY0, base_url=slack.url)
    monkeypatch.undo()
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    assert len(slack.posts()) == 1
    crashed = state.history().query("status == 'sending'")
    assert len(crashed) == 1
    rerun = run(devices(), state, DAY0 + pd.Timedelta(hours=1), base_url=slack.url).set_index("person")
    # The message is found in the DM's history by its nudge id: sent, not sent again.
    assert rerun.loc[crashed["person"].iloc[0], "skip_reason"] == "cooldown"
    assert state.history().set_index("id").loc[crashed["id"].iloc[0], "status"] == "sent"
    channels = [call["args"]["channel"] for call in slack.posts()]
    assert channels.count(crashed["channel"].iloc[0]) == 1 and len(channels) == 2
    state.close()


def test_rate_limit_is_retried_and_sends_once(slack, tmp_path):
    slack.script["chat.postMessage"] = [(429, {"Retry-After": "0"}, {"ok": False, "error": "ratelimited"})]
    state = nudges.State(tmp_path / "nudges.sqlite")
    sent = run(devices(), state, DAY0, base_url=slack.url)
    assert sent["outcome"].eq("sent").sum() == 2
    assert len(slack.posts()) == 3  # one refused with 429, then one per person
    assert state.history()["status"].tolist() == ["sent", "sent"]
    state.close()


def test_a_server_error_that_did_not_post_is_resolved_and_sent_once_more(slack, tmp_path):
    slack.script["chat.postMessage"] = [(500, {}, {"ok": False, "error": "internal_error"})] * 10
    state = nudges.State(tmp_path / "nudges.sqlite")
    first = run(devices(), state, DAY0, base_url=slack.url, retries=1, max_messages=1)
    assert first["outcome"].tolist().count("unconfirmed") == 1
    assert len(slack.posts()) == 1  # a 5xx on chat.postMessage is never retried blindly
    assert state.history()["status"].tolist() == ["unconfirmed"]
    assert TOKEN not in first["error"].str.cat()
    slack.script.clear()
    again = run(devices(), state, DAY0 + pd.Timedelta(hours=1), base_url=slack.url, max_messages=1)
    channel = slack.posts()[0]["args"]["channel"]
    assert again["outcome"].tolist().count("sent") == 1 and len(slack.delivered(channel)) == 1
    assert state.history()["status"].tolist() == ["failed", "sent"]  # not in history: never posted
    state.close()


@pytest.mark.parametrize("fault", [500, 503, None], ids=["500", "503", "connection-closed"])
def test_a_message_posted_before_a_failure_is_found_in_history_not_sent_twice(slack, tmp_path, fault):
    # slack_sdk's ServerErrorRetryHandler re-posts on 500/503, its ConnectionErrorRetryHandler
    # on RemoteDisconnected: either way the person would read the same nudge twice.
    slack.after_post = [fault]
    state = nudges.State(tmp_path / "nudges.sqlite")
    first = run(devices(), state, DAY0, base_url=slack.url, retries=2, max_messages=1)
    channel = slack.posts()[0]["args"]["channel"]
    assert first["outcome"].tolist().count("unconfirmed") == 1
    assert len(slack.posts()) == 1 and len(slack.delivered(channel)) == 1
    assert state.history()["status"].tolist() == ["unconfirmed"]
    assert slack.delivered(channel)[0]["metadata"]["event_type"] == nudges.EVENT_TYPE
    again = run(devices(), state, DAY0 + pd.Timedelta(hours=1), base_url=slack.url, max_messages=1)
    assert len(slack.delivered(channel)) == 1 and len(posts_to(slack, channel)) == 1
    assert again.set_index("person").loc["bo@x.io", "skip_reason"] == "cooldown"
    first_message = state.history().iloc[0]
    assert first_message["status"] == "sent" and first_message["ts"] == slack.delivered(channel)[0]["ts"]
    state.close()


@pytest.mark.parametrize("answer, missing", [({"ok": True}, "channel.id"), ({"ok": True, "channel": None}, "channel.id"),
                                             ({"ok": True, "channel": "D1"}, "channel.id"),
                                             (["ok"], "a JSON object"), ("ok", "a JSON object")])
def test_conversations_open_without_a_channel_is_one_recorded_failure(slack, tmp_path, answer, missing):
    slack.script["conversations.open"] = [(200, {}, answer)]
    state = nudges.State(tmp_path / "nudges.sqlite")
    result = run(devices(), state, DAY0, base_url=slack.url).set_index("person")
    failed = result[result["outcome"] == "failed"]
    assert len(failed) == 1 and f"conversations.open answered without {missing}" in failed["error"].iloc[0]
    assert result["outcome"].tolist().count("sent") == 1
    recorded = state.history().set_index("person")
    assert recorded.loc[failed.index[0], "status"] == "failed"
    assert missing in recorded.loc[failed.index[0], "error"]
    state.close()


@pytest.mark.parametrize("wait, slept", [("abc", 1.0), ("-5", 0.0), ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0)])
def test_unreadable_retry_after_is_waited_sensibly(slack, tmp_path, monkeypatch, wait, slept):
    sleeps = waits(monkeypatch)
    slack.script["chat.postMessage"] = [(429, {"Retry-After": wait}, {"ok": False, "error": "ratelimited"})]
    state = nudges.State(tmp_path / "nudges.sqlite")
    sent = run(devices(), state, DAY0, base_url=slack.url)
    assert sent["outcome"].eq("sent").sum() == 2 and len(slack.posts()) == 3
    assert sleeps == [slept]
    state.close()


def test_a_huge_retry_after_stops_the_run_in_one_line_and_the_next_run_carries_on(slack, tmp_path, monkeypatch,
                                                                                  capsys):
    sleeps = waits(monkeypatch)
    slack.script["chat.postMessage"] = [(429, {"Retry-After": "1000000"}, {"ok": False, "error": "ratelimited"})]
    fleet_file = tmp_path / "devices.parquet"
    devices().to_parquet(fleet_file)
    options = ["nudges", "--devices", str(fleet_file), "--state", str(tmp_path / "nudges.sqlite"),
               "--base-url", slack.url, "--send"]
    assert cli.main(options) == 1
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith("fleetanalysis: ") and "1000000 s" in error and "run again later" in error
    assert sleeps == [] and len(slack.posts()) == 1
    assert nudges.read_history(tmp_path / "nudges.sqlite")["status"].tolist() == ["failed"]
    assert cli.main(options) == 0
    assert len(slack.posts()) == 3 and sum(len(slack.delivered(channel)) for channel in slack.channels) == 2


def test_a_history_pager_that_repeats_its_cursor_leaves_the_message_unconfirmed(slack, tmp_path):
    slack.after_post = [503]
    state = nudges.State(tmp_path / "nudges.sqlite")
    run(devices(), state, DAY0, base_url=slack.url, max_messages=1)
    going_round = {"ok": True, "messages": [], "has_more": True, "response_metadata": {"next_cursor": "bmV4dA=="}}
    slack.script["conversations.history"] = [(200, {}, going_round)] * 1000
    again = run(devices(), state, DAY0 + pd.Timedelta(hours=1), base_url=slack.url, max_messages=1)
    asked = [call for call in slack.calls if call["method"] == "conversations.history"]
    assert len(asked) == 2 and asked[1]["args"]["cursor"] == "bmV4dA=="
    channel = slack.posts()[0]["args"]["channel"]
    assert again["skip_reason"].eq("unconfirmed").sum() == 1 and len(posts_to(slack, channel)) == 1
    assert state.history()["status"].tolist()[0] == "unconfirmed"
    endless = [(200, {}, {**going_round, "response_metadata": {"next_cursor": f"c{number}"}}) for number in range(1000)]
    slack.script["conversations.history"] = endless
    run(devices(), state, DAY0 + pd.Timedelta(hours=2), base_url=slack.url, max_messages=1)
    assert len(endless) == 1000 - nudges.HISTORY_PAGES and len(posts_to(slack, channel)) == 1
    state.close()


def test_two_send_runs_at_once_message_each_person_once(slack, tmp_path):
    slack.post_delay = 0.4  # each post in flight long enough for the other run to look at it
    fleet_file = tmp_path / "devices.parquet"
    devices().to_parquet(fleet_file)
    command = [sys.executable, "-c", "import sys; from fleetanalysis.cli import main; sys.exit(main(sys.argv[1:]))",
               "nudges", "--devices", str(fleet_file), "--state", str(tmp_path / "nudges.sqlite"),
               "--base-url", slack.url, "--send", "--format", "json"]
    environment = {**os.environ, "SLACK_BOT_TOKEN": TOKEN}
    runs = [subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [process.communicate(timeout=120) for process in runs]
    assert [process.returncode for process in runs] == [0, 0], outputs
    assert sorted(len(messages) for messages in slack.channels.values()) == [1, 1]
    assert len(slack.posts()) == 2
    history = nudges.read_history(tmp_path / "nudges.sqlite")
    assert history["status"].tolist() == ["sent", "sent"]


def test_a_state_file_from_before_nudge_ids_is_upgraded(tmp_path):
    import sqlite3

    path = tmp_path / "nudges.sqlite"
    with sqlite3.connect(path) as old:
        old.executescript("""
            CREATE TABLE messages (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, person TEXT, user_id TEXT,
                channel TEXT, fingerprint TEXT, devices TEXT, week TEXT, created TEXT NOT NULL,
                updated TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'failed')),
                ts TEXT, error TEXT);
            CREATE INDEX messages_person ON messages (person, created);
            CREATE TABLE lookups (email TEXT PRIMARY KEY, user_id TEXT, looked_up TEXT NOT NULL);
            INSERT INTO messages VALUES (1, 'dm', 'ana@x.io', 'U0ANA0001', 'D1', 'ab', '[]', NULL,
                '2026-05-01T00:00:00.000000Z', '2026-05-01T00:00:00.000000Z', 'sending', NULL, NULL);""")
    old.close()
    with nudges.State(path) as state:
        row = state.record_sending("dm", DAY0, person="bo@x.io", nudge_id="n1")
        state.record_unconfirmed(row, "HTTP 503", DAY0)
        history = state.history()
    assert history["status"].tolist() == ["sending", "unconfirmed"]
    assert history["person"].tolist() == ["ana@x.io", "bo@x.io"] and history["nudge_id"].tolist()[1] == "n1"


def test_token_never_written_or_printed(slack, tmp_path, capsys, caplog):
    caplog.set_level("DEBUG")
    fleet_file = tmp_path / "devices.parquet"
    devices().to_parquet(fleet_file)
    league_file = tmp_path / "league.csv"
    pd.DataFrame({"office": ["Oslo", "Lima"], "rank": [1, 2], "share": [0.9, 0.7],
                  "change": [0.1, pd.NA]}).to_csv(league_file, index=False)
    state_file = tmp_path / "state" / "nudges.sqlite"
    options = ["nudges", "--devices", str(fleet_file), "--state", str(state_file), "--base-url", slack.url,
               "--league-channel", "C0LEAGUE1", "--league", str(league_file), "--format", "json"]
    assert cli.main([*options, "--send"]) == 0
    assert cli.main([*options, "--send"]) == 0  # nothing new, league not re-posted
    slack.script["chat.postMessage"] = [(200, {}, {"ok": False, "error": "is_archived"})]
    assert cli.main([*options, "--send", "--cooldown-days", "0", "--max", "1"]) == 1  # a failure is exit 1
    league_posts = [call for call in slack.posts() if call["args"]["channel"] == "C0LEAGUE1"]
    assert len(league_posts) == 1 and "Oslo" in league_posts[0]["args"]["text"]
    assert all(call["auth"] == f"Bearer {TOKEN}" for call in slack.calls)  # the server did get it
    shown = capsys.readouterr()
    assert TOKEN not in shown.out + shown.err + caplog.text
    assert TOKEN.encode() not in state_file.read_bytes()
    assert sorted(path.name for path in state_file.parent.iterdir()) == ["nudges.sqlite", "nudges.sqlite.lock"]


def test_cli_dry_run_is_the_default_and_csv_is_formula_safe(slack, tmp_path, capsys):
    fleet_file = tmp_path / "devices.csv"
    devices(user_id=["=cmd|' /C calc'!A0"] + ["U0ANA0001"] * 6).to_csv(fleet_file, index=False)
    state_file = tmp_path / "nudges.sqlite"
    assert cli.main(["nudges", "--devices", str(fleet_file), "--state", str(state_file),
                     "--format", "csv", "--base-url", slack.url]) == 0
    out = capsys.readouterr().out
    assert slack.calls == [] and "\n=" not in out and ",=" not in out
    assert "send" in out


def test_cli_send_without_token_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("FLEET_TEST_TOKEN", raising=False)
    fleet_file = tmp_path / "devices.parquet"
    devices().to_parquet(fleet_file)
    status = cli.main(["nudges", "--devices", str(fleet_file), "--state", str(tmp_path / "s.sqlite"),
                       "--send", "--token-env", "FLEET_TEST_TOKEN"])
    error = capsys.readouterr().err
    assert status == 2 and error.count("\n") == 1 and "FLEET_TEST_TOKEN" in error


def test_send_never_runs_on_the_demo_organisation(no_settings, slack, tmp_path, capsys):
    # With nothing configured the fleet is the demo's made-up people: a misspelt settings
    # path once made `nudges --send` DM them.
    status = cli.main(["nudges", "--send", "--base-url", slack.url, "--state", str(tmp_path / "s.sqlite")])
    error = capsys.readouterr().err
    assert status == 2 and error.count("\n") == 1, error
    assert "demo organisation's made-up people" in error
    assert not slack.calls and not (tmp_path / "s.sqlite").exists()


def test_league_posts_once_per_iso_week(slack, tmp_path):
    state = nudges.State(tmp_path / "nudges.sqlite")
    client = nudges.slack_client(base_url=slack.url)
    league = pd.DataFrame({"office": ["Lima", "Oslo"], "rank": [2, 1], "share": [0.5, 1.0],
                           "change": [-0.1, 0.0]})
    assert nudges.post_league(league, client, state, "C0LEAGUE1", DAY0) == "sent"
    assert nudges.post_league(league, client, state, "C0LEAGUE1", DAY0 + pd.Timedelta(days=6)) == "already-posted"
    assert nudges.post_league(league, client, state, "C0LEAGUE1", DAY0 + pd.Timedelta(days=7)) == "sent"
    texts = [call["args"]["text"] for call in slack.posts()]
    assert len(texts) == 2 and texts[0].splitlines()[1:] == ["1. Oslo: 100% (no change)", "2. Lima: 50% (-10 pts)"]
    state.close()


def test_state_file_that_is_not_sqlite_is_bad_input(tmp_path):
    broken = tmp_path / "nudges.sqlite"
    broken.write_text("not a database, just text that is long enough to have a header" * 4)
    with pytest.raises(BadInput):
        nudges.State(broken)


def test_unknown_email_is_skipped_and_the_answer_cached(slack, tmp_path):
    del slack.users["bo@x.io"]
    state = nudges.State(tmp_path / "nudges.sqlite")
    for day in (0, 1):
        result = run(devices(), state, DAY0 + pd.Timedelta(days=day), base_url=slack.url).set_index("person")
        assert result.loc["bo@x.io", ["action", "skip_reason", "outcome"]].tolist() == ["skip", "no-slack-id",
                                                                                        "skipped"]
    assert [call["args"]["email"] for call in slack.calls if call["method"] == "users.lookupByEmail"] == ["bo@x.io"]
    state.close()


def test_cli_composes_devices_and_league_from_the_store(slack, no_settings, tmp_path, capsys):
    from fleetanalysis.sources import schema
    from fleetanalysis.writing import write_parquet

    agents = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/100.0.4896.60 Safari/537.36"] * 2
    access = schema.conform(pd.DataFrame({
        "source": ["slack_access"] * 2, "event_id": [pd.NA] * 2, "user_id": ["U0ANA0001", "U0BO00001"],
        "user": ["ana@x.io", "bo@x.io"], "first_seen": pd.to_datetime(["2025-07-01"] * 2, utc=True),
        "last_seen": pd.to_datetime(["2025-08-01"] * 2, utc=True), "count": [3, 1], "ip": ["10.0.0.1"] * 2,
        "user_agent": agents}))
    store = write_parquet(access, tmp_path / "access.parquet")
    opt_out = tmp_path / "opt-out.txt"
    opt_out.write_text("bo@x.io\n")
    options = ["nudges", "--store", str(store), "--state", str(tmp_path / "nudges.sqlite"),
               "--base-url", slack.url, "--opt-out", str(opt_out), "--league-channel", "C0LEAGUE1"]
    assert cli.main(options) == 0
    shown = capsys.readouterr()
    assert "U0ANA0001" in shown.out and "opt-out" in shown.out and "Unknown office" in shown.err
    assert slack.calls == [] and not (tmp_path / "nudges.sqlite").exists()  # a dry run changes nothing
    assert cli.main([*options, "--send"]) == 0
    assert [call["args"]["channel"] for call in slack.posts()] == ["DU0ANA0001", "C0LEAGUE1"]
    assert "Chrome" in slack.posts()[0]["args"]["text"]


def test_cli_with_an_empty_store_is_one_line_exit_2(no_settings, tmp_path, capsys):
    status = cli.main(["nudges", "--send", "--store", str(tmp_path / "none.parquet"),
                       "--state", str(tmp_path / "s.sqlite")])
    error = capsys.readouterr().err
    assert status == 2 and error.count("\n") == 1 and "ingest" in error
    assert not (tmp_path / "s.sqlite").exists()


def test_a_run_racing_another_does_not_send_what_the_other_sent(slack, tmp_path):
    state = nudges.State(tmp_path / "nudges.sqlite")
    stale = nudges.plan(devices(), state.history(), DAY0)  # planned before the other run sent
    run(devices(), state, DAY0, base_url=slack.url)
    client = nudges.slack_client(base_url=slack.url)
    late = nudges.send(stale, client, state, DAY0 + pd.Timedelta(minutes=5), progress=False)
    assert len(slack.posts()) == 2 and set(late["skip_reason"].dropna()) == {"cooldown", "exempt"}
    state.close()


def test_a_new_release_alone_does_not_renudge_but_an_update_does():
    first = nudges.plan(devices(), None, DAY0).set_index("person")
    newer_target = nudges.plan(devices(target=["17.6", "125.0", "10.0.26200", pd.NA, pd.NA, pd.NA, pd.NA]),
                               None, DAY0).set_index("person")
    assert (first["fingerprint"] == newer_target["fingerprint"]).all()
    updated = nudges.plan(devices(clients=["Slack 24.01", "Chromium 121.0", "Edge 120", "Chrome 124",
                                           "Chrome 124", "Safari 18", "Edge 140"]), None, DAY0).set_index("person")
    assert updated.loc["ana@x.io", "fingerprint"] != first.loc["ana@x.io", "fingerprint"]
    assert updated.loc["bo@x.io", "fingerprint"] == first.loc["bo@x.io", "fingerprint"]


def test_many_devices_stay_within_block_kit_limits():
    many = pd.concat([devices().iloc[[0]]] * 60, ignore_index=True)
    many["device_id"] = [f"ana@x.io|iOS|{number}" for number in range(60)]
    planned = nudges.plan(many, None, DAY0)
    blocks = json.loads(planned["blocks"].iloc[0])
    assert planned["devices"].tolist() == [60] and len(blocks) <= 50
    assert "20 more devices" in planned["text"].iloc[0]


def test_a_broken_connection_while_posting_is_unconfirmed_not_repeated(slack, tmp_path):
    slack.script["chat.postMessage"] = [(None, {}, {})]
    state = nudges.State(tmp_path / "nudges.sqlite")
    first = run(devices(), state, DAY0, base_url=slack.url, max_messages=1)
    assert first["outcome"].tolist().count("unconfirmed") == 1 and len(slack.posts()) == 1
    assert state.history()["status"].tolist() == ["unconfirmed"]
    # Without the history to look in, it stays unconfirmed and is not sent again.
    slack.script["conversations.history"] = [(200, {}, {"ok": False, "error": "missing_scope"})]
    again = run(devices(), state, DAY0 + pd.Timedelta(hours=1), base_url=slack.url, max_messages=1)
    assert again["skip_reason"].eq("unconfirmed").sum() == 1
    assert len(posts_to(slack, slack.posts()[0]["args"]["channel"])) == 1
    assert "missing_scope" in state.history()["error"].iloc[0]
    state.close()


def test_a_connection_refused_before_sending_is_a_plain_failure(tmp_path, monkeypatch):
    import socket

    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/api/"
    state = nudges.State(tmp_path / "nudges.sqlite")
    planned = nudges.plan(devices(), None, DAY0)
    client = nudges.slack_client(base_url=url, retries=0)
    result = nudges.send(planned, client, state, DAY0, progress=False)
    assert set(result["outcome"]) == {"failed", "skipped"}
    assert "URLError" in result["error"].dropna().iloc[0]
    state.close()


# Agents as the browsers send them: Safari freezes its Mac at 10_15_7 and Chrome its Windows
# at NT 10.0 and its build at .0.0.0 (the same strings recur in public test fixtures, e.g.
# Playwright device profiles). Release dates from data/catalog: Safari 18 ended 2025-09-15,
# Safari 26.5 on 2026-05-13 and 26.5.2 on 2026-06-29, Chrome 149 on 2026-06-02 (150 by 2026-06-30).
SAFARI_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/{} Safari/605.1.15")
CHROME_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/148.0.0.0 Safari/537.36")


def judged_fleet(shipped_catalog, rules):
    """Three devices judged by the real pipeline on 2026-06-30: Ana's Mac last seen ten days
    earlier (so judged against that day's Safari), Bo's Mac and Cy's PC seen that day."""
    from fleetanalysis import clients, fleet

    access = pd.DataFrame({
        "source": pd.Categorical(["slack_access"] * 3),
        "user_id": ["U0ANA0001", "U0BO00001", "U0CY00001"], "user": ["ana@x.io", "bo@x.io", "cy@x.io"],
        "user_agent": pd.Categorical([SAFARI_MAC.format("18.6"), SAFARI_MAC.format("26.4"), CHROME_WINDOWS]),
        "first_seen": pd.to_datetime(["2026-06-01 08:00"] * 3, utc=True),
        "last_seen": pd.to_datetime(["2026-06-20 08:00", "2026-06-30 08:00", "2026-06-30 08:00"], utc=True),
        "ip": ["10.0.0.1", "10.0.0.2", "10.0.0.3"],
    })
    seen = fleet.sightings(clients.facts(access))
    return fleet.snapshot(seen, shipped_catalog, rules, "2026-06-30")


def test_dm_speaks_plainly_and_names_the_reports_target(shipped_catalog, rules):
    from fleetanalysis import metrics

    fleet = judged_fleet(shipped_catalog, rules)
    # The frame carries policy's internal wording and two Safari targets of different days.
    assert "not judged" in fleet["reason"].str.cat() and set(fleet["target"]) >= {"Safari 26.5", "Safari 26.5.2"}
    planned = nudges.plan(fleet, None, pd.Timestamp("2026-06-30", tz="UTC")).set_index("person")
    texts = {person: planned.loc[person, "text"] + json.dumps(json.loads(planned.loc[person, "blocks"]))
             for person in planned.index}
    for text in texts.values():
        for internal in ("not judged", "lower bound", "out of support since", "due after", "macos", "safari",
                         "chrome 1", "2025-09-15", "outdated"):
            assert internal not in text, (internal, text)
    ana = planned.loc["ana@x.io", "text"]
    # Safari on macOS is rolling: Safari 18 is behind the Safari its Mac is offered, not "unsupported".
    assert "Safari 26.5 came out on 13 May 2026" in ana
    assert "macOS 13 or later" in ana  # what the agent tells of the OS, never claimed as its version
    assert "Safari is updated together with macOS. Open System Settings › General › Software Update" in ana
    assert "Chrome 149 came out on 2 June 2026" in planned.loc["cy@x.io", "text"]
    # One wording of one target: the report's fix table and each DM.
    table = metrics.fixes(fleet)
    wanted = dict(zip(table["product"], metrics.or_newer(table["version"])))
    assert wanted == {"Safari": "26.5.2 or newer", "Chrome": "150 or newer"}
    for person, product in [("ana@x.io", "Safari"), ("bo@x.io", "Safari"), ("cy@x.io", "Chrome")]:
        assert f"update to {product} {wanted[product]}." in planned.loc[person, "text"]


# Windows apps report the build (browsers freeze "Windows NT 10.0"). The agents are as logged
# for Okta Verify (OktaTerrify research tool) and OneDrive (an Entra user-agent list); the
# builds 22621 and 22631 are Windows 11 22H2 (out of support 2024-10-08) and 23H2.
OKTA_VERIFY_WINDOWS = ("OktaVerify/4.5.3.0 WPFDeviceSDK/1.7.4.27 Windows/10.0.22621.525 "
                       "Microsoft_Corporation/Virtual_Machine")
ONEDRIVE_WINDOWS = "OneDrive/24.071.0407.0002 (Windows; x64; 10.0.22631)"


def test_windows_targets_name_the_release_not_only_the_build(shipped_catalog, rules):
    """A Windows build number alone tells a person nothing; the report and the DM name the
    release (Windows 11 24H2) with the build, from the catalog's own line names."""
    from fleetanalysis import clients, fleet, metrics

    access = pd.DataFrame({
        "source": pd.Categorical(["okta"] * 2), "user_id": ["00u1", "00u2"], "user": ["di@x.io", "ed@x.io"],
        "user_agent": pd.Categorical([OKTA_VERIFY_WINDOWS, ONEDRIVE_WINDOWS]),
        "first_seen": pd.to_datetime(["2025-09-01 08:00"] * 2, utc=True),
        "last_seen": pd.to_datetime(["2025-09-15 08:00"] * 2, utc=True), "ip": ["10.0.0.4", "10.0.0.5"]})
    # Judged on 2025-09-15, 22H2 was past its Home and Pro end (2024-10-08) but Enterprise and
    # Education had updates until 2025-10-14: unknown, as no agent shows the edition.
    early = fleet.snapshot(fleet.sightings(clients.facts(access)), shipped_catalog, rules, "2025-09-15")
    assert early["os_verdict"].tolist() == ["unknown", "current"]
    access["last_seen"] = pd.to_datetime(["2025-10-20 08:00"] * 2, utc=True)
    judged = fleet.snapshot(fleet.sightings(clients.facts(access)), shipped_catalog, rules, "2025-10-20")
    assert judged["os_verdict"].tolist() == ["unsupported", "current"]
    table = metrics.fixes(judged)
    assert table[["product", "version"]].values.tolist() == [["Windows", "11 25H2 (10.0.26200)"]]
    planned = nudges.plan(judged, None, pd.Timestamp("2025-10-20", tz="UTC")).set_index("person")
    text = planned.loc["di@x.io", "text"]
    assert "Windows PC (Windows 11 22H2, build 10.0.22621.525): update to Windows 11 25H2 (10.0.26200) or newer." in text
    assert "Windows 11 22H2 stopped getting security updates on 14 October 2025" in text


def test_dm_leaves_out_reasons_it_cannot_word_and_escapes_the_rest():
    row = {"device_id": "d", "platform": "macOS", "os_version": "<!channel>", "os_evidence": "exact",
           "clients": "Safari 18.6 <@U0BOSS>", "verdict": "unsupported", "os_verdict": "unknown",
           "client_verdict": "unsupported", "target": "Safari 26.5.2",
           "reason": "safari 18 out of support since 2025-09-15; something internal <!here>"}
    text, blocks = nudges.message([row])
    everything = text + json.dumps(blocks)
    assert "something internal" not in everything and "<!here>" not in everything
    assert "<!channel>" not in everything and "&lt;!channel&gt;" in everything
    assert "<@U0BOSS>" not in everything and "&lt;@U0BOSS&gt;" in everything
    assert "update to Safari 26.5.2 or newer" in text


def test_dm_keeps_a_products_own_spelling_at_the_start_of_its_reasons():
    row = {"device_id": "d", "platform": "iOS", "device_class": "phone", "os_version": "26.4", "os_evidence": "exact",
           "clients": "", "verdict": "outdated", "os_verdict": "outdated", "client_verdict": "unknown",
           "target": "iOS 26.5.1", "reason": "ios 26.5.1 released 2026-06-01, due after 14 days"}
    text, _ = nudges.message([row])
    assert "iOS 26.5.1 came out on 1 June 2026" in text and "IOS" not in text


def test_a_windows_7_pc_is_told_to_ask_it_not_to_open_settings(no_settings, tmp_path, capsys):
    # Windows 7 had no Settings app, Windows Update never moves it to a supported Windows,
    # and its Chrome stops at 109: the steps every other Windows PC gets would mislead.
    log = tmp_path / "signins.csv"
    log.write_text("user,time,user_agent\nann@example.com,2024-05-01T10:00:00Z,\"Mozilla/5.0 (Windows NT 6.1; Win64; "
                   "x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Safari/537.36\"\n")
    store = tmp_path / "access.parquet"
    assert cli.main(["ingest", "--store", str(store), str(log)]) == 0
    capsys.readouterr()
    assert cli.main(["nudges", "--store", str(store), "--as-of", "2024-05-01", "--state", str(tmp_path / "n.sqlite"),
                     "--format", "json"]) == 0
    text = json.loads(capsys.readouterr().out)[0]["text"]
    assert "Windows 7" in text and "ask IT to upgrade or replace it" in text
    assert "Open Settings" not in text and "Chrome updates itself" not in text
