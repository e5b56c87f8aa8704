"""Where a version and a day sit among the catalog's releases, worked out once per distinct value.

A version's ``line``, its rank among the catalog's keys, the precision its evidence shows
(``shown_depth``), and the newest release (and the newest one due) in its scope on a day.
``equivalent_day`` and ``equivalent_version`` fold days and versions that ``judge`` answers
alike, which is what keeps a year of evidence from thousands of builds cheap to judge.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fleetanalysis.catalog import coverage, shorten_key, version_depth, version_key
from fleetanalysis.codes import combine, distinct_rows, firsts
from fleetanalysis.days import utc_day
from fleetanalysis.policy.rules import Policy

_MAX_DEPTH = 6
# Versions whose user agent cannot show the parts after the major: Firefox says
# ``Firefox/124.0`` on every 124.0.x, reduced Chromium says ``124.0.0.0`` on every build.
# Such a version (zeros after the major) stands for every release of its major.
_ZEROS_AFTER_MAJOR = ("chrome", "edge", "firefox", "firefox-esr")
# A Windows build as apps state it without its revision (``10.0.26100``) stands for every
# monthly update of that build.
_BUILD_WITHOUT_REVISION = ("windows",)


# Products whose agent cannot tell them from a line of another catalog product: Firefox ESR
# writes the same "Firefox/128.0" as Firefox 128, and Linux distributions (Debian's
# firefox-esr) ship it by default.
ALTERNATIVE_LINES = {"firefox": "firefox-esr"}
# Products whose lines end on different days for editions the agent cannot tell apart:
# Windows Home and Pro (``windows``' ``eol``) and Enterprise and Education, serviced for
# longer (``windows-enterprise``, one row per line, the same line names).
EDITION_LINES = {"windows": "windows-enterprise"}


def equivalent_day(products, days, catalog: pd.DataFrame, policy: Policy) -> np.ndarray:
    """For each (product, day), the first day of its epoch: ``judge`` answers every version of
    the product the same on both days (verdict, reason, target and its release date).

    An answer can only change on a catalog event of the product: a release (from its day
    on), a release falling due (the day after its grace ends), a line's end of support
    (from its ``eol`` day) and the end of the catalog's coverage (the day after). Days
    before the product's first event, and every day of a product with no event, share
    1970-01-01. A year of daily evidence thus collapses to a few dozen epochs per
    product, which is what keeps a 52-week timeline cheap to judge. Missing days stay NaT.

    Examples:
        >>> from fleetanalysis import catalog as releases
        >>> from fleetanalysis.policy import load
        >>> catalog = releases.load_releases_csv(releases._EXAMPLE, name="ios.csv")
        >>> days = pd.to_datetime(["2024-03-04", "2024-03-05", "2024-03-12", "2024-03-13", "2024-04-30",
        ...                        "2024-05-01", "2019-01-01"])
        >>> [str(day)[:10] for day in equivalent_day(pd.Series(["ios"] * 7), pd.Series(days), catalog, load())]
        ['2024-02-23', '2024-03-05', '2024-03-05', '2024-03-13', '2024-03-13', '2024-05-01', '1970-01-01']
        >>> [str(day)[:10] for day in equivalent_day(pd.Series(["opera"]), pd.Series(days[:1]), catalog, load())]
        ['1970-01-01']
    """
    days = utc_day(pd.Series(np.asarray(days))).to_numpy("datetime64[us]")
    products = pd.Series(np.asarray(products, dtype=object), dtype="str")
    releases = _releases(catalog, policy)
    one_day = pd.Timedelta(days=1)
    covered = coverage(catalog)
    # A Firefox major may be an ESR line (``ALTERNATIVE_LINES``), a Windows line end later for
    # Enterprise and Education (``EDITION_LINES``): each such line's start and end (not its
    # point releases) are events of the product too.
    others = {**ALTERNATIVE_LINES, **EDITION_LINES}
    alternative = (releases[releases["product"].isin(others.values())]
                   .groupby(["product", "line"], as_index=False).agg(released=("released", "min"), eol=("eol", "max")))
    alternative_of = alternative["product"].map({line: product for product, line in others.items()})
    events = pd.concat([
        pd.DataFrame({"product": releases["product"], "day": releases["released"]}),
        pd.DataFrame({"product": releases["product"], "day": releases["due"] + one_day}),
        pd.DataFrame({"product": releases["product"], "day": releases["eol"]}),
        pd.DataFrame({"product": alternative_of, "day": alternative["released"]}),
        pd.DataFrame({"product": alternative_of, "day": alternative["eol"]}),
        pd.DataFrame({"product": covered.index.astype("str"), "day": covered.to_numpy() + one_day}),
    ], ignore_index=True).dropna().drop_duplicates()
    codes, names = pd.factorize(pd.concat([events["product"], products], ignore_index=True))
    event_code, product_code = codes[:len(events)], codes[len(events):]
    # One sortable integer per (product, day): the product's code above the day count.
    span = np.int64(2**40)
    event_key = np.sort(event_code * span + events["day"].to_numpy("datetime64[D]").astype("int64"))
    query_day = days.astype("datetime64[D]").astype("int64")
    found = np.searchsorted(event_key, product_code * span + query_day, side="right") - 1
    same_product = (found >= 0) & (event_key[found.clip(0)] // span == product_code) & (product_code >= 0)
    start = np.where(same_product, event_key[found.clip(0)] % span, 0)
    result = start.astype("datetime64[D]").astype("datetime64[us]")
    result[np.isnat(days)] = np.datetime64("NaT")
    return result


def shown_depth(parts: pd.DataFrame) -> np.ndarray:
    """How many leading parts of each version its evidence can show; 0 where it shows them all.

    ``parts`` has ``product``, ``version`` and ``evidence``. ``major`` evidence shows 1
    part. So does a Firefox or Chromium version whose other parts are zeros: their user
    agents write every patch of a major that way (``Firefox/124.0``, ``Chrome/124.0.0.0``).
    A Windows build without its revision (``10.0.26100``, as apps state it) shows 3. Such a
    version is judged at that precision: it stands for every release it could be.

    Examples:
        >>> shown_depth(pd.DataFrame({"product": ["firefox", "firefox", "chrome", "windows", "ios"],
        ...     "version": ["124.0", "124.0.1", "124", "10.0.26100", "17.0"],
        ...     "evidence": ["exact", "exact", "major", "exact", "exact"]})).tolist()
        [1, 0, 1, 3, 0]
    """
    product = parts["product"].astype("str")
    version = parts["version"].astype("str")
    evidence = parts["evidence"].astype("str")
    exact = evidence.eq("exact")
    zeros = (exact & product.isin(_ZEROS_AFTER_MAJOR)
             & version.str.fullmatch(r"\s*\d+(?:\.0+)+\s*").fillna(False).astype(bool))
    build = (exact & product.isin(_BUILD_WITHOUT_REVISION)
             & version.str.fullmatch(r"\s*\d+\.\d+\.\d+\s*").fillna(False).astype(bool))
    depth = np.zeros(len(parts), dtype="int64")
    depth[(evidence.eq("major") | zeros).to_numpy(dtype=bool)] = 1
    depth[build.to_numpy(dtype=bool)] = 3
    return depth


def _prefix(keys, depth: np.ndarray) -> np.ndarray:
    """The first ``depth`` parts of each ``version_key`` (None where there is no key)."""
    return np.array([".".join(key.split(".")[:size]) if isinstance(key, str) else None
                     for key, size in zip(list(keys), depth.tolist(), strict=True)], dtype=object)


def _version_facts(rows: pd.DataFrame, releases: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """What judging needs of each (product, version, evidence) row, whatever the date; index 0..n-1.

    ``key`` (version_key), ``line`` (its catalog line), ``at_most`` (rank of the newest
    catalog key at or below it), ``below_key`` (rank where it would sit at the precision the
    catalog lists), ``shown`` (``shown_depth``), ``spans`` (it shows too few parts to tell
    apart releases the catalog lists), ``top_rank`` (the product's newest key),
    ``below_minimum`` and ``ambiguous`` (for the ``minimum`` rule). Worked out once per
    distinct version.
    """
    product = rows["product"].to_numpy(dtype=object)
    evidence = rows["evidence"].fillna("absent")
    first, distinct_versions = distinct_rows(rows[["product", "version"]])
    distinct_versions["key"] = version_key(distinct_versions["version"])
    key = distinct_versions["key"].iloc[first].reset_index(drop=True)
    rules = policy.rules().reindex(rows["product"])

    keys = np.sort(releases["key"].unique()).astype(object)
    shown = shown_depth(rows.assign(evidence=evidence))
    is_prefix = shown > 0
    # A version that shows only its first parts (a major, a build) stands for every release
    # under them: it reaches up to (but not including) the next prefix, and starts at the
    # prefix itself (``124`` = ``124.0``).
    prefix = np.array([text or "" for text in _prefix(key, shown)], dtype=object)
    whole = key.fillna("").to_numpy(dtype=object)
    upper = np.where(is_prefix, prefix + "~", whole)
    lower = np.where(is_prefix, prefix, whole)
    at_most = np.searchsorted(keys, upper.astype(object), side="right") - 1  # newest catalog key <= version
    start = shorten_key(key, np.maximum(shown, 1)).fillna("").to_numpy(dtype=object)
    at_start = np.searchsorted(keys, start.astype(object), side="right") - 1
    # The prefix covers releases the catalog tells apart: a line judged by its newest
    # release cannot say which of them the device runs.
    spans = is_prefix & (at_most != at_start)
    # "Newer than the catalog" is judged at the precision the catalog lists for the product,
    # so a build-level Windows catalog still knows a device's patch of a listed build.
    depth = releases.groupby("product")["depth"].max().reindex(product).fillna(_MAX_DEPTH).astype(int)
    listed = shorten_key(key, depth.to_numpy()).fillna("").to_numpy(dtype=object)
    below_key = np.searchsorted(keys, np.where(is_prefix, lower, listed).astype(object), side="left")

    minimum = rules["minimum"].to_numpy(dtype=object)
    minimum_key = version_key(pd.Series(minimum, dtype="str")).to_numpy(dtype=object)
    key_text = key.to_numpy(dtype=object)
    below_minimum = np.array([isinstance(have, str) and isinstance(need, str) and have < need
                              for have, need in zip(key_text, minimum_key, strict=True)], dtype=bool)
    # With only the major known, a version in the minimum's own major may be either side of it.
    ambiguous = (rules["rule"].eq("minimum").to_numpy() & is_prefix & below_minimum & np.array(
        [isinstance(have, str) and isinstance(need, str) and have[:len(low)] == need[:len(low)]
         for have, need, low in zip(key_text, minimum_key, lower, strict=True)], dtype=bool))
    # A prefix belongs to the line of the newest release under it (a bare 10.0.26100 to the
    # line of 10.0.26100.3775), found from its upper end.
    line = _line_of(pd.DataFrame({"product": rows["product"].to_numpy(dtype=object),
                                  "version": rows["version"].to_numpy(dtype=object),
                                  "key": np.where(is_prefix & key.notna().to_numpy(), upper,
                                                 key.to_numpy(dtype=object))}), releases)
    return pd.DataFrame({
        "key": key, "line": line, "at_most": at_most, "below_key": below_key, "shown": shown, "spans": spans,
        "top_rank": releases.groupby("product")["rank"].max().reindex(product).to_numpy(),
        "below_minimum": below_minimum, "ambiguous": ambiguous, "minimum_key": minimum_key})


def equivalent_version(parts: pd.DataFrame, catalog: pd.DataFrame, policy: Policy) -> pd.Series:
    """For each (product, version, evidence) row, a version of the same product that ``judge``
    answers exactly alike on every day (verdict, reason, target and its release date).

    Versions between the same two catalog releases, in the same line, are judged alike: a
    Chrome 90 build is as far behind as any other 90 build. A version keeps itself where
    an answer names it (a lower bound, a version the catalog cannot place or read, one
    newer than anything the catalog knows). With ``equivalent_day`` this lets a year of
    evidence from thousands of builds be judged as a few hundred parts.

    Examples:
        >>> from fleetanalysis import catalog as releases
        >>> from fleetanalysis.policy import load
        >>> catalog = releases.load_releases_csv(releases._EXAMPLE, name="ios.csv")
        >>> parts = pd.DataFrame({"product": "ios", "evidence": "exact",
        ...                       "version": ["17.0.3", "17.1", "17.2", "17.3.1", "17.4", "99.0"]})
        >>> equivalent_version(parts, catalog, load()).tolist()
        ['17.0.3', '17.0.3', '17.0.3', '17.3.1', '17.4', '99.0']
    """
    frame = pd.DataFrame({
        "product": parts["product"].astype("str"),
        "version": parts["version"].astype("str"),
        "evidence": parts["evidence"].astype("str").fillna("absent"),
    }).reset_index(drop=True)
    codes, distinct = distinct_rows(frame)
    facts = _version_facts(distinct, _releases(catalog, policy), policy)
    named = (distinct["evidence"].isin(["lower-bound", "lower-bound-in-line"]) | facts["line"].isna() | facts["key"].isna()
             | (facts["below_key"] > facts["top_rank"].fillna(np.inf))).to_numpy()
    alike = pd.DataFrame({
        "product": distinct["product"], "evidence": distinct["evidence"], "line": facts["line"],
        "at_most": facts["at_most"], "below_key": facts["below_key"], "spans": facts["spans"],
        "shown": facts["shown"], "below_minimum": facts["below_minimum"], "ambiguous": facts["ambiguous"],
        "own": distinct["version"].where(named)})
    # Each version stands for the first version judged alike with it.
    group = distinct_rows(alike)[0]
    chosen = distinct["version"].to_numpy(dtype=object)[firsts(group)[group]]
    return pd.Series(chosen[codes], index=parts.index, dtype="str", name="version")


def _releases(catalog: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """Catalog rows with version key, global key rank, the date each release falls due, and
    ``offered`` (False: the line runs on new devices only, never an update from another line)."""
    # Without the catalog's attrs (its coverage dates): pandas deep-copies them into every
    # column and result taken from the frame, a dozen times per call here.
    catalog = catalog.copy(deep=False)
    catalog.attrs = {}
    releases = pd.DataFrame({
        "product": catalog["product"].astype("str"),
        "version": catalog["version"].astype("str"),
        "line": catalog["line"].astype("str"),
        "released": catalog["released"].astype("datetime64[us]"),
        "eol": catalog["eol"].astype("datetime64[us]"),
        "exploited": catalog["exploited"].astype("boolean").fillna(False).astype(bool),
        # A catalog built without the column (an older caller's frame) offers every release.
        "offered": (catalog["offered"].astype("boolean").fillna(True).astype(bool) if "offered" in catalog.columns
                    else True),
        "key": version_key(catalog["version"]),
        "depth": version_depth(catalog["version"]),
    }).dropna(subset=["key", "released"])
    keys = np.sort(releases["key"].unique()).astype(object)
    releases["rank"] = np.searchsorted(keys, releases["key"].to_numpy(dtype=object))
    rules = policy.rules().reindex(releases["product"])
    normal = rules["grace_days"].fillna(0).astype(int).to_numpy()
    urgent = np.minimum(rules["exploited_grace_days"].fillna(0).astype(int).to_numpy(), normal)
    releases["grace"] = np.where(releases["exploited"], urgent, normal)
    releases["due"] = releases["released"] + pd.to_timedelta(releases["grace"], unit="D")
    return releases.sort_values(["product", "rank"]).reset_index(drop=True)


def _line_of(rows: pd.DataFrame, releases: pd.DataFrame) -> pd.Series:
    """The catalog line of each row's version: the longest line that is a dotted prefix of it
    (``17`` for ``17.3.1``), else the line of the nearest release at or below it."""
    numeric = rows["version"].str.extract(r"^\s*(\d+(?:\.\d+)*)", expand=False)
    lines = releases[["product", "line"]].dropna().drop_duplicates()
    known = set(zip(lines["product"].tolist(), lines["line"].tolist()))
    deepest = max((line.count(".") + 1 for line in lines["line"].tolist()), default=0)

    def longest(product, text) -> str | None:
        """The deepest dotted prefix of ``text`` that is one of the product's lines."""
        if not isinstance(text, str):
            return None
        parts = text.split(".")
        for depth in range(min(len(parts), deepest), 0, -1):
            prefix = ".".join(parts[:depth])
            if (product, prefix) in known:
                return prefix
        return None

    # One pass in Python over the distinct versions: a product has a few dozen lines, and
    # a set answers each prefix at once.
    line = pd.Series([longest(product, text) for product, text in zip(rows["product"].tolist(), numeric.tolist())],
                     index=rows.index, dtype="str")

    ordered = releases.sort_values(["product", "key"])
    combined = (ordered["product"] + "\x00" + ordered["key"]).to_numpy(dtype=object)
    wanted = (rows["product"].fillna("") + "\x00" + rows["key"].fillna("")).to_numpy(dtype=object)
    position = np.searchsorted(combined, wanted, side="right") - 1
    found = position >= 0
    floor_product = np.where(found, ordered["product"].to_numpy(dtype=object)[position.clip(0)], None)
    floor_line = np.where(found, ordered["line"].to_numpy(dtype=object)[position.clip(0)], None)
    usable = found & (floor_product == rows["product"].to_numpy(dtype=object)) & rows["key"].notna().to_numpy()
    floor = pd.Series(np.where(usable, floor_line, None), index=rows.index, dtype="str")
    return line.fillna(floor)


def _newest(releases: pd.DataFrame, rows: pd.DataFrame, scope: list[str]) -> dict[str, np.ndarray]:
    """Per row, the rank of the newest release in its scope released on or before ``as_of``
    (``released_rank``) and of the newest already past its grace (``due_rank``); NaN if none.

    One sorted table of (scope, day) keys per kind and a binary search per row: scopes are
    coded jointly for releases and rows, days by their place among the days present.

    Examples:
        >>> releases = pd.DataFrame({"product": ["ios", "ios"], "rank": [3, 5],
        ...     "released": pd.to_datetime(["2024-03-05", "2024-05-13"]),
        ...     "due": pd.to_datetime(["2024-03-12", "2024-05-20"])})
        >>> rows = pd.DataFrame({"product": ["ios", "ios", "mac"],
        ...                      "as_of": pd.to_datetime(["2024-03-12", "2024-06-01", "2024-06-01"])})
        >>> {name: ranks.tolist() for name, ranks in _newest(releases, rows, ["product"]).items()}
        {'released_rank': [3.0, 5.0, nan], 'due_rank': [nan, 5.0, nan]}
    """
    codes = combine([pd.factorize(pd.concat([releases[column], rows[column]], ignore_index=True))[0]
                     for column in scope], sort=False)
    placed = ~pd.concat([releases[scope], rows[scope]], ignore_index=True).isna().any(axis=1).to_numpy()
    codes = np.where(placed, codes, -1)
    release_scope, row_scope = codes[:len(releases)], codes[len(releases):]
    as_of = rows["as_of"].to_numpy("datetime64[us]")
    asked = np.flatnonzero((row_scope >= 0) & ~np.isnat(as_of))
    rank = releases["rank"].to_numpy("int64")
    out = {}
    for name, column, exact in (("released_rank", "released", True), ("due_rank", "due", False)):
        days = releases[column].to_numpy("datetime64[us]")
        listed = np.flatnonzero((release_scope >= 0) & ~np.isnat(days))
        moments = np.unique(np.concatenate([days[listed], as_of[asked]]))
        width = len(moments) + 1
        key = release_scope[listed] * width + np.searchsorted(moments, days[listed])
        order = np.lexsort((rank[listed], key))
        key, ranks, scopes = key[order], rank[listed][order], release_scope[listed][order]
        # The best rank so far within each scope: scopes are shifted apart so one running
        # maximum does it (ranks are below ``shift``).
        shift = int(ranks.max(initial=0)) + 1
        best = np.maximum.accumulate(ranks + scopes * shift) - scopes * shift
        wanted = row_scope[asked] * width + np.searchsorted(moments, as_of[asked])
        # On or before the day for a release, strictly before it for a release falling due.
        at = np.searchsorted(key, wanted, side="right" if exact else "left") - 1
        hit = (at >= 0) & (scopes[at.clip(0)] == row_scope[asked]) if len(key) else np.zeros(len(asked), bool)
        result = np.full(len(rows), np.nan)
        result[asked[hit]] = best[at[hit]]
        out[name] = result
    return out
