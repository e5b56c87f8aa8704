"""Integer codes: the one kernel every stage uses to work per distinct value, not per row.

Why: at millions of rows, hashing or comparing text row by row is most of the time a
stage takes. Each text column becomes integer codes plus its distinct values once
(``Coded``, ``value_codes``); several code columns pack into one integer per row
(``combine``) that is hashed once, or not at all where the packed range is small
(``dense``); two codes whose ranges are known pack into one integer and back (``pack``,
``unpack``); ``firsts`` finds one row per code to build text from, and ``category``
turns codes back into a categorical whose text is held once. ``best_rows`` and
``row_combinations`` are the two reductions ``fleet`` builds devices with;
``distinct_rows`` is how ``policy`` judges each distinct (product, version, evidence, day)
once.

Examples:
    >>> import pandas as pd
    >>> platform = Coded(pd.Series(["iOS", None, "iOS", "macOS"]))
    >>> platform.codes.tolist(), platform.values.tolist()
    ([0, -1, 0, 1], ['iOS', 'macOS', None])
    >>> pair = combine([platform.codes, np.array([0, 0, 1, 1])])
    >>> pair.tolist(), firsts(pair).tolist()
    ([1, 0, 2, 3], [1, 0, 2, 3])
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def code_type(categories: int) -> type:
    """The integer type pandas keeps categorical codes in for this many categories."""
    return next(kind for kind in (np.int8, np.int16, np.int32, np.int64) if categories < np.iinfo(kind).max)


class Coded:
    """A column as integer codes (-1 for NA) and its distinct values, NA last.

    ``values[codes]`` is the column again, ``None`` where it was missing; work done on
    ``values`` is done once per distinct value.
    """

    def __init__(self, column=None, *, sort: bool = False, codes=None, values=None):
        if column is not None and isinstance(column.dtype, pd.CategoricalDtype) and not sort:
            # The categories are the distinct values already (perhaps some unused): no hashing.
            codes, uniques = column.cat.codes.to_numpy(), column.cat.categories
        elif column is not None:
            codes, uniques = pd.factorize(column, sort=sort)
        if column is not None:
            values = np.array([*np.asarray(uniques, dtype=object), None], dtype=object)
        self.codes, self.values = np.asarray(codes, dtype="int64"), values

    def fill(self, other: Coded) -> Coded:
        """``self`` where present, else ``other``."""
        size = len(self.values) - 1
        codes = self.codes.copy()
        # Only the (usually few) missing rows are looked at a second time.
        missing = np.flatnonzero(codes < 0)
        fallback = other.codes[missing]
        codes[missing] = np.where(fallback >= 0, fallback + size, -1)
        return Coded(codes=codes, values=np.concatenate([self.values[:-1], other.values]))

    def fill_text(self, text: str) -> Coded:
        """``self`` where present, else ``text``."""
        size = len(self.values) - 1
        return Coded(codes=np.where(self.codes >= 0, self.codes, size),
                     values=np.array([*self.values[:-1], text, None], dtype=object))

    def categorical(self, rows, order=None) -> pd.Categorical:
        """The values of ``rows`` (taken in ``order``, if given) as a categorical of ``str``:
        its categories the values used there, sorted, so equal text gives equal categories
        whatever the input held. Reordering the narrow final codes rather than the wide
        input codes keeps the one random-access pass over millions of rows cheap."""
        codes = self.codes[rows]
        used = np.flatnonzero(np.bincount(codes + 1, minlength=len(self.values))[1:])
        text = pd.Series(self.values[used], dtype="object").astype("str")
        # Distinct values may still be equal as text (1 and "1"): factorizing merges them.
        ranks, categories = pd.factorize(text, sort=True)
        # Codes go straight into the narrowest integer type pandas would pick; they are
        # valid by construction, so skipping the check saves two passes over every row.
        lookup = np.full(len(self.values), -1, dtype=code_type(len(categories)))
        lookup[used] = ranks
        codes = lookup[codes] if order is None else lookup[codes][order]
        return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(pd.Index(categories, dtype="str")),
                                         validate=False)

    def text(self, rows) -> pd.api.extensions.ExtensionArray:
        """The values of ``rows`` as ``str``, gathered from the distinct values (one small array)."""
        return pd.array(self.values, dtype="str").take(self.codes[rows], allow_fill=True)

    def merged(self) -> Coded:
        """The same column with equal values under one code (``map`` may give many codes
        one value).

        Examples:
            >>> kind = Coded(pd.Series(["124.0", "125", "126.1"])).map(lambda v: "exact" if "." in v else "major")
            >>> merged = kind.merged()
            >>> merged.codes.tolist(), merged.values.tolist()
            ([0, 1, 0], ['exact', 'major', None])
        """
        value_code, uniques = pd.factorize(self.values[:-1])
        codes = np.append(value_code, -1)[self.codes]
        return Coded(codes=codes, values=np.array([*np.asarray(uniques, dtype=object), None], dtype=object))

    def map(self, function) -> Coded:
        """``function`` of each distinct present value (NA stays NA)."""
        return Coded(codes=self.codes,
                      values=np.array([*(function(value) for value in self.values[:-1]), None], dtype=object))


def category(codes: np.ndarray, values) -> pd.Categorical:
    """``values[codes]`` as a categorical (code -1 or a ``None`` value: NA) whose categories
    are the distinct texts used, sorted: text held once per distinct value, not per row.

    Examples:
        >>> category(np.array([2, 0, -1, 2]), ["b", None, "a"]).tolist()
        ['a', 'b', nan, 'a']
    """
    values = np.asarray(values, dtype=object)
    # Marked in place (code -1 marks the spare last slot): no array of the codes' size is made.
    used = np.zeros(len(values) + 1, dtype=bool)
    used[codes] = True
    used = used[:-1] & np.array([isinstance(value, str) for value in values], dtype=bool)
    texts = pd.Index(values[used], dtype="str")
    # A categorical's own categories come sorted and distinct already (a timeline's users,
    # tens of thousands): their codes are their order, with no sort of the text.
    if texts.is_monotonic_increasing and texts.is_unique:
        categories, ranks = texts, np.arange(len(texts))
    else:
        ranks, categories = pd.factorize(texts, sort=True)
    position = np.full(len(values) + 1, -1, dtype=code_type(len(categories)))  # the last slot answers code -1
    position[:-1][used] = ranks
    return pd.Categorical.from_codes(position[codes], dtype=pd.CategoricalDtype(categories), validate=False)


def dense(key: np.ndarray, size: int, room: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(key, sort=True)`` of non-negative ``key`` below ``size``.

    Where ``size`` is not much more than the number of keys (at most ``room`` times: dates
    x devices of a timeline), marking the keys present in an array of that size sorts
    them with no hashing and no comparison sort. Hashing millions of mostly distinct keys
    costs several times a pass over an array a dozen times their number.

    Examples:
        >>> [part.tolist() for part in dense(np.array([7, 3, 7]), 10)]
        [[1, 0, 1], [3, 7]]
    """
    if size > room * len(key) + 1024:
        return pd.factorize(key, sort=True)
    present = np.zeros(size, dtype=bool)
    present[key] = True
    keys = np.flatnonzero(present)
    # Each present key's code written in place, in the narrowest integer that holds it: no
    # running sum over the whole range, whose fresh pages (8 bytes a slot) cost more in page
    # faults than the sum itself (a timeline's newest clients: 2.0M keys in a 15.5M range).
    lookup = np.empty(size, dtype=code_type(len(keys)))
    lookup[keys] = np.arange(len(keys), dtype=lookup.dtype)
    return lookup[key].astype(np.int64), keys


