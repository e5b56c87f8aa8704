"""Writing files safely: one writer at a time, atomically, and formula-safe CSV.

Every edge that writes a file goes through here, so that nobody ever opens a
half-written store or report, two runs never overwrite each other's work
(``locked``: an inter-process lock held across read, merge and write), a killed
run's temporary files are cleaned by the next (``remove_temporaries``), and a CSV
exported from attacker-shaped log text cannot run a formula in a spreadsheet.

Examples:
    >>> import pandas as pd
    >>> neutralise_formulas(pd.DataFrame({"ua": ["=HYPERLINK(1)", "Mozilla/5.0", "-2", None]}))["ua"].tolist()
    ["'=HYPERLINK(1)", 'Mozilla/5.0', "'-2", nan]
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import filelock

from fleetanalysis.errors import BadInput

# OWASP's list of characters a spreadsheet treats as the start of a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Spaces a spreadsheet may trim on import before it looks for a formula.
_LEADING_SPACE = " \u00a0"
# A spreadsheet whose list separator is ";" (Excel in German or French) ends an unquoted
# cell at each ";": the text after one is a cell of its own, and must not start a formula.
_FORMULA_AFTER_SEMICOLON = re.compile(f";[{_LEADING_SPACE}]*[{re.escape(''.join(FORMULA_START))}]")
# The one list of characters no output shows as they are. C0/C1 controls but tab and
# newline: ESC starts the escape sequences that let text retitle a terminal or rewrite what
# it shows when a file is cat; a bare carriage return is left unquoted by pandas' CSV
# writer, so it would start a new row in a reader. Bidirectional overrides and isolates
# (U+202A-202E, U+2066-2069, the "Trojan Source" characters) reorder what a terminal or
# spreadsheet displays, and zero-width characters (U+200B-200F, U+FEFF) hide text or make
# two different names look alike.
_INVISIBLE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff"
CONTROL = re.compile(f"[{_INVISIBLE}]")
# For one-line messages: tab and newline too, so a file name cannot forge a second line.
CONTROL_IN_LINE = re.compile(f"[\t\n{_INVISIBLE}]")

# mkstemp makes private (0600) files; a finished file gets the mode open() would give it.
_UMASK = os.umask(0)
os.umask(_UMASK)

# How long a run waits for another run writing the same file: a scheduled ingest of a
# big export takes minutes, a person starting one by hand should not wait for hours.
LOCK_WAIT_SECONDS = 600.0
LOCK_WAIT_VARIABLE = "FLEETANALYSIS_LOCK_WAIT"


def lock_path(target: str | os.PathLike) -> Path:
    """The lock file guarding ``target``: hidden, beside it (so folder reads skip it).

    >>> lock_path("data/processed/access.parquet").name
    '.access.parquet.lock'
    """
    target = Path(target)
    return target.with_name(f".{target.name}.lock")


def _say_waiting(message: str) -> None:
    print(f"fleetanalysis: {message}", file=sys.stderr, flush=True)


def lock_wait() -> float:
    """Seconds to wait for another writer: ``$FLEETANALYSIS_LOCK_WAIT``, else ``LOCK_WAIT_SECONDS``.

    >>> lock_wait() > 0
    True
    """
    text = os.environ.get(LOCK_WAIT_VARIABLE, "").strip()
    if not text:
        return LOCK_WAIT_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise BadInput(f"${LOCK_WAIT_VARIABLE}", f"{text!r} is not a number of seconds >= 0")
    return seconds


@contextlib.contextmanager
def locked(target: str | os.PathLike, *, wait: float | None = None,
           on_wait: Callable[[str], None] = _say_waiting) -> Iterator[Path]:
    """Hold the inter-process lock of ``target`` (its ``lock_path``) for the body.

    Use it around every read-merge-write of a file that several runs may update (the
    access store, the nudge state, the reports folder), so that the second run merges
    into what the first wrote instead of overwriting it. When another process holds
    the lock, ``on_wait`` gets one line and the run waits up to ``wait`` seconds
    (default ``lock_wait()``); then ``BadInput`` naming ``target``. Once held, the
    temporary files a killed writer of ``target`` left are removed. The operating
    system drops the lock of a process that dies, so a killed run never blocks the next.
    Yields the lock file's path.

    >>> import pathlib, tempfile
    >>> store = pathlib.Path(tempfile.mkdtemp()) / "access.parquet"
    >>> with locked(store):
    ...     _ = write_text(store, "merged")
    >>> store.read_text()
    'merged'
    """
    target = Path(target)
    wait = lock_wait() if wait is None else wait
    path = lock_path(target)
    lock = filelock.FileLock(path)
    try:
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            on_wait(f"{target}: another fleetanalysis run is writing it; waiting up to {wait:g} s")
            try:
                lock.acquire(timeout=wait)
            except filelock.Timeout:
                raise BadInput(target, f"another fleetanalysis run kept it locked for {wait:g} s "
                               f"({path}); try again when that run has finished") from None
    except OSError as error:
        raise BadInput(target, f"cannot create its lock file {path.name} ({error.strerror or error})") from None
    try:
        remove_temporaries(target)
        yield path
    finally:
        lock.release()


def remove_temporaries(target: str | os.PathLike) -> list[Path]:
    """Remove the temporary files ``atomic_path`` left beside ``target``; return them.

    Only while holding ``locked(target)`` (or the lock that guards every writer of
    ``target``): then no live process is writing one, so each is a killed run's.

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / ".access.parquet.k3j9.tmp").write_bytes(b"PAR1")
    >>> [path.name for path in remove_temporaries(folder / "access.parquet")]
    ['.access.parquet.k3j9.tmp']
    """
    target = Path(target)
    removed = []
    for leftover in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
            removed.append(leftover)
    return removed


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
    except OSError as error:
        # Arrow's write errors (a full disk) name no file: name the one being written.
        if error.filename is None:
            error.filename = str(target)
        raise
    finally:
        temporary.unlink(missing_ok=True)


def write_text(target: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``target`` atomically and return the path."""
    with atomic_path(target) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(target)


