"""One user agent to its client facts, in pure Python (ua-parser's Rust resolver behind
the project's rules), with the frozen tokens and lower bounds read as what they can prove
(see the package's docstring).

No pandas here: ``table`` takes these facts to columns for many agents, and
``fleetanalysis ua`` describes a few without importing pandas (``describe_agent``).
"""

from __future__ import annotations

import re
import urllib.parse
from functools import cache, lru_cache

from ua_parser import Domain

from fleetanalysis.clients.rules import COLUMNS, _RULE_MARK, SystemRule, rules


# Chromium-based families: they share Chrome's user-agent reduction.
_CHROMIUM = {"Chrome", "Chromium", "Edge", "Opera", "Electron", "Slack", "Microsoft Teams", "WebView"}
_CHROMIUM_BROWSERS = {"Chrome", "Chromium", "Edge", "Opera"}
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
_CHROME_MAJOR = re.compile(r"\bChrom(?:e|ium)/(\d+)")
_FIREFOX_MAJOR = re.compile(r"\bFirefox/(\d+)")
# The system's own token; an app's name before it can hold another ("Keeper for Android 1.0",
# "Bookshelf-Android/10.0.3 (Android OS/9; ...)").
_ANDROID_TOKEN = re.compile(r"\((?:Linux; )?(?:U; )?Android(?: OS/| )(\d+(?:\.\d+){0,2})[;)]")
# An app naming its platform before its own version: "Orca-Android/2.2.5-release" (Messenger).
_APP_ON_ANDROID = re.compile(r"[\w.]+-Android/(\d+(?:\.\d+)*)")
# Android's API levels (developer.android.com, API levels), for apps that state one as "Android 29".
_ANDROID_API_LEVELS = {21: "5.0", 22: "5.1", 23: "6.0", 24: "7.0", 25: "7.1", 26: "8.0", 27: "8.1", 28: "9",
                       29: "10", 30: "11", 31: "12", 32: "12", 33: "13", 34: "14", 35: "15", 36: "16"}
# Chrome 110 and later; Chrome 76-92 under its freeze-UA flag wrote "Android 9; Unspecified Device";
# Android WebView reduced its agent the same way from Android 16: "Android 10; K; wv)".
_FROZEN_ANDROID = re.compile(r"Android 10; K(?:; wv)?\)|Android 9; Unspecified Device\)")
# What a Chrome or Edge agent holds after its engine token: Chrome (Edge) itself, and Linux distributions'
# Chromium builds ("Ubuntu Chromium/31.0 Chrome/31.0", "SUSE/31.0"), write only these. Any
# other token names a browser or app built on Chromium (Foxmail, 360SE, a Yandex app, a
# new one ua-parser does not know), which ships its own Chromium on its own schedule.
_CHROME_TAIL = re.compile(r"\(KHTML, like Gecko\) (.*)")
# A proxy may append to the last token ("Safari/537.36,gzip(gfe)", Google's front end).
_CHROME_TOKENS = re.compile(r"(?:(?:Chrome|Chromium|Safari|CrMo|Edg|EdgA)/[\d.]+|Mobile|Version/4\.0"
                            r"|(?:Ubuntu|SUSE|Debian|Fedora|Raspbian|Slackware)(?:/[\d.]+)?)(?:[^\w/].*)?")
