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

A run's inputs are resolved once, here, by ``fleet_inputs``: the values a caller gives
(command-line options, a notebook's parameters) over the settings file over the demo
organisation, checked, into one ``FleetInputs`` that the rest of the package is handed.
Nothing below the edge reads the settings or the environment again.

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
# The days before the as-of date in which a device counts as seen: every way of giving it
# (an option, a notebook parameter, a caller of fleet_inputs) takes this one range.
WINDOW_DAYS = (1, MAX_DAYS)
DEFAULT_WINDOW_DAYS = 30


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
    # The settings file names the store (one ``fetch`` fills, say), with or without logs.
    store_named: bool = False

    @property
    def configured(self) -> bool:
        """True when real logs or a store of one's own are configured (otherwise ``make
        report`` uses demo data)."""
        return bool(self.logs) or self.store_named


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
    from fleetanalysis.errors import BadInput

    if path is None:
        _check_environment()
    path = Path(path) if path is not None else settings_path()
    if not os.path.lexists(path):
        return Settings()
    data = validation.read_settings(path).data
    base = path.resolve().parent

    def resolve(value: str | None) -> Path | None:
        return None if value is None else (base / Path(value).expanduser())

    settings = Settings(
        logs=[resolve(item) for item in data.logs],
        directory=resolve(data.directory),
        networks=resolve(data.networks),
        policy=resolve(data.policy),
        catalog=resolve(data.catalog),
        store=resolve(data.store) or DEFAULT_STORE,
        store_named=data.store is not None,
    )
    # A misspelt path would silently drop the offices, exemptions or policy it holds.
    for name in ("directory", "networks", "policy", "catalog"):
        value = getattr(settings, name)
        if value is not None and not value.is_file():
            problem = ("is a folder, not a file" if value.is_dir() else
                       "not a regular file" if os.path.lexists(value) and value.exists() else "no such file")
            raise BadInput(path, f"data.{name}", f"{getattr(data, name)!r}: {problem}")
    return settings


def _check_environment() -> None:
    """``BadInput`` when ``$FLEETANALYSIS_CONFIG`` names no file or ``$FLEETANALYSIS_HOME``
    no folder: a typing slip there must not turn a run into one on the demo organisation."""
    from fleetanalysis.errors import BadInput

    named = os.environ.get("FLEETANALYSIS_CONFIG")
    if named and not os.path.lexists(Path(named).expanduser()):
        raise BadInput(named, "$FLEETANALYSIS_CONFIG: no such settings file")
    if not PROJECT_ROOT.is_dir():
        raise BadInput(PROJECT_ROOT, "$FLEETANALYSIS_HOME: no such folder")


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


@dataclass(frozen=True)
class FleetInputs:
    """One run's inputs, resolved and checked: what ``analysis.prepare`` is handed.

    ``as_of`` is a date (text, ``datetime`` or ``Timestamp``) or None for the day of the
    newest evidence; ``demo`` says the store is the demo organisation's, which the edge
    (``fleetanalysis ingest``/``report``, ``make``) writes when it is missing.

    >>> FleetInputs(Path("access.parquet"), window_days=0)
    Traceback (most recent call last):
    ...
    fleetanalysis.errors.BadInput: window_days: must be a whole number of days from 1 to 36500, not 0
    """

    store: Path
    directory: Path | None = None
    networks: Path | None = None
    policy: Path | None = None
    catalog: Path | None = None
    as_of: object = None
    window_days: int = DEFAULT_WINDOW_DAYS
    demo: bool = False

    def __post_init__(self) -> None:
        from fleetanalysis.errors import BadInput

        days = self.window_days
        low, high = WINDOW_DAYS
        if isinstance(days, bool) or not isinstance(days, int) or not low <= days <= high:
            raise BadInput("window_days", f"must be a whole number of days from {low} to {high}, not {days!r}")
        for name in FILE_INPUTS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))


# The inputs that are files, in the order the commands' --help lists them.
FILE_INPUTS = ("store", "directory", "networks", "policy", "catalog")


def fleet_inputs(store: str | os.PathLike | None = None, directory: str | os.PathLike | None = None,
                 networks: str | os.PathLike | None = None, policy: str | os.PathLike | None = None,
                 as_of=None, window_days: int | None = None, catalog: str | os.PathLike | None = None, *,
                 settings: Settings | None = None) -> FleetInputs:
    """The run's inputs: each value given (an option, a notebook parameter) over the settings.

    A file given must exist (``BadInput`` naming it otherwise); a file left out is the
    configured one when that exists (``active_settings``: the settings file, else the demo
    organisation), else none. The store left out is the configured one, which need not
    exist yet when it is the demo's. A store given that is not the demo's never takes the
    demo organisation's directory or networks (its people are not the demo's): those are
    left out, as when none is configured.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> empty = Settings(store=folder / "access.parquet")
    >>> fleet_inputs(window_days=14, settings=empty).window_days
    14
    >>> fleet_inputs(folder / "nowhere.parquet", settings=empty)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    fleetanalysis.errors.BadInput: ...nowhere.parquet: no such store file (run `fleetanalysis ingest` first)
    """
    from fleetanalysis.errors import BadInput

    settings = active_settings() if settings is None else settings
    given = {"store": store, "directory": directory, "networks": networks, "policy": policy,
             "catalog": catalog}
    chosen = {}
    foreign = (settings.demo and store is not None
               and Path(store).resolve() != Path(settings.store).resolve())
    for name, value in given.items():
        if value is not None:
            if not Path(value).exists():
                later = " (run `fleetanalysis ingest` first)" if name == "store" else ""
                raise BadInput(value, f"no such {name} file{later}")
            if name != "store" and not Path(value).is_file():
                # A FIFO would block the read forever; /dev/null would read as an empty file.
                kind = "is a folder, not a file" if Path(value).is_dir() else "not a regular file"
                raise BadInput(value, f"{name}: {kind}")
            chosen[name] = Path(value)
        else:
            configured = getattr(settings, name)
            usable = configured is not None and (name == "store" or Path(configured).exists())
            if foreign and usable and Path(configured).resolve().is_relative_to(DEMO_DIR.resolve()):
                usable = False
            chosen[name] = Path(configured) if usable else None
    return FleetInputs(**chosen, as_of=as_of,
                       window_days=DEFAULT_WINDOW_DAYS if window_days is None else window_days,
                       demo=store is None and settings.demo)
