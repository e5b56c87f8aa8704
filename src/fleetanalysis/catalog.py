"""The release catalog: every dated release of every product the verdicts are judged against.

The shipped files live in ``data/catalog/<product>.csv``, each with a few ``#`` header
lines (``product``, ``sources``, ``complete-until``) above the columns
``version,released,line,eol,exploited`` and an optional ``offered``. ``complete-until`` is
the last date up to which the file lists every release: evidence dated later cannot be
judged from it. ``offered=false`` marks a line its vendor ships on new devices only (Windows
11 26H1): devices on it are judged against its own releases, but no device on another line
is ever told to install it; blank or a missing column means offered.

Two layers go over the shipped files, later ones winning for the same (product, version):
the feed overlay written by ``fleetanalysis catalog update``
(``data/processed/catalog-updates.csv``) and the user's own CSV (``extra``). Both use the
same columns plus ``product`` and an optional ``complete_until``. The end of support of a
line is taken from the highest layer that states one, so an overlay that only knows new
releases never erases a shipped end-of-support date; whether a line is offered is settled
the same way (so a feed's monthly builds of a new-devices-only line stay not offered).

Examples:
    >>> rows = load_releases_csv(_EXAMPLE, name="example.csv")
    >>> rows[["product", "version", "line"]].values.tolist()
    [['ios', '17.3.1', '17'], ['ios', '17.4', '17']]
    >>> as_of(rows, "2024-03-01")[["line", "latest", "supported"]].values.tolist()
    [['17', '17.3.1', True]]
"""

from __future__ import annotations

import functools
import io
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from fleetanalysis.config import PACKAGE_DATA, PROCESSED_DIR
from fleetanalysis.days import utc_day
from fleetanalysis.errors import BadInput, reading_problem

PRODUCTS = (
    "ios", "ipados", "macos", "android", "windows", "windows-enterprise", "chrome", "firefox", "firefox-esr",
    "safari", "edge", "slack-desktop", "slack-ios", "slack-android", "edge-legacy", "internet-explorer",
)
CATALOG_DIR = PACKAGE_DATA / "catalog"
UPDATES_FILE = PROCESSED_DIR / "catalog-updates.csv"
COLUMNS = ["product", "version", "released", "line", "eol", "exploited", "offered", "source"]
FILE_COLUMNS = ["version", "released", "line", "eol", "exploited", "offered"]

# Six numeric parts cover every scheme in the catalog (Windows uses four, Chrome four);
# ten digits each hold a Windows build or a Chrome build number with room to spare.
_PARTS = 6
_WIDTH = 10
_VERSION = re.compile(r"^\s*(\d+(?:\.\d+)*)\s*(?:\(([a-z])\))?")
_ZERO_KEY = ".".join(["0" * _WIDTH] * (_PARTS + 1))  # version_key of 0, RSR letter included

_EXAMPLE = """# product: ios
# sources: https://support.apple.com/en-us/100100
# complete-until: 2024-04-30
version,released,line,eol,exploited
17.3.1,2024-02-08,17,,false
17.4,2024-03-05,17,,true
"""


def version_key(versions: pd.Series) -> pd.Series:
    """A string that sorts like the version, NA where the text holds no version.

    Missing trailing parts count as zero (``17.3`` equals ``17.3.0``), so a bare major
    sorts as the start of its line (``124`` before ``124.0.6367.60``); Apple's Rapid
    Security Responses (``16.5.1 (c)``) sort after their base and before the next patch.
    Each distinct string is read once.

    Examples:
        >>> texts = pd.Series(["16.5.2", "16.5.1 (c)", "16.5.1", "10.0.26100.2314",
        ...                    "10.0.9200", "124", "124.0.6367.60", "frozen"])
        >>> keys = version_key(texts)
        >>> texts[keys.sort_values().index].tolist()[:7]
        ['10.0.9200', '10.0.26100.2314', '16.5.1', '16.5.1 (c)', '16.5.2', '124', '124.0.6367.60']
        >>> bool(keys.isna().iloc[-1])
        True
        >>> bool(version_key(pd.Series(["17.3"])).iloc[0] == version_key(pd.Series(["17.3.0"])).iloc[0])
        True
    """
    codes, uniques = pd.factorize(pd.Series(versions, dtype="str"))
    # A trailing NA slot answers the missing values (code -1).
    keys = np.array([_one_key(text) for text in uniques] + [None], dtype=object)
    return pd.Series(keys[np.where(codes < 0, len(uniques), codes)], index=versions.index, dtype="str")


