"""Do nudges work? What happened to each nudged device, against devices nobody nudged.

A nudge is a ``sent`` direct message of the nudge state (``nudges.State.history()``);
each device it named is followed in the devices' verdict history (``fleet.timeline``
with ``org.assign``'s ``office``, ideally one date a day) until the first later date on
which it is ``current`` or ``grace``. ``unknown`` is never counted as updated, nor is a
device that simply stopped being seen: both stay "still behind".

Days to update are whole days from the nudge's day to that first later date (an update
on the nudge's own day shows as 1 on a daily history; a weekly history rounds up to
weeks). Shares "updated within k days" only count devices whose fate at k days is
known: followed for k days or more, or updated by then; a nudge sent 4 days before the
end of the history says nothing yet about 7 days (its share is NA, not 0).

The comparison group is observational, not an experiment: for each wave (the ISO week
of a nudge, starting on its first nudge's day) the devices behind on that day that no
DM named within ``COMPARISON_GAP_DAYS`` either side (left out by cooldown, the run's
cap, an opt-out, or no Slack account) are followed from that day the same way. They
differ from nudged devices in more than the nudge, so the difference is a hint, not
a measured effect.

Examples:
    >>> messages = pd.DataFrame({"kind": ["dm"], "person": ["ana@x.io"], "status": ["sent"],
    ...     "devices": ['["a"]'], "created": [pd.Timestamp("2026-03-02 09:00", tz="UTC")]})
    >>> history = pd.DataFrame({"as_of": pd.to_datetime(["2026-03-02", "2026-03-03", "2026-03-04"]),
    ...     "device_id": ["a", "a", "a"], "verdict": ["outdated", "outdated", "current"],
    ...     "office": ["Oslo"] * 3})
    >>> found = follow(messages, history)
    >>> found[["group", "wave", "device_id", "nth", "updated_after_days", "followup_days"]].values.tolist()
    [['nudged', '2026-W10', 'a', '1st', 2, 2]]
    >>> summarise(found, ["group"])[["group", "devices", "updated", "within_3d", "median_days"]].values.tolist()
    [['nudged', 1, 1, 1.0, 2.0]]
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from fleetanalysis.days import utc_day
from fleetanalysis.errors import BadInput, reading_problem
from fleetanalysis.org import UNKNOWN_OFFICE

BEHIND = ("outdated", "unsupported")
UP_TO_DATE = ("current", "grace")
WITHIN_DAYS = (3, 7, 14)
# A device named in a DM this close to a wave's day is not a fair "not nudged" example.
COMPARISON_GAP_DAYS = 14
NUDGED = "nudged"
NOT_NUDGED = "not nudged (observational)"
FOLLOW_COLUMNS = ["group", "wave", "day", "person", "device_id", "office", "nth", "step",
                  "updated_after_days", "followup_days", "answer"]
# What a person's answer to a nudge says about one device it named, strongest first.
ANSWER_ORDER = ("not_mine", "updated", "snooze")
# Later nudges "work markedly worse" when their 7-day share is this much below the first's.
HABITUATION_DROP = 0.15
BREAKDOWNS = {"all": [], "wave": ["wave"], "office": ["office"], "nth nudge": ["nth"], "ladder step": ["step"]}
# Breakdowns that only the nudged have (the comparison group got no nudge to count).
NUDGED_ONLY = ("nth nudge", "ladder step")


def nudged_devices(messages: pd.DataFrame) -> pd.DataFrame:
    """One row per device named in a sent DM: ``person, device_id, day`` (naive UTC
    day), ``nth`` (``1st``, ``2nd``, ``3rd+``: the how-manyth sent DM this person got),
    ``step`` (the escalation ladder's ``first`` or ``reminder``; ``first`` in state files
    from before the ladder).

    Failed, unconfirmed and league messages are not nudges: nobody is sure they arrived.

    Examples:
        >>> messages = pd.DataFrame({"kind": ["dm", "dm", "dm", "league"],
        ...     "person": ["ana@x.io", "ana@x.io", "ana@x.io", None], "status": ["sent", "failed", "sent", "sent"],
        ...     "devices": ['["a", "b"]', '["a"]', '["a"]', None],
        ...     "created": pd.to_datetime(["2026-03-02 09:00", "2026-03-03 08:00", "2026-03-09 10:00", "2026-03-02 09:00"], utc=True)})
        >>> nudged_devices(messages)[["device_id", "day", "nth"]].astype(str).values.tolist()
        [['a', '2026-03-02', '1st'], ['b', '2026-03-02', '1st'], ['a', '2026-03-09', '2nd']]
    """
    columns = ["message_id", "person", "device_id", "day", "nth", "step"]
    if messages is None or messages.empty:
        return pd.DataFrame({column: pd.Series(dtype="datetime64[us]" if column == "day" else "string")
                             for column in columns})
    sent = messages[(messages["kind"].fillna("dm") == "dm") & (messages["status"] == "sent")].copy()
    sent["message_id"] = sent["id"] if "id" in sent else sent.index
    sent["created"] = pd.to_datetime(sent["created"], utc=True, format="ISO8601")
    sent = sent.sort_values(["created"], kind="stable")
    number = sent.groupby("person", sort=False).cumcount() + 1
    sent["nth"] = number.map(lambda n: {1: "1st", 2: "2nd"}.get(n, "3rd+"))
    step = sent["step"] if "step" in sent else pd.Series(None, index=sent.index, dtype=object)
    sent["step"] = step.fillna("first")
    sent["day"] = utc_day(sent["created"])
    sent["device_id"] = sent["devices"].map(lambda text: json.loads(text) if isinstance(text, str) else [])
    rows = sent.explode("device_id").dropna(subset=["device_id"])
    return rows[columns].astype({"message_id": "int64", "person": "string", "device_id": "string",
                                 "nth": "string", "step": "string"}).reset_index(drop=True)


def follow(messages: pd.DataFrame, history: pd.DataFrame, end: object = None,
           answers: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each nudged device, and each comparison device, followed in the verdict history.

    ``messages`` is ``nudges.State.history()``; ``history`` has ``as_of`` (a day),
    ``device_id``, ``verdict`` and ``office`` (optional). ``end`` (default: the last
    ``as_of``) is the last day anything is known. Returns ``group`` (``nudged`` or
    ``not nudged (observational)``), ``wave`` (ISO week of the nudge, e.g. ``2026-W10``),
    ``day`` (followed from), ``person`` (NA in the comparison group), ``device_id``,
    ``office`` (at that day; NA when unplaced), ``nth`` and ``step`` (NA in the comparison group),
    ``updated_after_days`` (Int64, NA: still behind), ``followup_days`` and ``answer``:
    what the person answered to that nudge about that device (``nudges.State.answers()``:
    ``not_mine`` for the device they disowned, else ``updated`` or ``snooze``; NA), kept
    beside what the logs showed, so "said updated" can be checked against the evidence.
    """
    history = _days(history)
    end = history["as_of"].max() if end is None else utc_day(end)
    nudges = _with_answers(nudged_devices(messages), answers).assign(group=NUDGED)
    nudges = nudges[nudges["day"] <= end]  # sent after the history ends: nothing known yet
    nudges["wave"] = nudges["day"].map(_iso_week).astype("string")
    comparison = _not_nudged(nudges, history)
    rows = pd.concat([nudges, comparison], ignore_index=True)
    if rows.empty:
        return pd.DataFrame({column: pd.Series(dtype="string") for column in FOLLOW_COLUMNS})
    rows["day"] = rows["day"].astype("datetime64[us]")
    office = history[["as_of", "device_id", "office"]].sort_values("as_of")
    rows = rows.reset_index(names="_row").sort_values("day")
    rows = pd.merge_asof(rows, office, left_on="day", right_on="as_of", by="device_id",
                         direction="backward").drop(columns="as_of")
    updated = history.loc[history["verdict"].isin(UP_TO_DATE), ["as_of", "device_id"]].sort_values("as_of")
    rows = pd.merge_asof(rows, updated.rename(columns={"as_of": "_updated"}), left_on="day",
                         right_on="_updated", by="device_id", direction="forward", allow_exact_matches=False)
    rows = rows.sort_values("_row")
    rows["updated_after_days"] = (rows["_updated"] - rows["day"]).dt.days.astype("Int64")
    rows.loc[rows["_updated"] > end, "updated_after_days"] = pd.NA
    rows["followup_days"] = (end - rows["day"]).dt.days.astype("int64")
    typed = rows[FOLLOW_COLUMNS].astype({"group": "string", "wave": "string", "person": "string",
                                         "device_id": "string", "office": "string", "nth": "string",
                                         "step": "string", "answer": "string"})
    return typed.reset_index(drop=True)


