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

import re
import tomllib
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm
from ua_parser import Domain

from fleetanalysis.codes import combine, firsts, value_codes
from fleetanalysis.config import PACKAGE_DATA

PLATFORMS = ["iOS", "iPadOS", "Android", "macOS", "Windows", "Linux", "ChromeOS", "other"]
OS_EVIDENCE = ["exact", "frozen", "lower-bound", "absent"]
CLIENT_KINDS = ["browser", "app", "sdk", "bot", "unknown"]
DEVICE_CLASSES = ["phone", "tablet", "desktop", "unknown"]
COLUMNS = [
    "platform", "os_version", "os_evidence", "client_kind", "client_family",
    "client_version", "client_product", "device_class", "reason",
]

RULES_FILE = PACKAGE_DATA / "clients.toml"
# Project rules reach the resolver under these family names, so a parse names the rule it came from.
_RULE_MARK = "@"


@dataclass(frozen=True)
class ClientRule:
    """One ``[[client]]`` of clients.toml: which client a regex names, and what kind it is."""

    regex: str
    family: str
    kind: str
    product: str | None = None


@dataclass(frozen=True)
class SystemRule:
    """One ``[[system]]`` of clients.toml: an OS an app states in its own words."""

    regex: str
    platform: str
    version: tuple[str, ...] = ()
    evidence: str = "exact"
    darwin: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class Rules:
    """The client rules of clients.toml, checked: see that file for what each field means."""

    clients: tuple[ClientRule, ...]
    systems: tuple[SystemRule, ...]
    families: dict[str, tuple[str, str, str | None]]
    darwin: dict[int, dict]


@cache
def rules(path: Path = RULES_FILE) -> Rules:
    """The client rules, read once from ``path`` (the shipped clients.toml).

    Examples:
        >>> found = rules()
        >>> found.clients[0].family, found.clients[0].kind
        ('go-git', 'sdk')
        >>> found.families["IE"]
        ('Internet Explorer', 'browser', 'internet-explorer')
    """
    with path.open("rb") as handle:
        table = tomllib.load(handle)
    clients = tuple(ClientRule(**entry) for entry in table.get("client", []))
    systems = tuple(SystemRule(**{**entry, "version": tuple(entry.get("version", ()))})
                    for entry in table.get("system", []))
    for number, rule in enumerate(clients + systems):
        # Group 1 is the product or OS token: the resolver reads versions from groups 2-5.
        if re.compile(rule.regex).groups < 1:
            raise ValueError(f"{path}: rule {number}: regex needs a group 1 (the product token)")
    for rule in clients:
        if rule.kind not in CLIENT_KINDS:
            raise ValueError(f"{path}: client {rule.family!r}: kind {rule.kind!r} not one of {CLIENT_KINDS}")
    for rule in systems:
        if rule.platform not in PLATFORMS or rule.evidence not in OS_EVIDENCE:
            raise ValueError(f"{path}: system {rule.regex!r}: unknown platform or evidence")
    families = {name: (family, kind, product or None)
                for name, (family, kind, product) in table.get("families", {}).items()}
    darwin = {int(major): entry for major, entry in table.get("darwin", {}).items()}
    return Rules(clients, systems, families, darwin)


# Chromium-based families: they share Chrome's user-agent reduction.
_CHROMIUM = {"Chrome", "Chromium", "Edge", "Opera", "Electron", "Slack", "Microsoft Teams", "WebView"}
# The oldest macOS each Safari major runs on (Apple ships a Safari for the two previous
# macOS releases), so a frozen macOS token plus Safari N proves at least this macOS.
_SAFARI_MIN_MACOS = {16: "11", 17: "12", 18: "13", 26: "14"}
_LINUX_FAMILIES = {
    "Linux", "Ubuntu", "Debian", "Fedora", "Red Hat", "CentOS", "Linux Mint", "Arch Linux",
    "openSUSE", "SUSE", "Kubuntu", "Xubuntu", "Gentoo", "Mandriva", "Slackware", "elementary OS",
}
_OS_PLATFORM = {"iOS": "iOS", "Mac OS X": "macOS", "Windows": "Windows", "Android": "Android",
                "Chrome OS": "ChromeOS"} | {name: "Linux" for name in _LINUX_FAMILIES}

