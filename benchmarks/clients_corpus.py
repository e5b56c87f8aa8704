"""How the client rules read a labelled corpus nobody here wrote: matomo-org/device-detector's
test fixtures, as the ``device_detector`` wheel on PyPI ships them.

    pip download --no-deps device_detector==6.5.1 -d /tmp/dd && unzip -q -o /tmp/dd/*.whl -d /tmp/dd
    .venv/bin/python benchmarks/clients_corpus.py /tmp/dd/device_detector/tests/fixtures/upstream

Prints one JSON line: browser and mobile-app fixtures not counted as devices, bot fixtures
counted as devices, browsers device-detector names other than Chrome that are judged as
Chrome, and Android or iOS agents whose exact OS version disagrees with the label.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import yaml

from fleetanalysis.clients import describe_agent

CHROME_NAMES = {"Chrome", "Chrome Mobile", "Chromium", "Chrome Webview"}


def _normal(version: str) -> str:
    """A version without trailing ``.0`` parts, as labels and agents write them differently."""
    parts = str(version).split(".")
    while len(parts) > 1 and parts[-1] == "0":
        parts.pop()
    return ".".join(parts)


def measure(fixtures: Path) -> dict:
    """The corpus figures for the fixture files in ``fixtures``."""
    found = Counter()
    for file in sorted(fixtures.glob("*.yml")):
        if file.name.startswith("clienthints"):
            continue
        for case in yaml.safe_load(file.read_text(encoding="utf-8")) or []:
            facts = describe_agent(case["user_agent"])
            device = facts["client_kind"] not in ("sdk", "bot")
            client = case.get("client") or {}
            if file.name == "bots.yml":
                found["bot fixtures"] += 1
                found["bots counted as devices"] += device
                continue
            if client.get("type") in ("browser", "mobile app"):
                found["browser and app fixtures"] += 1
                found["browsers and apps not counted"] += not device
            if client.get("type") == "browser" and client.get("name") not in CHROME_NAMES:
                found["other browsers judged as Chrome"] += facts["client_product"] == "chrome"
            system = case.get("os") or {}
            label = str(system.get("version") or "")
            platform = {"Android": "Android", "iOS": "iOS"}.get(system.get("name"))
            if platform and label and facts["platform"] in (platform, "iPadOS") and facts["os_evidence"] == "exact":
                found[f"{platform} exact versions"] += 1
                ours = _normal(facts["os_version"])
                found[f"{platform} exact versions off the label"] += not (ours == _normal(label)
                                                                         or ours.startswith(_normal(label) + "."))
    return dict(sorted(found.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("fixtures", type=Path, help="device-detector's tests/fixtures/upstream folder")
    print(json.dumps(measure(parser.parse_args().fixtures)))


if __name__ == "__main__":
    main()