def _with_answers(nudges: pd.DataFrame, answers: pd.DataFrame | None) -> pd.DataFrame:
    """``nudges`` plus ``answer``: the strongest answer (``ANSWER_ORDER``) to its message
    that concerns its device."""
    nudges = nudges.assign(answer=pd.Series(pd.NA, index=nudges.index, dtype="string"))
    if answers is None or len(answers) == 0 or nudges.empty:
        return nudges
    for action in reversed(ANSWER_ORDER):
        given = answers[answers["action"] == action]
        if action == "not_mine":
            keys = set(zip(given["message_id"].astype("int64"), given["device_id"].astype(str)))
            hit = [(message, str(device)) in keys for message, device in zip(nudges["message_id"], nudges["device_id"])]
        else:
            hit = nudges["message_id"].isin(given["message_id"].astype("int64")).tolist()
        nudges.loc[hit, "answer"] = action
    return nudges


def _days(history: pd.DataFrame) -> pd.DataFrame:
    """The history's needed columns, ``as_of`` as naive days and text as plain strings."""
    office = history["office"] if "office" in history else pd.Series(pd.NA, index=history.index)
    return pd.DataFrame({"as_of": utc_day(history["as_of"]),
                         "device_id": history["device_id"].astype("string"),
                         "verdict": history["verdict"].astype("string"),
                         "office": office.astype("string")})