_WINDOWS_NT = re.compile(r"Windows NT (\d+\.\d+)(?:\.(\d+))?")
_SAFARI_VERSION = re.compile(r"Version/(\d+)(?:\.(\d+))?(?:\.(\d+))?")
_FROZEN_ANDROID = re.compile(r"Android 10; K\)")
# Reduced ChromeOS user agents carry this platform version on every release.
_FROZEN_CROS = "14541.0.0"

# The device class a platform implies when only the source's OS name is known.
_PLATFORM_DEVICE = {"iOS": "phone", "iPadOS": "tablet", "Android": "phone", "macOS": "desktop",
                    "Windows": "desktop", "Linux": "desktop", "ChromeOS": "desktop"}

_NO_AGENT = ("other", None, "absent", "unknown", None, None, None, "unknown", "no user agent", None)
_EMPTY = ("other", None, "absent", "unknown", None, None, None, "unknown", "empty", None)


@cache
def _parser():
    """One ua-parser Parser: the rules of clients.toml first, then the stock rules, on the Rust resolver."""
    from ua_parser import Parser, load_lazy_builtins
    from ua_parser.lazy import DeviceMatcher, OSMatcher, UserAgentMatcher
    from ua_parser.regex import Resolver

    agents, systems, devices = load_lazy_builtins()
    found = rules()
    project_agents = [UserAgentMatcher(rule.regex, f"{_RULE_MARK}{number}|{rule.family}")
                      for number, rule in enumerate(found.clients)]
    project_systems = [OSMatcher(rule.regex, f"{_RULE_MARK}{number}", *rule.version)
                       for number, rule in enumerate(found.systems)]
    project_devices = [DeviceMatcher(r"\(iPad; iOS ", None, "iPad", "Apple", "iPad")]
    return Parser(Resolver((project_agents + list(agents), project_systems + list(systems),
                            project_devices + list(devices))))


def _dotted(*parts: str | None) -> str | None:
    """Join version parts up to the first missing one."""
    kept = []
    for part in parts:
        if part in (None, ""):
            break
        kept.append(part)
    return ".".join(kept) or None


