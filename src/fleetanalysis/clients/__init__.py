"""Client facts from user agents: what each string says, and what it cannot say.

``describe`` turns user-agent strings into platform, OS version, client and device
facts, parsing each distinct string once with ua-parser's Rust resolver. The project's
rules sit in front of the stock rules and live in ``data/clients.toml`` (documented
there): the native apps of sign-in logs (Okta Verify and Okta's device SDKs, Microsoft
Office, Outlook, Teams and OneDrive, Slack, CFNetwork/Darwin apps, Android apps on
ChromeOS) with the OS each states, legacy Edge and Internet Explorer as products of
their own (``edge-legacy``, ``internet-explorer``), and the scripts, CLIs, libraries and
bots that are no one's device (kind ``sdk`` or ``bot``).

Browsers freeze parts of their user agent, so a token is only reported as an exact
version when it can carry one; otherwise ``os_evidence`` says ``frozen`` (or
``lower-bound`` where the client proves a minimum) and ``reason`` says why.

Version conventions: Windows is reported by its NT version (``6.1`` is Windows 7,
``10.0.22631`` a Windows 11 build, ``10.0.19045.3570`` with the revision Okta Verify
adds); a bare ``Windows NT 10.0`` gives no version, because Windows 10 and 11 both send
it. macOS ``10.15`` from a browser or Electron app is frozen: they report it on every
later macOS. ``lower-bound`` means "this release or a later one of the same line": Safari
on a frozen macOS token (the Safari major proves the oldest macOS that runs it), a Darwin
kernel version (``Darwin/22.6.0`` is iOS 16.6 or a later 16.x; iOS unless a model or
architecture token names a Mac or an iPad), and legacy Edge's EdgeHTML build (the Windows
10 build it came with).

``facts`` joins these columns onto the access table and prefers an OS version that the
source reported directly (Okta, Entra, Google) over a frozen or absent one.

Examples:
    >>> import pandas as pd
    >>> agents = pd.Series([
    ...     "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    ...     "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    ...     "com.tinyspeck.chatlyio/23.04.10 (iPhone; iOS 16.4.1; Scale/3.00)",
    ... ])
    >>> describe(agents)[["platform", "os_version", "os_evidence", "client_family", "client_version"]]
      platform os_version os_evidence client_family client_version
    0    macOS        NaN      frozen        Chrome            124
    1      iOS     16.4.1       exact         Slack       23.04.10
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fleetanalysis.clients.agents import _distinct, _expand, describe, lookup
from fleetanalysis.clients.reported import _REPORT_COLUMNS, _fold_reports
from fleetanalysis.clients.rules import (
    CLIENT_KINDS,
    COLUMNS,
    DEVICE_CLASSES,
    OS_EVIDENCE,
    PLATFORMS,
    RULES_FILE,
    ClientRule,
    Rules,
    SystemRule,
    rules,
)
from fleetanalysis.codes import combine, firsts, value_codes

__all__ = ["CLIENT_KINDS", "COLUMNS", "DEVICE_CLASSES", "OS_EVIDENCE", "PLATFORMS", "RULES_FILE", "ClientRule",
           "Rules", "SystemRule", "describe", "facts", "lookup", "rules"]


def facts(access: pd.DataFrame, *, progress: bool = False) -> pd.DataFrame:
    """The access table plus client facts, using what the source states where the agent is weak.

    Where the user agent's OS version is frozen, a lower bound or absent and the row has a
    ``reported_os_version`` for the same platform, that version is used with evidence
    ``exact`` and reason ``reported by <source>``. Rows without a user agent take their
    platform from ``reported_os`` and their client from ``reported_browser`` (reason
    ``browser reported by <source>``); an agent that names no platform takes the
    reported one. A version the source copied from a frozen token (``reported_from``
    says ``os_version frozen``) leaves evidence ``frozen``. ``reported_from`` (kept from
    the access table) names the source fields behind each fact.

    Examples:
        >>> import pandas as pd
        >>> access = pd.DataFrame({
        ...     "source": pd.Categorical(["okta", "google_mobile", "entra"]),
        ...     "user_agent": pd.Categorical([
        ...         "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
        ...         "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", None, None]),
        ...     "reported_os": pd.Categorical(["macOS", "IOS_SYNC", "Windows10"]),
        ...     "reported_os_version": pd.array(["14.4.1", "17.4", None], dtype="str"),
        ...     "reported_browser": pd.Categorical([None, None, "Edge"]),
        ...     "reported_browser_version": pd.array([None, None, "80.0.361"], dtype="str"),
        ... })
        >>> joined = facts(access)
        >>> joined[["platform", "os_version", "os_evidence", "device_class", "client_family", "client_version"]]
          platform os_version os_evidence device_class client_family client_version
        0    macOS     14.4.1       exact      desktop        Chrome            124
        1      iOS       17.4       exact        phone           NaN            NaN
        2  Windows        NaN      absent      desktop          Edge       80.0.361
        >>> joined["reason"].tolist()
        ['reported by okta; Chrome reports only its major version', 'reported by google_mobile', 'no user agent; no OS version reported; browser reported by entra']
    """
    if not any(column in access for column in ("reported_os", "reported_os_version", "reported_browser")):
        return access.join(describe(access["user_agent"], progress=progress))
    table, agent_codes = _distinct(access["user_agent"], progress)
    # The outcome depends only on the agent and the report columns: fold the reports in
    # once per distinct combination, then take back to rows. Categorical columns give their
    # codes for free.
    present = [column for column in _REPORT_COLUMNS if column in access]
    key = combine([agent_codes.astype(np.int64), *(value_codes(access[column])[0] for column in present)], sort=False)
    first = firsts(key)
    reports = pd.DataFrame({column: (access[column].iloc[first].astype(object).to_numpy() if column in access
                                     else np.full(len(first), None, dtype=object)) for column in _REPORT_COLUMNS})
    reports = reports.where(reports.notna(), None)
    agent_at = agent_codes[first]
    folded = _fold_reports(table.iloc[agent_at].reset_index(drop=True), reports,
                           agent_missing=agent_at == len(table) - 1)
    described = _expand(folded, key, access.index)
    return access.join(described)
