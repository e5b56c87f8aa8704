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
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

# OWASP's list of characters a spreadsheet treats as the start of a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# C0/C1 control characters but tab and newline: ESC starts the escape sequences that let
# text retitle a terminal or rewrite what it shows when a file is cat; a bare carriage
# return is left unquoted by pandas' CSV writer, so it would start a new row in a reader.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

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


def escape_controls(text: str) -> str:
    r"""``text`` with control characters (but tab and newline) shown as ``\xNN``.

    >>> escape_controls("\x1b]0;owned\x07 ok")
    '\\x1b]0;owned\\x07 ok'
    """
    return CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", text)


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    r"""Prefix text cells that a spreadsheet would run as a formula with a single quote,
    and show control characters as ``\xNN`` (see ``escape_controls``).

    >>> neutralise_formulas(pd.DataFrame({"user": ["=\x1b[2J", "\x1b[31mok", "fine"]}))["user"].tolist()
    ["'=\\x1b[2J", '\\x1b[31mok', 'fine']
    """
    safe = frame.copy()
    for column in safe.columns:
        values = safe[column]
        if not (pd.api.types.is_string_dtype(values) or pd.api.types.is_object_dtype(values)
                or isinstance(values.dtype, pd.CategoricalDtype)):
            continue
        text = values.astype("object")
        risky = text.map(lambda cell: isinstance(cell, str) and (cell.startswith(FORMULA_START)
                                                                 or CONTROL.search(cell) is not None))
        if risky.any():
            cleaned = text[risky].map(escape_controls)
            safe[column] = text.where(~risky, cleaned.where(~cleaned.str.startswith(FORMULA_START),
                                                            "'" + cleaned))
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
