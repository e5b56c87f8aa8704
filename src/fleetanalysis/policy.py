"""The patch policy and the verdicts it gives: is this version current, in grace, outdated or unsupported?

Every verdict is dated: a version is judged against the releases the catalog lists on or
before the date of the evidence (``as_of``), so iOS 17.3.1 is current in February 2024
and outdated by April. A release becomes due ``grace_days`` after it came out: on day
``grace_days`` a device without it is still ``grace``, from the day after it is
``outdated`` (``as_of - released > grace_days``). A line is out of support from its
``eol`` date on (on the ``eol`` day itself the device is ``unsupported``).

When the evidence cannot carry a verdict the answer is ``unknown`` with a reason: a
frozen or absent version, a product the catalog lacks, a version newer than anything the
catalog knows, or evidence dated after the catalog's ``complete-until`` for the product.

Examples:
    >>> from fleetanalysis import catalog as releases
    >>> catalog = releases.load_releases_csv(releases._EXAMPLE, name="ios.csv")
    >>> parts = pd.DataFrame({"product": ["ios", "ios", "ios"], "version": ["17.3.1", "17.3.1", "17.4"],
    ...                       "evidence": ["exact", "exact", "exact"],
    ...                       "as_of": pd.to_datetime(["2024-02-20", "2024-04-10", "2024-04-10"])})
    >>> judge(parts, catalog, load())[["verdict", "target"]].values.tolist()
    [['current', nan], ['outdated', '17.4'], ['current', nan]]
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fleetanalysis import validation
from fleetanalysis.catalog import coverage, shorten_key, version_depth, version_key
from fleetanalysis.config import PACKAGE_DATA
from fleetanalysis.errors import BadInput
from fleetanalysis.validation import RULES

POLICY_FILE = PACKAGE_DATA / "policy.toml"
EVIDENCE = ("exact", "frozen", "lower-bound", "absent", "major")
# Ascending severity: worst() keeps the highest; unknown only wins when nothing was judged.
VERDICTS = ("unknown", "current", "grace", "outdated", "unsupported")
VERDICT_DTYPE = pd.CategoricalDtype(VERDICTS, ordered=True)
_MAX_DEPTH = 6
# Rolling products: the vendor supports only the newest release and offers it to every
# device, so a line "ends" the day the next major ships. An older major is then simply
# behind (grace, then outdated, as any release falls due), never "unsupported": that word
# is kept for lines a vendor ended with nothing to update to within them (an OS line, an
# ESR, legacy EdgeHTML Edge, Internet Explorer), whose end the catalog's ``eol`` records.
ROLLING = ("chrome", "edge", "firefox", "slack-desktop", "slack-ios", "slack-android")
# Versions whose user agent cannot show the parts after the major: Firefox says
# ``Firefox/124.0`` on every 124.0.x, reduced Chromium says ``124.0.0.0`` on every build.
# Such a version (zeros after the major) stands for every release of its major.
_ZEROS_AFTER_MAJOR = ("chrome", "edge", "firefox", "firefox-esr")
# A Windows build as apps state it without its revision (``10.0.26100``) stands for every
# monthly update of that build.
_BUILD_WITHOUT_REVISION = ("windows",)


@dataclass(frozen=True)
class ProductPolicy:
    """How one product is judged: the rule, the grace windows, and the minimum for ``minimum``."""

    rule: str
    grace_days: int = 14
    exploited_grace_days: int = 7
    minimum: str | None = None


@dataclass(frozen=True)
class Policy:
    """The policy for every product, and the file(s) it was read from."""

    products: dict[str, ProductPolicy]
    source: str = str(POLICY_FILE)

    def rules(self) -> pd.DataFrame:
        """One row per product: ``rule, grace_days, exploited_grace_days, minimum``, indexed by product.

        Examples:
            >>> load().rules().loc["android", "rule"]
            'supported'
        """
        return pd.DataFrame(
            [{"product": name, "rule": item.rule, "grace_days": item.grace_days,
              "exploited_grace_days": item.exploited_grace_days, "minimum": item.minimum}
             for name, item in self.products.items()],
            columns=["product", "rule", "grace_days", "exploited_grace_days", "minimum"],
        ).astype({"product": "str", "rule": "str", "minimum": "str"}).set_index("product")


def load(path: str | os.PathLike | None = None) -> Policy:
    """The shipped policy, with the user's TOML file at ``path`` read over it.

    The user's file needs only the keys it changes. Each file is validated
    (``validation.PolicyFile``): unknown products, rules or keys, and negative, huge or
    non-integer days, raise ``BadInput`` naming the file and the key.

    Examples:
        >>> load().products["ios"]
        ProductPolicy(rule='latest-in-line', grace_days=14, exploited_grace_days=7, minimum=None)
        >>> import pathlib, tempfile
        >>> mine = pathlib.Path(tempfile.mkdtemp()) / "policy.toml"
        >>> _ = mine.write_text('[defaults]\\ngrace_days = 30\\n[products.chrome]\\nrule = "minimum"\\nminimum = "124"\\n')
        >>> load(mine).products["chrome"]
        ProductPolicy(rule='minimum', grace_days=30, exploited_grace_days=7, minimum='124')
        >>> _ = mine.write_text('[products.ios]\\ngrace_days = -1\\n')
        >>> load(mine)
        Traceback (most recent call last):
        ...
        fleetanalysis.errors.BadInput: ...policy.toml: products.ios.grace_days: must be a whole number of days >= 0, not -1
    """
    shipped = validation.read_policy(POLICY_FILE)
    sources = [str(POLICY_FILE)]
    if path is not None:
        mine = validation.read_policy(path)
        sources.append(str(path))
        shipped["defaults"] = {**shipped.get("defaults", {}), **mine.get("defaults", {})}
        products = dict(shipped.get("products", {}))
        for name, table in mine.get("products", {}).items():
            products[name] = {**products.get(name, {}), **table}
        shipped["products"] = products
    defaults = {"grace_days": 14, "exploited_grace_days": 7, **shipped.get("defaults", {})}
    products = {}
    for name, table in shipped.get("products", {}).items():
        settings = {**defaults, **table}
        if "rule" not in settings:
            raise BadInput(sources[-1], f"products.{name}", "no rule")
        if settings["rule"] == "minimum" and not settings.get("minimum"):
            raise BadInput(sources[-1], f"products.{name}", 'rule "minimum" needs minimum = "<version>"')
        products[name] = ProductPolicy(**settings)
    return Policy(products=products, source=" + ".join(sources))


def _day(values: pd.Series) -> pd.Series:
    """Evidence dates as naive calendar days (UTC), so a release date compares as a date."""
    stamps = pd.to_datetime(values)
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return stamps.dt.normalize().astype("datetime64[us]")


def judge(parts: pd.DataFrame, catalog: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """Judge each row's version against the releases available on its ``as_of`` date.

    ``parts`` has ``product``, ``version``, ``evidence`` (exact, frozen, lower-bound, absent,
    major) and ``as_of``. Returns, with the same index, ``verdict`` (current, grace,
    outdated, unsupported, unknown; ordered categorical), ``reason`` (why, or NA when
    current), ``target`` (the version to install, NA when current or unknown) and
    ``released_target`` (its release date). Each distinct row is judged once.

    Examples:
        >>> from fleetanalysis import catalog as releases
        >>> catalog = releases.load_releases_csv(releases._EXAMPLE, name="ios.csv")
        >>> parts = pd.DataFrame({"product": ["ios", "ios", "chrome"], "version": ["17.3.1", "17.0", "124"],
        ...                       "evidence": ["exact", "frozen", "major"],
        ...                       "as_of": pd.to_datetime(["2024-03-10", "2024-03-10", "2024-03-10"])})
        >>> judge(parts, catalog, load())[["verdict", "reason"]].values.tolist()  # doctest: +NORMALIZE_WHITESPACE
        [['grace', 'ios 17.4 released 2024-03-05, within the 7-day grace'],
         ['unknown', 'version frozen in the user agent'],
         ['unknown', 'chrome is not in the catalog']]
    """
    frame = pd.DataFrame({
        "product": parts["product"].astype("str"),
        "version": parts["version"].astype("str"),
        "evidence": parts["evidence"].astype("str"),
        "as_of": _day(parts["as_of"]),
    })
    if frame.empty:
        return _result(pd.DataFrame(index=parts.index, columns=["verdict", "reason", "target", "released_target"]))
    # Days between two catalog events get the same answer: judge each epoch once.
    frame["as_of"] = equivalent_day(frame["product"], frame["as_of"], catalog, policy)
    frame["version"] = equivalent_version(frame, catalog, policy)
    codes = frame.groupby(list(frame.columns), dropna=False, sort=False).ngroup().to_numpy()
    distinct = frame.drop_duplicates(ignore_index=True)
    judged = _judge_distinct(distinct, catalog, policy)
    return _result(judged.iloc[codes].set_axis(parts.index))


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
        >>> catalog = releases.load_releases_csv(releases._EXAMPLE, name="ios.csv")
        >>> days = pd.to_datetime(["2024-03-04", "2024-03-05", "2024-03-12", "2024-03-13", "2024-04-30",
        ...                        "2024-05-01", "2019-01-01"])
        >>> [str(day)[:10] for day in equivalent_day(pd.Series(["ios"] * 7), pd.Series(days), catalog, load())]
        ['2024-02-23', '2024-03-05', '2024-03-05', '2024-03-13', '2024-03-13', '2024-05-01', '1970-01-01']
        >>> [str(day)[:10] for day in equivalent_day(pd.Series(["opera"]), pd.Series(days[:1]), catalog, load())]
        ['1970-01-01']
    """
    days = _day(pd.Series(np.asarray(days))).to_numpy("datetime64[us]")
    products = pd.Series(np.asarray(products, dtype=object), dtype="str")
    releases = _releases(catalog, policy)
    one_day = pd.Timedelta(days=1)
    covered = coverage(catalog)
    events = pd.concat([
        pd.DataFrame({"product": releases["product"], "day": releases["released"]}),
        pd.DataFrame({"product": releases["product"], "day": releases["due"] + one_day}),
        pd.DataFrame({"product": releases["product"], "day": releases["eol"]}),
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


def _result(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "verdict": frame["verdict"].astype(VERDICT_DTYPE),
        "reason": frame["reason"].astype("str"),
        "target": frame["target"].astype("str"),
        "released_target": frame["released_target"].astype("datetime64[us]"),
    }, index=frame.index)


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
    versions_only = rows[["product", "version"]]
    first = versions_only.groupby(list(versions_only.columns), dropna=False, sort=False).ngroup().to_numpy()
    distinct_versions = versions_only.drop_duplicates(ignore_index=True)
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
    codes = frame.groupby(list(frame.columns), dropna=False, sort=False).ngroup().to_numpy()
    distinct = frame.drop_duplicates(ignore_index=True)
    facts = _version_facts(distinct, _releases(catalog, policy), policy)
    named = (distinct["evidence"].eq("lower-bound") | facts["line"].isna() | facts["key"].isna()
             | (facts["below_key"] > facts["top_rank"].fillna(np.inf))).to_numpy()
    alike = pd.DataFrame({
        "product": distinct["product"], "evidence": distinct["evidence"], "line": facts["line"],
        "at_most": facts["at_most"], "below_key": facts["below_key"], "spans": facts["spans"],
        "shown": facts["shown"], "below_minimum": facts["below_minimum"], "ambiguous": facts["ambiguous"],
        "own": distinct["version"].where(named)})
    group = alike.groupby(list(alike.columns), dropna=False, sort=False).ngroup().to_numpy()
    first = pd.Series(np.arange(len(group))).groupby(group).transform("min").to_numpy()
    chosen = distinct["version"].to_numpy(dtype=object)[first]
    return pd.Series(chosen[codes], index=parts.index, dtype="str", name="version")


def _judge_distinct(rows: pd.DataFrame, catalog: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """Verdicts for distinct (product, version, evidence, as_of) rows; index 0..n-1."""
    count = len(rows)
    product = rows["product"].to_numpy(dtype=object)
    as_of = rows["as_of"]
    evidence = rows["evidence"].fillna("absent")
    rules = policy.rules().reindex(rows["product"])
    rule = rules["rule"].fillna("").to_numpy(dtype=object)
    releases = _releases(catalog, policy)
    per_version = rows[["product", "version", "evidence"]]
    first = per_version.groupby(list(per_version.columns), dropna=False, sort=False).ngroup().to_numpy()
    facts = _version_facts(per_version.drop_duplicates(ignore_index=True), releases, policy).iloc[first]
    key = facts["key"].reset_index(drop=True)
    line = facts["line"].reset_index(drop=True)
    at_most, below_key = facts["at_most"].to_numpy(), facts["below_key"].to_numpy()
    top_rank = facts["top_rank"].to_numpy()
    below_minimum, ambiguous = facts["below_minimum"].to_numpy(), facts["ambiguous"].to_numpy()
    minimum_key = facts["minimum_key"].to_numpy(dtype=object)
    spans, shown = facts["spans"].to_numpy(dtype=bool), facts["shown"].to_numpy()

    scope_product = _newest(releases, rows.assign(line=line), ["product"])
    scope_line = _newest(releases, rows.assign(line=line), ["product", "line"])
    in_line = rule == "latest-in-line"
    rel_rank = np.where(in_line, scope_line["released_rank"], scope_product["released_rank"])
    due_rank = np.where(in_line, scope_line["due_rank"], scope_product["due_rank"])
    newest_rank = scope_product["released_rank"]

    by_rank = releases.drop_duplicates(["product", "rank"]).set_index(["product", "rank"])
    eols = releases.drop_duplicates(["product", "line"]).set_index(["product", "line"])["eol"]
    line_eol = eols.reindex(pd.MultiIndex.from_arrays([product, line.fillna("")])).to_numpy()
    eol_passed = pd.notna(line_eol) & (line_eol <= as_of.to_numpy()) & ~np.isin(product, ROLLING)

    def lookup(ranks, column):
        index = pd.MultiIndex.from_arrays([product, pd.array(ranks, dtype="Int64").fillna(-1).astype(int)])
        return by_rank[column].reindex(index).to_numpy()

    has_rel = ~np.isnan(rel_rank)
    ge_rel = ~has_rel | (at_most >= np.nan_to_num(rel_rank, nan=-1))
    ge_due = np.isnan(due_rank) | (at_most >= np.nan_to_num(due_rank, nan=-1))
    verdict = np.where(ge_rel, "current", np.where(ge_due, "grace", "outdated")).astype(object)
    verdict[rule == "supported"] = "current"

    minimum = rules["minimum"].to_numpy(dtype=object)
    is_minimum = rule == "minimum"
    verdict[is_minimum] = np.where(below_minimum[is_minimum], "outdated", "current")

    unsupported = eol_passed & ((rule != "latest") | (verdict == "outdated"))
    verdict[unsupported] = "unsupported"

    target = np.full(count, None, dtype=object)
    target_rank = np.where(verdict == "unsupported", newest_rank, rel_rank)
    released_target = np.full(count, np.datetime64("NaT"), dtype="datetime64[us]")
    # A product its vendor ended (legacy Edge) has nothing to update to: no target.
    target_eol = eols.reindex(pd.MultiIndex.from_arrays([product, pd.Series(lookup(target_rank, "line")).fillna("")]))
    ended = pd.notna(target_eol.to_numpy()) & (target_eol.to_numpy() <= as_of.to_numpy()) & ~np.isin(product, ROLLING)
    judged = (verdict != "current") & ~((verdict == "unsupported") & ended)
    target[judged] = lookup(target_rank, "version")[judged]
    released_target[judged] = lookup(target_rank, "released")[judged]

    versions = rows["version"].to_numpy(dtype=object)
    name = _text(product)
    reason = np.full(count, None, dtype=object)
    reasons = {
        "grace": name + " " + _text(lookup(rel_rank, "version")) + " released " + _day_text(lookup(rel_rank, "released"))
        + ", within the " + _text(lookup(rel_rank, "grace")) + "-day grace",
        "outdated": name + " " + _text(lookup(due_rank, "version")) + " released " + _day_text(lookup(due_rank, "released"))
        + ", due after " + _text(lookup(due_rank, "grace")) + " days",
        "unsupported": name + " " + _text(line) + " out of support since " + _day_text(line_eol),
    }
    for outcome, text in reasons.items():
        chosen = verdict == outcome
        reason[chosen] = text.to_numpy(dtype=object)[chosen]
    below = is_minimum & (verdict == "outdated")
    reason[below] = ("below the minimum " + name + " " + _text(minimum)).to_numpy(dtype=object)[below]
    target[below] = minimum[below]
    minimum_released = releases.groupby(["product", "key"])["released"].min()
    released_target[below] = minimum_released.reindex(pd.MultiIndex.from_arrays([product, minimum_key]))[below]

    def unknown(mask, text):
        mask = np.asarray(mask, dtype=bool)
        verdict[mask] = "unknown"
        reason[mask] = text.to_numpy(dtype=object)[mask] if isinstance(text, pd.Series) else text
        target[mask] = None
        released_target[mask] = np.datetime64("NaT")

    # Later checks win: they are listed from the least to the most fundamental.
    covered_until = coverage(catalog).reindex(product).to_numpy()
    unknown(ambiguous, "only the major version is known; the minimum is " + _text(minimum))
    lower_bound = evidence.eq("lower-bound").to_numpy() & np.isin(verdict, ["outdated", "unsupported"])
    unknown(lower_bound, "only a lower bound is known (at least " + name + " " + _text(versions) + ")")
    # Within a line, a version that shows only its major (or a build without its revision)
    # could be any release of it: the line's end can still be told, its patch level cannot.
    imprecise = in_line & spans & ~eol_passed
    unknown(imprecise & (shown == 1), "only the major version is known")
    unknown(imprecise & (shown > 1), "only " + name + " " + _text(versions) + " is known, not the update it runs")
    by_line = in_line | (rule == "supported")
    unknown(by_line & line.isna().to_numpy(), "the catalog does not place " + name + " " + _text(versions) + " in a line")
    # A line its vendor ended takes no new releases that could help: a build newer than the
    # catalog lists on such a line is still out of support.
    ahead = (~is_minimum & ~np.isnan(newest_rank) & (below_key > np.nan_to_num(newest_rank, nan=-1))
             & (verdict != "unsupported"))
    verdict[ahead], target[ahead], released_target[ahead] = "current", None, np.datetime64("NaT")
    # Reasons name catalog facts, never the evidence date itself: answers are shared by an epoch.
    reason[ahead] = ("newer than " + name + " " + _text(lookup(newest_rank, "version"))
                     + " (" + _day_text(lookup(newest_rank, "released")) + "), the newest " + name
                     + " release the catalog lists by then").to_numpy(dtype=object)[ahead]
    first_release = releases.groupby("product")["released"].min().reindex(product).to_numpy()
    unknown(~is_minimum & np.isnan(newest_rank),
            "the catalog lists no " + name + " release before " + _day_text(first_release))
    unknown(~is_minimum & ~np.isnan(top_rank) & (below_key > np.nan_to_num(top_rank, nan=-1))
            & (verdict != "unsupported"), name + " " + _text(versions) + " is newer than anything the catalog knows")
    # Past the date through which the catalog is complete a release may be missing. A missing
    # release can only hide that a device is behind, never make it behind: verdicts that rest
    # on a release the catalog does list (outdated, unsupported) stand, the rest are unknown.
    past_coverage = pd.notna(covered_until) & (as_of.to_numpy() > covered_until)
    unknown(past_coverage & ~np.isin(verdict, ["outdated", "unsupported"]),
            "catalog covers " + name + " only until " + _day_text(covered_until))
    unknown(key.isna().to_numpy(), "cannot read a version in '" + _text(versions) + "'")
    unknown(~is_minimum & np.isnan(top_rank), name + " is not in the catalog")
    unknown(rule == "", "no policy for " + name)
    unknown(rows["product"].isna().to_numpy(), "no product to judge against")
    unknown(as_of.isna().to_numpy(), "no date for the evidence")
    unknown(rows["version"].isna().to_numpy() | evidence.eq("absent").to_numpy(), "no version in the evidence")
    unknown(evidence.eq("frozen").to_numpy(), "version frozen in the user agent")
    return pd.DataFrame({"verdict": verdict, "reason": reason, "target": target, "released_target": released_target})


def _text(values) -> pd.Series:
    """Values as text for building reasons, whole numbers without a decimal point."""
    series = pd.Series(values)
    if pd.api.types.is_float_dtype(series):
        series = series.astype("Int64")
    return series.astype("str").fillna("?").reset_index(drop=True)


def _day_text(values) -> pd.Series:
    return pd.Series(pd.to_datetime(pd.Series(values))).dt.strftime("%Y-%m-%d").fillna("?").reset_index(drop=True)


def _releases(catalog: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """Catalog rows with version key, global key rank, and the date each release falls due."""
    releases = pd.DataFrame({
        "product": catalog["product"].astype("str"),
        "version": catalog["version"].astype("str"),
        "line": catalog["line"].astype("str"),
        "released": catalog["released"].astype("datetime64[us]"),
        "eol": catalog["eol"].astype("datetime64[us]"),
        "exploited": catalog["exploited"].astype("boolean").fillna(False).astype(bool),
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
    pieces = numeric.str.split(".")
    prefixes = pd.DataFrame({"row": rows.index, "product": rows["product"], "pieces": pieces}).dropna()
    prefixes = prefixes.explode("pieces").assign(depth=lambda f: f.groupby("row").cumcount() + 1)
    prefixes["line"] = [".".join(parts[:depth]) for parts, depth in zip(
        pieces.reindex(prefixes["row"]).tolist(), prefixes["depth"].tolist(), strict=True)]
    lines = releases[["product", "line"]].drop_duplicates()
    matched = prefixes.merge(lines, on=["product", "line"]).sort_values("depth").drop_duplicates("row", keep="last")
    line = pd.Series(matched["line"].to_numpy(), index=matched["row"].to_numpy(), dtype="str").reindex(rows.index)

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
    (``released_rank``) and of the newest already past its grace (``due_rank``); NaN if none."""
    out = {}
    queries = rows[scope + ["as_of"]].assign(row=np.arange(len(rows)))
    queries = queries.dropna(subset=scope + ["as_of"])
    for name, column, exact in (("released_rank", "released", True), ("due_rank", "due", False)):
        events = releases.sort_values(scope + [column, "rank"]).copy()
        events["best"] = events.groupby(scope)["rank"].cummax()
        # Among releases on the same day the last row must carry the highest rank so far.
        events = events.sort_values([column, "best"])[scope + [column, "best"]]
        found = pd.merge_asof(queries.sort_values("as_of"), events, left_on="as_of", right_on=column,
                              by=scope, direction="backward", allow_exact_matches=exact)
        result = np.full(len(rows), np.nan)
        result[found["row"].to_numpy()] = found["best"].astype(float).to_numpy()
        out[name] = result
    return out


def worst(verdicts: pd.DataFrame) -> pd.Series:
    """Per row, the worst verdict across the columns: unsupported > outdated > grace > current.

    ``unknown`` (or NA) only wins when no column was judged.

    Examples:
        >>> frame = pd.DataFrame({"os_verdict": ["current", "unknown", None, "grace"],
        ...                       "client_verdict": ["outdated", "current", None, "unsupported"]})
        >>> worst(frame).tolist()
        ['outdated', 'current', 'unknown', 'unsupported']
    """
    if verdicts.shape[1] == 0:
        codes = np.zeros(len(verdicts), dtype=np.int8)
    else:
        stacked = np.column_stack([
            pd.Categorical(verdicts[column].astype("str"), categories=VERDICTS).codes
            for column in verdicts.columns
        ])
        codes = np.maximum(stacked, 0).max(axis=1)
    return pd.Series(pd.Categorical.from_codes(codes, dtype=VERDICT_DTYPE), index=verdicts.index, name="verdict")


def stale_versions(parts: pd.DataFrame, catalog: pd.DataFrame) -> pd.DataFrame:
    """The (product, version) pairs newer than anything the catalog knows: a sign the catalog is stale.

    ``parts`` has ``product``, ``version`` and ``evidence`` as for ``judge``. Frozen and
    absent versions are skipped; a version that shows only a prefix (``shown_depth``)
    counts when its prefix is newer. A product whose every line has ended (legacy Edge)
    gets no new releases, so a version the catalog lacks there is no sign of staleness.
    Returns ``product, version, newest_known, rows`` (rows: how many input rows), sorted.

    Examples:
        >>> from fleetanalysis import catalog as releases
        >>> catalog = releases.load_releases_csv(releases._EXAMPLE, name="ios.csv")
        >>> parts = pd.DataFrame({"product": ["ios", "ios", "ios", "ios"], "version": ["17.5", "17.5", "17.4", "26.0"],
        ...                       "evidence": ["exact", "exact", "exact", "frozen"]})
        >>> stale_versions(parts, catalog).values.tolist()
        [['ios', '17.5', '17.4', 2]]
    """
    frame = pd.DataFrame({
        "product": parts["product"].astype("str"),
        "version": parts["version"].astype("str"),
        "evidence": parts["evidence"].astype("str").fillna("absent"),
    })
    frame = frame[~frame["evidence"].isin(["frozen", "absent"])].dropna(subset=["product", "version"])
    lines_end = catalog["eol"].notna().groupby(catalog["product"].astype("str")).all()
    frame = frame[~frame["product"].isin(lines_end.index[lines_end])]
    counted = frame.value_counts(dropna=False).rename("rows").reset_index()
    counted["key"] = version_key(counted["version"])
    known = catalog[["product", "version"]].astype("str").assign(key=version_key(catalog["version"])).dropna()
    newest = known.sort_values("key").drop_duplicates("product", keep="last").set_index("product")
    top_key = newest["key"].reindex(counted["product"]).to_numpy(dtype=object)
    shown = shown_depth(counted)
    depth = version_depth(known["version"]).groupby(known["product"]).max().reindex(counted["product"]).fillna(_MAX_DEPTH)
    listed = shorten_key(counted["key"], depth.astype(int).to_numpy())
    # A version that shows only a prefix is newer only when its prefix is.
    mine = np.where(shown > 0, _prefix(counted["key"], shown), listed.to_numpy(dtype=object))
    top_key = pd.Series(top_key, dtype="str")
    theirs = np.where(shown > 0, _prefix(top_key, shown), top_key.to_numpy(dtype=object))
    newer = np.array([isinstance(a, str) and isinstance(b, str) and a > b for a, b in zip(mine, theirs, strict=True)], dtype=bool)
    stale = counted[newer].assign(newest_known=newest["version"].reindex(counted["product"][newer]).to_numpy())
    stale = stale.groupby(["product", "version", "newest_known"], as_index=False)["rows"].sum()
    return stale[["product", "version", "newest_known", "rows"]].sort_values(["product", "version"], ignore_index=True)
