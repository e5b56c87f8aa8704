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
later macOS. ``lower-bound`` means "this release or any later one": Safari on a frozen
macOS token (the Safari major proves the oldest macOS that runs it) and legacy Edge's
EdgeHTML build (the Windows 10 build it came with). ``lower-bound-in-line`` means "this
release or a later one of the same line": a Darwin kernel version with a model or
architecture token (``Darwin/22.6.0 (iPhone14,2)`` is iOS 16.6 or a later 16.x).

A browser or app built on Chromium that names itself beside Chrome's tokens (Foxmail,
360SE, a car's or a TV's browser) is that client, not Chrome: its Chrome token is the
engine inside, shipped on its maker's schedule, so it is not judged against Chrome's
releases (the reason says so).

``facts`` joins these columns onto the access table and prefers an OS version that the
source reported directly (Okta, Entra, Google) over a frozen or absent one.
``describe_agent`` gives the same facts for one string in pure Python (no pandas).

Modules: ``rules`` (the columns and clients.toml), ``agents`` (one agent, pure Python),
``table`` (``describe`` and ``lookup``: columns for many agents), ``reported`` (``facts``).

Examples:
    >>> import pandas as pd
    >>> from fleetanalysis.clients import describe
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

from fleetanalysis.clients.agents import describe_agent
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

__all__ = ["CLIENT_KINDS", "COLUMNS", "DEVICE_CLASSES", "OS_EVIDENCE", "PLATFORMS", "RULES_FILE", "ClientRule",
           "Rules", "SystemRule", "describe", "describe_agent", "facts", "lookup", "rules"]

# The column functions need pandas, which takes longer to import than ``fleetanalysis ua``
# on a few agents takes to answer: they are loaded on first use (PEP 562).
_LAZY = {"describe": "table", "lookup": "table", "facts": "reported"}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    found = getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = found
    return found
