"""The one way a moment becomes the day it counts for: its calendar day in UTC.

Evidence, releases, reports and nudges are all dated by UTC day, so a sign-in at 23:30 in
New York (04:30 UTC the next day) counts for the next day, whatever zone the export used.
Where the time of day matters (a nudge's cooldown, the state's stamps), ``utc`` gives the
moment itself in UTC, by the same rule: a naive moment is already UTC.
"""

from __future__ import annotations

import pandas as pd


def utc_day(moments):
    """The UTC calendar day of each moment, as a naive midnight in microseconds.

    A moment with a time zone is converted to UTC first; a naive one is taken to be UTC
    already; text is parsed. One moment gives a ``Timestamp`` (NaT stays NaT), a Series
    gives a Series with its index, any other list of moments a Series numbered from 0.

    Examples:
        >>> utc_day("2024-03-05T23:30:00-05:00")
        Timestamp('2024-03-06 00:00:00')
        >>> utc_day(pd.Series(pd.to_datetime(["2024-03-05 23:30", None]), index=[7, 8])).tolist()
        [Timestamp('2024-03-05 00:00:00'), NaT]
        >>> str(utc_day(pd.Series(pd.to_datetime(["2024-03-05 23:30"]).tz_localize("Asia/Tokyo"))).dtype)
        'datetime64[us]'
    """
    moments = pd.to_datetime(moments)
    if moments is pd.NaT:
        return pd.NaT
    if isinstance(moments, pd.Timestamp):
        if moments.tzinfo is not None:
            moments = moments.tz_convert("UTC").tz_localize(None)
        return moments.normalize().as_unit("us")
    if not isinstance(moments, pd.Series):
        moments = pd.Series(moments)
    if moments.dt.tz is not None:
        moments = moments.dt.tz_convert("UTC").dt.tz_localize(None)
    return moments.dt.normalize().astype("datetime64[us]")


def utc(moment: object) -> pd.Timestamp:
    """One moment as a ``Timestamp`` in UTC; a naive moment is taken to be UTC already.

    Examples:
        >>> utc("2024-03-05T23:30:00-05:00"), utc("2024-03-05 23:30")
        (Timestamp('2024-03-06 04:30:00+0000', tz='UTC'), Timestamp('2024-03-05 23:30:00+0000', tz='UTC'))
    """
    moment = pd.Timestamp(moment)
    return moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