# Systems built on Android that name the Android they are built on but update on their own
# schedule: that number says nothing of their patches.
_ANDROID_DERIVED = [
    (re.compile(r"Chromebook"), "ChromeOS",
     "an Android app on a Chromebook names the Android of ChromeOS's app container, which ChromeOS updates"),
    (re.compile(r"\bKF[A-Z]{2,6}\b|\bAFT[A-Z]\w*|\bSilk/"), "other",
     "Amazon's Fire OS names the Android it is built on and is updated by Amazon"),
    (re.compile(r"HarmonyOS|OpenHarmony"), "other",
     "HarmonyOS names the Android it is compatible with and is updated by Huawei"),
    (re.compile(r"Android TV|Google ?TV|BRAVIA"), "other",
     "a TV's Android is updated by its maker, apart from Android's releases"),
    (re.compile(r"OculusBrowser|\bQuest\b|\bPico\b"), "other",
     "a headset's system names the Android it is built on and is updated by its maker"),
]
# A product token after Firefox's own names a browser built on Gecko ("Firefox/45.0
# Ordissimo/3.8", "CometBird/11.0"); an old Windows Firefox's " (.NET CLR ...)" names none.
_FIREFOX_TAIL = re.compile(r"\bFirefox/[\d.]+\w* +([A-Za-z][\w.+-]*(?:/[\w.+-]+)?)")
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
# A word ending in "bot" in a browser's comment, and what makes an item a service's own.
_BOT_WORD = re.compile(r"bot\b", re.IGNORECASE)
_NAMES_SERVICE = re.compile(r"[/:@+]|www\.")
# The Zune software writes "Zune 4.7" into Internet Explorer's agent, as Media Center and
# Office write "Media Center PC 6.0" and "InfoPath.3": installed software, not the client.
# ua-parser's rule for the Zune player's own agent reads that token as one.
_ZUNE_IN_IE = re.compile(r"; ?Zune \d+(?:\.\d+)*(?=[;)])")
# Tokens whose case ua-parser's rules depend on, for an agent a log pipeline lower-cased.
_RECASED = [("mozilla/", "Mozilla/"), ("windows nt", "Windows NT"), ("win64", "Win64"), ("wow64", "WOW64"),
            ("applewebkit/", "AppleWebKit/"), ("(khtml, like gecko)", "(KHTML, like Gecko)"),
            ("chrome/", "Chrome/"), ("safari/", "Safari/"), ("firefox/", "Firefox/"), ("gecko/", "Gecko/"),
            ("edg/", "Edg/"), ("opr/", "OPR/"), ("version/", "Version/"), ("crios/", "CriOS/"),
            ("macintosh", "Macintosh"), ("intel mac os x", "Intel Mac OS X"), ("like mac os x", "like Mac OS X"),
            ("cpu iphone os", "CPU iPhone OS"), ("iphone", "iPhone"), ("ipad", "iPad"), ("cpu os", "CPU OS"),
            ("android", "Android"), ("linux", "Linux"), ("x11", "X11"), ("mobile", "Mobile"), ("cros", "CrOS")]


def _recased(agent: str) -> str | None:
    """A lower-cased browser agent with its tokens' usual case again, or None for any other agent.

    >>> _recased("mozilla/5.0 (windows nt 10.0; win64; x64) applewebkit/537.36 (khtml, like gecko) chrome/100.0.0.0")
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/100.0.0.0'
    """
    if not agent.startswith("mozilla/") or agent != agent.lower():
        return None
    for lower, usual in _RECASED:
        agent = agent.replace(lower, usual)
    return agent


# Browsers never name a web address or a contact in their agent; crawlers, monitors, feed
# fetchers and services do ("+http://...", "www.", "bot@example.com", text inside WebKit's
# "(KHTML, like Gecko; ...)", "(compatible; ...; +...)").
_SERVICE_AGENT = re.compile(r"https?://|\+https?:|\bwww\.[\w-]+\.|[\w.+-]+@[A-Za-z][\w-]*\.[A-Za-z]{2,}|\(at\)"
                            r"|\(KHTML, like Gecko; [^)]|\(compatible;[^)]*\+")
# Old browsers name their maker's home page ("K-Meleon/1.1.5 (+http://www.kangaroo-personal.de)",
# "QtWeb Internet Browser/3.8.5 http://www.QtWeb.net"): still a browser where ua-parser names one
# of its own (no catalog product: crawlers dress as Chrome, Firefox, Safari or IE) and a system,
# and the agent holds no word of a crawler, monitor or tool, and no contact address.
_CRAWLER_WORD = re.compile(r"bot|crawl|spider|scan|fetch|check|monitor|analy[sz]|preview|archiv|search|index|scrap"
                           r"|slurp|captur|render|screenshot|thumb|proxy|test|seo|http ?client|library"
                           r"|[\w.+-]+@[A-Za-z][\w-]*\.[A-Za-z]{2,}", re.IGNORECASE)
