"""What the commands print: one-line messages safe for a terminal, the one table writer
(table/csv/json, with ``write_rows`` its pandas-free twin for a few rows of text) and the
ingest counts."""

from __future__ import annotations

import sys


def printable(text: object) -> str:
    r"""Text for a one-line terminal message: control, bidirectional and zero-width characters
    from file names or log content (ANSI escapes, newlines, U+202E) are shown as ``\xNN`` or
    ``\uNNNN`` instead of being acted on by the terminal (``writing.escape_controls``).

    >>> printable("evil\x1b[31m.json")
    'evil\\x1b[31m.json'
    """
    from fleetanalysis.writing import escape_controls

    return escape_controls(str(text), one_line=True)


def write_table(table, style: str, empty: str | None = None) -> None:
    r"""``table`` on stdout, the one writer of every command's table: ``json`` (a list of
    objects, null for missing), ``csv`` (formula-safe) or ``table`` (aligned text, or
    ``empty`` when there are no rows and it is given); in every style text from the logs
    or the directory cannot act on the terminal.

    >>> import pandas as pd
    >>> write_table(pd.DataFrame({"office": ["=1+1", "Oslo"], "n": [1, None]}), "csv")
    office,n
    '=1+1,1.0
    Oslo,
    >>> write_table(pd.DataFrame({"office": ["\x1b[2J"]}), "table")
     office
    \x1b[2J
    >>> write_table(pd.DataFrame({"office": []}), "table", empty="No offices.")
    No offices.
    """
    from fleetanalysis.writing import csv_quoting, escape_controls, json_text, neutralise_formulas, text_cells

    if style == "json":
        sys.stdout.write(json_text(table.astype(object).where(table.notna(), None).to_dict("records")))
    elif style == "csv":
        safe = neutralise_formulas(table)
        safe.to_csv(sys.stdout, index=False, quoting=csv_quoting(text_cells(safe)))
    elif table.empty and empty is not None:
        print(empty)
    else:
        print(table.map(lambda cell: escape_controls(cell) if isinstance(cell, str) else cell).to_string(index=False))


def write_rows(rows: list[dict], columns: list[str], style: str) -> None:
    r"""Rows of text (None for missing) on stdout as csv or json, byte for byte what
    ``write_table`` writes for the same table, without importing pandas.

    >>> write_rows([{"office": "=1+1", "n": None}, {"office": "Oslo", "n": "2"}], ["office", "n"], "csv")
    office,n
    '=1+1,
    Oslo,2
    """
    import csv

    from fleetanalysis.writing import csv_quoting, json_text, safe_cell

    if style == "json":
        sys.stdout.write(json_text([{column: row[column] for column in columns} for row in rows]))
        return
    cells = [["" if row[column] is None else safe_cell(row[column]) for column in columns] for row in rows]
    # pandas' CSV writer is the csv module with these settings.
    writer = csv.writer(sys.stdout, lineterminator="\n",
                        quoting=csv_quoting(cell for line in cells for cell in line))
    writer.writerow(columns)
    writer.writerows(cells)


def print_merge(counts, problems, store_path) -> None:
    from fleetanalysis import store

    unchanged = counts["unchanged"].tolist() if "unchanged" in counts else [False] * len(counts)
    for row, skipped in zip(counts.itertuples(index=False), unchanged):
        if skipped:
            # Of several files, the total line counts the unchanged ones: a weekly job that
            # re-reads a year of pages prints the files it read, not one line per page it skipped.
            if len(counts) == 1:
                print(f"{printable(row.file)}: {row.format}: unchanged, skipped (read 0 this run)")
            continue
        print(f"{printable(row.file)}: {row.format}: read {row.read}, loaded {row.loaded}, "
              f"rejected {row.rejected}, duplicates {row.duplicates}")
    if len(counts) > 1:
        total = counts[["read", "loaded", "rejected", "duplicates"]].sum()
        skipped = f" ({sum(unchanged)} unchanged, skipped)" if any(unchanged) else ""
        print(f"total: {len(counts)} files{skipped}: read {total['read']}, loaded {total['loaded']}, "
              f"rejected {total['rejected']}, duplicates {total['duplicates']} -> {store_path}")
    for problem in problems:
        print(f"fleetanalysis: {printable(problem)}", file=sys.stderr)
    for row in counts[counts["conflicts"] > 0].itertuples(index=False):
        print(f"{printable(row.file)}: {row.conflicts} id conflicts (rows reusing the event id of a "
              "different event, kept as separate events)", file=sys.stderr)
    if counts["rejected"].sum():
        print(f"rejected rows and reasons: {store.rejected_path(store_path)}", file=sys.stderr)