def _escaped(found: re.Match) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str, *, one_line: bool = False) -> str:
    r"""``text`` with control, bidirectional and zero-width characters shown as ``\xNN``/``\uNNNN``.

    Tab and newline are kept, unless ``one_line`` (a message that must stay one line).

    >>> escape_controls("\x1b]0;owned\x07 ok")
    '\\x1b]0;owned\\x07 ok'
    >>> escape_controls("invoice\u202egpj.exe\u200b")
    'invoice\\u202egpj.exe\\u200b'
    >>> escape_controls("a\nb", one_line=True)
    'a\\x0ab'
    """
    return (CONTROL_IN_LINE if one_line else CONTROL).sub(_escaped, text)


def strip_controls(text: str) -> str:
    r"""``text`` without the characters ``escape_controls`` would show (for text that is
    read, such as a kernel's error: colour codes are noise there, not content).

    >>> strip_controls("\x1b[0;31mKeyError\x1b[0m")
    '[0;31mKeyError[0m'
    """
    return CONTROL.sub("", text)


def _json_value(value) -> str:
    """A value ``json`` cannot write (a timestamp, a date) as ISO 8601 text, else as text."""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def json_text(records) -> str:
    r"""``records`` as indented JSON text that is safe on a terminal: the characters
    ``escape_controls`` shows are written as JSON ``\uNNNN`` escapes (the same value once parsed),
    and times as ISO 8601 text.

    >>> print(json_text([{"office": "Par\u202eis", "n": 1}]), end="")
    [
     {
      "office": "Par\u202eis",
      "n": 1
     }
    ]
    >>> import pandas as pd
    >>> print(json_text([{"sent": pd.Timestamp("2026-05-01 09:00", tz="UTC")}]), end="")
    [
     {
      "sent": "2026-05-01T09:00:00+00:00"
     }
    ]
    """
    import json

    text = json.dumps(records, ensure_ascii=False, indent=1, default=_json_value)
    return CONTROL.sub(lambda found: f"\\u{ord(found.group()):04x}", text) + "\n"


def check_writable(target: str | os.PathLike, what: str = "file") -> Path:
    """``target`` if a file can be written there; else ``BadInput`` naming it and why.

    Called before a job starts, so that a store, report or state file that cannot be
    written stops the run at once instead of after the work: the target must not be a
    folder, and its nearest existing folder must be a writable folder (not a file, not
    on a read-only file system). A missing folder is fine (it is created on writing).

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> check_writable(folder / "new" / "access.parquet", "store") == folder / "new" / "access.parquet"
    True
    >>> check_writable(folder, "store")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    fleetanalysis.errors.BadInput: ...: is a folder, not a store file
    """
    target = Path(target)
    if target.is_dir():
        raise BadInput(target, f"is a folder, not a {what} file")
    _check_creatable(target.parent, f"the {what} {target}")
    return target


def check_folder(folder: str | os.PathLike, what: str = "folder") -> Path:
    """``folder`` if files can be created in it (or in the folder that will hold it); else ``BadInput``.

    >>> import pathlib, tempfile
    >>> under_a_file = pathlib.Path(tempfile.mkstemp()[1]) / "reports"
    >>> check_folder(under_a_file, "reports folder")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    fleetanalysis.errors.BadInput: ...: is a file, not a folder: cannot write the reports folder .../reports
    """
    folder = Path(folder)
    _check_creatable(folder, f"the {what} {folder}")
    return folder