# What Delphi's EmbeddedWB component (bsalsa.com) writes into the IE agent of every app built with it.
_EMBEDDED_WB = re.compile(r"Embedded Web Browser from: http://bsalsa\.com/|; http://bsalsa\.com\)")
# An IIS or W3C log writes '+' for each space: "Mozilla/4.0+(compatible;+MSIE+7.0;+Windows+NT+5.1)".
_PLUS_FOR_SPACE = re.compile(r"Mozilla/\d\.\d+\+\(\S*")
# A phone app (no browser-shaped agent) that names its system and its home page ("ThePodcastApp/6.49.0
# (iPhone; iOS 16.5.1; ... https://podcast.app/)", "Jam/2.0.4 iOS/16.3.1 (www.listentojam.com)")
# runs on a person's phone.
_STATES_MOBILE_SYSTEM = re.compile(r"\b(?:iOS|iPadOS|Android)[ /]\d+(?:[._]\d+)*[;) ]")
# Substrings one of which each of those holds: most agents are passed over without the regex.
_SERVICE_HINTS = ("http", "www.", "@", "(at)", "Gecko; ", "compatible;")
# Reduced ChromeOS user agents carry this platform version on every release.
_FROZEN_CROS = "14541.0.0"
# Firefox 83-86 and apps built for older macOS report 10.16 on macOS 11 and every later macOS.
_BIG_SUR_AS_10_16 = ("11", "lower-bound", "macOS 10.16 is what browsers and apps built for older macOS report on "
                     "macOS 11 and later")

# Apple's 2025 renumbering: iOS 26 and macOS 26 report 19.x and 16.x to apps built with an
# older SDK (as Big Sur reported 10.16), and no iOS 19 or macOS 16 was ever released.
_RENUMBERED = {"iOS": ("19", "iOS"), "iPadOS": ("19", "iPadOS"), "macOS": ("16", "macOS")}


def _renumbered(platform: str, version: str | None) -> tuple | None:
    """(os_version, os_evidence, os_reason) for a number Apple told older apps instead of the
    release (macOS 10.16, iOS 19, macOS 16), else None.

    >>> _renumbered("iOS", "19.0")
    ('26', 'lower-bound', 'iOS 19 is what apps built for older iOS report on iOS 26 and later')
    >>> _renumbered("macOS", "10.16")[0], _renumbered("macOS", "15.6") is None
    ('11', True)
    """
    if version is None:
        return None
    if platform == "macOS" and version.split(".")[:2] == ["10", "16"]:
        return _BIG_SUR_AS_10_16
    old_major, name = _RENUMBERED.get(platform, (None, None))
    if old_major is None or version.split(".")[0] != old_major:
        return None
    return "26", "lower-bound", f"{name} {old_major} is what apps built for older {name} report on {name} 26 and later"


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
    """Join version parts up to the first missing one.

    Some stock rules capture a part with its dot and then the same digits again (Firefox
    for iOS, ``FxiOS/29.1.0``: ``29``, ``1``, ``.0``, ``0``): such a part is the last one.

    >>> _dotted("29", "1", ".0", "0"), _dotted("17", "4", None, "1")
    ('29.1.0', '17.4')
    """
    kept = []
    for part in parts:
        if part in (None, "") or part == ".":
            break
        if part.startswith("."):
            kept.append(part[1:])
            break
        kept.append(part)
    return ".".join(kept) or None


def _mac_version_written_elsewhere(agent: str, family: str, version: str) -> str | None:
    """Why a browser's macOS version cannot be the browser's own, or None when it can be.

    Chromium's reduced agent (Chrome 107 and later, and the browsers built on it) says
    ``Mac OS X 10_15_7`` on every macOS, and Firefox from 87 says at most ``10.15``: another
    number beside such a browser version was written by an extension or a privacy tool, and
    the machine may not even be a Mac. Apps built on Chromium (Slack's and Teams' desktop
    apps) write the system's own version, and are believed.

    >>> _mac_version_written_elsewhere("Mozilla/5.0 (Macintosh; Intel Mac OS X 15_7_2) Chrome/142.0.0.0", "Chrome", "15.7.2")
    'Chrome 142 reports macOS 10.15.7 on every macOS: 15.7.2 was written by something else (an extension or a privacy tool)'
    >>> _mac_version_written_elsewhere("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_6) Chrome/96.0.4664.110", "Chrome", "10.14.6")
    """
    chrome = _CHROME_MAJOR.search(agent) if family in _CHROMIUM_BROWSERS else None
    if chrome and int(chrome[1]) >= 107 and version != "10.15.7":
        return (f"{family} {chrome[1]} reports macOS 10.15.7 on every macOS: {version} was written by something "
                "else (an extension or a privacy tool)")
    if family == "Firefox":
        firefox = _FIREFOX_MAJOR.search(agent)
        parts = [int(part) for part in version.split(".")[:2] if part.isdigit()]
        if firefox and int(firefox[1]) >= 87 and parts > [10, 15]:
            return (f"Firefox {firefox[1]} reports at most macOS 10.15: {version} was written by something else "
                    "(an extension or a privacy tool)")
    return None


