"""The escalation ladder (issue 19, point 4) against the real slack_sdk WebClient and the
local Slack-shaped server of fake_slack.py: first DM, a reminder D days later, then counts
to the office; every step recorded and never sent twice, whatever crashes or re-runs.

Slack facts used: a message's ``ts`` is the epoch second it was posted (so the local server
stamps posts with the tests' clock), ``conversations.history`` returns a message's
``metadata`` with ``include_all_metadata`` (api.slack.com/methods/conversations.history),
and ids start C (public channel), G (private), D (DM), U/W (member), as the a-sync/slackr
wiki summarises from api.slack.com/methods/chat.postMessage#channels."""

import json

import pandas as pd
import pytest
from fake_slack import DAY0, TOKEN, devices, posts_to

from fleetanalysis import cli, nudges, validation

OFFICE_CHANNEL = "C0OSLO0001"


def ladder(**office):
    """The shipped ladder with the office step on: reminder 5 days after a first DM, the
    office 6 days after a reminder."""
    return validation.NudgesTable.model_validate({
        "reminder": {"after_days": 5, "cooldown_days": 7},
        "office": {"enabled": True, "after_days": 6, "channels": {"Oslo": OFFICE_CHANNEL}, **office}})


def run(fleet, state, at, slack, settings=None, answers=None):
    slack.now = at
    client = nudges.slack_client(base_url=slack.url, retries=2)
    nudges.resolve(client, state, at)
    planned = nudges.plan(fleet, state.history(), at, answers=answers, ladder=settings or ladder())
    return nudges.send(planned, client, state, at, progress=False)


def sent_steps(result):
    return sorted(zip(result.loc[result["outcome"] == "sent", "person"], result.loc[result["outcome"] == "sent", "step"]))


def test_ladder_goes_first_then_reminder_after_d_days_then_office_counts(slack, tmp_path):
    state = nudges.State(tmp_path / "nudges.sqlite")
    day = lambda days: DAY0 + pd.Timedelta(days=days)  # noqa: E731
    assert sent_steps(run(devices(), state, day(0), slack)) == [("ana@x.io", "first"), ("bo@x.io", "first")]
    for early in (1, 4):  # the reminder waits its D = 5 days
        quiet = run(devices(), state, day(early), slack)
        assert sent_steps(quiet) == []
        assert set(quiet["step"]) == {"first"} and set(quiet["skip_reason"]) == {"cooldown", "exempt"}
    reminded = run(devices(), state, day(5), slack)
    assert sent_steps(reminded) == [("ana@x.io", "reminder"), ("bo@x.io", "reminder")]
    ana = [call for call in slack.posts() if call["args"]["channel"] == "DU0ANA0001"]
    assert [post["args"]["blocks"][0]["text"]["text"] for post in ana] == [
        "Time for a quick update", "Reminder: your update is still waiting"]
    assert sent_steps(run(devices(), state, day(6), slack)) == []  # re-run: nothing new
    assert sent_steps(run(devices(), state, day(10), slack)) == []  # the office waits 6 days after the reminder
    office = run(devices(), state, day(11), slack)
    assert sent_steps(office) == [("office:Oslo", "office")]
    told = posts_to(slack, OFFICE_CHANNEL)
    assert len(told) == 1
    text = told[0]["args"]["text"] + json.dumps(told[0]["args"]["blocks"])
    # Ana's iPhone and Linux computer, Bo's Windows PC: counts by platform, nobody named.
    assert "3 devices are still behind" in text and "iPhone: 1" in text and "Windows PC: 1" in text
    assert "ana" not in text.lower() and "bo@" not in text and "@x.io" not in text and "U0ANA" not in text
    assert sent_steps(run(devices(), state, day(12) - pd.Timedelta(hours=1), slack)) == []
    history = state.history()
    assert history.groupby(["kind", "step"]).size().to_dict() == {("dm", "first"): 2, ("dm", "reminder"): 2,
                                                                   ("office", "office"): 1}
    assert history["status"].eq("sent").all() and len(slack.posts()) == 5
    state.close()


def test_a_device_updated_before_d_days_gets_no_reminder(slack, tmp_path):
    state = nudges.State(tmp_path / "nudges.sqlite")
    run(devices(), state, DAY0, slack)
    updated = devices(verdict=["current", "current", "unsupported", "grace", "unknown", "current", "outdated"])
    later = run(updated, state, DAY0 + pd.Timedelta(days=5), slack).set_index("person")
    assert sent_steps(later.reset_index()) == [("bo@x.io", "reminder")]
    assert "ana@x.io" not in later.index
    state.close()


