"""The verdicts: ``judge`` applies the rules to dated versions, then the override table.

A verdict is worked out in two steps. First the rule: current, grace, outdated or
unsupported against the releases listed by the evidence date. Then ``OVERRIDES``, in order:
each row replaces the verdict where the evidence cannot carry it (or where a version is
newer than the catalog lists), and a later row wins over an earlier one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from string import Formatter

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.compute

from fleetanalysis.catalog import coverage, shorten_key, version_depth, version_key
from fleetanalysis.codes import combine, distinct_rows, firsts
from fleetanalysis.days import utc_day
from fleetanalysis.policy.placing import (
    _MAX_DEPTH,
    ALTERNATIVE_LINES,
    EDITION_LINES,
    _newest,
    _prefix,
    _releases,
    _version_facts,
    equivalent_day,
    equivalent_version,
    shown_depth,
)
from fleetanalysis.policy.rules import Policy

EVIDENCE = ("exact", "frozen", "lower-bound", "lower-bound-in-line", "absent", "major")
# Ascending severity: worst() keeps the highest; unknown only wins when nothing was judged.
VERDICTS = ("unknown", "current", "grace", "outdated", "unsupported")
VERDICT_DTYPE = pd.CategoricalDtype(VERDICTS, ordered=True)
# Rolling products: the vendor supports only the newest release and offers it to every
# device, so a line "ends" the day the next major ships. An older major is then simply
# behind (grace, then outdated, as any release falls due), never "unsupported": that word
# is kept for lines a vendor ended with nothing to update to within them (an OS line, an
# ESR, legacy EdgeHTML Edge, Internet Explorer), whose end the catalog's ``eol`` records.
ROLLING = ("chrome", "edge", "firefox", "safari", "slack-desktop", "slack-ios", "slack-android")


@dataclass(frozen=True)
class Override:
    """One row of the override table: where condition ``when`` holds and the verdict so far
    is one of ``replaces``, the verdict becomes ``verdict`` with ``reason`` and no target.

    ``reason`` names the row's facts in braces: ``product``, ``version``, ``minimum``,
    ``newest`` and ``newest_released`` (the newest release listed by then),
    ``first_release``, ``covered_until``.
    """

    when: str
    verdict: str
    reason: str
    replaces: tuple[str, ...] = VERDICTS


# Later rows win: they run from the least to the most fundamental. Reasons name catalog
# facts, never the evidence date itself: an answer is shared by every day of an epoch.
OVERRIDES = (
    Override("ambiguous", "unknown", "only the major version is known; the minimum is {minimum}"),
    # Firefox 128 behind the newest Firefox may be Firefox ESR 128, kept up to date within its line.
    Override("alternative_line", "unknown",
             "{product} {major} may be {alternative} {major}, a line supported then: the user agent cannot tell them apart",
             replaces=("grace", "outdated")),
    # A Windows line past its Home and Pro end may be an Enterprise or Education PC, still serviced.
    Override("edition_line", "unknown",
             "{product} {line} ended for Home and Pro on {line_end}; Enterprise and Education were still "
             "updated then: the evidence does not show the edition", replaces=("unsupported",)),
    # "At least macOS 14" may be any later macOS: neither behind nor out of support can be told.
    Override("lower_bound", "unknown", "only a lower bound is known (at least {product} {version})",
             replaces=("outdated", "unsupported")),
    # "macOS 12.5 or a later 12.x" (a Darwin kernel) may be behind or not, but a line its
    # vendor ended is out of support whichever release of it the device runs.
    Override("lower_bound_in_line", "unknown",
             "only a lower bound is known (at least {product} {version}, or a later {product} {line} release)",
             replaces=("outdated",)),
    Override("major_in_line", "unknown", "only the major version is known"),
    Override("build_in_line", "unknown", "only {product} {version} is known, not the update it runs"),
    Override("unplaced", "unknown", "the catalog does not place {product} {version} in a line"),
    # A line its vendor ended takes no new releases that could help: a build newer than
    # the catalog lists on such a line is still out of support.
    Override("newer_than_listed_by_then", "current",
             "newer than {product} {newest} ({newest_released}), the newest {product} release the catalog lists by then",
             replaces=("unknown", "current", "grace", "outdated")),
    Override("before_first_release", "unknown", "the catalog lists no {product} release before {first_release}"),
    Override("newer_than_catalog", "unknown", "{product} {version} is newer than anything the catalog knows",
             replaces=("unknown", "current", "grace", "outdated")),
    # Past the date through which the catalog is complete a release may be missing. A
    # missing release can only hide that a device is behind, never make it behind: verdicts
    # that rest on a release the catalog does list (outdated, unsupported) stand.
    Override("past_coverage", "unknown", "catalog covers {product} only until {covered_until}",
             replaces=("unknown", "current", "grace")),
    Override("unreadable", "unknown", "cannot read a version in '{version}'"),
    Override("not_in_catalog", "unknown", "{product} is not in the catalog"),
    Override("no_policy", "unknown", "no policy for {product}"),
    Override("no_product", "unknown", "no product to judge against"),
    Override("no_date", "unknown", "no date for the evidence"),
    Override("no_version", "unknown", "no version in the evidence"),
    Override("frozen", "unknown", "version frozen in the user agent"),
)


def judge(parts: pd.DataFrame, catalog: pd.DataFrame, policy: Policy, folded: bool = False) -> pd.DataFrame:
    """Judge each row's version against the releases available on its ``as_of`` date.

    ``parts`` has ``product``, ``version``, ``evidence`` (exact, frozen, lower-bound,
    lower-bound-in-line, absent, major) and ``as_of``. Returns, with the same index, ``verdict`` (current, grace,
    outdated, unsupported, unknown; ordered categorical), ``reason`` (why, or NA when
    current), ``target`` (the version to install, NA when current or unknown; never a
    release of a line the catalog marks not ``offered``, unless it is the device's own line)
    and ``released_target`` (its release date). Each distinct row is judged once.
    ``folded`` says the caller already gave each part as ``equivalent_day`` and
    ``equivalent_version`` fold it (both map their own answers to themselves), so
    folding again is skipped: the answers are the same.

    Examples:
        >>> from fleetanalysis import catalog as releases
        >>> from fleetanalysis.policy import load
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
        "as_of": utc_day(parts["as_of"]),
    })
    if frame.empty:
        return _result(pd.DataFrame(index=parts.index, columns=["verdict", "reason", "target", "released_target"]))
    if not folded:
        # Days between two catalog events get the same answer: judge each epoch once.
        frame["as_of"] = equivalent_day(frame["product"], frame["as_of"], catalog, policy)
        frame["version"] = equivalent_version(frame, catalog, policy)
    codes, distinct = distinct_rows(frame)
    judged = _judge_distinct(distinct, catalog, policy)
    return _result(judged.iloc[codes].set_axis(parts.index))



