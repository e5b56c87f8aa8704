"""Shared by every test path.

The suite never reads a developer's real data: ``FLEETANALYSIS_CONFIG`` points at a
settings file that does not exist, so every default resolves to the demo organisation
(written and ingested on first use), and ``FLEETANALYSIS_HOME`` makes this checkout the
project root (else the settings file's folder would be). The fixture notebooks under tests/notebooks are data
for the reporting tests, not notebooks for nbval to run.
"""

import os
import tempfile
from pathlib import Path

os.environ["FLEETANALYSIS_HOME"] = str(Path(__file__).resolve().parent)
os.environ["FLEETANALYSIS_CONFIG"] = str(Path(tempfile.gettempdir()) / "fleetanalysis-tests-no-settings.toml")

collect_ignore_glob = ["tests/notebooks/*", "benchmarks/*", ".venv/*"]
