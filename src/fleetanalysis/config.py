"""Where the project's files live, and the optional ``fleetanalysis.toml`` that points at real data.

Every path the package uses is derived here, so no other module hard-codes one.
A checkout is laid out as::

    data/raw/        exports and fetched API pages, never edited
    data/demo/       the synthetic organisation written by ``fleetanalysis demo``
    data/processed/  the Parquet access store and other derived files
    reports/         HTML reports, one folder per as-of date

Real data is configured in ``fleetanalysis.toml`` at the top of the checkout (or the
file named by ``$FLEETANALYSIS_CONFIG``)::

    [data]
    logs = ["data/raw/slack", "data/raw/okta/*.json.gz"]
    directory = "data/raw/directory.csv"
    networks = "data/raw/networks.csv"    # optional: CIDR -> office
    policy = "policy.toml"                # optional: overrides the shipped policy
    catalog = "data/raw/my-releases.csv"  # optional: extra catalog rows

Relative paths are taken from the folder that holds the file.

Examples:
    >>> from fleetanalysis import config
    >>> config.PROJECT_ROOT.joinpath("src", "fleetanalysis").is_dir()
    True
    >>> config.load_settings(config.PROJECT_ROOT / "does-not-exist.toml").logs
    []
    >>> config.active_settings(config.PROJECT_ROOT / "does-not-exist.toml").store.name
    'demo-access.parquet'
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = PROJECT_ROOT / "data"
RAW_DIR = DATA_DIR / "raw"
DEMO_DIR = DATA_DIR / "demo"
PROCESSED_DIR = DATA_DIR / "processed"
REPORTS_DIR = PROJECT_ROOT / "reports"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
PACKAGE_DATA = Path(__file__).resolve().parent / "data"

DEFAULT_STORE = PROCESSED_DIR / "access.parquet"
DEMO_STORE = PROCESSED_DIR / "demo-access.parquet"
SETTINGS_FILE = PROJECT_ROOT / "fleetanalysis.toml"
KERNEL_NAME = "fleetanalysis"


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
    """Read the settings file; a missing file means nothing is configured.

    Raises ``ValueError`` naming the file when it is not valid TOML.
    """
    path = Path(path) if path is not None else settings_path()
    if not path.exists():
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8")).get("data", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a valid settings file ({error})") from None
    base = path.resolve().parent

    def resolve(value: str | None) -> Path | None:
        return None if value is None else (base / value)

    logs = data.get("logs", [])
    if isinstance(logs, str):
        logs = [logs]
    return Settings(
        logs=[base / item for item in logs],
        directory=resolve(data.get("directory")),
        networks=resolve(data.get("networks")),
        policy=resolve(data.get("policy")),
        catalog=resolve(data.get("catalog")),
        store=resolve(data.get("store")) or DEFAULT_STORE,
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