def clear_caches() -> None:
    """Forget the version keys parsed so far in this process (benchmarks: each side pays its
    own cold costs)."""
    _one_key.cache_clear()


# Every judgement reads the catalog's own versions again (a timeline, dozens of times): each
# text is parsed once per process. Bounded, since log text is open-ended.
@functools.lru_cache(maxsize=2**16)
def _one_key(text: str) -> str | None:
    match = _VERSION.match(text)
    if not match:
        return None
    parts = [int(part) for part in match.group(1).split(".")][:_PARTS]
    if any(part >= 10**_WIDTH for part in parts):
        return None
    parts += [0] * (_PARTS - len(parts))
    response = match.group(2)
    parts.append(ord(response) - ord("a") + 1 if response else 0)
    return ".".join(f"{part:0{_WIDTH}d}" for part in parts)


def major_key(keys: pd.Series) -> pd.Series:
    """The major-version prefix of ``version_key`` values, for evidence that only has a major.

    Examples:
        >>> major_key(version_key(pd.Series(["124.0.6367.60", "124"]))).nunique()
        1
    """
    return keys.str.slice(0, _WIDTH)


def version_depth(versions: pd.Series) -> pd.Series:
    """How many numeric parts each version states (``10.0.26100`` -> 3), 0 where none.

    Examples:
        >>> version_depth(pd.Series(["10.0.26100", "16.5.1 (c)", "124", "beta"])).tolist()
        [3, 3, 1, 0]
    """
    numeric = pd.Series(versions, dtype="str").str.extract(r"^\s*(\d+(?:\.\d+)*)", expand=False)
    return (numeric.str.count(r"\.") + 1).fillna(0).astype(int)


def shorten_key(keys: pd.Series, depth) -> pd.Series:
    """``version_key`` values with numeric parts beyond ``depth`` set to zero (the RSR letter kept).

    Lets a version be compared at the precision a catalog lists: a catalog of Windows
    builds (``10.0.26100``) knows ``10.0.26100.2314`` even though it lists no patch.

    Examples:
        >>> keys = version_key(pd.Series(["10.0.26100.2314"]))
        >>> bool(shorten_key(keys, [3]).iloc[0] == version_key(pd.Series(["10.0.26100"])).iloc[0])
        True
    """
    # Keys are fixed width (every part _WIDTH digits): the parts beyond ``size`` are sliced
    # out of the zero key rather than split and joined, since a timeline shortens tens of
    # thousands of keys.
    numeric_end = _PARTS * (_WIDTH + 1) - 1

    def shorten(key, size):
        if size >= _PARTS:
            return key
        cut = max(size, 0) * (_WIDTH + 1)
        return key[:cut] + _ZERO_KEY[cut:numeric_end] + key[numeric_end:]

    shortened = [shorten(key, size) if isinstance(key, str) else None
                 for key, size in zip(keys.tolist(), list(depth), strict=True)]
    return pd.Series(shortened, index=keys.index, dtype="str")


