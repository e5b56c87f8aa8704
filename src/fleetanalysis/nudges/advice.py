"""What a nudge says about a device: how to update it, by platform and app, and text made
inert for Slack's mrkdwn (versions and client names come from attacker-shaped user agents).

Examples:
    >>> update_steps({"platform": "iOS", "device_class": "phone", "clients": "Slack 24.01",
    ...               "os_verdict": "outdated", "client_verdict": "current"})[0][:36]
    'Connect to Wi-Fi and charge, then op'
"""

from __future__ import annotations

import re

import pandas as pd

from fleetanalysis.metrics import release_line
from fleetanalysis.writing import escape_controls

NEEDS_UPDATE = ("outdated", "unsupported")
# Versions and client names come from user agents; nobody needs more than this to recognise one.
MAX_FIELD = 120

OS_STEPS = {
    "iOS": "Connect to Wi-Fi and charge, then open Settings > General > Software Update.",
    "iPadOS": "Connect to Wi-Fi and charge, then open Settings > General > Software Update.",
    "Android": "Open Settings > System > Software update (the menu name varies by maker). "
               "Your phone's maker decides when an update reaches it; if none is offered, "
               "check again in a few days.",
    "macOS": "Open System Settings > General > Software Update (on older Macs: System "
             "Preferences > Software Update).",
    "Windows": "Open Settings > Windows Update and select Check for updates, then restart.",
    "ChromeOS": "Open Settings > About ChromeOS > Check for updates, then restart.",
    "Linux": "Install your distribution's security updates with its package manager or "
             "software centre, then reboot.",
}
# Windows before 10 (XP to 8.1, NT 5.x and 6.x): Windows Update offers no way from there to
# a supported Windows, and these PCs have no Settings app to look in.
WINDOWS_BEFORE_10_STEPS = ("This Windows no longer gets updates, and Windows Update cannot move the PC to a "
                           "supported Windows: ask IT to upgrade or replace it.")
CLIENT_STEPS = {
    "Chrome": "Chrome updates itself; relaunch it to finish. To check: menu > Help > About Google Chrome.",
    "Edge": "Edge updates itself; relaunch it to finish. To check: menu > Help and feedback > About Microsoft Edge.",
    "Firefox": "Firefox updates itself; restart it to finish. To check: menu > Help > About Firefox.",
    "Safari": "Safari is updated together with the operating system: use Software Update.",
    "Samsung Internet": "Update Samsung Internet from the Galaxy Store or Google Play.",
    "Opera": "Opera updates itself; restart it to finish. To check: menu > Update & Recovery.",
    "Chromium": "Update Chromium from wherever you installed it, then relaunch it.",
    "Slack desktop": "Quit and reopen Slack to apply a downloaded update, or use Help > Check for "
                     "Updates (on a Mac: the Slack menu > Check for Updates).",
    "Slack mobile": "Update Slack from the App Store (iPhone, iPad) or Google Play (Android).",
}
# Distribution Chromium packages trail upstream because each distribution rebuilds and tests
# every release; the fix is either those security updates or a build that tracks upstream.
LINUX_CHROMIUM_STEPS = (
    "Chromium packaged by a Linux distribution often lags the upstream release while the "
    "distribution rebuilds and tests it. Install your distribution's security updates, or "
    "switch to a build that tracks upstream: Google Chrome from Google's own package "
    "repository, or the Chromium Flatpak from Flathub."
)
# Catalog ids (policy's reasons name products by them) as their makers spell the products.
PRODUCT_NAME = {"ios": "iOS", "ipados": "iPadOS", "macos": "macOS", "android": "Android", "windows": "Windows",
                "safari": "Safari", "chrome": "Chrome", "edge": "Edge", "edge-legacy": "Edge Legacy",
                "firefox": "Firefox", "firefox-esr": "Firefox ESR", "internet-explorer": "Internet Explorer",
                "slack-desktop": "Slack", "slack-ios": "Slack", "slack-android": "Slack"}
# The reasons policy.judge gives a part that is behind (policy/verdicts.py), read back into
# their facts. A part that could not be judged is "<name> not judged: ..." and matches none:
# what we could not tell is not the owner's problem, so a nudge never repeats it.
BEHIND_REASONS = {
    "due": re.compile(r"^(?P<product>\S+) (?P<version>\S+) released (?P<day>\d{4}-\d{2}-\d{2}), "
                      r"due after (?P<grace>\d+) days$"),
    # A line can be two words (Windows "11 22H2").
    "ended": re.compile(r"^(?P<product>\S+) (?P<version>\S+(?: \S+)?) out of support since "
                        r"(?P<day>\d{4}-\d{2}-\d{2})$"),
    "minimum": re.compile(r"^below the minimum (?P<product>\S+) (?P<version>\S+)$"),
}
PLATFORM_LABEL = {"iOS": "iPhone", "iPadOS": "iPad", "Android": "Android", "macOS": "Mac",
                  "Windows": "Windows PC", "Linux": "Linux computer", "ChromeOS": "Chromebook"}


