"""Accuracy of clients.describe per field over the hand-checked set in tests/data/user_agents.csv.

Also scores the stock ua-parser reading of the fields it has (OS version, client family
and version) against the same truth, to show what the project rules and freeze rules add.
Prints one JSON line, then a small table.

    .venv/bin/python benchmarks/clients_accuracy.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from fleetanalysis import clients
from fleetanalysis.config import PROJECT_ROOT

DEFAULT_SET = PROJECT_ROOT / "tests" / "data" / "user_agents.csv"


def score(expected: pd.DataFrame) -> pd.DataFrame:
    """Per field: rows, correct, accuracy, and the share stock ua-parser gets (where comparable)."""
    import ua_parser

    found = clients.describe(expected["user_agent"]).astype(object).where(lambda frame: frame.notna(), "")
    parsed = expected["user_agent"].map(ua_parser.parse)
    stock = pd.DataFrame({
        "os_version": parsed.map(lambda result: ".".join(
            part for part in (result.os.major, result.os.minor, result.os.patch) if part) if result.os else ""),
        "client_version": parsed.map(lambda result: ".".join(
            part for part in (result.user_agent.major, result.user_agent.minor, result.user_agent.patch,
                              result.user_agent.patch_minor) if part) if result.user_agent else ""),
    })
    rows = []
    for field in clients.COLUMNS:
        right = found[field].astype(str).eq(expected[field])
        baseline = stock[field].eq(expected[field]).mean() if field in stock else float("nan")
        rows.append({"field": field, "rows": len(expected), "correct": int(right.sum()),
                     "accuracy": round(float(right.mean()), 4), "stock_ua_parser": round(float(baseline), 4)})
    return pd.DataFrame(rows)


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--set", type=Path, default=DEFAULT_SET, help="CSV: user_agent plus the expected columns")
    args = options.parse_args()
    expected = pd.read_csv(args.set, dtype=str, keep_default_na=False)
    table = score(expected)
    every = table["correct"].sum() / table["rows"].sum()
    print(json.dumps({"rows": len(expected), "overall": round(float(every), 4),
                      **dict(zip(table["field"], table["accuracy"]))}))
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