def _check_creatable(folder: Path, purpose: str) -> None:
    existing = folder
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise BadInput(existing, f"is a file, not a folder: cannot write {purpose}")
    # access() reports EROFS even to root, who passes every permission check.
    if not os.access(existing, os.W_OK | os.X_OK):
        read_only = os.statvfs(existing).f_flag & os.ST_RDONLY
        raise BadInput(existing, "read-only file system" if read_only else "permission denied",
                       f"cannot write {purpose}")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    r"""Prefix text cells that a spreadsheet would run as a formula with a single quote,
    and show control characters as ``\xNN`` (see ``escape_controls``).

    >>> import pandas as pd
    >>> neutralise_formulas(pd.DataFrame({"user": ["=\x1b[2J", "\x1b[31mok", "fine"]}))["user"].tolist()
    ["'=\\x1b[2J", '\\x1b[31mok', 'fine']
    """
    return change_text_cells(frame, lambda cell: _formula(cell) or CONTROL.search(cell) is not None, safe_cell)


def change_text_cells(frame: pd.DataFrame, wanted, change) -> pd.DataFrame:
    r"""A copy of ``frame`` in which every text cell that ``wanted(cell)`` picks is
    ``change(cell)``; columns without such a cell are left as they are.

    >>> import pandas as pd
    >>> change_text_cells(pd.DataFrame({"a": ["x!", "y"], "n": [1, 2]}), lambda cell: "!" in cell,
    ...                   str.upper)["a"].tolist()
    ['X!', 'y']
    """
    import pandas as pd  # here, so that a few lines of output (``fleetanalysis ua``) need no pandas

    changed = frame.copy()
    for column in changed.columns:
        values = changed[column]
        if not (pd.api.types.is_string_dtype(values) or pd.api.types.is_object_dtype(values)
                or isinstance(values.dtype, pd.CategoricalDtype)):
            continue
        text = values.astype("object")
        picked = text.map(lambda cell: isinstance(cell, str) and bool(wanted(cell)))
        if picked.any():
            changed[column] = text.where(~picked, text[picked].map(change))
    return changed


def safe_cell(text: str) -> str:
    r"""One CSV cell of ``neutralise_formulas``: control characters shown, a formula start quoted.

    >>> safe_cell("=1+1"), safe_cell(" =1+1"), safe_cell("\x1b[31mok"), safe_cell("fine")
    ("'=1+1", "' =1+1", '\\x1b[31mok', 'fine')
    """
    cleaned = escape_controls(text)
    return "'" + cleaned if _formula(cleaned) else cleaned


def _formula(cell: str) -> bool:
    """Whether a spreadsheet could read ``cell`` as a formula, after trimming leading spaces."""
    return cell.lstrip(_LEADING_SPACE).startswith(FORMULA_START)


def csv_quoting(cells) -> int:
    """How to quote a formula-safe table's cells (``neutralise_formulas``): every text cell
    when one holds a ";" before a formula start, which a spreadsheet splitting at ";" would
    run, since it keeps a quoted cell whole; else only where CSV needs it.

    >>> import csv
    >>> csv_quoting(["Oslo", "a; b"]) == csv.QUOTE_MINIMAL, csv_quoting([";=cmd|' /C calc'!A0;"]) == csv.QUOTE_NONNUMERIC
    (True, True)
    """
    import csv

    risky = any(isinstance(cell, str) and ";" in cell and _FORMULA_AFTER_SEMICOLON.search(cell) for cell in cells)
    return csv.QUOTE_NONNUMERIC if risky else csv.QUOTE_MINIMAL


def text_cells(frame: pd.DataFrame) -> Iterator:
    """Every cell of ``frame``'s text (and categorical) columns."""
    import pandas as pd

    for column in frame.columns:
        values = frame[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            yield from values.cat.categories
        elif pd.api.types.is_string_dtype(values) or pd.api.types.is_object_dtype(values):
            yield from values


def write_csv(frame: pd.DataFrame, target: str | os.PathLike, **to_csv) -> Path:
    """Write ``frame`` as formula-safe CSV, atomically."""
    safe = neutralise_formulas(frame)
    with atomic_path(target) as temporary:
        safe.to_csv(temporary, index=False, quoting=csv_quoting(text_cells(safe)), **to_csv)
    return Path(target)


def write_parquet(frame: pd.DataFrame, target: str | os.PathLike) -> Path:
    """Write ``frame`` as Parquet, atomically."""
    with atomic_path(target) as temporary:
        frame.to_parquet(temporary, index=False)
    return Path(target)