def _os_facts(agent: str, platform: str, os, family: str, kind: str) -> tuple:
    """(os_version, os_evidence, os_reason) for one user agent."""
    version = _dotted(os.major, os.minor, os.patch, os.patch_minor) if os else None
    if platform == "macOS" and version:
        elsewhere = _mac_version_written_elsewhere(agent, family, version)
        if elsewhere:
            return None, "absent", elsewhere
    renumbered = _renumbered(platform, version)
    if renumbered:
        return renumbered
    if platform in ("iOS", "iPadOS"):
        stated = _app_named_version(agent, version)
        if stated:
            return stated, "exact", None
        safari = _SAFARI_VERSION.search(agent)
        # WebKit on iOS 26 freezes the OS token at 18_6 (18_7 from 26.1), with a patch number
        # on some builds (18_6_2, reported to WebKit and whatwg/compat); Safari's Version/
        # token still carries the real release. Native apps (Slack's "iOS 18.6") write the
        # system version themselves and are not frozen.
        if version and version.startswith(("18.6", "18.7")) and version[4:5] in ("", ".") \
                and "like Mac OS X" in agent:
            if family == "Safari" and safari and int(safari[1]) >= 26:
                # Version/ names the Safari release, which lags the system's updates (iOS 18.3.2
                # sends Version/18.3.1, 16.7.10 Version/16.6): the system is at least that.
                shown = _dotted(*safari.groups())
                return (shown, "lower-bound", f"iOS 26 and later report iOS 18.6 or 18.7; Safari's Version/{shown} "
                        "shows the Safari release, not the system updates after it")
            if family == "Safari" and safari and safari[1] == "18":
                return version, "exact", None
            # Firefox for iOS hard-codes 18_7 whatever the device runs.
            if family == "Firefox" and version == "18.7":
                return None, "frozen", "Firefox on iOS always reports iOS 18.7"
            return None, "frozen", "iOS 26 and later report iOS 18.6 or 18.7"
        return (version, "exact", None) if version else (None, "absent", "no iOS version")
    if platform == "macOS":
        # Browsers froze the token at 10_15_7 (Firefox at 10.15): an earlier patch is a real Catalina.
        if os and os.major == "10" and os.minor == "15" and os.patch in (None, "", "7"):
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
            if "Android 10; K; wv)" in agent:
                return None, "frozen", "Android WebView reports Android 10; K on every Android since Android 16"
            return None, "frozen", ("Chrome-based browsers report Android 10; K on every Android since Chrome 110"
                                    if "Android 10; K)" in agent else "Chrome's frozen user agent says Android 9 "
                                    "on every Android")
        token = _ANDROID_TOKEN.search(agent)
        named = None if token or not version else _APP_ON_ANDROID.search(agent)
        if named and named[1].startswith(version):
            return None, "absent", f"{named[0]} is the app's own version, not Android's"
        version = token[1] if token else version
        level = int(version.split(".")[0]) if version and version.split(".")[0].isdigit() else 0
        if level >= 21:
            # No Android release is numbered that high: apps writing "Android 29" mean the API level.
            release = _ANDROID_API_LEVELS.get(level)
            return ((release, "exact", f"Android API level {level} is Android {release}") if release
                    else (None, "absent", f"Android API level {level} is not in the table"))
        return (version, "exact", None) if version else (None, "absent", "no Android version")
    if platform == "ChromeOS":
        if version == _FROZEN_CROS:
            return None, "frozen", "Chrome freezes the ChromeOS version at 14541.0.0"
        return (version, "exact", None) if version else (None, "absent", "no ChromeOS version")
    if platform == "Linux":
        return None, "absent", "Linux user agents carry no OS version"
    return None, "absent", None if kind in ("sdk", "bot") else "no operating system"


