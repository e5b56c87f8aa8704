"""Writing files safely: atomically (temporary name, then rename) and formula-safe CSV.

Every edge that writes a file goes through here, so that nobody ever opens a
half-written store or report, and a CSV exported from attacker-shaped log text
cannot run a formula in a spreadsheet.

Examples:
    >>> import pandas as pd
    >>> neutralise_formulas(pd.DataFrame({"ua": ["=HYPERLINK(1)", "Mozilla/5.0", "-2", None]}))["ua"].tolist()
    ["'=HYPERLINK(1)", 'Mozilla/5.0', "'-2", nan]
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

# OWASP's list of characters a spreadsheet treats as the start of a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# mkstemp makes private (0600) files; a finished file gets the mode open() would give it.
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    On an exception the temporary file is removed and ``target`` is untouched.

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(folder / "out.txt") as tmp:
    ...     _ = tmp.write_text("done")
    >>> (folder / "out.txt").read_text()
    'done'
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        temporary.chmod(0o666 & ~_UMASK)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def write_text(target: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``target`` atomically and return the path."""
    with atomic_path(target) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(target)


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells that a spreadsheet would run as a formula with a single quote."""
    safe = frame.copy()
    for column in safe.columns:
        values = safe[column]
        if not (pd.api.types.is_string_dtype(values) or pd.api.types.is_object_dtype(values)
                or isinstance(values.dtype, pd.CategoricalDtype)):
            continue
        text = values.astype("object")
        risky = text.map(lambda cell: isinstance(cell, str) and cell.startswith(FORMULA_START))
        if risky.any():
            safe[column] = text.where(~risky, "'" + text.astype(str))
    return safe


def write_csv(frame: pd.DataFrame, target: str | os.PathLike, **to_csv) -> Path:
    """Write ``frame`` as formula-safe CSV, atomically."""
    with atomic_path(target) as temporary:
        neutralise_formulas(frame).to_csv(temporary, index=False, **to_csv)
    return Path(target)


def write_parquet(frame: pd.DataFrame, target: str | os.PathLike) -> Path:
    """Write ``frame`` as Parquet, atomically."""
    with atomic_path(target) as temporary:
        frame.to_parquet(temporary, index=False)
    return Path(target)
