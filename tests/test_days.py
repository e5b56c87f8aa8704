"""One UTC day per moment, whatever zone or type the moment came in."""

import pandas as pd

from fleetanalysis.days import utc_day


def test_a_late_evening_sign_in_west_of_utc_counts_for_the_next_day():
    # Okta System Log's `published` is UTC with a Z; Entra's createdDateTime too; a CSV export
    # from a spreadsheet can carry a local offset instead (both written here as such).
    stamps = pd.Series(pd.to_datetime(["2024-03-10T23:30:00-05:00", "2024-03-10T01:30:00+09:00"], format="ISO8601",
                                      utc=True))
    assert utc_day(stamps).astype(str).tolist() == ["2024-03-11", "2024-03-09"]


def test_naive_moments_are_taken_as_utc_and_keep_their_index():
    days = utc_day(pd.Series(pd.to_datetime(["2024-03-10 23:59:59.999", None]), index=["a", "b"]))
    assert days.index.tolist() == ["a", "b"]
    assert str(days.dtype) == "datetime64[us]"
    assert days.iloc[0] == pd.Timestamp("2024-03-10") and pd.isna(days.iloc[1])


def test_one_moment_gives_one_day():
    assert utc_day(pd.Timestamp("2024-11-03 06:30", tz="America/New_York")) == pd.Timestamp("2024-11-03")
    assert utc_day("2024-11-03") == pd.Timestamp("2024-11-03")
    assert utc_day(pd.NaT) is pd.NaT


def test_a_list_of_text_becomes_a_series():
    assert utc_day(["2024-02-29T12:00:00Z"]).astype(str).tolist() == ["2024-02-29"]
