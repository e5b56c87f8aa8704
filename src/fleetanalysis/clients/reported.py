"""What a source states about a device (Okta, Entra, Google: the OS, its version, the
browser), folded over the facts its user agent gave where the agent is weak: ``facts``,
the access table plus client facts."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from fleetanalysis.clients.agents import _CHROMIUM, _PLATFORM_DEVICE, _renumbered
from fleetanalysis.clients.table import _distinct, _expand, _join_reasons, describe
from fleetanalysis.codes import combine, firsts, value_codes


def _reported_platform(name) -> str | None:
    """Our platform name for an OS name a source reports (Okta, Entra, Google); None if none.

    >>> [_reported_platform(name) for name in ("IOS_SYNC", "MacOs", "Windows10", "Tizen", None, "DESKTOP_CHROME")]
    ['iOS', 'macOS', 'Windows', 'other', None, None]
    """
    if not isinstance(name, str):
        return None
    key = re.sub(r"[^a-z]", "", name.lower())
    if key == "desktopchrome":
        # Google's device type for the Chrome browser on any desktop system: no platform named.
        return None
    for token, found in (("ipados", "iPadOS"), ("ipad", "iPadOS"), ("ios", "iOS"), ("iphone", "iOS"),
                         ("android", "Android"), ("chrome", "ChromeOS"), ("mac", "macOS"),
                         ("osx", "macOS"), ("windows", "Windows"), ("linux", "Linux")):
        if token in key:
            return found
    return "other"


# Browser names sources state (Entra "Edge 80.0.361", Okta "CHROME") -> (client_family,
# client_kind, client_product), compared in lower case; others keep their name, kind browser.
_STATED_CLIENTS = {
    "edge": ("Edge", "browser", "edge"), "microsoft edge": ("Edge", "browser", "edge"),
    "chrome": ("Chrome", "browser", "chrome"), "chrome mobile": ("Chrome", "browser", "chrome"),
    "firefox": ("Firefox", "browser", "firefox"), "mobile firefox": ("Firefox", "browser", "firefox"),
    "safari": ("Safari", "browser", "safari"), "mobile safari": ("Safari", "browser", "safari"),
    "ie": ("IE", "browser", None), "internet explorer": ("IE", "browser", None),
    "opera": ("Opera", "browser", None), "samsung browser": ("Samsung Internet", "browser", None),
    # Entra's name for desktop and mobile apps that sign in without a browser (Office, Outlook).
    "rich client": ("Rich Client", "app", None),
}
_REPORT_COLUMNS = ["source", "reported_os", "reported_os_version", "reported_browser",
                   "reported_browser_version", "reported_from"]


def _stated_client(name, version, platform) -> tuple:
    """(client_family, client_kind, client_product, client_version, note) for a browser a
    source states; the version kept at the precision it carries."""
    family, kind, product = _STATED_CLIENTS.get(str(name).strip().lower(), (name, "browser", None))
    note = None
    parts = str(version).split(".") if isinstance(version, str) else []
    if family in _CHROMIUM and parts and parts[0].isdigit() and int(parts[0]) >= 101 \
            and all(part == "0" for part in parts[1:]):
        # Parsed from a reduced agent (Chrome/124.0.0.0): only the major is real.
        version, note = parts[0], f"{family} reports only its major version"
    elif family in _CHROMIUM and len(parts) == 3 and parts[0].isdigit():
        # Entra's "Chrome 77.0.3865" drops the build's last part: which 77.0.3865.x (and whether
        # the exploited fix in it) is not told, only the major is sure.
        version, note = parts[0], f"the source states {family}'s version without its last part"
    if product == "safari" and platform in ("iOS", "iPadOS"):
        # As for agents: Safari on iOS is patched with iOS and judged by it.
        product = None
    return family, kind, product, version if parts else None, note


def _fold_reports(table: pd.DataFrame, reports: pd.DataFrame, agent_missing: np.ndarray) -> pd.DataFrame:
    """Per distinct (agent, report) row: use what the source states where the agent is
    missing or less precise (an OS version over a frozen, bounded or absent one; a platform
    over "other"; a browser where there is no agent), saying so in the reason."""
    table = table.copy()
    source = reports["source"].astype(object).where(reports["source"].notna(), "the source").astype(str)
    reported_platform = reports["reported_os"].map(_reported_platform)
    reported_version = reports["reported_os_version"]
    from_fields = reports["reported_from"].astype(object).fillna("").astype(str)
    frozen = from_fields.str.contains("os_version frozen", regex=False)
    no_agent = pd.Series(agent_missing) & reported_platform.notna()
    human = table["client_kind"].isin(["browser", "app", "unknown"])
    # An agent that names no platform (an unknown native app) takes the one the source states.
    vague = ~pd.Series(agent_missing) & human & table["platform"].eq("other") & reported_platform.notna() & reported_platform.ne("other")
    platform = table["platform"].where(~(no_agent | vague), reported_platform)
    weak = table["os_evidence"].isin(["frozen", "lower-bound", "lower-bound-in-line", "absent"])
    # A source that read the agent's compatibility number (macOS 10.16 or 16, iOS 19) states
    # no more than the agent did.
    made_up = pd.Series([isinstance(version, str) and _renumbered(name, version) is not None
                         for name, version in zip(reported_platform, reported_version)], index=reports.index)
    usable = weak & human & reported_version.notna() & ~made_up & platform.eq(reported_platform).fillna(False)
    table["platform"] = platform
    table["os_version"] = table["os_version"].where(~usable, reported_version)
    table["os_evidence"] = table["os_evidence"].where(~usable, "exact")
    table["device_class"] = table["device_class"].where(
        ~(no_agent | vague), platform.map(_PLATFORM_DEVICE).fillna("unknown"))
    os_reason = table["os_reason"].where(~usable, "reported by " + source)
    unstated = no_agent & ~usable
    table["os_evidence"] = table["os_evidence"].where(~(unstated & frozen), "frozen")
    os_reason = os_reason.where(~unstated, "no user agent; no OS version reported")
    os_reason = os_reason.where(~(unstated & frozen), "no user agent; " + source
                                + " states an OS version copied from a frozen user-agent token")
    table["os_reason"] = os_reason.where(~(vague & ~usable), "platform reported by " + source)
    # A browser the source states stands in for the agent's client facts when there is no agent.
    stated = pd.Series(agent_missing) & reports["reported_browser"].notna()
    for at in np.flatnonzero(stated.to_numpy()):
        family, kind, product, version, note = _stated_client(
            reports["reported_browser"].iloc[at], reports["reported_browser_version"].iloc[at],
            table["platform"].iloc[at])
        table.iloc[at, [table.columns.get_loc(column) for column in
                        ("client_family", "client_kind", "client_product", "client_version", "client_reason")]] = [
            family, kind, product, version,
            "; ".join(part for part in (f"browser reported by {source.iloc[at]}", note) if part)]
    table["reason"] = _join_reasons(table["os_reason"], table["client_reason"])
    return table


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
        2  Windows        NaN      absent      desktop          Edge             80
        >>> joined["reason"].tolist()
        ['reported by okta; Chrome reports only its major version', 'reported by google_mobile', "no user agent; no OS version reported; browser reported by entra; the source states Edge's version without its last part"]
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