def test_a_person_who_answered_updated_is_not_reminded(slack, tmp_path):
    state = nudges.State(tmp_path / "nudges.sqlite")
    run(devices(), state, DAY0, slack)
    first = state.history().set_index("person")
    state.record_answer(int(first.loc["ana@x.io", "id"]), "ana@x.io", "U0ANA0001", "updated",
                        DAY0 + pd.Timedelta(hours=2))
    later = run(devices(), state, DAY0 + pd.Timedelta(days=5), slack, answers=state.answers()).set_index("person")
    assert later.loc["ana@x.io", "skip_reason"] == "answered" and later.loc["bo@x.io", "outcome"] == "sent"
    state.close()


@pytest.mark.parametrize("fault", [500, None], ids=["500-after-post", "connection-closed-after-post"])
@pytest.mark.parametrize("step, at", [("reminder", 5), ("office", 11)])
def test_a_step_posted_before_slack_failed_is_never_sent_again(slack, tmp_path, fault, step, at):
    state = nudges.State(tmp_path / "nudges.sqlite")
    for days in (0, 5, 11):
        if days == at:
            slack.after_post = [fault] * 2  # Slack posts, then answers 500 or drops the connection
        result = run(devices(), state, DAY0 + pd.Timedelta(days=days), slack)
        slack.after_post = []
        if days == at:
            assert set(result.loc[result["step"] == step, "outcome"]) <= {"unconfirmed", "skipped"}
            assert result["outcome"].eq("unconfirmed").any()
    count = len(slack.posts())
    for days in (11.5, 12 - 1 / 24):  # re-runs: the unconfirmed step is found in history, not re-posted
        again = run(devices(), state, DAY0 + pd.Timedelta(days=days), slack)
        assert sent_steps(again) == []
    assert len(slack.posts()) == count == 5
    channels = [call["args"]["channel"] for call in slack.posts()]
    assert channels.count(OFFICE_CHANNEL) == 1 and channels.count("DU0ANA0001") == 2
    assert state.history()["status"].eq("sent").all()
    state.close()


def test_a_crash_between_posting_and_recording_a_reminder_sends_it_once(slack, tmp_path, monkeypatch):
    state = nudges.State(tmp_path / "nudges.sqlite")
    run(devices(), state, DAY0, slack)

    def crash(*args, **kwargs):
        raise RuntimeError("power cut")

    monkeypatch.setattr(nudges.State, "record_sent", crash)
    with pytest.raises(RuntimeError):
        run(devices(), state, DAY0 + pd.Timedelta(days=5), slack)
    monkeypatch.undo()
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    assert state.history()["status"].tolist() == ["sent", "sent", "sending"]
    rerun = run(devices(), state, DAY0 + pd.Timedelta(days=5, hours=1), slack)
    assert sent_steps(rerun) == [("bo@x.io", "reminder")] or sent_steps(rerun) == [("ana@x.io", "reminder")]
    assert sorted(post["args"]["channel"] for post in slack.posts()) == sorted(
        ["DU0ANA0001", "DU0BO00001"] * 2)
    assert state.history()["status"].eq("sent").all()
    state.close()


def test_a_plan_made_before_another_run_sent_the_step_does_not_send_it_again(slack, tmp_path):
    state = nudges.State(tmp_path / "nudges.sqlite")
    run(devices(), state, DAY0, slack)
    later = DAY0 + pd.Timedelta(days=5)
    stale = nudges.plan(devices(), state.history(), later, ladder=ladder())
    run(devices(), state, later, slack)  # the other run
    client = nudges.slack_client(base_url=slack.url)
    slack.now = later + pd.Timedelta(minutes=1)
    racing = nudges.send(stale, client, state, later + pd.Timedelta(minutes=1), progress=False)
    assert set(racing.loc[racing["step"] == "reminder", "skip_reason"]) == {"cooldown"}
    assert len(slack.posts()) == 4
    state.close()


def test_no_office_channel_means_no_office_message(slack, tmp_path):
    state = nudges.State(tmp_path / "nudges.sqlite")
    settings = ladder(channels={})
    for days in (0, 5, 11):
        result = run(devices(), state, DAY0 + pd.Timedelta(days=days), slack, settings)
    assert result.loc[result["step"] == "office", "skip_reason"].tolist() == ["no-channel"]
    assert len(slack.posts()) == 4
    state.close()


def test_people_nudges_stopped_reaching_are_counted_for_their_office(slack, tmp_path):
    state = nudges.State(tmp_path / "nudges.sqlite")
    client = nudges.slack_client(base_url=slack.url)
    settings = validation.NudgesTable.model_validate({
        "stop_after_unanswered": 1, "reminder": {"enabled": False},
        "office": {"enabled": True, "channels": {"Oslo": OFFICE_CHANNEL}}})
    for days in (0, 8):
        at = slack.now = DAY0 + pd.Timedelta(days=days)
        planned = nudges.plan(devices(), state.history(), at, stop_after=1, ladder=settings)
        result = nudges.send(planned, client, state, at, progress=False)
    assert set(result.loc[result["step"] == "first", "skip_reason"]) == {"unanswered", "exempt"}
    assert sent_steps(result) == [("office:Oslo", "office")]
    assert "3 devices are still behind" in posts_to(slack, OFFICE_CHANNEL)[0]["args"]["text"]
    state.close()


