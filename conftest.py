"""Shared by every test path.

The suite never reads a developer's real data: ``FLEETANALYSIS_CONFIG`` points at a
settings file that does not exist, so every default resolves to the demo organisation
(written and ingested before the notebooks run, as ``make report`` does: ``analysis``
never writes it), and ``FLEETANALYSIS_HOME`` makes this checkout the
project root (else the settings file's folder would be). The fixture notebooks under tests/notebooks are data
for the reporting tests, not notebooks for nbval to run.
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

os.environ["FLEETANALYSIS_HOME"] = str(Path(__file__).resolve().parent)
# Every temporary file of the run (the doctests' folders, the kernels', the CLI children's)
# goes into one folder, removed when the run ends: a run leaves nothing behind in /tmp.
# pytest's own ``tmp_path`` folders stay where pytest keeps them, the last few runs' for a look after a failure.
os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", tempfile.gettempdir())
_SCRATCH = Path(tempfile.mkdtemp(prefix="fleetanalysis-tests-"))
tempfile.tempdir = str(_SCRATCH)
os.environ["TMPDIR"] = str(_SCRATCH)
atexit.register(shutil.rmtree, _SCRATCH, ignore_errors=True)
# An empty settings file: nothing configured, whatever fleetanalysis.toml the checkout holds.
_NO_SETTINGS = _SCRATCH / "no-settings.toml"
_NO_SETTINGS.write_text("")
os.environ["FLEETANALYSIS_CONFIG"] = str(_NO_SETTINGS)

collect_ignore_glob = ["tests/notebooks/*", "benchmarks/*", ".venv/*"]


def pytest_collection_modifyitems(session, config, items):
    """The notebooks run on their defaults, the demo organisation: write it first if missing."""
    if any(Path(str(item.fspath)).suffix == ".ipynb" for item in items):
        from fleetanalysis import config as project
        from fleetanalysis.cli.fleet import write_missing_demo

        write_missing_demo(project.fleet_inputs())