def combine(codes: list[np.ndarray], sort: bool = True) -> np.ndarray:
    """One dense code per distinct tuple of integer codes (NA codes -1 allowed); in tuple
    order with ``sort``, else in any order (cheaper).

    The columns are packed into one int64 and hashed once; only a packing that would
    overflow is re-coded densely first, and a packing into a range not much larger than
    the rows is coded without hashing (see ``dense``).

    Examples:
        >>> combine([np.array([1, 0, 1, -1]), np.array([5, 5, 5, 5])]).tolist()
        [2, 1, 2, 0]
    """
    key = np.zeros(len(codes[0]) if codes else 0, dtype="int64")
    size = 1
    for column in codes:
        width = int(column.max(initial=0)) + 2
        if size * width >= 2**63:
            key = pd.factorize(key, sort=sort)[0]
            size = int(key.max(initial=0)) + 1
        # In place: the key is this function's own, and a fresh array per column (millions
        # of rows) costs more in page faults than the arithmetic.
        key *= width
        key += column
        key += 1
        size *= width
    return dense(key, size)[0] if sort or size <= 4 * len(key) + 1024 else pd.factorize(key)[0]


def pack(high, low, size: int) -> np.ndarray:
    """One int64 per pair of codes, ``high * size + low`` (``low`` below ``size``): pairs sort,
    compare and hash as one integer, in ``(high, low)`` order; ``unpack`` gives them back.

    Unlike ``np.ravel_multi_index`` it takes a ``high`` of -1 (a code that names nothing):
    its pairs are negative and meet no pair of real codes.

    Examples:
        >>> pack(np.array([0, 2, -1]), np.array([3, 1, 4]), 5).tolist()
        [3, 11, -1]
        >>> [part.tolist() for part in unpack(np.array([3, 11]), 5)]
        [[0, 2], [3, 1]]
    """
    return np.asarray(high, dtype="int64") * size + low


