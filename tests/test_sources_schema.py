"""sources.schema: the access table's dtypes, and the checks every loaded row passes."""

import pandas as pd

from fleetanalysis.sources import schema
from fleetanalysis.sources.schema import MAX_USER_AGENT


def _candidates(agents):
    rows = len(agents)
    return pd.DataFrame({
        "source": ["csv"] * rows, "record": [f"line {n + 2}" for n in range(rows)], "raw": ["..."] * rows,
        "user": ["ann@example.org"] * rows, "count": [1] * rows,
        "first_seen": pd.to_datetime(["2024-05-01"] * rows, utc=True),
        "last_seen": pd.to_datetime(["2024-05-01"] * rows, utc=True), "user_agent": agents})


AGENTS = ["Mozilla/5.0", "", "curl/8.4.0\x00", "A" * (MAX_USER_AGENT + 1), None, "   ", "Mozilla/5.0",
          "A" * (MAX_USER_AGENT + 1)]
REASONS = [None, "no user agent", "contains NUL bytes",
           f"user agent is {MAX_USER_AGENT + 1} characters (limit {MAX_USER_AGENT})", "no user agent",
           "no user agent", None, f"user agent is {MAX_USER_AGENT + 1} characters (limit {MAX_USER_AGENT})"]


def test_categorical_agents_are_checked_per_distinct_agent_with_the_same_reasons():
    for agents in (pd.Series(AGENTS, dtype="str"), pd.Series(AGENTS, dtype="category")):
        access, rejected = schema.screen(_candidates(agents), "events.csv")
        found = dict(zip(rejected["record"], rejected["reason"]))
        expected = {f"line {n + 2}": reason for n, reason in enumerate(REASONS) if reason}
        assert found == expected
        assert access["user_agent"].astype("str").tolist() == ["Mozilla/5.0", "Mozilla/5.0"]


def test_columns_a_source_lacks_are_empty_with_the_documented_dtypes():
    table = schema.conform(pd.DataFrame({"source": ["okta", "nonsense"], "user_agent": ["Mozilla/5.0", pd.NA]}))
    assert list(table.columns) == list(schema.COLUMNS)
    assert table.dtypes.astype(str).tolist() == schema.empty_access().dtypes.astype(str).tolist()
    assert table["source"].tolist()[0] == "okta" and pd.isna(table["source"].iloc[1])
    assert table["count"].tolist() == [1, 1]
    for column in ("event_id", "user_id", "ip", "reported_os", "device_model", "managed", "first_seen"):
        assert table[column].isna().all(), column
