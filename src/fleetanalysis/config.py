"""Where the project's files live, and the optional ``fleetanalysis.toml`` that points at real data.

Every path the package uses is derived here, so no other module hard-codes one.
The project root is ``$FLEETANALYSIS_HOME``, else the folder of the settings file named
by ``$FLEETANALYSIS_CONFIG``, else the current working directory (as cookiecutter-data-science
projects are run from their top folder); it is never derived from where the package is
installed. A project is laid out as::

    data/raw/        exports and fetched API pages, never edited
    data/demo/       the synthetic organisation written by ``fleetanalysis demo``
    data/processed/  the Parquet access store and other derived files
    reports/         HTML reports, one folder per as-of date

Real data is configured in ``fleetanalysis.toml`` at the project root (or the file named
by ``$FLEETANALYSIS_CONFIG``)::

    [data]
    logs = ["data/raw/slack", "data/raw/okta/*.json.gz"]
    directory = "data/raw/directory.csv"
    networks = "data/raw/networks.csv"    # optional: CIDR -> office
    policy = "policy.toml"                # optional: overrides the shipped policy
    catalog = "data/raw/my-releases.csv"  # optional: extra catalog rows

Relative paths are taken from the folder that holds the file. The file is validated
(``validation.SettingsFile``): a wrong type or an unknown key is ``BadInput`` naming the
file and the key.

Examples:
    >>> from fleetanalysis import config
    >>> (config.PROJECT_ROOT / "data") == config.DATA_DIR
    True
    >>> config.load_settings(config.PROJECT_ROOT / "does-not-exist.toml").logs
    []
    >>> config.active_settings(config.PROJECT_ROOT / "does-not-exist.toml").store.name
    'demo-access.parquet'
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def project_root() -> Path:
    """``$FLEETANALYSIS_HOME``, else the folder of ``$FLEETANALYSIS_CONFIG``, else the working directory.

    >>> import tempfile, unittest.mock
    >>> home = tempfile.mkdtemp()
    >>> with unittest.mock.patch.dict(os.environ, {"FLEETANALYSIS_HOME": home}):
    ...     project_root() == Path(home).resolve()
    True
    """
    if os.environ.get("FLEETANALYSIS_HOME"):
        return Path(os.environ["FLEETANALYSIS_HOME"]).expanduser().resolve()
    if os.environ.get("FLEETANALYSIS_CONFIG"):
        return Path(os.environ["FLEETANALYSIS_CONFIG"]).expanduser().resolve().parent
    try:
        return Path.cwd().resolve()
    except OSError:  # the working directory was removed under the shell: keep its name
        return Path(os.environ.get("PWD") or os.sep)


PROJECT_ROOT = project_root()
# Child processes (the report's kernel runs in the notebook's folder, make) must find the
# same project, whatever their working directory.
os.environ.setdefault("FLEETANALYSIS_HOME", str(PROJECT_ROOT))
DATA_DIR = PROJECT_ROOT / "data"
RAW_DIR = DATA_DIR / "raw"
DEMO_DIR = DATA_DIR / "demo"
PROCESSED_DIR = DATA_DIR / "processed"
REPORTS_DIR = PROJECT_ROOT / "reports"
PACKAGE_DATA = Path(__file__).resolve().parent / "data"
# The project's own notebooks/, else those of the checkout the package was installed from.
NOTEBOOKS_DIR = next((folder for folder in (PROJECT_ROOT / "notebooks", PACKAGE_DATA.parents[2] / "notebooks")
                      if folder.is_dir()), PROJECT_ROOT / "notebooks")

DEFAULT_STORE = PROCESSED_DIR / "access.parquet"
DEMO_STORE = PROCESSED_DIR / "demo-access.parquet"
SETTINGS_FILE = PROJECT_ROOT / "fleetanalysis.toml"
KERNEL_NAME = "fleetanalysis"
# The longest grace, window or cooldown in days: longer is a typing slip, and much longer
# overflows the day arithmetic pandas can do (its Timedelta stops at about 292 years).
MAX_DAYS = 36_500


@dataclass(frozen=True)
class Settings:
    """What ``fleetanalysis.toml`` configures; empty when the file is absent."""

    logs: list[Path] = field(default_factory=list)
    directory: Path | None = None
    networks: Path | None = None
    policy: Path | None = None
    catalog: Path | None = None
    store: Path = DEFAULT_STORE
    demo: bool = False

    @property
    def configured(self) -> bool:
        """True when real logs are configured (otherwise ``make report`` uses demo data)."""
        return bool(self.logs)


def settings_path() -> Path:
    """The settings file in force: ``$FLEETANALYSIS_CONFIG`` or ``fleetanalysis.toml``."""
    return Path(os.environ.get("FLEETANALYSIS_CONFIG") or SETTINGS_FILE)


def load_settings(path: Path | None = None) -> Settings:
    """Read and validate the settings file; a missing file means nothing is configured.

    Raises ``BadInput`` naming the file, the key and the problem when the file is a folder,
    not UTF-8, not TOML, or holds a wrong type or an unknown key.

    >>> import tempfile
    >>> mine = Path(tempfile.mkdtemp()) / "fleetanalysis.toml"
    >>> _ = mine.write_text("[data]\\nlogs = 5\\n")
    >>> load_settings(mine)
    Traceback (most recent call last):
    ...
    fleetanalysis.errors.BadInput: ...fleetanalysis.toml: data.logs: must be a list, not 5
    """
    from fleetanalysis import validation

    path = Path(path) if path is not None else settings_path()
    if not os.path.lexists(path):
        return Settings()
    data = validation.read_settings(path).data
    base = path.resolve().parent

    def resolve(value: str | None) -> Path | None:
        return None if value is None else (base / Path(value).expanduser())

    return Settings(
        logs=[resolve(item) for item in data.logs],
        directory=resolve(data.directory),
        networks=resolve(data.networks),
        policy=resolve(data.policy),
        catalog=resolve(data.catalog),
        store=resolve(data.store) or DEFAULT_STORE,
    )


def active_settings(path: Path | None = None) -> Settings:
    """The settings a run uses: the configured real data, or else the demo organisation.

    With no logs configured every command falls back to the synthetic organisation that
    ``fleetanalysis demo`` writes under ``data/demo`` and its own store, so a fresh clone
    runs end to end and never mixes demo rows into a real store.
    """
    settings = load_settings(path)
    if settings.configured:
        return settings
    return Settings(
        logs=[DEMO_DIR / "slack"],
        directory=settings.directory or DEMO_DIR / "directory.csv",
        networks=settings.networks or DEMO_DIR / "networks.csv",
        policy=settings.policy,
        catalog=settings.catalog,
        store=DEMO_STORE,
        demo=True,
    )
