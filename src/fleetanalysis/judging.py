"""The columnar engine under ``fleet.snapshot`` and ``fleet.timeline``: devices per date
from the (sightings row, date) pairs where rows are active.

Why a module of its own: ``fleet`` states the device rule (what a device is, which rows
are active, which row speaks for it); this module makes that rule cheap at millions of
pairs. It works on integer codes (``codes``) so that text is built once per distinct
value and per distinct combination of a device's parts; each part (the OS, or one
client) is judged by ``policy.judge`` once per distinct (product, version class,
evidence, epoch), and each (device, date) takes the answers of its cell (its parts and
their epochs), not judged per device or date.

Examples:
    >>> version_rank(pd.Series(["17.4", "17.10", "17.9"])).tolist()
    [0, 2, 1]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fleetanalysis import catalog as releases
from fleetanalysis import policy as verdicts
from fleetanalysis.codes import (Coded, best_rows, category, code_type, combine, dense, firsts, pack, row_combinations,
                                 unpack)

# Better evidence outranks a higher version: an exact 17.4 beats a frozen 10.15.7.
EVIDENCE_RANK = {"absent": 0, "frozen": 1, "lower-bound": 2, "lower-bound-in-line": 2, "exact": 3}
JUDGE_BATCH = 100_000
DEVICE_COLUMNS = ["device_id", "user_id", "user", "platform", "device_class", "os_version",
                  "os_evidence", "clients", "os_verdict", "os_reason", "client_verdict", "verdict", "reason",
                  "target", "last_seen", "ip"]


def version_rank(versions: pd.Series) -> pd.Series:
    """Dense rank of versions in ``catalog.version_key`` order (``4.9 < 4.10``), -1 for NA.

    Text that holds no version ranks -1 with NA, below every version. Each distinct
    version is ranked once.

    Examples:
        >>> version_rank(pd.Series(["4.10", "4.9", pd.NA, "17.4.0", "17.4", "junk"])).tolist()
        [1, 0, -1, 2, 2, -1]
    """
    codes, uniques = pd.factorize(versions)
    ranks, _ = pd.factorize(releases.version_key(pd.Series(uniques, dtype="str")), sort=True)
    # A trailing -1 answers the missing values (code -1).
    ranks = np.append(ranks.astype("int64"), -1)
    return pd.Series(ranks[codes], index=versions.index, dtype="int64")


def devices(sightings: pd.DataFrame, rows: np.ndarray, ks: np.ndarray, dates: pd.DatetimeIndex,
             catalog: pd.DataFrame, policy, seen_rank: np.ndarray, categorical: bool = False) -> pd.DataFrame:
    """Devices per (device, date) from active (row, date-index) pairs; ``as_of`` first.

    Works on integer codes of the sightings' text, so that strings are built once per
    distinct value and per distinct combination of a device's parts, not per row or device.
    With ``categorical`` the text columns are categoricals (``category``), else ``str``.
    """
    def text(codes: np.ndarray, values) -> pd.api.extensions.ExtensionArray:
        if categorical:
            return category(codes, values)
        return pd.array(np.asarray(values, dtype=object), dtype="str").take(codes, allow_fill=True)

    device_codes, device_names = _device_codes(sightings["device_id"])
    n_devices = max(len(device_names), 1)
    dd, keys = dense(pack(ks, device_codes[rows], n_devices), len(dates) * n_devices)
    n = len(keys)

    newest = best_rows(dd, n, rows, seen_rank)
    date_at, device_ids = unpack(keys, n_devices)
    as_of = dates[date_at]
    devices = pd.DataFrame({"as_of": as_of.astype("datetime64[us]")})
    if categorical:
        # The names are sorted and distinct already: the categories are those used.
        used = np.flatnonzero(np.bincount(device_ids, minlength=len(device_names)))
        place = np.full(len(device_names), -1, dtype=code_type(len(used)))
        place[used] = np.arange(len(used))
        devices["device_id"] = pd.Categorical.from_codes(
            place[device_ids], dtype=pd.CategoricalDtype(pd.Index(device_names[used], dtype="str")), validate=False)
    else:
        devices["device_id"] = text(device_ids, device_names)
    coded = {column: Coded(sightings[column]) for column in ("platform", "os_version", "client_version")}
    for column in ("user_id", "user", "platform", "device_class"):
        devices[column] = text(*_codes_at(sightings[column], newest))
    # A row seen until July still only speaks for the days up to a June date.
    day_end = pd.Series(dates + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)).dt.tz_localize("UTC")
    day_end = day_end.take(date_at).reset_index(drop=True)
    last_seen = sightings["last_seen"].take(newest).reset_index(drop=True)
    devices["last_seen"] = last_seen.where(last_seen <= day_end, day_end)
    devices["ip"] = text(*_codes_at(sightings["ip"], newest))
    # Dates of evidence: we know a version only up to the device's last sighting.
    last_day = sightings["last_day"].to_numpy("datetime64[us]")[newest]
    evidence_day = np.minimum(as_of.to_numpy("datetime64[us]"), last_day)

    platform, os_version = coded["platform"], coded["os_version"]
    os_evidence = Coded(sightings["os_evidence"]).fill_text("absent")
    evidence = np.array([*(EVIDENCE_RANK.get(value, 0) for value in os_evidence.values[:-1]), 0])
    os_rank = _ranks(os_version, rows)
    os_row = best_rows(dd, n, rows, evidence[os_evidence.codes], os_rank, seen_rank)
    devices["os_version"] = text(*_codes_at(sightings["os_version"], os_row))
    devices["os_evidence"] = text(os_evidence.codes[os_row], os_evidence.values)

    # Sorted, so that a device's clients read in product order.
    product = Coded(sightings["client_product"], sort=True)
    products = product.values[:-1]
    product_codes = product.codes
    client_version = coded["client_version"]
    has_client = (product_codes[rows] >= 0) & (client_version.codes[rows] >= 0)
    client_rows = rows[has_client]
    client_row, client_device, client_product = _newest_clients(
        dd[has_client], ks[has_client], device_codes[client_rows], n_devices, len(dates), client_rows, product_codes,
        _ranks(client_version, client_rows), seen_rank)

    os_product = Coded(sightings["os_product"]).fill(platform.map(str.lower))
    # A bare major (Chromium's reduced user agent) can only be judged as a major.
    client_evidence = client_version.map(lambda version: "exact" if "." in version else "major").merged()
    os_inputs = (os_product, os_version, os_evidence, platform)
    client_inputs = (product, client_version, client_evidence, Coded(sightings["client_family"]).fill(product))
    # What a (device, date) is judged on is its parts and its evidence day, nothing else: its
    # parts (each coded by what it is judged as, but its day) as one code, then one cell per
    # distinct (parts, day). A year of weekly dates repeats the same cells for every device on
    # the same versions, so the judging below runs per cell, not per (device, date).
    os_what, os_examples = _what(os_row, os_inputs)
    client_what, client_examples = _what(client_row, client_inputs)
    width = 1 + len(products)
    shape, grid = row_combinations(n, width, [(None, 0, os_what),
                                             (client_device, 1 + client_product, client_what)])
    epochs = _Epochs([os_product, product], evidence_day, catalog, policy)
    cell, cell_shape, cell_day = _cells(shape, grid, evidence_day, epochs, os_product.codes[os_examples])
    del os_what, client_what, shape, client_row, client_device, client_product
    m, cell_grid = len(cell_shape), grid[cell_shape]
    in_cell = cell_grid[:, 1:] >= 0
    client_cell, client_slot = np.nonzero(in_cell)
    # Many dates put each version in many epochs: judging each version class once per
    # epoch then pays; one date has about one epoch per product, and nothing to gain.
    collapse = len(dates) > 1
    parts = [
        _Parts(np.arange(m), np.zeros(m, dtype="int64"), os_examples[cell_grid[:, 0]], cell_day, *os_inputs),
        _Parts(client_cell, 1 + client_slot, client_examples[cell_grid[:, 1:][in_cell]], cell_day[client_cell],
               *client_inputs),
    ]
    _fold(parts, catalog, policy, collapse, epochs)
    judged, results = _judge_distinct(parts, catalog, policy, folded=collapse)

    combo, grid = row_combinations(m, width, [(part.device, part.slot, result)
                                               for part, result in zip(parts, results)])
    summary = _summarise(grid, judged)
    answer = combo[cell]
    for column in ("os_verdict", "os_reason", "client_verdict", "verdict", "reason", "target"):
        devices[column] = text(answer, summary[column])

    client_part = parts[1]
    combo, grid = row_combinations(m, width, [(client_part.device, client_part.slot, client_part.shown)])
    names = client_part.shown_names
    labels = ["; ".join(names[code] for code in row if code >= 0) or None for row in grid.tolist()]
    devices["clients"] = text(combo[cell], labels)
    return devices[["as_of", *DEVICE_COLUMNS]]


def _newest_clients(groups: np.ndarray, dates: np.ndarray, devices: np.ndarray, n_devices: int, n_dates: int,
                    rows: np.ndarray, product_codes: np.ndarray,
                    *ranks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (group, client product) among the pairs, the newest row by ``ranks``: those rows,
    their groups and their products' codes. A group is one (date, device) of the pairs
    (``groups`` its dense code in that order, ``dates`` and ``devices`` its parts).

    One reduction over the pairs, keyed by (date, device, product) coded without hashing
    (``dense``): first (device, product), a few products per device, then the date, so
    each range is a small multiple of what it codes (coding (group, product) at once
    spans groups x products, a range whose fresh pages cost more than the reduction).
    """
    width = int(product_codes.max(initial=0)) + 1
    owned, pairs = dense(pack(devices, product_codes[rows], width), n_devices * width)
    span = max(len(pairs), 1)
    combination, packed = dense(pack(dates, owned, span), n_dates * span)
    best = best_rows(combination, len(packed), rows, *ranks)
    # The pairs of one combination share its group.
    group = np.zeros(len(packed), dtype="int64")
    np.maximum.at(group, combination, groups)
    return best, group, unpack(pairs[packed % span], width)[1]


