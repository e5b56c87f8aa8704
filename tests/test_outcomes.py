"""Nudge outcomes on a hand-built month where every figure is worked out by hand.

March 2026, one verdict a day (1st to 31st; the history ends on the 31st):
- A1 (ana, Oslo): unsupported to the 3rd, current from the 4th.
- A2 (ana, Oslo): outdated to the 20th, current from the 21st.
- B1 (bo, Lima): outdated to the 9th, grace from the 10th (grace counts as updated).
- B2 (bo, Lima): outdated all month.
- C1 (cy, Oslo): outdated to the 4th, current from the 5th; cy's DM failed, so never nudged.
- D1 (dee, Lima): outdated to the 19th, unknown from the 20th (unknown is not updated).

Sent DMs: ana [A1] on Mon 2 Mar (W10, her 1st), bo [B1, B2] on 2 Mar (W10, his 1st),
ana [A2] on 9 Mar (W11, 2nd), ana [A2] on 16 Mar (W12, 3rd: the ladder's reminder of the
9th), bo [B2] on 27 Mar (W13, 2nd); the other steps are first DMs.

Nudged rows (days to update / days followed): A1 2/29, B1 8/29, B2 -/29, A2@9th 12/22,
A2@16th 5/15, B2@27th -/4.
Comparison (behind on the wave's first day, no DM within 14 days either side):
W10 (2nd): C1 3/29, D1 -/29; W11 (9th): D1 -/22; W12 (16th): D1 -/15;
W13 (27th): nobody (D1 is unknown by then, B2 was nudged).
"""

import json

import pandas as pd
import pytest

from fleetanalysis import cli, nudges, outcomes

DAYS = pd.date_range("2026-03-01", "2026-03-31", freq="D")
NOT_NUDGED = "not nudged (observational)"


def verdicts(device, office, changes):
    """One row a day for ``device``: ``changes`` maps a first day (of March) to the verdict from then on."""
    rows = []
    for day in DAYS:
        verdict = [value for first, value in sorted(changes.items()) if day.day >= first][-1]
        rows.append({"as_of": day, "device_id": device, "verdict": verdict, "office": office})
    return rows


HISTORY = pd.DataFrame(
    verdicts("A1", "Oslo", {1: "unsupported", 4: "current"})
    + verdicts("A2", "Oslo", {1: "outdated", 21: "current"})
    + verdicts("B1", "Lima", {1: "outdated", 10: "grace"})
    + verdicts("B2", "Lima", {1: "outdated"})
    + verdicts("C1", "Oslo", {1: "outdated", 5: "current"})
    + verdicts("D1", "Lima", {1: "outdated", 20: "unknown"}))


def messages():
    sent = [("ana@x.io", ["A1"], "2026-03-02 09:00", "sent", "first"),
            ("bo@x.io", ["B1", "B2"], "2026-03-02 09:01", "sent", "first"),
            ("cy@x.io", ["C1"], "2026-03-02 09:02", "failed", "first"),
            ("ana@x.io", ["A2"], "2026-03-09 09:00", "sent", "first"),
            ("ana@x.io", ["A2"], "2026-03-16 09:00", "sent", "reminder"),
            ("bo@x.io", ["B2"], "2026-03-27 09:00", "sent", "first")]
    return pd.DataFrame({"kind": "dm", "person": [row[0] for row in sent],
                         "devices": [json.dumps(row[1]) for row in sent],
                         "created": pd.to_datetime([row[2] for row in sent], utc=True),
                         "status": [row[3] for row in sent], "step": [row[4] for row in sent]})


def followed():
    return outcomes.follow(messages(), HISTORY)


def test_each_nudged_device_is_followed_to_its_first_day_up_to_date():
    rows = followed()
    nudged = rows[rows["group"] == "nudged"]
    assert [(row.device_id, row.wave, row.nth, row.office,
             None if pd.isna(row.updated_after_days) else int(row.updated_after_days), row.followup_days)
            for row in nudged.itertuples()] == [
        ("A1", "2026-W10", "1st", "Oslo", 2, 29),
        ("B1", "2026-W10", "1st", "Lima", 8, 29),
        ("B2", "2026-W10", "1st", "Lima", None, 29),
        ("A2", "2026-W11", "2nd", "Oslo", 12, 22),
        ("A2", "2026-W12", "3rd+", "Oslo", 5, 15),
        ("B2", "2026-W13", "2nd", "Lima", None, 4),
    ]