def _os_facts(agent: str, platform: str, os, family: str, kind: str) -> tuple:
    """(os_version, os_evidence, os_reason) for one user agent."""
    version = _dotted(os.major, os.minor, os.patch, os.patch_minor) if os else None
    if platform in ("iOS", "iPadOS"):
        safari = _SAFARI_VERSION.search(agent)
        # WebKit on iOS 26 freezes the OS token at 18_6 (18_7 from 26.1) with no patch
        # number; Safari's Version/ token still carries the real release. Native apps
        # (Slack's "iOS 18.6") write the system version themselves and are not frozen.
        if version in ("18.6", "18.7") and "like Mac OS X" in agent:
            if family == "Safari" and safari and int(safari[1]) >= 26:
                return _dotted(*safari.groups()), "exact", None
            if family == "Safari" and safari and safari[1] == "18":
                return version, "exact", None
            # Firefox for iOS hard-codes 18_7 whatever the device runs.
            if family == "Firefox" and version == "18.7":
                return None, "frozen", "Firefox on iOS always reports iOS 18.7"
            return None, "frozen", "iOS 26 and later report iOS 18.6 or 18.7"
        return (version, "exact", None) if version else (None, "absent", "no iOS version")
    if platform == "macOS":
        if os and os.major == "10" and os.minor == "15":
            # Safari on Big Sur (11) and later still says 10_15_7, so sites that
            # parsed "10_16" would not break.
            if family == "Safari":
                safari = _SAFARI_VERSION.search(agent)
                minimum = _SAFARI_MIN_MACOS.get(int(safari[1])) if safari else None
                frozen = "Safari reports macOS 10.15 on every macOS since 11"
                if minimum:
                    return minimum, "lower-bound", f"{frozen}; Safari {safari[1]} needs macOS {minimum} or later"
                return None, "frozen", frozen
            # Firefox 87 capped the macOS version it reports at 10.15.
            if family == "Firefox":
                return None, "frozen", "Firefox reports macOS 10.15 on every later macOS since Firefox 87"
            if family in _CHROMIUM:
                # Chrome capped the token at 10_15_7 for Big Sur and froze it for good in
                # Chrome 107 (user-agent reduction); Electron apps inherit it.
                return None, "frozen", f"{family} reports macOS 10.15.7 on every later macOS"
            return None, "frozen", "macOS 10.15 in a user agent is frozen on every later macOS"
        return (version, "exact", None) if version else (None, "absent", "no macOS version")
    if platform == "Windows":
        nt = _WINDOWS_NT.search(agent)
        if not nt:
            return None, "absent", "no Windows version"
        # Windows 11 kept NT 10.0; only a build number (some apps add it) tells them apart.
        if nt[1] == "10.0" and not nt[2]:
            return None, "frozen", "Windows 10 and 11 both report Windows NT 10.0"
        return _dotted(nt[1], nt[2]), "exact", None
    if platform == "Android":
        # Chrome 110 (and Chromium browsers after it) report "Android 10; K" everywhere.
        if _FROZEN_ANDROID.search(agent):
            return None, "frozen", "Chrome-based browsers report Android 10; K on every Android since Chrome 110"
        return (version, "exact", None) if version else (None, "absent", "no Android version")
    if platform == "ChromeOS":
        if version == _FROZEN_CROS:
            return None, "frozen", "Chrome freezes the ChromeOS version at 14541.0.0"
        return (version, "exact", None) if version else (None, "absent", "no ChromeOS version")
    if platform == "Linux":
        return None, "absent", "Linux user agents carry no OS version"
    return None, "absent", None if kind in ("sdk", "bot") else "no operating system"


def _device_class(agent: str, platform: str, kind: str) -> str:
    """phone, tablet, desktop or unknown, from the platform and form-factor tokens."""
    if platform == "iOS":
        return "phone"
    if platform == "iPadOS":
        return "tablet"
    if platform in ("macOS", "Windows", "Linux", "ChromeOS"):
        return "desktop"
    if platform == "Android":
        if "Tablet" in agent:
            return "tablet"
        # Android browsers drop "Mobile" on tablets; apps do not say, most run on phones.
        return "tablet" if kind == "browser" and "Mobile" not in agent else "phone"
    return "unknown"


def _client(client, device) -> tuple:
    """(client_family, client_kind, client_product) of a parse: its project rule, else the stock family."""
    raw_family = client.family if client else "Other"
    if raw_family.startswith(_RULE_MARK):
        number, _, family = raw_family[1:].partition("|")
        rule = rules().clients[int(number)]
        return family, rule.kind, rule.product
    if device is not None and device.family == "Spider":
        return raw_family, "bot", None
    if raw_family == "Other":
        return None, "unknown", None
    return rules().families.get(raw_family, (raw_family, "browser", None))


def _stated_by(os) -> SystemRule | None:
    """The clients.toml rule that read this OS, if one did."""
    if os is None or not os.family.startswith(_RULE_MARK):
        return None
    return rules().systems[int(os.family[1:])]


def _from_darwin(platform: str, major, minor) -> tuple:
    """(os_version, reason) of the iOS, iPadOS or macOS release a Darwin kernel version is at least."""
    line = rules().darwin.get(int(major)) if major and major.isdigit() else None
    kernel = _dotted(major, minor)
    if line is None:
        return None, f"Darwin {kernel} is not in the Darwin table"
    minor = int(minor) if minor and minor.isdigit() else 0
    if platform == "macOS":
        version = f"{line['macos']}.{max(minor - line['macos_shift'], 0)}"
    else:
        version = f"{line['ios']}.{minor}" if line["ios_minor"] else line["ios"]
    release = line["macos"] if platform == "macOS" else line["ios"]
    return version, f"Darwin {kernel} is {platform} {version} or a later {platform} {release} release"