# Where an app states the system inside its parentheses: "(iPhone7,2; 12.1.4)", "(iPhone/16.5.1)",
# "(...; iOS 16.3.1)".
_SYSTEM_IN_PARENTHESES = re.compile(r"\((?:[^()]*; )?(?:(?:iPhone|iPad)[\d,]*; |(?:iPhone|iPad)/|iOS )"
                                    r"(\d+(?:\.\d+)+)[;)]")


def _app_named_version(agent: str, version: str | None) -> str | None:
    """The system version an app states in its parentheses, where the one ua-parser read is
    the app's own, written before them ("Pinterest for iOS/7.11 (iPhone7,2; 12.1.4)").

    >>> _app_named_version("Laughable iOS/3.1 (com.example; build:3.1.0.3; iOS 16.3.1) Alamofire/4.8.2", "3.1")
    '16.3.1'
    >>> _app_named_version("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)", "17.4") is None
    True
    """
    if not version or agent.startswith("Mozilla/"):
        return None
    before, _, inside = agent.partition("(")
    if version not in before:
        return None
    found = _SYSTEM_IN_PARENTHESES.search("(" + inside)
    return found[1] if found and found[1] != version else None


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
    stock = rules().families.get(raw_family)
    if device is not None and device.family == "Spider" and not (stock and stock[1] == "browser"):
        # ua-parser's spider device matches words anywhere ("bot" in "Banca Caboto", "Yahoo!
        # Toolbar", "Holmes"): in a browser's agent, the bot rules of clients.toml decide.
        return raw_family, "bot", None
    if raw_family == "Other":
        return None, "unknown", None
    return stock or (raw_family, "browser", None)


def _chromium_based(agent: str) -> str | None:
    r"""The token an agent read as Chrome adds beside Chrome's own, if any: its real client.

    >>> _chromium_based("Mozilla/5.0 (Windows NT 6.1) AppleWebKit/537.36 (KHTML, like Gecko) "
    ...                 "Chrome/49.0.2623.110 Safari/537.36 Foxmail/7.2.25.228")
    'Foxmail/7.2.25.228'
    >>> _chromium_based("Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
    ...                 "Chrome/86.0.4240.198 Safari/537.36 QIHU 360SE")
    'QIHU 360SE'
    >>> _chromium_based("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    ...                 "Chrome/124.0.0.0 Mobile Safari/537.36") is None
    True
    """
    tail = _CHROME_TAIL.search(agent)
    if tail is None:
        return None
    tokens = tail[1].split()
    for at, token in enumerate(tokens):
        if not _CHROME_TOKENS.fullmatch(token):
            # A name in words ("QIHU 360SE") runs to the next versioned token.
            words = [token]
            for more in tokens[at + 1:]:
                if "/" in token or "/" in more:
                    break
                words.append(more)
            return " ".join(words)
    return None


def _gecko_based(agent: str) -> str | None:
    """The product token an agent read as Firefox writes after Firefox's own, if any: its
    real client (Firefox itself ends its agent with ``Firefox/N``).

    >>> _gecko_based("Mozilla/5.0 (X11; Linux i686; rv:45.0) Gecko/20100101 Firefox/45.0 Ordissimo/3.8.6.6+svn37147")
    'Ordissimo/3.8.6.6+svn37147'
    >>> _gecko_based("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0") is None
    True
    """
    tail = _FIREFOX_TAIL.search(agent)
    return tail[1] if tail else None


