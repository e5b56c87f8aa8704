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
import pandas as pd

from fleetanalysis.errors import BadInput

# OWASP's list of characters a spreadsheet treats as the start of a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# C0/C1 control characters but tab and newline: ESC starts the escape sequences that let
# text retitle a terminal or rewrite what it shows when a file is cat; a bare carriage
# return is left unquoted by pandas' CSV writer, so it would start a new row in a reader.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

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
