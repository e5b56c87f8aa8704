"""The integer-code kernel: the same groups and first rows that pandas' own grouping gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fleetanalysis.codes import (category, combine, distinct_rows, firsts, pack, row_combinations, unpack,
                                 value_codes)


def _mixed(rows: int, seed: int) -> pd.DataFrame:
    """Every kind of column the stages group by, each with NA: text, categorical, float, bool, int, object."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "product": pd.Series(rng.choice(["ios", "chrome", None], rows), dtype="str"),
        "office": pd.Series(rng.choice(["Oslo", "Lima", None], rows), dtype="category"),
        "rank": rng.choice([1.0, 2.0, np.nan], rows),
        "spans": rng.choice([True, False], rows),
        "shown": rng.choice([0, 1, 3], rows),
        "own": pd.Series(rng.choice(["17.0.3", None], rows), dtype=object),
    })


@pytest.mark.parametrize("seed", range(20))
def test_distinct_rows_are_groupby_ngroup_and_drop_duplicates(seed):
    frame = _mixed(int(np.random.default_rng(seed).integers(0, 80)), seed)
    codes, distinct = distinct_rows(frame)
    expected = frame.groupby(list(frame.columns), dropna=False, sort=False).ngroup().to_numpy()
    np.testing.assert_array_equal(codes, expected)
    pd.testing.assert_frame_equal(distinct, frame.drop_duplicates(ignore_index=True))


def test_distinct_rows_spread_back_give_the_frame():
    frame = _mixed(200, 1)
    codes, distinct = distinct_rows(frame)
    pd.testing.assert_frame_equal(distinct.iloc[codes].reset_index(drop=True), frame)


def test_combine_sorted_is_the_tuple_order_and_firsts_the_first_row():
    codes = combine([np.array([2, 0, 2, 1, 0]), np.array([0, 5, 0, 5, 4])])
    assert codes.tolist() == [3, 1, 3, 2, 0]
    assert firsts(codes).tolist() == [4, 1, 3, 0]


def test_pack_sorts_as_the_pairs_and_unpack_gives_them_back():
    rng = np.random.default_rng(7)
    high, low = rng.integers(0, 50, 500), rng.integers(0, 30, 500)
    key = pack(high, low, 30)
    np.testing.assert_array_equal(np.argsort(key, kind="stable"), np.lexsort((low, high)))
    assert [part.tolist() for part in unpack(key, 30)] == [high.tolist(), low.tolist()]
    # A high code of -1 (nothing) packs below every real pair.
    assert pack(np.array([-1]), np.array([29]), 30)[0] < 0 <= key.min()


def test_value_codes_give_na_a_code_of_its_own_for_text_and_categoricals():
    for column in (pd.Series(["Oslo", None, "Oslo"]), pd.Series(["Oslo", None, "Oslo"], dtype="category")):
        codes, values = value_codes(column)
        assert codes.tolist() == [0, 1, 0] and values[0] == "Oslo" and pd.isna(values[1])


@pytest.mark.parametrize("seed", range(10))
def test_row_combinations_are_the_distinct_rows_of_the_whole_grid(seed):
    # Two kinds of cells, as a device's OS part (column 0) and its clients (columns 1-5).
    rng = np.random.default_rng(seed)
    n, width = 300, 6
    os_code = rng.integers(-1, 4, n)
    client_row, client_slot = np.divmod(rng.choice(n * (width - 1), 400, replace=False), width - 1)
    cells = [(np.arange(n), np.zeros(n, dtype="int64"), os_code),
             (client_row, client_slot + 1, rng.integers(0, 7, len(client_row)))]
    grid = np.full((n, width), -1)
    for row, slot, code in cells:
        grid[row, slot] = code
    combo, distinct = row_combinations(n, width, cells)
    assert (distinct[combo] == grid).all()
    assert len(distinct) == len(np.unique(grid, axis=0))


@pytest.mark.parametrize("values", [["Ana", "Zoë", "bo", "Åse", None],  # sorted distinct, as a categorical's
                                    ["bo", "Ana", "bo", "Zoë", None]])  # unsorted, repeated, as joined reasons
def test_category_is_the_sorted_text_used_whatever_order_the_values_come_in(values):
    codes = np.array([3, 0, -1, 2, 0, 4, 3])
    made = category(codes, values)
    expected = pd.Series([values[code] if code >= 0 else None for code in codes], dtype="str")
    assert made.categories.tolist() == sorted(set(expected.dropna()))
    assert pd.Series(made).astype("str").equals(expected)