def unpack(key: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``(high, low)`` codes of non-negative keys made by ``pack``."""
    return np.divmod(key, size)


def distinct_rows(frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Each row's code and the distinct rows it points to (index 0..n-1), in the order they
    first appear (``drop_duplicates``'s); NA equals NA. Work done on the distinct rows is
    done once per distinct tuple, and ``answer.iloc[codes]`` spreads it back over the rows.

    Examples:
        >>> frame = pd.DataFrame({"product": ["ios", "ios", None, "ios"], "version": ["17.1", "17.2", "1", "17.1"]})
        >>> codes, distinct = distinct_rows(frame)
        >>> codes.tolist(), distinct.values.tolist()
        ([0, 1, 2, 0], [['ios', '17.1'], ['ios', '17.2'], [nan, '1']])
    """
    key = combine([value_codes(frame[column])[0] for column in frame.columns], sort=False)
    first = firsts(key)
    # Renumber by first appearance, so the distinct rows come in the frame's own order.
    order = np.argsort(first, kind="stable")
    renumbered = np.empty(len(order), dtype="int64")
    renumbered[order] = np.arange(len(order))
    return renumbered[key], frame.take(first[order]).reset_index(drop=True)


def firsts(codes: np.ndarray) -> np.ndarray:
    """The index of the first row holding each dense code, in code order."""
    first = np.full(int(codes.max(initial=-1)) + 1, len(codes), dtype="int64")
    np.minimum.at(first, codes, np.arange(len(codes)))
    return first


def best_rows(groups: np.ndarray, n_groups: int, rows: np.ndarray, *ranks: np.ndarray) -> np.ndarray:
    """Per group, the sightings row that is greatest by ``ranks`` (most significant first).

    ``ranks`` are small non-negative integers per sightings row; ties go to the later
    row. The ranks are packed into one int64 per pair and reduced with one unordered
    maximum, so no sort over the pairs is needed.

    Examples:
        >>> best_rows(np.array([0, 0, 1]), 2, np.array([0, 1, 2]), np.array([5, 3, 1])).tolist()
        [0, 2]
    """
    n_rows = len(ranks[0]) if ranks else 1
    key = np.zeros(len(rows), dtype="int64")
    bound = 1  # key < bound: known without a pass over the pairs
    for rank, size in [*((rank[rows], int(rank.max(initial=0)) + 1) for rank in ranks), (rows, n_rows)]:
        if bound * size >= 2**63:
            # Re-rank densely (order kept) rather than overflow on a very large store.
            key = pd.factorize(key, sort=True)[0]
            bound = int(key.max(initial=0)) + 1
        key = key * size + rank
        bound *= size
    best = np.full(n_groups, -1, dtype="int64")
    np.maximum.at(best, groups, key)
    return best % n_rows


def row_combinations(n: int, width: int, cells) -> tuple[np.ndarray, np.ndarray]:
    """Per row of an ``n`` x ``width`` grid of codes, the code of its distinct row; and the
    distinct rows (in code order).

    ``cells`` are ``(row, column, code)`` arrays, -1 where no cell is given; ``(None, c,
    code)`` gives column ``c`` of every row in order. The grid itself is never built (a
    timeline has millions of rows and mostly empty client columns): each column's codes
    are packed into one int64 per row where given.

    Examples:
        >>> combo, grid = row_combinations(3, 2, [(None, 0, np.array([5, 5, 7])),
        ...                                       (np.array([1]), np.array([1]), np.array([2]))])
        >>> combo.tolist(), grid.tolist()
        ([0, 1, 2], [[5, -1], [5, 2], [7, -1]])
    """
    # Each kind of cell grouped by column once (a radix sort of the narrow slots), not a mask
    # over every cell per column: a timeline has millions of cells and a dozen columns.
    by_column, whole = [], {}
    for row, slot, code in cells:
        if row is None:
            whole[slot] = code
            continue
        counts = np.bincount(slot, minlength=width)
        bounds = np.concatenate([[0], np.cumsum(counts)])
        if counts.max(initial=0) == len(slot):
            # Every cell in one column: grouped already, no copy.
            by_column.append((row, code, bounds))
            continue
        order = np.argsort(slot.astype(code_type(width)), kind="stable")
        # Narrow copies: rows and codes fit 32 bits, and a timeline's cells are millions.
        by_column.append((row.astype(np.int32)[order], code.astype(np.int32)[order], bounds))
    # Each column's digit added at its place value (the product of the widths before it), only
    # where a cell is given: no pass over every row per column.
    key, size = np.zeros(n, dtype="int64"), 1
    for column in range(width):
        given = [(row[bounds[column]:bounds[column + 1]], code[bounds[column]:bounds[column + 1]])
                 for row, code, bounds in by_column]
        codes = [code for _, code in given] + ([whole[column]] if column in whole else [])
        # The codes a column holds, renumbered from 1 (0: no cell, or -1): a column holds one
        # product's answers, far fewer than all parts', so the packed key rarely overflows
        # (a second hashing pass over every row).
        present = np.zeros(max([int(code.max(initial=-1)) for code in codes] + [-1]) + 2, dtype=bool)
        for code in codes:
            present[code + 1] = True
        present[0] = False
        renumbered = np.cumsum(present)
        width_here = int(renumbered[-1]) + 1
        if size * width_here >= 2**63:
            key = pd.factorize(key)[0]
            size = int(key.max(initial=0)) + 1
        for row, code in given:
            key[row] += renumbered[code + 1] * size
        if column in whole:
            # A column of every row: added in place, with no scatter.
            digit = renumbered[whole[column] + 1]
            digit *= size
            key += digit
        size *= width_here
    del by_column, given  # the grouped copies, before hashing the keys
    combo = pd.factorize(key)[0]
    first = firsts(combo)
    # The distinct rows' cells: each row of the grid to its place among them, if any.
    place = np.full(n, -1, dtype=code_type(len(first)))
    place[first] = np.arange(len(first))
    grid = np.full((len(first), width), -1, dtype="int64")
    for column, code in whole.items():
        grid[:, column] = code[first]
    for row, slot, code in cells:
        if row is None:
            continue
        at = place[row]
        kept = np.flatnonzero(at >= 0)
        grid[at[kept], slot[kept]] = code[kept]
    return combo, grid


def value_codes(column: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Each row's code and the distinct values it points to, NA being a value of its own.

    A categorical column answers from its codes, without hashing a row of text, so later
    stages can work per distinct value of text or categoricals alike.

    Examples:
        >>> codes, values = value_codes(pd.Series(["Oslo", None, "Oslo"], dtype="category"))
        >>> codes.tolist(), values.tolist()
        ([0, 1, 0], ['Oslo', None])
    """
    if not isinstance(column.dtype, pd.CategoricalDtype):
        return pd.factorize(column, use_na_sentinel=False)
    codes = column.cat.codes.to_numpy().astype("int64")
    values = column.cat.categories.astype(object)
    return np.where(codes < 0, len(values), codes), values.insert(len(values), None)