def _without_bot_words(agent: str) -> str | None:
    """``agent`` without the words of its first comment that end in "bot" and name no
    product, address or contact (a company a browser's agent names); None if it has none.

    >>> _without_bot_words("Mozilla/5.0 (Windows NT 6.1; Trident/7.0; Talbot Group; rv:11.0) like Gecko")
    'Mozilla/5.0 (Windows NT 6.1; Trident/7.0; rv:11.0) like Gecko'
    >>> _without_bot_words("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)") is None
    True
    """
    before, opened, rest = agent.partition("(")
    comment, closed, after = rest.partition(")")
    if not opened or not closed:
        return None
    items = comment.split(";")
    kept = [item for item in items if not (_BOT_WORD.search(item) and not _NAMES_SERVICE.search(item))]
    return None if len(kept) == len(items) else f"{before}({';'.join(kept).strip()}){after}"


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
    if platform != "macOS" and "ios" not in line:
        return None, f"Darwin {kernel} is not the kernel of one iOS release ({line['ios_note']})"
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
        return version, rule.evidence if version else "absent", reason
    if version is None:
        return None, "absent", rule.reason or f"{family or 'the client'} states no {platform} version"
    if platform == "Windows" and version in ("10", "10.0"):
        return None, "frozen", "Windows 10 and 11 both report Windows 10.0"
    return _renumbered(platform, version) or (version, rule.evidence, rule.reason)


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
    if "%" in agent and "CFNetwork/" in agent and _PERCENT_ESCAPE.search(agent):
        # Apple's HTTP stack percent-encodes an app's name and model ("Okta%20Verify/4.11.0
        # ... (MacBookPro18%2C3)"): read as the app wrote them.
        return _describe_one(urllib.parse.unquote(agent))
    recased = _recased(agent)
    if recased:
        # Read as the agent the browser sent; its own tokens are the same, only their case was lost.
        return _describe_one(recased)
    if _PLUS_FOR_SPACE.fullmatch(agent):
        # Read as the agent the browser sent, with its spaces.
        return _describe_one(agent.replace("+", " "))
    parsed = _parser()(agent, Domain.ALL)
    client, os, device = parsed.user_agent, parsed.os, parsed.device
    family, kind, product = _client(client, device)
    if family == "Zune" and ("MSIE " in agent or "Trident/" in agent):
        plain = _ZUNE_IN_IE.sub("", agent)
        if plain != agent:
            # Read as the agent without it, which Internet Explorer sends on a PC without Zune.
            return _describe_one(plain)
    if kind == "bot" and not (client and client.family.startswith(_RULE_MARK)) and agent.startswith("Mozilla/"):
        # ua-parser's bot rules match any word ending in "bot", also a company named in a
        # browser's own comment ("Windows NT 6.1; Trident/7.0; Talbot Group; rv:11.0").
        plain = _without_bot_words(agent)
        if plain:
            found = _describe_one(plain)
            # A service's address beside the word ("Girafabot; ...; http://www.girafa.com") is a crawler's.
            if found[3] == "browser" and not _SERVICE_AGENT.search(plain):
                return found
    stock_android = family == "Android" and not agent.startswith("Mozilla/")
    if stock_android:
        # ua-parser's "Android" is the old stock browser; an agent that is no browser's
        # ("Podimo/1.20.1 build 148/Android 29") is an app, and its number no browser version.
        family, kind = "Android app", "app"
    service = kind in ("browser", "app", "unknown") and not (client and client.family.startswith(_RULE_MARK)) \
        and any(hint in agent for hint in _SERVICE_HINTS) and _SERVICE_AGENT.search(_EMBEDDED_WB.sub("", agent)) \
        and (agent.startswith("Mozilla/") or not _STATES_MOBILE_SYSTEM.search(agent)) \
        and not (kind == "browser" and product is None and os and _OS_PLATFORM.get(os.family, "other") != "other"
                 and not _CRAWLER_WORD.search(agent))
    if service:
        kind, product = "bot", None
    client_version = _dotted(client.major, client.minor, client.patch, client.patch_minor) \
        if client and not stock_android else None
    client_notes = []
    embedded = _chromium_based(agent) if product in ("chrome", "edge") else \
        _gecko_based(agent) if product == "firefox" else None
    if embedded and embedded.startswith("(compatible"):
        # "... Chrome/41.0 Safari/537.36 (compatible; Google-AMPHTML)": a service naming itself, no browser.
        embedded, kind = agent.rpartition("(compatible;")[2].strip(" ;)") or "compatible", "bot"
    if embedded:
        # Its Chrome token is the engine inside: "install Chrome N" would be wrong advice,
        # and when its maker ships a patched engine is not in the catalog.
        name, _, version = embedded.partition("/")
        client_notes.append(f"built on {family} {client.major} but names itself {embedded}: "
                            f"not {family}, and not in the release catalog")
        family, product = name, None
        found = re.match(r"\d+(?:\.\d+)*", version)
        client_version = found[0] if found else None
    elif family in _CHROMIUM and client and client.major and client.major.isdigit() \
            and int(client.major) >= 101 and (client.minor, client.patch) == ("0", "0") \
            and client.patch_minor in (None, "0"):
        # Chrome 101 (and Edge, Opera after it) sends MAJOR.0.0.0 only.
        client_version = client.major
        client_notes.append(f"{family} reports only its major version")
    if agent.startswith("SlackWeb/"):
        client_notes.append("browser running Slack's web client")
    if kind == "unknown":
        client_notes.append("unrecognised client")
    if service:
        client_notes.append("names a web address or contact, as crawlers and services do, never browsers")
    if kind in ("sdk", "bot"):
        # Scripts and bots are not devices: their OS tokens describe a server, if anything.
        return ("other", None, "absent", kind, family, client_version, None, "unknown",
                None, "; ".join(client_notes) or None)
    stated = _stated_by(os)
    platform = stated.platform if stated else _OS_PLATFORM.get(os.family, "other") if os else "other"
    if platform == "iOS" and (device is not None and device.family == "iPad" or "iPad" in agent):
        platform = "iPadOS"
    derived = next((found for found in _ANDROID_DERIVED if found[0].search(agent)), None) \
        if platform == "Android" else None
    if stated:
        os_version, evidence, os_reason = _stated_os_facts(stated, platform, os, family)
    elif derived:
        platform, os_version, evidence, os_reason = derived[1], None, "absent", derived[2]
    else:
        os_version, evidence, os_reason = _os_facts(agent, platform, os, family, kind)
    if product == "safari" and platform in ("iOS", "iPadOS"):
        # Safari on iOS is patched only through iOS updates, and its Version/ token keeps the
        # line's x.y (iOS 16.7.10 says Version/16.6): the OS version is what to judge.
        product = None
    elif product == "safari" and platform != "macOS":
        # WebKit embedded on another system (Evernote for Windows, a TV) says Safari too;
        # Apple's Safari, the catalog's, runs on Macs (for Windows it ended in 2012).
        product = None
    elif product == "internet-explorer" and "Windows NT 10.0" in agent:
        # Windows 10 and 11 service Internet Explorer's engine with Windows: Edge's IE mode
        # and apps' built-in browsers (Zoom's sign-in window) send the agent the retired
        # IE11 app sent, so it says nothing of an app out of support.
        product = None
        client_notes.append("Internet Explorer's engine, which Windows 10 and 11 update themselves (Edge's IE "
                            "mode and apps' built-in browsers send this agent): not judged as the retired app")
    client_reason = "; ".join(client_notes) or None
    device_class = stated.device_class if stated and stated.device_class else _device_class(agent, platform, kind)
    return (platform, os_version, evidence, kind, family, client_version, product,
            device_class, os_reason, client_reason)


def join_reasons(os_reason: str | None, client_reason: str | None) -> str | None:
    """'os reason; client reason', skipping a missing part.

    >>> join_reasons("no iOS version", None), join_reasons("a", "b"), join_reasons(None, None)
    ('no iOS version', 'a; b', None)
    """
    if os_reason is None or client_reason is None:
        return client_reason if os_reason is None else os_reason
    return f"{os_reason}; {client_reason}"


def describe_agent(agent: str | None) -> dict:
    """Client facts for one user agent: the ``describe`` columns by name, None where missing.

    The same facts ``describe`` gives that string's row (``tests/test_clients.py`` checks it
    over the labelled agents), without pandas: ``fleetanalysis ua`` on a few agents starts
    in a fraction of a second.

    Examples:
        >>> found = describe_agent("com.tinyspeck.chatlyio/23.04.10 (iPhone; iOS 16.4.1; Scale/3.00)")
        >>> found["platform"], found["os_version"], found["client_family"], found["reason"]
        ('iOS', '16.4.1', 'Slack', None)
        >>> describe_agent(None)["reason"]
        'no user agent'
    """
    *facts, os_reason, client_reason = _describe_one(agent)
    return dict(zip(COLUMNS, [*facts, join_reasons(os_reason, client_reason)]))