def _result(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "verdict": frame["verdict"].astype(VERDICT_DTYPE),
        "reason": frame["reason"].astype("str"),
        "target": frame["target"].astype("str"),
        "released_target": frame["released_target"].astype("datetime64[us]"),
    }, index=frame.index)


def _judge_distinct(rows: pd.DataFrame, catalog: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """Verdicts for distinct (product, version, evidence, as_of) rows; index 0..n-1."""
    count = len(rows)
    product = rows["product"].to_numpy(dtype=object)
    as_of = rows["as_of"]
    evidence = rows["evidence"].fillna("absent")
    rules = policy.rules().reindex(rows["product"])
    rule = rules["rule"].fillna("").to_numpy(dtype=object)
    releases = _releases(catalog, policy)
    first, per_version = distinct_rows(rows[["product", "version", "evidence"]])
    facts = _version_facts(per_version, releases, policy).iloc[first]
    key = facts["key"].reset_index(drop=True)
    line = facts["line"].reset_index(drop=True)
    at_most, below_key = facts["at_most"].to_numpy(), facts["below_key"].to_numpy()
    top_rank = facts["top_rank"].to_numpy()
    below_minimum, ambiguous = facts["below_minimum"].to_numpy(), facts["ambiguous"].to_numpy()
    minimum_key = facts["minimum_key"].to_numpy(dtype=object)
    spans, shown = facts["spans"].to_numpy(dtype=bool), facts["shown"].to_numpy()

    scope_product = _newest(releases, rows.assign(line=line), ["product"])
    scope_line = _newest(releases, rows.assign(line=line), ["product", "line"])
    # What a device can be moved to: its own line's releases and those offered to every line.
    # A release for new devices only (Windows 11 26H1) is neither a target nor a reason to be
    # behind for a device on another line, however high its version sorts.
    scope_offered = _newest(releases[releases["offered"]], rows.assign(line=line), ["product"])
    in_line = rule == "latest-in-line"
    rel_rank = np.where(in_line, scope_line["released_rank"],
                        np.fmax(scope_offered["released_rank"], scope_line["released_rank"]))
    due_rank = np.where(in_line, scope_line["due_rank"], np.fmax(scope_offered["due_rank"], scope_line["due_rank"]))
    newest_rank = scope_product["released_rank"]

    # Each (product, rank)'s release found by position in a small (product x rank) table,
    # not by hashing a (product, rank) pair per row: a timeline judges tens of thousands of parts.
    by_rank = releases.drop_duplicates(["product", "rank"]).reset_index(drop=True)
    catalog_products = pd.Index(by_rank["product"].unique())
    product_at = catalog_products.get_indexer(product)
    ranks = int(by_rank["rank"].max()) + 1 if len(by_rank) else 0
    release_at = np.full((len(catalog_products), ranks), -1, dtype="int64")
    release_at[catalog_products.get_indexer(by_rank["product"]), by_rank["rank"].to_numpy()] = np.arange(len(by_rank))
    eols = releases.drop_duplicates(["product", "line"]).set_index(["product", "line"])["eol"]
    line_eol = _looked_up(eols, product, line.fillna("").to_numpy(dtype=object))
    eol_passed = pd.notna(line_eol) & (line_eol <= as_of.to_numpy()) & ~np.isin(product, ROLLING)

    def lookup(ranks, column, at=slice(None)):
        """``column`` of each row's release of rank ``ranks`` (of the rows ``at``); missing
        (NaN, NaT, or a float) where there is none, as a reindex gives."""
        wanted, where = ranks[at], product_at[at]
        listed = (where >= 0) & ~np.isnan(wanted)
        position = np.full(len(wanted), -1, dtype="int64")
        position[listed] = release_at[where[listed], wanted[listed].astype("int64")]
        return pd.api.extensions.take(by_rank[column].to_numpy(), position, allow_fill=True)

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
    # An ended line moves to the newest release offered to it; one that sorts at or below the
    # device's own version (a new-devices-only line whose successor is not listed yet) is no
    # way forward.
    target_rank = np.where(verdict == "unsupported", scope_offered["released_rank"], rel_rank)
    target_rank = np.where((verdict == "unsupported") & (target_rank <= at_most), np.nan, target_rank)
    released_target = np.full(count, np.datetime64("NaT"), dtype="datetime64[us]")
    # A product its vendor ended (legacy Edge) has nothing to update to: no target.
    target_eol = _looked_up(eols, product, pd.Series(lookup(target_rank, "line")).fillna("").to_numpy(dtype=object))
    ended = pd.notna(target_eol) & (target_eol <= as_of.to_numpy()) & ~np.isin(product, ROLLING)
    judged = (verdict != "current") & ~((verdict == "unsupported") & ended) & ~np.isnan(target_rank)
    target[judged] = lookup(target_rank, "version")[judged]
    released_target[judged] = lookup(target_rank, "released")[judged]

    versions = rows["version"].to_numpy(dtype=object)
    name = _text(product)
    reason = np.full(count, None, dtype=object)
    # A line with a later end for other editions (Windows Enterprise) is out of support for
    # every edition only from that end: the day an unsupported verdict names.
    edition = np.full(count, None, dtype=object)
    for named, editions in EDITION_LINES.items():
        edition[product == named] = editions
    edition_eols = releases[releases["product"].isin(EDITION_LINES.values())].groupby(["product", "line"])["eol"].max()
    edition_end = _looked_up(edition_eols, edition, line.to_numpy(dtype=object)).astype("datetime64[us]")
    ended_for_all = np.where(~np.isnat(edition_end) & (edition_end > line_eol.astype("datetime64[us]")),
                             edition_end, line_eol.astype("datetime64[us]"))
    # Each reason's text is built for the rows that get it only.
    reasons = {
        "grace": lambda at: _text(product[at]) + " " + _text(lookup(rel_rank, "version", at)) + " released "
        + _day_text(lookup(rel_rank, "released", at)) + ", within the " + _text(lookup(rel_rank, "grace", at))
        + "-day grace",
        "outdated": lambda at: _text(product[at]) + " " + _text(lookup(due_rank, "version", at)) + " released "
        + _day_text(lookup(due_rank, "released", at)) + ", due after " + _text(lookup(due_rank, "grace", at))
        + " days",
        "unsupported": lambda at: _text(product[at]) + " " + _text(line.to_numpy(dtype=object)[at])
        + " out of support since " + _day_text(ended_for_all[at]),
    }
    # They name the product, its line and the releases it is measured against, nothing of the
    # row's own: built once per distinct (product, line, release, release due), then spread.
    named_by = combine([pd.factorize(product)[0], pd.factorize(line)[0],
                        np.nan_to_num(rel_rank, nan=-1).astype("int64"),
                        np.nan_to_num(due_rank, nan=-1).astype("int64")], sort=False)
    for outcome, text in reasons.items():
        chosen = np.flatnonzero(verdict == outcome)
        if len(chosen):
            codes = pd.factorize(named_by[chosen])[0]
            reason[chosen] = text(chosen[firsts(codes)]).to_numpy(dtype=object)[codes]
    below = np.flatnonzero(is_minimum & (verdict == "outdated"))
    reason[below] = ("below the minimum " + name.iloc[below].reset_index(drop=True) + " "
                     + _text(minimum[below])).to_numpy(dtype=object)
    target[below] = minimum[below]
    minimum_released = releases.groupby(["product", "key"])["released"].min()
    released_target[below] = _looked_up(minimum_released, product[below], minimum_key[below])

    # Every condition an override may test, by the name the table uses; rows as in ``rows``.
    covered_until = _looked_up(coverage(catalog), product)
    # Within a line, a version that shows only its major (or a build without its revision)
    # could be any release of it: the line's end can still be told, its patch level cannot.
    imprecise = in_line & spans & ~eol_passed
    # Only the rows of a product with an alternative line (Firefox) pay for the test.
    maybe = np.isin(product, list(ALTERNATIVE_LINES))
    alternative, major = np.full(count, None, dtype=object), np.full(count, None, dtype=object)
    alternative[maybe] = [ALTERNATIVE_LINES[name] for name in product[maybe]]
    if maybe.any():
        # Arrow's regex over the column: pandas' str.extract calls Python once per row here.
        found = pyarrow.compute.extract_regex(pyarrow.array(versions[maybe], type=pyarrow.string()), r"^(?P<major>\d+)")
        major[maybe] = found.field("major").to_numpy(zero_copy_only=False)
    conditions = {
        "ambiguous": ambiguous,
        "alternative_line": _on_supported_line(releases, alternative, major, as_of.to_numpy()),
        "edition_line": eol_passed & (edition_end > as_of.to_numpy().astype("datetime64[us]")),
        "lower_bound": evidence.eq("lower-bound").to_numpy(),
        "lower_bound_in_line": evidence.eq("lower-bound-in-line").to_numpy(),
        "major_in_line": imprecise & (shown == 1),
        "build_in_line": imprecise & (shown > 1),
        "unplaced": (in_line | (rule == "supported")) & line.isna().to_numpy(),
        "newer_than_listed_by_then": ~is_minimum & ~np.isnan(newest_rank)
        & (below_key > np.nan_to_num(newest_rank, nan=-1)),
        "before_first_release": ~is_minimum & np.isnan(newest_rank),
        "newer_than_catalog": ~is_minimum & ~np.isnan(top_rank) & (below_key > np.nan_to_num(top_rank, nan=-1)),
        "past_coverage": pd.notna(covered_until) & (as_of.to_numpy() > covered_until),
        "unreadable": key.isna().to_numpy(),
        "not_in_catalog": ~is_minimum & np.isnan(top_rank),
        "no_policy": rule == "",
        "no_product": rows["product"].isna().to_numpy(),
        "no_date": as_of.isna().to_numpy(),
        "no_version": rows["version"].isna().to_numpy() | evidence.eq("absent").to_numpy(),
        "frozen": evidence.eq("frozen").to_numpy(),
    }
    first_release = functools.cache(lambda: _looked_up(releases.groupby("product")["released"].min(), product))
    # Each field's text, for the rows ``at`` an override replaces only.
    fields = {
        "product": lambda at: name.iloc[at], "version": lambda at: _text(versions[at]),
        "minimum": lambda at: _text(minimum[at]),
        "newest": lambda at: _text(lookup(newest_rank, "version", at)),
        "newest_released": lambda at: _day_text(lookup(newest_rank, "released", at)),
        "first_release": lambda at: _day_text(first_release()[at]),
        "covered_until": lambda at: _day_text(covered_until[at]),
        "alternative": lambda at: _text(alternative[at]), "major": lambda at: _text(major[at]),
        "line": lambda at: _text(line.to_numpy(dtype=object)[at]), "line_end": lambda at: _day_text(line_eol[at]),
    }
    for override in OVERRIDES:
        chosen = np.flatnonzero(conditions[override.when])
        replaced = np.zeros(len(chosen), dtype=bool)
        for old in override.replaces:
            replaced |= verdict[chosen] == old
        chosen = chosen[replaced]
        if len(chosen):
            verdict[chosen] = override.verdict
            reason[chosen] = _fill(override.reason, fields, chosen)
            target[chosen] = None
            released_target[chosen] = np.datetime64("NaT")
    return pd.DataFrame({"verdict": verdict, "reason": reason, "target": target, "released_target": released_target})


def _on_supported_line(releases: pd.DataFrame, products: np.ndarray, lines: np.ndarray,
                       days: np.ndarray) -> np.ndarray:
    """Whether each (product, line) had shipped and was still supported on its day.

    Examples:
        >>> releases = pd.DataFrame({"product": ["firefox-esr"] * 2, "line": ["115", "128"],
        ...     "released": pd.to_datetime(["2023-07-04", "2024-07-09"]), "eol": pd.to_datetime(["2025-09-16", None])})
        >>> _on_supported_line(releases, np.array(["firefox-esr"] * 3 + [None], dtype=object),
        ...     np.array(["115", "115", "128", "128"], dtype=object),
        ...     pd.to_datetime(["2024-12-10", "2025-10-01", "2024-12-10", "2024-12-10"]).to_numpy()).tolist()
        [True, False, True, False]
    """
    known = pd.notna(products) & pd.notna(lines)
    if not known.any():
        return known
    wanted = releases[releases["product"].isin(set(products[known]))]
    spans = wanted.groupby(["product", "line"]).agg(start=("released", "min"), end=("eol", "max"))
    start = _looked_up(spans["start"], products[known], lines[known]).astype("datetime64[us]")
    end = _looked_up(spans["end"], products[known], lines[known]).astype("datetime64[us]")
    days = days[known].astype("datetime64[us]")
    known[known] = (start <= days) & (np.isnat(end) | (days < end))
    return known


def _looked_up(values: pd.Series, *keys: np.ndarray) -> np.ndarray:
    """``values.reindex(keys).to_numpy()`` (a MultiIndex of the ``keys`` for several), looked up
    once per distinct key: a timeline judges tens of thousands of parts of a few dozen products.

    Examples:
        >>> eols = pd.Series([10, 20], index=pd.MultiIndex.from_tuples([("ios", "16"), ("ios", "17")]))
        >>> _looked_up(eols, np.array(["ios", "ios", "mac", None], dtype=object),
        ...            np.array(["17", "16", "14", "1"], dtype=object)).tolist()
        [20.0, 10.0, nan, nan]
    """
    codes, distinct = distinct_rows(pd.DataFrame(dict(enumerate(keys))))
    columns = [distinct[number].to_numpy(dtype=object) for number in range(len(keys))]
    index = pd.MultiIndex.from_arrays(columns) if len(keys) > 1 else pd.Index(columns[0])
    return values.reindex(index).to_numpy()[codes]


def _fill(template: str, fields: dict, rows: np.ndarray) -> np.ndarray:
    """``template`` with each ``{name}`` replaced by that field's text, for each of ``rows``
    (``fields[name](rows)`` gives their texts).

    Examples:
        >>> product, version = pd.Series(["ios", "?"]), pd.Series(["17.4", "1"])
        >>> fields = {"product": lambda at: product.iloc[at], "version": lambda at: version.iloc[at]}
        >>> _fill("{product} {version}!", fields, np.arange(2)).tolist()
        ['ios 17.4!', '? 1!']
        >>> _fill("{product}", fields, np.array([1])).tolist()
        ['?']
    """
    parsed = list(Formatter().parse(template))
    named = [field for _, field, _, _ in parsed if field is not None]
    if not named:
        return np.full(len(rows), "".join(literal for literal, _, _, _ in parsed), dtype=object)
    # Built once per distinct combination of the fields' texts, then spread over the rows.
    codes, distinct = distinct_rows(pd.DataFrame({field: np.asarray(fields[field](rows), dtype=object)
                                                  for field in dict.fromkeys(named)}))
    texts = ["".join(literal + (values[field] if field is not None else "") for literal, field, _, _ in parsed)
             for values in distinct.to_dict("records")]
    return np.asarray(texts, dtype=object)[codes] if texts else np.empty(0, dtype=object)


def _text(values) -> pd.Series:
    """Values as text for building reasons, whole numbers without a decimal point."""
    series = pd.Series(values)
    if pd.api.types.is_float_dtype(series):
        series = series.astype("Int64")
    return series.astype("str").fillna("?").reset_index(drop=True)


def _day_text(values) -> pd.Series:
    """Days as ``YYYY-MM-DD`` (``?`` where missing), each distinct day formatted once."""
    codes, days = pd.factorize(pd.Series(pd.to_datetime(pd.Series(values))))
    texts = np.append(pd.Series(days).dt.strftime("%Y-%m-%d").to_numpy(dtype=object), "?")
    return pd.Series(texts[codes], dtype="str")


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
        >>> from fleetanalysis.policy import load
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