def _iso_week(day: pd.Timestamp) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _not_nudged(nudges: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """Per wave, the devices behind on its first nudge's day (the last history date up
    to it) that no DM named within ``COMPARISON_GAP_DAYS`` of that day."""
    gap = pd.Timedelta(days=COMPARISON_GAP_DAYS)
    dates = history["as_of"].drop_duplicates().sort_values()
    found = []
    for wave, day in nudges.groupby("wave")["day"].min().items():
        known = dates[dates <= day]
        if known.empty:
            continue
        seen = history[(history["as_of"] == known.iloc[-1]) & history["verdict"].isin(BEHIND)]
        near = nudges.loc[(nudges["day"] >= day - gap) & (nudges["day"] <= day + gap), "device_id"]
        left_out = seen.loc[~seen["device_id"].isin(near), ["device_id"]].drop_duplicates()
        found.append(left_out.assign(day=day, wave=wave, group=NOT_NUDGED, person=pd.NA, nth=pd.NA, step=pd.NA,
                                     answer=pd.NA))
    if not found:
        return pd.DataFrame(columns=["device_id", "day", "wave", "group", "person", "nth", "step", "answer"])
    return pd.concat(found, ignore_index=True)


def summarise(followed: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Outcomes per group of ``followed`` (``follow``'s frame) rows: ``by`` columns, then
    ``devices`` (followed device-nudges), ``updated`` (seen up to date by the end),
    ``within_3d``/``within_7d``/``within_14d`` (share 0-1 of those whose fate at that
    many days is known; NA when none is) and ``median_days`` (median days to update of
    those that updated; NA when none did); with an ``answer`` column also
    ``said_updated`` (answered "Updated"), ``said_updated_seen`` (of those, seen up to
    date in the logs by the end), ``snoozed`` and ``not_mine``.

    Examples:
        >>> followed = pd.DataFrame({"group": ["nudged"] * 3, "updated_after_days": pd.array([2, 9, pd.NA], "Int64"),
        ...                          "followup_days": [20, 20, 5]})
        >>> summarise(followed, ["group"]).round(3).to_dict("records")
        [{'group': 'nudged', 'devices': 3, 'updated': 2, 'within_3d': 0.333, 'within_7d': 0.5, 'within_14d': 1.0, 'median_days': 5.5}]
    """
    days = followed["updated_after_days"].astype("Float64")
    parts = {"devices": pd.Series(1, index=followed.index), "updated": days.notna().astype("int64")}
    for within in WITHIN_DAYS:
        done = (days <= within).fillna(False).astype(bool)
        known = done | (followed["followup_days"] >= within)
        parts[f"done_{within}"] = done.astype("int64")
        parts[f"known_{within}"] = known.astype("int64")
    if "answer" in followed:
        answer = followed["answer"].astype("string")
        parts["said_updated"] = answer.eq("updated").fillna(False).astype("int64")
        parts["said_updated_seen"] = (parts["said_updated"] & parts["updated"]).astype("int64")
        parts["snoozed"] = answer.eq("snooze").fillna(False).astype("int64")
        parts["not_mine"] = answer.eq("not_mine").fillna(False).astype("int64")
    frame = pd.DataFrame(parts).assign(_days=days)
    keys = ([followed[column].fillna(UNKNOWN_OFFICE if column == "office" else "unknown") for column in by]
            if by else [pd.Series("", index=followed.index)])
    grouped = frame.groupby(keys, sort=True, dropna=False)
    table = grouped[list(parts)].sum()
    table["median_days"] = grouped["_days"].median().astype("Float64")
    for within in WITHIN_DAYS:
        known = table[f"known_{within}"]
        table[f"within_{within}d"] = (table[f"done_{within}"] / known.where(known > 0)).astype("Float64")
    columns = ["devices", "updated", *[f"within_{within}d" for within in WITHIN_DAYS], "median_days",
               *[name for name in ("said_updated", "said_updated_seen", "snoozed", "not_mine") if name in parts]]
    table = table[columns].reset_index()
    if not by:
        table = table.drop(columns=table.columns[0])
    else:
        table.columns = [*by, *columns]
    return table


def breakdown(followed: pd.DataFrame) -> pd.DataFrame:
    """Every view the report and ``fleetanalysis nudges outcomes`` show, as one frame:
    ``breakdown`` (``all``, ``wave``, ``office``, ``nth nudge``, ``ladder step``),
    ``value`` (the wave, office, nth or step; empty for ``all``), ``group``, then
    ``summarise``'s figures. The comparison group has no ``nth nudge`` or ``ladder
    step`` rows. No person is named.

    Examples:
        >>> followed = pd.DataFrame({"group": ["nudged", "not nudged (observational)"], "wave": ["2026-W10"] * 2,
        ...     "office": ["Oslo", pd.NA], "nth": ["1st", pd.NA], "updated_after_days": pd.array([2, pd.NA], "Int64"),
        ...     "followup_days": [20, 20]})
        >>> breakdown(followed)[["breakdown", "value", "group", "devices", "updated"]].values.tolist()[-2:]
        [['office', 'Unknown office', 'not nudged (observational)', 1, 0], ['nth nudge', '1st', 'nudged', 1, 1]]
    """
    tables = []
    for name, by in BREAKDOWNS.items():
        if by and by[0] not in followed:  # a frame from before the ladder has no step
            continue
        rows = followed if name not in NUDGED_ONLY else followed[followed["group"] == NUDGED]
        table = summarise(rows, [*by, "group"])
        value = table[by[0]].astype("string") if by else pd.Series("", index=table.index, dtype="string")
        tables.append(table.drop(columns=by).assign(breakdown=name, value=value))
    joined = pd.concat(tables, ignore_index=True)
    ordered = ["breakdown", "value", "group", *[column for column in joined.columns
                                              if column not in ("breakdown", "value", "group")]]
    return joined[ordered].astype({"breakdown": "string", "group": "string"})


def daily_history(run, messages: pd.DataFrame) -> pd.DataFrame:
    """The fleet of ``run`` (``analysis.Analysis``) judged once a day from the first sent
    DM in ``messages`` to ``run.as_of``, with offices: ``follow``'s ``history``.

    One judgement a day, so that "updated within 3 days" means days, not weeks.
    """
    from fleetanalysis import fleet, org

    sent = messages.loc[(messages["status"] == "sent") & (messages["kind"].fillna("dm") == "dm"), "created"]
    start = pd.to_datetime(sent, utc=True, format="ISO8601").min() if len(sent) else None
    start = run.as_of if start is None else min(utc_day(start), run.as_of)
    judged = fleet.timeline(run.sightings, run.catalog, run.policy, start, run.as_of, freq="D",
                            window_days=run.window_days)
    return org.assign(judged, run.directory, run.networks)


def read_history(path: str | os.PathLike) -> pd.DataFrame:
    """A verdict history saved as Parquet or CSV (``as_of, device_id, verdict``, optional
    ``office``); ``BadInput`` naming the file, and the row, when it is unusable.

    Examples:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "history.csv"
        >>> _ = path.write_text("as_of,device_id,verdict\\n2026-03-02,a,outdated\\nyesterday,a,current\\n")
        >>> read_history(path)
        Traceback (most recent call last):
        ...
        fleetanalysis.errors.BadInput: ...history.csv: row 3: as_of is not a date: 'yesterday'
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype=str) if path.suffix.lower() in (".csv", ".txt") else pd.read_parquet(path)
    except (OSError, ValueError, ImportError) as error:
        raise BadInput(path, "cannot read the verdict history", reading_problem(error)) from None
    missing = [column for column in ("as_of", "device_id", "verdict") if column not in table.columns]
    if missing:
        raise BadInput(path, "not a verdict history", f"missing columns {', '.join(missing)}")
    days = pd.to_datetime(table["as_of"], errors="coerce", utc=True, format="ISO8601")
    bad = days.isna()
    if bad.any():
        first = int(bad.to_numpy().argmax())
        # Row numbers as a spreadsheet shows them: the header is row 1.
        raise BadInput(path, f"row {first + 2}", f"as_of is not a date: {table['as_of'].iloc[first]!r}")
    return table.assign(as_of=days.dt.tz_localize(None))


def habituation(table: pd.DataFrame, within: int = 7, min_devices: int = 10) -> str | None:
    """A warning when later nudges work markedly worse than first ones, else None.

    Compares the share updated within ``within`` days after a person's ``2nd`` and
    ``3rd+`` nudges with their ``1st`` (``breakdown``'s ``nth nudge`` rows); each needs
    ``min_devices`` nudged devices, so noise from a handful is not called a trend.

    Examples:
        >>> table = pd.DataFrame({"breakdown": ["nth nudge"] * 3, "value": ["1st", "2nd", "3rd+"],
        ...     "group": ["nudged"] * 3, "devices": [40, 25, 12], "within_7d": [0.6, 0.5, 0.3]})
        >>> habituation(table)
        'later nudges work markedly worse: updated within 7 days after a 1st nudge 60% (40 devices), after a 3rd+ 30% (12 devices); consider fewer messages, another channel, or a person to talk to'
        >>> habituation(table.assign(within_7d=[0.6, 0.55, 0.5])) is None
        True
    """
    rows = table[(table["breakdown"] == "nth nudge") & (table["group"] == NUDGED)].set_index("value")
    column = f"within_{within}d"
    if "1st" not in rows.index or pd.isna(rows.loc["1st", column]) or rows.loc["1st", "devices"] < min_devices:
        return None
    first = float(rows.loc["1st", column])
    worse = [(nth, float(rows.loc[nth, column]), int(rows.loc[nth, "devices"])) for nth in ("2nd", "3rd+")
             if nth in rows.index and pd.notna(rows.loc[nth, column]) and rows.loc[nth, "devices"] >= min_devices
             and float(rows.loc[nth, column]) <= first - HABITUATION_DROP]
    if not worse:
        return None
    nth, share, devices = min(worse, key=lambda item: item[1])
    return (f"later nudges work markedly worse: updated within {within} days after a 1st nudge {first:.0%} "
            f"({int(rows.loc['1st', 'devices'])} devices), after a {nth} {share:.0%} ({devices} devices); "
            "consider fewer messages, another channel, or a person to talk to")