def _codes_at(column: pd.Series, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``Coded(column)``'s codes at ``rows`` and its values, read from a categorical's own narrow
    codes where it is one: a timeline gathers millions of them per column, and an int64 copy of
    every row's code would cost more than the gather."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        values = np.array([*np.asarray(column.cat.categories, dtype=object), None], dtype=object)
        return column.cat.codes.to_numpy()[rows], values
    coded = Coded(column)
    return coded.codes[rows], coded.values


def _what(row: np.ndarray, inputs) -> tuple[np.ndarray, np.ndarray]:
    """Per part (a sightings ``row``), a code of its ``inputs``' values there; and per code,
    a row holding them. Coded per distinct row: a row speaks for its device on many dates."""
    used, at = _distinct_rows(row, len(inputs[0].codes))
    what = combine([column.codes[used] for column in inputs], sort=False)
    # Any row of a code will do: they hold the same values.
    example = np.empty(int(what.max(initial=-1)) + 1, dtype="int64")
    example[what] = used
    return what[at], example


def _cells(shape: np.ndarray, grid: np.ndarray, day: np.ndarray, epochs: _Epochs,
           os_product: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (device, date), a code of what ``policy.judge`` is asked about it: its ``shape``
    (the code of its row of parts in ``grid``) and the epoch each of those parts' products is
    in on its evidence ``day``; and per code, that shape and a day in those epochs.

    Days only matter through epochs: a device on iOS and Slack is asked the same on every day
    between two releases of either, whatever day it was last seen. The epochs of a shape's
    products on every day of the table are one small signature table, per distinct set of
    products (a few hundred), not per (device, date). ``os_product`` is the OS product code of
    each OS part code (slot 0 of ``grid``); a client slot is its product.
    """
    # Each shape's products as rows of the epoch table (0: none there).
    products = np.zeros(grid.shape, dtype="int64")
    products[:, 0] = epochs.row(0, os_product[grid[:, 0]])
    products[:, 1:] = np.where(grid[:, 1:] >= 0, epochs.row(1, np.arange(grid.shape[1] - 1)), 0)
    product_set = combine(list(products.T), sort=False)
    sets = products[firsts(product_set)]
    n_sets, width = len(sets), epochs.width
    # Per (set, day of the table): the set's products' epochs, coded in (set, epochs) order so
    # that each set's codes are a run, numbered within the set from 0.
    epoch = epochs.table[sets]
    signature = combine([np.repeat(np.arange(n_sets), width),
                         *(epoch[:, slot, :].reshape(-1).astype("int64") for slot in range(sets.shape[1]))])
    signature = signature.reshape(n_sets, width)
    base = signature.min(axis=1, initial=np.iinfo("int64").max)
    local = signature - base[:, None]
    size = int(local.max(initial=0)) + 1
    # Per (device, date): its shape, then its epochs' code within its set of products.
    at = local.reshape(-1)[product_set[shape] * width + epochs.column(day)]
    cell, keys = dense(pack(shape, at, size), len(grid) * size)
    cell_shape, cell_local = unpack(keys.astype("int64"), size)
    # A day of each cell: the first of its set's table columns with the cell's signature.
    first_column = firsts(signature.reshape(-1)) % width
    column = first_column[base[product_set[cell_shape]] + cell_local]
    cell_day = (column + epochs.earliest - 1).astype("datetime64[D]").astype("datetime64[us]")
    cell_day[column == 0] = np.datetime64("NaT")
    return cell, cell_shape, cell_day


def _device_codes(device_id: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each row's code among the distinct device ids, and those ids as text, sorted and distinct.

    Sightings hold ``device_id`` as a categorical of sorted text (``fleet.sightings``):
    its codes serve as they are, with no hashing of a million rows.
    """
    if isinstance(device_id.dtype, pd.CategoricalDtype):
        names = device_id.cat.categories.astype("str")
        if names.is_monotonic_increasing and names.is_unique and not names.hasnans:
            return device_id.cat.codes.to_numpy().astype("int64"), np.asarray(names, dtype=object)
    codes, names = pd.factorize(device_id, sort=True)
    return codes, np.asarray(pd.Index(names).astype("str"), dtype=object)


def _ranks(versions: Coded, rows: np.ndarray) -> np.ndarray:
    """Per row, 1 + the rank of its version among those of ``rows`` in ``version_rank``
    order (0 for NA, and for versions only other rows hold), ranked per distinct version."""
    used = np.flatnonzero(np.bincount(versions.codes[rows] + 1, minlength=len(versions.values))[1:])
    ranks = np.zeros(len(versions.values), dtype="int64")
    ranks[used] = version_rank(pd.Series(versions.values[used], dtype="str")).to_numpy() + 1
    return ranks[versions.codes]


class _Parts:
    """One kind of part (the OS, or the clients) of the cells (``_cells``), as integer codes.

    ``device``/``slot`` place each part in its cell's row of parts; ``shown`` codes the
    text naming it (``Chrome 124``). Once ``_fold`` has run, ``key`` codes the distinct
    (product, version, evidence, label, epoch) it is judged as (dense, from 0; with
    ``collapse``, the version is its class, see ``_fold``) and ``frame`` holds one row per
    key, in key order, ``label`` its label's code.
    """

    def __init__(self, device, slot, row, day, product: Coded, version: Coded, evidence: Coded, label: Coded):
        self.device, self.slot, self.row, self.day = device, slot, row, day
        self.product, self.version, self.evidence, self.label_coded = product, version, evidence.merged(), label
        # A sightings row speaks for its device on many dates: what depends on the row alone
        # (its version class, its label) is worked out once per distinct row, then gathered.
        self.used, self.at = _distinct_rows(row, len(product.codes))
        self.codes = [column.codes[self.used] for column in (product, version, self.evidence)]
        self.label_names = label.values[:-1]
        label_codes = label.codes[self.used]
        shown = combine([label_codes, self.codes[1]], sort=False)
        self.shown = shown[self.at]
        first = firsts(shown)
        self.shown_names = [f"{name} {number}" for name, number in
                            zip(self.label_names[label_codes[first]], version.values[self.codes[1][first]])]

    def judge_as(self, alike: np.ndarray, alike_names, epoch: np.ndarray, starts: np.ndarray) -> None:
        """Code the parts by what they are judged as: ``alike`` per distinct row (a version
        class code among ``alike_names``), ``epoch`` per part (a code among ``starts``)."""
        # The label is part of the key, so that a key's answer names its part alone.
        label_codes = self.label_coded.codes[self.used]
        kind = combine([self.codes[0], alike, self.codes[2], label_codes], sort=False)
        self.key = combine([kind[self.at], epoch], sort=False)
        self.distinct = firsts(self.key)
        first = self.row[self.distinct]
        self.frame = pd.DataFrame({"product": self.product.text(first),
                                   "version": alike_names.take(alike[self.at[self.distinct]], allow_fill=True),
                                   "evidence": self.evidence.text(first), "as_of": starts[epoch[self.distinct]]})
        self.label = label_codes[self.at[self.distinct]]
        # What judging and the summaries read is coded now: the per-part inputs (about 100 MB
        # in a 52-week timeline at 1M events) go before they run.
        del self.row, self.day, self.at, self.used, self.codes, self.product, self.version, self.evidence, self.label_coded


def _fold(parts: list[_Parts], catalog: pd.DataFrame, policy, collapse: bool, epochs: _Epochs) -> None:
    """Code every kind of part by what ``policy.judge`` answers alike (``_Parts.judge_as``):
    its epoch (``epochs``) and, with ``collapse``, its version class (``_alike_versions``).

    Version classes are found for all kinds at once: each call costs a fixed share (reading
    the catalog's releases) besides its work per distinct version.
    """
    if collapse:
        alike, alike_names = _alike_versions(parts, catalog, policy)
    else:
        alike = [part.codes[1] for part in parts]
        alike_names = [pd.array(part.version.values[:-1], dtype="str") for part in parts]
    for kind, (part, classes, names) in enumerate(zip(parts, alike, alike_names)):
        part.judge_as(classes, names, epochs.of(kind, part.product.codes[part.row], part.day), epochs.starts)


def _distinct_rows(row: np.ndarray, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct sightings rows among ``row`` (ascending) and each entry's place among them;
    marked in an array of the sightings' size, so no sort or hashing over the parts."""
    present = np.zeros(n_rows, dtype=bool)
    present[row] = True
    used = np.flatnonzero(present)
    # Narrow: a timeline keeps these places for millions of parts of each kind at once.
    place = np.zeros(n_rows, dtype=code_type(len(used)))
    place[used] = np.arange(len(used))
    return used, place[row]


def _alike_versions(parts: list[_Parts], catalog: pd.DataFrame, policy) -> tuple[list, list]:
    """Per kind of part, per distinct row, a code of the version ``policy.judge`` answers it
    exactly like on every day (``policy.equivalent_version``); and those versions' text.

    Builds between the same two releases of a line are judged alike, so parts that differ
    only in such a build are judged once: thousands of Chrome builds times dozens of
    epochs come down to a few hundred judgements. Worked out per distinct (product,
    version, evidence) of all kinds in one call, not per part.
    """
    triples, frames = [], []
    for part in parts:
        triple = combine(part.codes, sort=False)
        at = part.used[firsts(triple)]
        triples.append(triple)
        frames.append(pd.DataFrame({"product": part.product.text(at), "version": part.version.text(at),
                                    "evidence": part.evidence.text(at)}))
    alike = verdicts.equivalent_version(pd.concat(frames, ignore_index=True), catalog, policy)
    alike_codes, names = pd.factorize(alike, use_na_sentinel=True)
    names = pd.array(np.asarray(names, dtype=object), dtype="str")
    offsets = np.cumsum([0, *(len(frame) for frame in frames)])
    return [alike_codes[offset:][triple] for offset, triple in zip(offsets, triples)], [names] * len(parts)


class _Epochs:
    """The epochs of each product of each kind of part over a span of days: ``policy.judge``
    answers every version of a product alike on all days of an epoch
    (``policy.equivalent_day``), so parts that differ only in their day within one epoch
    are judged once, and a year of weekly dates comes down to a few epochs per product.

    Found once per (product, day) of a table spanning the days (a few thousand entries:
    the days of a timeline and its window), then gathered per part or per (device, date),
    with no hashing or grouping over them. ``table[row, column]`` is the epoch's code,
    ``starts[code]`` its first day; row 0 and column 0 answer a missing product and day;
    each kind's products follow the kinds before it (``row``).
    """

    def __init__(self, products: list[Coded], days: np.ndarray, catalog: pd.DataFrame, policy):
        # Whole days since 1970 (the days are midnights); a missing day is the int64 minimum.
        whole = days.astype("datetime64[D]").view("int64")
        known = whole != np.iinfo("int64").min
        self.earliest = int(whole.min(where=known, initial=np.iinfo("int64").max)) if known.any() else 0
        self.width = int(whole.max(where=known, initial=self.earliest)) - self.earliest + 2
        table_days = (self.earliest - 1 + np.arange(self.width)).astype("datetime64[D]").astype("datetime64[us]")
        table_days[0] = np.datetime64("NaT")
        # The trailing None of each kind's product values names its missing product.
        names = np.concatenate([[None], *(kind.values[:-1] for kind in products)])
        self.offsets = np.cumsum([1, *(len(kind.values) - 1 for kind in products)])
        start = verdicts.equivalent_day(pd.array(np.repeat(names, self.width), dtype="str"),
                                        np.tile(table_days, len(names)), catalog, policy)
        epoch, starts = pd.factorize(start, use_na_sentinel=False)
        self.table = epoch.astype(code_type(len(starts))).reshape(len(names), self.width)
        self.starts = np.asarray(starts)

    def row(self, kind: int, product: np.ndarray) -> np.ndarray:
        """The table's row of each product code of a kind (-1: row 0)."""
        return np.where(product >= 0, product + self.offsets[kind], 0)

    def column(self, days: np.ndarray) -> np.ndarray:
        """The table's column of each day (NaT: column 0), computed in place on ``astype``'s copy."""
        column = days.astype("datetime64[D]").view("int64")
        absent = column == np.iinfo("int64").min
        column -= self.earliest - 1
        column[absent] = 0
        return column

    def of(self, kind: int, product: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Per part, the code of the epoch its product's evidence day falls in."""
        return self.table.reshape(-1)[self.row(kind, product) * self.width + self.column(days)]


def _judge_distinct(parts: list[_Parts], catalog: pd.DataFrame, policy,
                    folded: bool) -> tuple[pd.DataFrame, list]:
    """Judge every distinct part of every kind with ``policy.judge``, ``JUDGE_BATCH`` at a time
    (``folded``: the parts are epoch starts and version classes already, see ``_Parts``).

    Returns the distinct answers (``verdict, reason, target`` and ``label``, the platform
    or client family naming the target) and, per kind, each part's row among them.
    """
    distinct = pd.concat([part.frame for part in parts], ignore_index=True)
    # Each part is judged on its own, so batches give the same answers; they bound the
    # memory policy needs for a year of weekly dates to one batch's worth.
    judged = pd.concat([verdicts.judge(distinct.iloc[start:start + JUDGE_BATCH], catalog, policy, folded)
                        [["verdict", "reason", "target"]].astype("str")
                        for start in range(0, max(len(distinct), 1), JUDGE_BATCH)], ignore_index=True)
    labels, label_names = [], []
    for part in parts:
        labels.append(np.maximum(part.label, 0) + len(label_names))
        label_names.extend(part.label_names)
    label = np.concatenate(labels)
    # Parts judged in different epochs mostly get the same answer: code the answers, per
    # distinct key, then gather them for the parts.
    answer = combine([pd.factorize(judged[column])[0] for column in judged.columns], sort=False)
    codes = combine([answer, label], sort=False)
    first = firsts(codes)
    offsets = np.cumsum([0, *(len(part.frame) for part in parts)])
    results = [codes[offset + part.key] for offset, part in zip(offsets, parts)]
    found = judged.take(first).reset_index(drop=True)
    found["label"] = pd.array(np.asarray(label_names, dtype=object)[label[first]], dtype="str")
    return found, results


def _summarise(grid: np.ndarray, judged: pd.DataFrame) -> dict[str, list]:
    """Verdicts, reason and target of each distinct row of part results (slot 0 is the OS)."""
    # A trailing None answers the empty cells (code -1).
    verdict = np.append(judged["verdict"].to_numpy(dtype=object), None)
    table = pd.DataFrame({f"part{slot}": verdict[grid[:, slot]] for slot in range(grid.shape[1])},
                         index=range(len(grid)), dtype="object")
    clients = table.drop(columns="part0")
    has_client = (grid[:, 1:] >= 0).any(axis=1)
    worst = verdicts.worst(table).astype("str").to_numpy(dtype=object)
    reason = [text if isinstance(text, str) else None for text in judged["reason"].to_numpy(dtype=object)]
    summary = {"os_verdict": table["part0"].tolist(),
               # Why the OS itself was or wasn't judged, even when a browser or app carried
               # the device's verdict: the report's data-quality note counts these.
               "os_reason": np.append(np.asarray(reason, dtype=object), None)[grid[:, 0]].tolist(),
               "client_verdict": np.where(has_client, verdicts.worst(clients).astype("str")
                                          .to_numpy(dtype=object), None).tolist(),
               "verdict": worst.tolist(), "reason": [], "target": []}
    labels = judged["label"].to_numpy(dtype=object)
    target = [f"{label} {text}" if isinstance(text, str) else None
              for label, text in zip(labels, judged["target"].to_numpy(dtype=object))]
    # A part that could not be judged is named with why, whatever the others say: a device
    # is never "current" (or only "outdated" for its OS) with its browser silently unjudged.
    unjudged = [f"{label} not judged: {text}" if isinstance(text, str) else f"{label} not judged"
                for label, text in zip(labels, reason)]
    for row, device_verdict in zip(grid.tolist(), worst.tolist()):
        unknown = device_verdict == "unknown"
        telling = [code for code in row if code >= 0 and (unknown or verdict[code] == device_verdict)]
        reasons = dict.fromkeys(reason[code] for code in telling if reason[code] is not None)
        if not unknown:
            reasons.update(dict.fromkeys(unjudged[code] for code in row if code >= 0 and verdict[code] == "unknown"))
        targets = {} if unknown else dict.fromkeys(target[code] for code in telling if target[code] is not None)
        summary["reason"].append("; ".join(reasons) or None)
        summary["target"].append("; ".join(targets) or None)
    return summary
