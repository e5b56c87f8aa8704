"""Client facts as columns: each distinct user agent described once (``agents``), then
taken back to rows with the documented dtypes."""

from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm import tqdm

from fleetanalysis.clients import agents
from fleetanalysis.clients.rules import CLIENT_KINDS, COLUMNS, DEVICE_CLASSES, OS_EVIDENCE, PLATFORMS


def _join_reasons(os_reason: pd.Series, client_reason: pd.Series) -> pd.Series:
    """'os reason; client reason', skipping missing parts (on distinct values)."""
    both = os_reason.notna() & client_reason.notna()
    joined = os_reason.fillna(client_reason)
    return joined.where(~both, os_reason + "; " + client_reason)


def _distinct(user_agents: pd.Series, progress: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
    """Facts per distinct user agent (last row: missing agent) and each input row's code."""
    if isinstance(user_agents.dtype, pd.CategoricalDtype):
        codes = user_agents.cat.codes.to_numpy()
        uniques = list(user_agents.cat.categories)
    else:
        codes, found = pd.factorize(user_agents, use_na_sentinel=True)
        uniques = list(found)
    codes = np.where(codes < 0, len(uniques), codes)
    # disable=None shows the bar only when stderr is a terminal.
    shown = tqdm(uniques, desc="user agents", unit="agent", disable=None if progress else True)
    rows = [agents._describe_one(agent) for agent in shown] + [agents._NO_AGENT]
    # _NO_AGENT and _EMPTY put their reason in the os_reason slot.
    table = pd.DataFrame(rows, columns=COLUMNS[:-1] + ["os_reason", "client_reason"], dtype=object)
    return table, codes


def _expand(table: pd.DataFrame, codes: np.ndarray, index: pd.Index) -> pd.DataFrame:
    """Take per-distinct facts back to rows, with the documented dtypes."""
    fixed = {"platform": PLATFORMS, "os_evidence": OS_EVIDENCE, "client_kind": CLIENT_KINDS,
             "device_class": DEVICE_CLASSES}
    # Open-ended columns list only the values some row has; decided on the distinct table.
    present = np.bincount(codes, minlength=len(table)) > 0
    out = {}
    for column in COLUMNS:
        values = table[column]
        if column in ("os_version", "client_version"):
            out[column] = pd.array(values.tolist(), dtype="str").take(codes)
            continue
        categories = pd.Index(fixed.get(column) or sorted(values[present].dropna().unique()))
        # -1 (missing) for NA and for distinct values no row takes.
        category_codes = categories.get_indexer(values)
        out[column] = pd.Categorical.from_codes(category_codes[codes], categories=categories)
    return pd.DataFrame(out, index=index)


def describe(user_agents: pd.Series, *, progress: bool = False) -> pd.DataFrame:
    """Client facts per user agent, same index as the input, parsing each distinct string once.

    Returns the columns ``platform, os_version, os_evidence, client_kind, client_family,
    client_version, client_product, device_class, reason`` (see docs/pipeline.md);
    categorical except the two version columns (``str``). A missing agent is platform
    ``other``, evidence ``absent``, kind ``unknown``, reason ``no user agent``.

    Examples:
        >>> import pandas as pd
        >>> facts = describe(pd.Series([
        ...     "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
        ...     "Python/3.12.1 slack_sdk/3.26.2 Linux/6.5.0",
        ...     None,
        ... ], dtype="category"))
        >>> facts[["platform", "os_evidence", "client_kind", "client_family", "client_product"]]
          platform os_evidence client_kind client_family client_product
        0  Windows      frozen     browser       Firefox        firefox
        1    other      absent         sdk     slack_sdk            NaN
        2    other      absent     unknown           NaN            NaN
        >>> facts["reason"].tolist()
        ['Windows 10 and 11 both report Windows NT 10.0', nan, 'no user agent']
    """
    table, codes = _distinct(user_agents, progress)
    table["reason"] = _join_reasons(table["os_reason"], table["client_reason"])
    return _expand(table, codes, user_agents.index)


def lookup(user_agents: list[str], *, progress: bool = False) -> pd.DataFrame:
    """One row per given string, in order: ``user_agent`` then the ``describe`` columns.

    This is the ``fleetanalysis ua`` table; an empty string keeps its row, reason ``empty``.

    Examples:
        >>> lookup(["curl/8.4.0", ""])[["user_agent", "client_kind", "client_family", "reason"]]
           user_agent client_kind client_family reason
        0  curl/8.4.0         sdk          curl    NaN
        1                 unknown           NaN  empty
    """
    agents = pd.Series(user_agents, dtype="str")
    return pd.concat([agents.rename("user_agent"), describe(agents, progress=progress)], axis=1)
