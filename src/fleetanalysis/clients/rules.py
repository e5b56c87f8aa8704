"""The client rules: the columns and words of client facts, and the project's own
user-agent rules (``data/clients.toml``) loaded and checked, for ``agents`` to put in
front of ua-parser's."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fleetanalysis.config import PACKAGE_DATA


PLATFORMS = ["iOS", "iPadOS", "Android", "macOS", "Windows", "Linux", "ChromeOS", "other"]
OS_EVIDENCE = ["exact", "frozen", "lower-bound", "lower-bound-in-line", "absent"]
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
    device_class: str | None = None


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
    # A Darwin major names one line, so its version is a lower bound in that line unless
    # the rule says otherwise.
    systems = tuple(SystemRule(**{"evidence": "lower-bound-in-line" if entry.get("darwin") else "exact", **entry,
                                  "version": tuple(entry.get("version", ()))})
                    for entry in table.get("system", []))
    for number, rule in enumerate(clients + systems):
        # Group 1 is the product or OS token: the resolver reads versions from groups 2-5.
        if re.compile(rule.regex).groups < 1:
            raise ValueError(f"{path}: rule {number}: regex needs a group 1 (the product token)")
    for rule in clients:
        if rule.kind not in CLIENT_KINDS:
            raise ValueError(f"{path}: client {rule.family!r}: kind {rule.kind!r} not one of {CLIENT_KINDS}")
    for rule in systems:
        if rule.platform not in PLATFORMS or rule.evidence not in OS_EVIDENCE \
                or rule.device_class not in (None, *DEVICE_CLASSES):
            raise ValueError(f"{path}: system {rule.regex!r}: unknown platform, evidence or device class")
    families = {name: (family, kind, product or None)
                for name, (family, kind, product) in table.get("families", {}).items()}
    darwin = {int(major): entry for major, entry in table.get("darwin", {}).items()}
    return Rules(clients, systems, families, darwin)