def load_releases_csv(source: str | os.PathLike, name: str | None = None, product: str | None = None) -> pd.DataFrame:
    """Read one catalog CSV (shipped ``#``-headed file, overlay or user file) into catalog columns.

    ``source`` is a path, or the text itself when ``name`` is given. The ``# product:``
    header (or ``product`` argument) names the product of a single-product file; otherwise
    a ``product`` column is required. ``df.attrs["complete_until"]`` maps product to the
    date the file is complete until (from the header or a ``complete_until`` column).

    Examples:
        >>> rows = load_releases_csv(_EXAMPLE, name="ios.csv")
        >>> rows.attrs["complete_until"]
        {'ios': Timestamp('2024-04-30 00:00:00')}
        >>> rows["exploited"].tolist()
        [False, True]
        >>> rows["offered"].isna().tolist()  # no column: not stated, which merge() reads as offered
        [True, True]
        >>> load_releases_csv("version,released,line\\n17.4,soon,17\\n", name="mine.csv", product="ios")
        Traceback (most recent call last):
        ...
        fleetanalysis.errors.BadInput: mine.csv: record 1: released: not a date: 'soon'
    """
    if name is None:
        path = Path(source)
        name = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise BadInput(name, "cannot read the catalog", reading_problem(error)) from None
    else:
        text = str(source)
    header: dict[str, str] = {}
    body: list[str] = []
    for line in text.splitlines():
        if not body and line.startswith("#"):
            key, _, value = line[1:].partition(":")
            header[key.strip().lower()] = value.strip()
        elif line.strip():
            body.append(line)
    product = header.get("product", product)
    try:
        raw = pd.read_csv(io.StringIO("\n".join(body)), dtype="str", keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise BadInput(name, "not a catalog CSV", reading_problem(error)) from None
    raw.columns = [column.strip().lower() for column in raw.columns]
    needed = ["version", "released", "line"] + ([] if product else ["product"])
    missing = [column for column in needed if column not in raw.columns]
    if missing:
        raise BadInput(name, "header", f"missing column(s) {', '.join(missing)}")
    raw = raw.apply(lambda column: column.str.strip())
    if product:
        raw["product"] = product
    frame = pd.DataFrame({
        "product": raw["product"].str.lower(),
        "version": raw["version"],
        "released": _dates(raw["released"], name, "released", required=True),
        "line": raw["line"],
        "eol": _dates(raw.get("eol", pd.Series("", index=raw.index)), name, "eol", required=False),
        "exploited": _flags(raw.get("exploited", pd.Series("", index=raw.index)), name, "exploited"),
        "offered": _flags(raw.get("offered", pd.Series("", index=raw.index)), name, "offered"),
        "source": raw["source"] if "source" in raw.columns else name.rsplit("/", 1)[-1],
    })
    for column in ("product", "version", "line"):
        blank = frame[column].eq("")
        if blank.any():
            raise BadInput(name, f"record {int(blank.to_numpy().argmax()) + 1}", f"{column} is empty")
    unknown = ~frame["product"].isin(PRODUCTS)
    if unknown.any():
        row = int(unknown.to_numpy().argmax())
        raise BadInput(name, f"record {row + 1}", f"unknown product {frame['product'].iloc[row]!r}")
    # A release whose version cannot be placed would be dropped without a word.
    unreadable = version_key(frame["version"]).isna()
    if unreadable.any():
        row = int(unreadable.to_numpy().argmax())
        raise BadInput(name, f"record {row + 1}", f"version: not a version number: {frame['version'].iloc[row]!r}")
    coverage: dict[str, pd.Timestamp] = {}
    if "complete-until" in header and product:
        coverage[product] = _dates(pd.Series([header["complete-until"]]), name, "complete-until", True).iloc[0]
    elif "complete_until" in raw.columns:
        dates = _dates(raw["complete_until"], name, "complete_until", required=False)
        coverage = {key: value for key, value in dates.groupby(frame["product"]).max().items() if pd.notna(value)}
    frame = frame.astype({"version": "str", "line": "str", "source": "str"})
    frame.attrs["complete_until"] = coverage
    return frame


def _dates(values: pd.Series, name: str, column: str, required: bool) -> pd.Series:
    parsed = pd.to_datetime(values.where(values.ne(""), None), format="%Y-%m-%d", errors="coerce")
    bad = parsed.isna() & (values.ne("") | required)
    if bad.any():
        row = int(bad.to_numpy().argmax())
        label = "header" if column == "complete-until" else f"record {row + 1}"
        raise BadInput(name, label, f"{column}: not a date: {values.iloc[row]!r}")
    return parsed.astype("datetime64[us]")


def _flags(values: pd.Series, name: str, column: str) -> pd.Series:
    lowered = values.str.lower()
    known = {"true": True, "false": False, "": pd.NA, "yes": True, "no": False}
    bad = ~lowered.isin(list(known))
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise BadInput(name, f"record {row + 1}", f"{column}: not true/false: {values.iloc[row]!r}")
    return lowered.map(known).astype("boolean")


def shipped_files() -> list[Path]:
    """The catalog files shipped with the package, one per product.

    Examples:
        >>> all(path.suffix == ".csv" for path in shipped_files())
        True
    """
    return sorted(CATALOG_DIR.glob("*.csv")) if CATALOG_DIR.is_dir() else []


def load(extra: str | os.PathLike | None = None, updates: str | os.PathLike | bool | None = None,
         files: list[Path] | None = None) -> pd.DataFrame:
    """The catalog: shipped files, then the feed overlay, then the user's ``extra`` CSV.

    Returns the columns of docs/pipeline.md section 3, sorted by product and version, with
    ``attrs["complete_until"]`` mapping each product to the date its releases are complete
    until (the latest any layer vouches for). ``updates`` is the overlay file (None: the
    default ``UPDATES_FILE`` when it exists; False: no overlay); ``files`` replaces the
    shipped files.

    Examples:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "ios.csv").write_text(_EXAMPLE)
        >>> _ = (folder / "mine.csv").write_text("product,version,released,line,eol\\nios,16.7.6,2024-03-05,16,2025-09-15\\n")
        >>> catalog = load(extra=folder / "mine.csv", updates=False, files=[folder / "ios.csv"])
        >>> catalog[["version", "line"]].values.tolist()
        [['16.7.6', '16'], ['17.3.1', '17'], ['17.4', '17']]
        >>> catalog["eol"].notna().tolist()
        [True, False, False]
        >>> str(catalog.attrs["complete_until"]["ios"].date())
        '2024-04-30'
    """
    layers = [load_releases_csv(path) for path in (shipped_files() if files is None else files)]
    updates = UPDATES_FILE if updates is None or updates is True else updates
    if updates is not False and Path(updates).exists():
        layers.append(load_releases_csv(updates))
    if extra is not None:
        if not Path(extra).exists():
            raise BadInput(str(extra), "", "no such catalog file")
        layers.append(load_releases_csv(extra))
    return merge(layers)


def merge(layers: list[pd.DataFrame]) -> pd.DataFrame:
    """Stack catalog layers, later layers winning per (product, version) and per line's end of
    support and ``offered`` flag (each from the highest layer that states one; a line no layer
    marks is offered).

    Examples:
        >>> old = load_releases_csv(_EXAMPLE, name="ios.csv")
        >>> new = old.iloc[[1]].assign(eol=pd.Timestamp("2025-09-15"), source="feed")
        >>> merge([old, new])[["version", "eol", "source"]].astype(str).values.tolist()
        [['17.3.1', '2025-09-15', 'ios.csv'], ['17.4', '2025-09-15', 'feed']]
        >>> merge([old.assign(offered=pd.array([False, pd.NA], dtype="boolean")), new])["offered"].tolist()
        [False, False]
    """
    coverage: dict[str, pd.Timestamp] = {}
    for layer in layers:
        for product, date in layer.attrs.get("complete_until", {}).items():
            coverage[product] = max(date, coverage.get(product, date))
    if not layers:
        return empty()
    stacked = pd.concat([layer.assign(_layer=number) for number, layer in enumerate(layers)], ignore_index=True)
    stacked = stacked.drop_duplicates(["product", "version"], keep="last")
    stated = stacked.dropna(subset=["eol"]).sort_values(["_layer", "eol"])
    line_eol = stated.groupby(["product", "line"])["eol"].last()
    keys = pd.MultiIndex.from_frame(stacked[["product", "line"]])
    stacked["eol"] = line_eol.reindex(keys).to_numpy()
    if "offered" not in stacked.columns:
        stacked["offered"] = pd.NA
    marked = stacked.dropna(subset=["offered"]).sort_values("_layer", kind="stable")
    line_offered = marked.groupby(["product", "line"])["offered"].last()
    stacked["offered"] = line_offered.reindex(keys).astype("boolean").fillna(True).to_numpy()
    stacked["_key"] = version_key(stacked["version"])
    catalog = stacked.sort_values(["product", "_key"], kind="stable")[COLUMNS].reset_index(drop=True)
    catalog = catalog.astype({"product": pd.CategoricalDtype(PRODUCTS), "eol": "datetime64[us]",
                              "released": "datetime64[us]", "exploited": "boolean", "offered": bool})
    catalog.attrs["complete_until"] = coverage
    return catalog


def empty() -> pd.DataFrame:
    """A catalog with no releases, with the contract dtypes.

    Examples:
        >>> empty().dtypes.astype(str).tolist()
        ['category', 'str', 'datetime64[us]', 'str', 'datetime64[us]', 'boolean', 'bool', 'str']
    """
    frame = pd.DataFrame({
        "product": pd.Categorical([], categories=PRODUCTS),
        "version": pd.Series([], dtype="str"),
        "released": pd.Series([], dtype="datetime64[us]"),
        "line": pd.Series([], dtype="str"),
        "eol": pd.Series([], dtype="datetime64[us]"),
        "exploited": pd.Series([], dtype="boolean"),
        "offered": pd.Series([], dtype=bool),
        "source": pd.Series([], dtype="str"),
    })
    frame.attrs["complete_until"] = {}
    return frame


def coverage(catalog: pd.DataFrame) -> pd.Series:
    """Per product, the date up to which the catalog lists every release.

    Only products with releases in ``catalog`` are listed. A product no layer vouches for
    is covered up to its newest listed release, so a catalog without a stated date never
    makes later evidence look current.

    Examples:
        >>> coverage(load_releases_csv(_EXAMPLE, name="ios.csv")).astype(str).to_dict()
        {'ios': '2024-04-30'}
    """
    newest = catalog.groupby(catalog["product"].astype("str"))["released"].max()
    stated = pd.Series(catalog.attrs.get("complete_until", {}), dtype="datetime64[us]")
    covered = stated.reindex(newest.index)
    return covered.fillna(newest).astype("datetime64[us]").rename("complete_until")


def coverage_table(catalog: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per product, the date the catalog is complete to: what a report's data-quality note lists.

    Columns ``product`` (str), ``complete_until`` (datetime64[us]: evidence dated later
    cannot be judged from the catalog), ``stated`` (bool: a file or feed vouches for that
    date; False means only the newest release date is known), ``newest_version`` and
    ``newest_released``: the highest version offered as an update (a line the catalog marks
    not ``offered``, such as Windows 11 26H1 on new PCs only, is left out unless it is all
    there is). ``catalog`` defaults to ``load()`` (shipped files and overlay).

    Examples:
        >>> table = coverage_table(load_releases_csv(_EXAMPLE, name="ios.csv"))
        >>> table.astype(str).values.tolist()
        [['ios', '2024-04-30', 'True', '17.4', '2024-03-05']]
    """
    catalog = load() if catalog is None else catalog
    known = catalog.assign(product=catalog["product"].astype("str"), _key=version_key(catalog["version"]))
    if "offered" in known.columns:
        # Offered releases sort above the others, then by version: each product's last row is
        # its highest offered version, or its highest version when none is offered.
        known["_offered"] = known["offered"].astype("boolean").fillna(True).astype(bool)
        order = ["product", "_offered", "_key"]
    else:
        order = ["product", "_key"]
    newest = known.sort_values(order).drop_duplicates("product", keep="last").set_index("product")
    until = coverage(catalog)
    stated = set(catalog.attrs.get("complete_until", {}))
    return pd.DataFrame({
        "product": pd.array(until.index, dtype="str"),
        "complete_until": until.to_numpy(),
        "stated": [product in stated for product in until.index],
        "newest_version": pd.array(newest["version"].reindex(until.index).to_numpy(), dtype="str"),
        "newest_released": newest["released"].reindex(until.index).to_numpy().astype("datetime64[us]"),
    })


def as_of(catalog: pd.DataFrame, date) -> pd.DataFrame:
    """Per product line, the newest version released on or before ``date`` (its UTC day) and whether the line was supported.

    Columns ``product, line, latest, released, supported, offered``; ``offered`` is False
    for a line its vendor ships on new devices only (Windows 11 26H1), never offered as an
    update to a device on another line. Lines with no release yet on that date are left
    out; lines are listed newest first within each product.

    Examples:
        >>> rows = load_releases_csv(_EXAMPLE, name="ios.csv")
        >>> as_of(rows, "2024-04-01")[["latest", "released"]].astype(str).values.tolist()
        [['17.4', '2024-03-05']]
        >>> as_of(rows.assign(eol=pd.Timestamp("2024-04-01")), "2024-04-01")["supported"].tolist()
        [False]
    """
    date = utc_day(date)
    released = catalog[catalog["released"] <= date].copy()
    released["_key"] = version_key(released["version"])
    newest = released.sort_values("_key").drop_duplicates(["product", "line"], keep="last")
    newest = newest.sort_values(["product", "_key"], ascending=[True, False])
    return pd.DataFrame({
        "product": newest["product"].astype("str"),
        "line": newest["line"],
        "latest": newest["version"],
        "released": newest["released"],
        "supported": (newest["eol"].isna() | (newest["eol"] > date)).astype(bool),
        # Not stated (a frame built without the column) means offered, as for judging.
        "offered": (newest["offered"].astype("boolean").fillna(True).astype(bool) if "offered" in newest.columns
                    else True),
    }).reset_index(drop=True)