def test_comparison_group_is_devices_behind_and_not_nudged_near_the_wave():
    rows = followed()
    comparison = rows[rows["group"] == NOT_NUDGED]
    assert [(row.device_id, row.wave, None if pd.isna(row.updated_after_days) else int(row.updated_after_days),
             row.followup_days) for row in comparison.itertuples()] == [
        ("C1", "2026-W10", 3, 29), ("D1", "2026-W10", None, 29),
        ("D1", "2026-W11", None, 22), ("D1", "2026-W12", None, 15)]
    assert comparison["person"].isna().all() and comparison["nth"].isna().all()


def figures(table, breakdown, value, group="nudged"):
    row = table[(table["breakdown"] == breakdown) & (table["value"] == value) & (table["group"] == group)]
    assert len(row) == 1, (breakdown, value, group)
    return [None if pd.isna(item) else round(float(item), 4)
            for item in row.iloc[0][["devices", "updated", "within_3d", "within_7d", "within_14d", "median_days"]]]


def test_figures_per_group_wave_office_and_nth_nudge():
    table = outcomes.breakdown(followed())
    # within 3 days: 1 of 6 known; 7 days: B2@27th (followed 4 days) unknown -> 2 of 5;
    # 14 days: 4 of 5; median of 2, 8, 12, 5 = 6.5.
    assert figures(table, "all", "") == [6, 4, 0.1667, 0.4, 0.8, 6.5]
    # C1 in 3 days; D1 thrice never; D1's W12 row is followed 15 days, so all four count.
    assert figures(table, "all", "", NOT_NUDGED) == [4, 1, 0.25, 0.25, 0.25, 3.0]
    assert figures(table, "wave", "2026-W10") == [3, 2, 0.3333, 0.3333, 0.6667, 5.0]
    assert figures(table, "wave", "2026-W11") == [1, 1, 0.0, 0.0, 1.0, 12.0]
    assert figures(table, "wave", "2026-W12") == [1, 1, 0.0, 1.0, 1.0, 5.0]
    # Followed 4 days and not updated: nothing is known yet about 7 or 14 days.
    assert figures(table, "wave", "2026-W13") == [1, 0, 0.0, None, None, None]
    assert figures(table, "office", "Oslo") == [3, 3, 0.3333, 0.6667, 1.0, 5.0]
    assert figures(table, "office", "Lima") == [3, 1, 0.0, 0.0, 0.5, 8.0]
    assert figures(table, "office", "Oslo", NOT_NUDGED) == [1, 1, 1.0, 1.0, 1.0, 3.0]
    assert figures(table, "nth nudge", "1st") == [3, 2, 0.3333, 0.3333, 0.6667, 5.0]
    assert figures(table, "nth nudge", "2nd") == [2, 1, 0.0, 0.0, 1.0, 12.0]
    assert figures(table, "nth nudge", "3rd+") == [1, 1, 0.0, 1.0, 1.0, 5.0]
    assert not ((table["breakdown"] == "nth nudge") & (table["group"] == NOT_NUDGED)).any()
    # First DMs: A1 2/29, B1 8/29, B2 -/29, A2@9th 12/22, B2@27th -/4. Within 3 days 1 of 5;
    # 7 days 1 of 4 (B2@27th unknown); 14 days 3 of 4; median of 2, 8, 12 = 8.
    assert figures(table, "ladder step", "first") == [5, 3, 0.2, 0.25, 0.75, 8.0]
    assert figures(table, "ladder step", "reminder") == [1, 1, 0.0, 1.0, 1.0, 5.0]
    assert not ((table["breakdown"] == "ladder step") & (table["group"] == NOT_NUDGED)).any()


def test_a_state_from_before_the_ladder_counts_every_dm_as_a_first_one():
    table = outcomes.breakdown(outcomes.follow(messages().drop(columns="step"), HISTORY))
    assert figures(table, "ladder step", "first") == [6, 4, 0.1667, 0.4, 0.8, 6.5]
    assert "reminder" not in table.loc[table["breakdown"] == "ladder step", "value"].tolist()


def test_the_nth_nudge_buckets_put_a_fourth_and_later_in_3rd_plus():
    extra = pd.DataFrame({"kind": "dm", "person": "ana@x.io", "devices": json.dumps(["A2"]), "status": "sent",
                          "step": "first", "created": pd.to_datetime(["2026-03-18 09:00"], utc=True)})
    found = outcomes.nudged_devices(pd.concat([messages(), extra], ignore_index=True))
    assert found.loc[found["person"] == "ana@x.io", "nth"].tolist() == ["1st", "2nd", "3rd+", "3rd+"]
    assert found.loc[found["person"] == "ana@x.io", "step"].tolist() == ["first", "first", "reminder", "first"]