def escape_mrkdwn(text: object, limit: int | None = MAX_FIELD) -> str:
    """Text made inert for Slack mrkdwn: ``&``, ``<`` and ``>`` escaped, length capped.

    Slack reads ``<...>`` as links and mentions (``<!channel>``), so attacker-shaped text
    must never reach it raw; control characters are shown as ``\\xNN`` because the same
    text is printed to a terminal by a dry run.

    Examples:
        >>> escape_mrkdwn("<!channel> & <https://evil.example|click>")
        '&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;'
        >>> escape_mrkdwn(None)
        ''
    """
    if text is None or text is pd.NA or (isinstance(text, float) and text != text):
        return ""
    text = escape_controls(str(text))
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def product_name(product: str) -> str:
    """A catalog id as the product's maker spells it (an id we do not know stays as it is).

    Examples:
        >>> product_name("macos"), product_name("slack-desktop"), product_name("acme-browser")
        ('macOS', 'Slack', 'acme-browser')
    """
    return PRODUCT_NAME.get(product, product)


def plain_reasons(reason: object) -> list[str]:
    """Why a device is behind, in words for its owner: each part's reason from a devices
    ``reason`` cell (policy's wording, parts joined by ``"; "``) with products spelled by
    their makers and dates written out. Parts that could not be judged, and any wording
    this does not know, are left out rather than shown raw.

    Examples:
        >>> plain_reasons("safari 18 out of support since 2025-09-15; "
        ...               "macOS not judged: only a lower bound is known (at least macos 13)")
        ['Safari 18 stopped getting security updates on 15 September 2025']
        >>> plain_reasons("chrome 149 released 2026-06-02, due after 14 days")
        ['Chrome 149 came out on 2 June 2026 and we ask for updates within 14 days of a release']
        >>> plain_reasons("windows 11 22H2 out of support since 2024-10-08")
        ['Windows 11 22H2 stopped getting security updates on 8 October 2024']
        >>> plain_reasons("below the minimum firefox 128.0")
        ['the oldest Firefox we accept is 128.0']
        >>> plain_reasons(None)
        []
    """
    if not isinstance(reason, str):
        return []
    said = []
    for part in reason.split("; "):
        for kind, pattern in BEHIND_REASONS.items():
            found = pattern.match(part.strip())
            if found is None:
                continue
            facts = found.groupdict()
            name = product_name(facts["product"])
            if kind == "minimum":
                said.append(f"the oldest {name} we accept is {facts['version']}")
                break
            day = pd.Timestamp(facts["day"])
            day = f"{day.day} {day:%B %Y}"
            if kind == "ended":
                said.append(f"{name} {facts['version']} stopped getting security updates on {day}")
            else:
                said.append(f"{name} {facts['version']} came out on {day} and we ask for updates "
                            f"within {facts['grace']} days of a release")
            break
    return list(dict.fromkeys(said))


def running_version(device: dict) -> str:
    """The OS a device runs, as far as its evidence tells: the version when it is exact
    (a Windows build after its release's name, ``metrics.release_line``), "or later" for a
    lower bound, no version when frozen or absent (a frozen token such as Chrome's
    ``Mac OS X 10_15_7`` is not the version the device runs).

    Examples:
        >>> running_version({"platform": "macOS", "os_version": "13", "os_evidence": "lower-bound"})
        'macOS 13 or later'
        >>> running_version({"platform": "macOS", "os_version": "12.5", "os_evidence": "lower-bound-in-line"})
        'macOS 12.5 or a later 12.x'
        >>> running_version({"platform": "macOS", "os_version": "10.15.7", "os_evidence": "frozen"})
        'macOS'
        >>> running_version({"platform": "iOS", "os_version": "17.4"})
        'iOS 17.4'
        >>> running_version({"platform": "Windows", "os_version": "10.0.22621.525", "os_evidence": "exact"})
        'Windows 11 22H2, build 10.0.22621.525'
    """
    version = device.get("os_version")
    evidence = device.get("os_evidence")
    if evidence in ("frozen", "absent") or not isinstance(version, str) or not version:
        version = None
    elif evidence == "lower-bound":
        version = f"{version} or later"
    elif evidence == "lower-bound-in-line":
        version = f"{version} or a later {version.split('.')[0]}.x"
    elif line := release_line(device.get("platform"), version):
        version = f"{line}, build {version}"
    return " ".join(part for part in (device.get("platform"), version) if isinstance(part, str) and part)