@pytest.mark.parametrize("text, key, problem", [
    ("[nudges.reminder]\nafter_dayz = 3\n", "nudges.reminder.after_dayz", "did you mean 'after_days'?"),
    ("[nudges.office]\nmax_messages = -1\n", "nudges.office.max_messages", "must be a whole number >= 0, not -1"),
    ('[nudges.office]\nchannels = { Oslo = "#oslo" }\n', "nudges.office.channels.Oslo", "not a Slack channel id"),
    ("[nudges]\ncooldown_days = \"7\"\n", "nudges.cooldown_days", "whole number of days"),
    ("[nudge]\ncooldown_days = 7\n", "nudge", "did you mean 'nudges'?"),
])
def test_a_bad_nudges_key_is_one_line_naming_file_and_key_exit_2(tmp_path, capsys, text, key, problem):
    mine = tmp_path / "policy.toml"
    mine.write_text(text)
    fleet = tmp_path / "devices.csv"
    devices().to_csv(fleet, index=False)
    assert cli.main(["nudges", "--devices", str(fleet), "--policy", str(mine),
                     "--state", str(tmp_path / "nudges.sqlite")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(mine) in err and f"{key}:" in err and problem in err


def _dry_run_after_first_dms(slack, tmp_path, policy: str, days: int) -> list[str]:
    """The command line of a dry run ``days`` after both people got their first DM, under ``policy``."""
    state_path = tmp_path / "nudges.sqlite"
    with nudges.State(state_path) as state:
        run(devices(), state, DAY0, slack)
    fleet = tmp_path / "devices.csv"
    devices().to_csv(fleet, index=False)
    mine = tmp_path / "policy.toml"
    mine.write_text(policy)
    return ["nudges", "--devices", str(fleet), "--policy", str(mine), "--state", str(state_path),
            "--as-of", f"{DAY0 + pd.Timedelta(days=days):%Y-%m-%d}", "--format", "json"]


def test_the_dry_run_shows_each_step_from_the_policy(slack, tmp_path, capsys):
    assert cli.main(_dry_run_after_first_dms(slack, tmp_path, "[nudges.reminder]\nafter_days = 2\n", days=3)) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted((row["user"], row["step"], row["action"]) for row in rows if row["step"] == "reminder") == [
        ("ana@x.io", "reminder", "send"), ("bo@x.io", "reminder", "send")]


def test_the_policy_stops_nudging_after_n_unanswered_dms_and_the_flag_overrides_it(slack, tmp_path, capsys):
    options = _dry_run_after_first_dms(
        slack, tmp_path, "[nudges]\nstop_after_unanswered = 1\n[nudges.reminder]\nenabled = false\n", days=9)
    assert cli.main(options) == 0
    rows = {row["user"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["ana@x.io"]["skip_reason"] == rows["bo@x.io"]["skip_reason"] == "unanswered"
    assert cli.main([*options, "--stop-after", "2"]) == 0
    rows = {row["user"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["ana@x.io"]["action"] == rows["bo@x.io"]["action"] == "send"


def test_a_state_file_from_before_the_ladder_gets_its_step_column_and_its_dms_count_as_first(slack, tmp_path):
    import sqlite3

    path = tmp_path / "nudges.sqlite"
    sent = (DAY0 - pd.Timedelta(days=6)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with sqlite3.connect(path) as old:  # the schema of the files issue 19's answers wrote, before the ladder
        old.executescript(f"""
            CREATE TABLE messages (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, person TEXT, user_id TEXT,
                channel TEXT, fingerprint TEXT, devices TEXT, week TEXT, created TEXT NOT NULL,
                updated TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('sending', 'unconfirmed', 'sent', 'failed')),
                ts TEXT, error TEXT, nudge_id TEXT);
            CREATE TABLE lookups (email TEXT PRIMARY KEY, user_id TEXT, looked_up TEXT NOT NULL);
            INSERT INTO messages VALUES (1, 'dm', 'ana@x.io', 'U0ANA0001', 'DU0ANA0001', 'ab',
                '["ana@x.io|iOS|phone"]', NULL, '{sent}', '{sent}', 'sent', '1.000100', NULL, 'n0');""")
    old.close()
    state = nudges.State(path)
    assert "step" in state.history().columns and state.history()["step"].isna().all()
    result = run(devices(), state, DAY0, slack)
    assert ("ana@x.io", "reminder") in sent_steps(result)
    ana = result.set_index("person").loc["ana@x.io"]
    assert json.loads(ana["device_ids"]) == ["ana@x.io|iOS|phone"]  # only what the first DM named
    steps = state.history().fillna({"step": "(none)"}).groupby("person")["step"].agg(list).to_dict()
    assert steps == {"ana@x.io": ["(none)", "reminder"], "bo@x.io": ["first"]}
    state.close()