def _stated_os_facts(rule: SystemRule, platform: str, os, family) -> tuple:
    """(os_version, os_evidence, os_reason) for an OS read by a clients.toml rule."""
    version = _dotted(os.major, os.minor, os.patch, os.patch_minor)
    if rule.darwin:
        version, darwin_reason = _from_darwin(platform, os.major, os.minor)
        reason = "; ".join(part for part in (darwin_reason, rule.reason) if part)
        return version, "lower-bound" if version else "absent", reason
    if version is None:
        return None, "absent", rule.reason or f"{family or 'the client'} states no {platform} version"
    if platform == "Windows" and version in ("10", "10.0"):
        return None, "frozen", "Windows 10 and 11 both report Windows 10.0"
    if platform == "macOS" and version.startswith("10.16"):
        # Apps built against an older SDK are told 10.16 on macOS 11 and later.
        return "11", "lower-bound", "macOS 10.16 is what apps built for older macOS see on macOS 11 and later"
    return version, rule.evidence, rule.reason


# Chunks of one file and Dask partitions of one log hold mostly the same agents: each is
# parsed once per process rather than once per piece (bounded: hostile logs can hold
# millions of distinct strings).
@lru_cache(maxsize=1 << 16)
def _describe_one(agent) -> tuple:
    """All facts for one distinct user agent, with the OS and client reasons apart."""
    if not isinstance(agent, str):
        return _NO_AGENT
    if not agent.strip():
        return _EMPTY
    parsed = _parser()(agent, Domain.ALL)
    client, os, device = parsed.user_agent, parsed.os, parsed.device
    family, kind, product = _client(client, device)
    client_version = _dotted(client.major, client.minor, client.patch, client.patch_minor) if client else None
    client_notes = []
    if family in _CHROMIUM and client and client.major and client.major.isdigit() \
            and int(client.major) >= 101 and (client.minor, client.patch) == ("0", "0") \
            and client.patch_minor in (None, "0"):
        # Chrome 101 (and Edge, Opera after it) sends MAJOR.0.0.0 only.
        client_version = client.major
        client_notes.append(f"{family} reports only its major version")
    if agent.startswith("SlackWeb/"):
        client_notes.append("browser running Slack's web client")
    if kind == "unknown":
        client_notes.append("unrecognised client")
    if kind in ("sdk", "bot"):
        # Scripts and bots are not devices: their OS tokens describe a server, if anything.
        return ("other", None, "absent", kind, family, client_version, None, "unknown",
                None, "; ".join(client_notes) or None)
    stated = _stated_by(os)
    platform = stated.platform if stated else _OS_PLATFORM.get(os.family, "other") if os else "other"
    if platform == "iOS" and (device is not None and device.family == "iPad" or "iPad" in agent):
        platform = "iPadOS"
    if stated:
        os_version, evidence, os_reason = _stated_os_facts(stated, platform, os, family)
    else:
        os_version, evidence, os_reason = _os_facts(agent, platform, os, family, kind)
    if product == "safari" and platform in ("iOS", "iPadOS"):
        # Safari on iOS is patched only through iOS updates, and its Version/ token keeps the
        # line's x.y (iOS 16.7.10 says Version/16.6): the OS version is what to judge.
        product = None
    client_reason = "; ".join(client_notes) or None
    return (platform, os_version, evidence, kind, family, client_version, product,
            _device_class(agent, platform, kind), os_reason, client_reason)


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
    rows = [_describe_one(agent) for agent in shown] + [_NO_AGENT]
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


def _reported_platform(name) -> str | None:
    """Our platform name for an OS name a source reports (Okta, Entra, Google); None if none.

    >>> [_reported_platform(name) for name in ("IOS_SYNC", "MacOs", "Windows10", "Tizen", None)]
    ['iOS', 'macOS', 'Windows', 'other', None]
    """
    if not isinstance(name, str):
        return None
    key = re.sub(r"[^a-z]", "", name.lower())
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
    weak = table["os_evidence"].isin(["frozen", "lower-bound", "absent"])
    usable = weak & human & reported_version.notna() & platform.eq(reported_platform).fillna(False)
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