def client_families(clients: object) -> list[str]:
    """The client names in a devices ``clients`` cell (``"Chrome 124; Slack 4.38"``).

    Examples:
        >>> client_families("Chrome 124.0.6367; Samsung Internet 24.0; Slack")
        ['Chrome', 'Samsung Internet', 'Slack']
        >>> client_families("Chromium 120.0 <!channel>")
        ['Chromium']
        >>> client_families(pd.NA)
        []
    """
    if not isinstance(clients, str):
        return []
    families = []
    for part in clients.split(";"):
        # The name is everything before the version; anything after it is not ours to trust.
        words = []
        for word in part.strip().split(" "):
            if word[:1].isdigit():
                break
            words.append(word)
        name = " ".join(words).strip()
        if name:
            families.append(name)
    return families


def update_steps(device: dict) -> list[str]:
    """How to update one device: steps for its OS and/or its clients, whichever is behind.

    Uses ``os_verdict``/``client_verdict`` when the devices frame has them; otherwise
    gives the steps for the OS and every named client.

    Examples:
        >>> update_steps({"platform": "Linux", "device_class": "desktop", "clients": "Chromium 120",
        ...               "os_verdict": "current", "client_verdict": "outdated"})[0][:33]
        'Chromium packaged by a Linux dist'
        >>> update_steps({"platform": "iOS", "device_class": "phone", "clients": "Slack 24.01",
        ...               "os_verdict": "outdated", "client_verdict": "current"})
        ['Connect to Wi-Fi and charge, then open Settings > General > Software Update.']
        >>> update_steps({"platform": "macOS", "clients": "Safari 18.6", "target": "Safari 26.5.2",
        ...               "os_verdict": "unknown", "client_verdict": "unsupported"})[0][:50]
        'Safari is updated together with macOS. Open System'
        >>> update_steps({"platform": "macOS", "clients": "Chrome 131; Slack 4.20.0", "target": "Chrome 138.0",
        ...               "os_verdict": "unknown", "client_verdict": "unsupported"})[0][:24]
        'Chrome updates itself; r'
        >>> steps = update_steps({"platform": "Windows", "os_version": "6.1", "clients": "Chrome 109",
        ...     "target": "Windows 10.0.22631", "os_verdict": "unsupported", "client_verdict": "outdated"})
        >>> len(steps), steps[0][-51:]
        (1, 'supported Windows: ask IT to upgrade or replace it.')
    """
    platform = device.get("platform")
    os_behind = _behind(device.get("os_verdict"))
    client_behind = _behind(device.get("client_verdict"))
    before_10 = platform == "Windows" and str(device.get("os_version") or "").startswith(("5.", "6."))
    if os_behind is not False and before_10:
        # Its browsers cannot update past the last release for it either (Chrome 109 on Windows 7).
        return [WINDOWS_BEFORE_10_STEPS]
    steps = []
    if os_behind is not False and platform in OS_STEPS:
        steps.append(OS_STEPS[platform])
    if client_behind is not False:
        mobile = device.get("device_class") in ("phone", "tablet") or platform in ("iOS", "iPadOS", "Android")
        families = client_families(device.get("clients"))
        # The target names the client to update ("Chrome 138.0..."): steps for the others are noise.
        named = [family for family in client_families(device.get("target")) if family in families]
        for family in named or families:
            if family == "Chromium" and platform == "Linux":
                step = LINUX_CHROMIUM_STEPS
            elif family == "Safari" and platform in OS_STEPS:
                # Safari comes with the OS: say where, even when the OS itself was not judged.
                os_step = OS_STEPS[platform]
                step = None if os_step in steps else f"Safari is updated together with {platform}. {os_step}"
            elif family.startswith("Slack"):
                step = CLIENT_STEPS["Slack mobile" if mobile else "Slack desktop"]
            else:
                step = CLIENT_STEPS.get(family)
            if step and step not in steps:
                steps.append(step)
    return steps


def _behind(verdict: object) -> bool | None:
    """True/False when a part verdict is known, None when the frame does not say."""
    if not isinstance(verdict, str):
        return None
    return verdict in NEEDS_UPDATE