def test_a_weekly_history_rounds_days_up_to_its_dates():
    weekly = HISTORY[HISTORY["as_of"].dt.day_of_week == 0]  # Mondays: 2, 9, 16, 23, 30 March
    rows = outcomes.follow(messages(), weekly)
    nudged = rows[rows["group"] == "nudged"]
    assert nudged["updated_after_days"].tolist()[:2] == [7, 14]


def test_no_messages_gives_an_empty_breakdown():
    empty = messages().iloc[0:0]
    assert outcomes.follow(empty, HISTORY).empty
    assert outcomes.breakdown(outcomes.follow(empty, HISTORY)).empty


def write_state(path):
    """The hand-built messages, recorded through the real state file."""
    with nudges.State(path) as state:
        for row in messages().itertuples():
            fields = {"person": row.person, "user_id": "U0TEST0001", "channel": "D1", "fingerprint": "f",
                      "devices": row.devices}
            if row.status == "sent":
                state.record_sent(state.record_sending("dm", row.created, **fields), "1.0", row.created)
            else:
                state.record_not_sent("dm", row.created, "channel_not_found", **fields)


def test_cli_prints_the_figures_as_csv_and_json_without_names(tmp_path, capsys):
    write_state(tmp_path / "nudges.sqlite")
    HISTORY.to_csv(tmp_path / "history.csv", index=False)
    base = ["nudges", "outcomes", "--state", str(tmp_path / "nudges.sqlite"), "--history", str(tmp_path / "history.csv")]
    assert cli.main([*base, "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    first = [row for row in records if row["breakdown"] == "nth nudge" and row["value"] == "1st"]
    assert [(row["devices"], row["updated"], row["within_14d"], row["median_days"]) for row in first] == [
        (3, 2, pytest.approx(2 / 3), 5.0)]
    assert cli.main([*base, "--format", "csv"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == ("breakdown,value,group,devices,updated,within_3d,within_7d,within_14d,"
                                    "median_days,said_updated,said_updated_seen,snoozed,not_mine")
    assert "all,,nudged,6,4,0.1666" in text and "ana@x.io" not in text
    assert cli.main(base) == 0
    table = capsys.readouterr().out
    assert "not nudged (observational)" in table and "17%" in table and "ana" not in table


def test_cli_without_state_or_with_a_bad_history_is_one_line_exit_2(tmp_path, capsys):
    assert cli.main(["nudges", "outcomes", "--state", str(tmp_path / "none.sqlite")]) == 2
    assert "none.sqlite: no nudge state yet" in capsys.readouterr().err
    write_state(tmp_path / "nudges.sqlite")
    (tmp_path / "history.csv").write_text("as_of,device_id,verdict\n2026-03-02,A1,outdated\n2026-13-45,A1,current\n")
    assert cli.main(["nudges", "outcomes", "--state", str(tmp_path / "nudges.sqlite"),
                     "--history", str(tmp_path / "history.csv")]) == 2
    err = capsys.readouterr().err
    assert "history.csv: row 3: as_of is not a date: '2026-13-45'" in err and len(err.strip().splitlines()) == 1


def test_cli_judges_the_store_once_a_day_since_the_first_nudge(demo_store, tmp_path, capsys):
    from fleetanalysis import analysis

    files = ["--store", str(demo_store["store"]), "--directory", str(demo_store["directory"]),
             "--networks", str(demo_store["networks"])]
    run = analysis.prepare(demo_store["store"], demo_store["directory"], demo_store["networks"])
    day = run.as_of - pd.Timedelta(days=21)
    early = run.devices_at(day)
    behind = early.loc[early["verdict"].isin(nudges.NEEDS_UPDATE), "device_id"].astype(str).head(3).tolist()
    assert behind
    with nudges.State(tmp_path / "hand-built.sqlite") as state:
        for device in behind:
            row = state.record_sending("dm", day.tz_localize("UTC"), person=device.split("|")[0],
                                       devices=json.dumps([device]), fingerprint="f")
            state.record_sent(row, "1.0", day.tz_localize("UTC"))
    assert cli.main(["nudges", "outcomes", *files, "--state", str(tmp_path / "hand-built.sqlite"), "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    overall = [row for row in records if row["breakdown"] == "all" and row["group"] == "nudged"]
    assert overall[0]["devices"] == len(behind)
    # A daily history: days to update are whole days within the 21 followed, not multiples of 7.
    followed = outcomes.follow(nudges.read_history(tmp_path / "hand-built.sqlite"),
                               outcomes_history(run, day))
    assert followed["followup_days"].max() == 21


def outcomes_history(run, start):
    from fleetanalysis import fleet, org

    return org.assign(fleet.timeline(run.sightings, run.catalog, run.policy, start, run.as_of, freq="D",
                                     window_days=run.window_days), run.directory, run.networks)


def test_answers_are_kept_beside_what_the_logs_showed():
    """ana said "Updated" to her 1st and 3rd nudges (logs: updated after 2 and 5 days), bo
    said "Updated" to his 1st (B1 updated after 8 days, B2 never: said, not seen), then
    "Not my device" about B2 on his 2nd, and snoozed his 1st too (the stronger answer wins)."""
    given = pd.DataFrame({"message_id": [1, 2, 2, 5, 6], "action": ["updated", "updated", "snooze", "updated", "not_mine"],
                          "device_id": ["", "", "", "", "B2"]})
    rows = outcomes.follow(messages().assign(id=range(1, 7)), HISTORY, answers=given)
    nudged = rows[rows["group"] == "nudged"]
    assert nudged["answer"].tolist() == ["updated", "updated", "updated", pd.NA, "updated", "not_mine"]
    table = outcomes.breakdown(rows)
    overall = table[(table["breakdown"] == "all") & (table["group"] == "nudged")].iloc[0]
    assert [int(overall[name]) for name in ("said_updated", "said_updated_seen", "snoozed", "not_mine")] == [4, 3, 0, 1]
    assert rows.loc[rows["group"] == NOT_NUDGED, "answer"].isna().all()


def test_habituation_is_warned_only_when_later_nudges_work_markedly_worse():
    table = outcomes.breakdown(followed())
    # 1st: 1 of 3 within 7 days; 2nd: 0 of 1 known (33 points lower); 3rd+: 1 of 1.
    assert outcomes.habituation(table, min_devices=1) == (
        "later nudges work markedly worse: updated within 7 days after a 1st nudge 33% (3 devices), after a "
        "2nd 0% (2 devices); consider fewer messages, another channel, or a person to talk to")
    assert outcomes.habituation(table, within=14, min_devices=1) is None  # 67% then 100%, 100%
    assert outcomes.habituation(table) is None  # too few devices to call it


def test_the_report_shows_do_nudges_work_without_names(demo_store, tmp_path):
    from fleetanalysis import analysis, reporting

    files = {name: demo_store[name] for name in ("store", "directory", "networks")}
    run = analysis.prepare(*files.values())
    day = run.as_of - pd.Timedelta(days=21)
    early = run.devices_at(day)
    behind = early.loc[early["verdict"].isin(nudges.NEEDS_UPDATE), ["device_id", "user"]].astype(str).head(3)
    with nudges.State(tmp_path / "hand-built.sqlite") as state:
        for device, user in behind.values.tolist():
            row = state.record_sending("dm", day.tz_localize("UTC"), person=user, devices=json.dumps([device]),
                                       fingerprint="f", channel="D1", user_id="U0TEST0001")
            state.record_sent(row, f"1.{row}", day.tz_localize("UTC"))
        state.record_answer(1, behind["user"].iloc[0], "U0TEST0001", "not_mine", day.tz_localize("UTC"),
                            behind["device_id"].iloc[0])
    page = reporting.run("report", tmp_path / "reports", None,
                         {**files, "weeks": 4, "nudge_state": tmp_path / "hand-built.sqlite"})
    shown = visible_text(page.read_text(encoding="utf-8"))
    assert "Do nudges work?" in shown and "Within 7 days" in shown and "not nudged (observational)" in shown
    assert '1 answer received; 1 device flagged "not my device" for review.' in shown
    for user in behind["user"]:
        assert user not in shown
    assert "median_days" not in shown and "NaN" not in shown


def visible_text(page: str) -> str:
    """The text a reader sees on an HTML page (images and scripts left out)."""
    from html.parser import HTMLParser

    class Text(HTMLParser):
        def __init__(self):
            super().__init__()
            self.parts, self.skip = [], 0

        def handle_starttag(self, tag, attrs):
            self.skip += tag in ("script", "style")

        def handle_endtag(self, tag):
            self.skip -= tag in ("script", "style")

        def handle_data(self, data):
            if not self.skip:
                self.parts.append(data)

    parser = Text()
    parser.feed(page)
    return " ".join(" ".join(parser.parts).split())
