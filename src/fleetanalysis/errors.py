"""The two ways a run can end badly, and how the CLI reports them.

``BadInput`` is the user's mistake (a missing file, an unreadable export, a bad option):
the CLI prints its message as one line and exits 2, never a traceback. Its message
names the file, the record and the problem. ``JobFailed`` is a job that could not
finish (a notebook cell raised, Slack refused): exit 1.

A filesystem fault (disk full, read-only file system, no permission, a folder where a
file should be) is the user's to fix too: ``filesystem_problem`` turns the ``OSError``
into a ``BadInput`` naming the file, and ``reading_problem`` says in words why a file
could not be read (never an exception's class name).

Examples:
    >>> str(BadInput("logs.json", "record 3", "no user agent"))
    'logs.json: record 3: no user agent'
"""

from __future__ import annotations

import errno
import re

_FAULTS = {
    errno.ENOSPC: "no space left on the device (free some space and run again)",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "already exists",
    errno.ENAMETOOLONG: "file name too long",
    errno.ELOOP: "too many levels of symbolic links",
    errno.EFBIG: "file too large",
    errno.EMLINK: "too many links",
    errno.ENOENT: "no such file or folder",
}
# Arrow reports a failed write as OSError without errno, its number only in the text.
_ERRNO_IN_TEXT = re.compile(r"\[errno (\d+)\]", re.IGNORECASE)


class BadInput(ValueError):
    """Input the user gave cannot be used; exit status 2."""

    def __init__(self, *parts: object) -> None:
        super().__init__(": ".join(str(part) for part in parts if part not in (None, "")))


class JobFailed(RuntimeError):
    """A job ran but could not finish; exit status 1."""


def filesystem_problem(error: OSError) -> BadInput | None:
    """The ``BadInput`` for a filesystem fault the user can fix, or ``None`` for another error.

    >>> import os
    >>> filesystem_problem(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "data/access.parquet"))
    BadInput('data/access.parquet: no space left on the device (free some space and run again)')
    >>> filesystem_problem(OSError("[Errno 30] Error writing bytes to file. Detail: [errno 30] Read-only file system"))
    BadInput('read-only file system')
    >>> filesystem_problem(ConnectionResetError()) is None
    True
    """
    fault = _fault(error)
    # os.replace(temporary, target) names the target second.
    return None if fault is None else BadInput(error.filename2 or error.filename, fault)


def _fault(error: OSError) -> str | None:
    """``_FAULTS``' words for the error's number (from the text when Arrow gave none)."""
    number = error.errno
    if number is None:
        found = _ERRNO_IN_TEXT.search(" ".join(str(part) for part in error.args))
        number = int(found.group(1)) if found else None
    return _FAULTS.get(number)


def reading_problem(error: BaseException) -> str:
    r"""Why a file could not be read, in words a user acts on (never an exception's class
    name): a filesystem fault as ``filesystem_problem`` words it, bytes that are not UTF-8
    and where, an empty file, a file not of its kind; the caller names the file.

    >>> import os
    >>> reading_problem(IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), "adir"))
    'is a folder, not a file'
    >>> reading_problem(UnicodeDecodeError("utf-8", b"a\xff", 1, 2, "invalid start byte"))
    'not UTF-8 (byte 0xff at offset 1); re-save the file as UTF-8'
    >>> import pandas as pd
    >>> reading_problem(pd.errors.EmptyDataError("No columns to parse from file"))
    'empty: no header and no rows'
    >>> reading_problem(ValueError("Parquet magic bytes not found in footer.\nEither the file is corrupted"))
    'not readable as this kind of file (Parquet magic bytes not found in footer.)'
    """
    if isinstance(error, UnicodeDecodeError):
        return f"not UTF-8 (byte 0x{error.object[error.start]:02x} at offset {error.start}); re-save the file as UTF-8"
    if isinstance(error, OSError):
        # Arrow raises FileNotFoundError and the like without a number: their class says it.
        kinds = {FileNotFoundError: errno.ENOENT, IsADirectoryError: errno.EISDIR,
                 NotADirectoryError: errno.ENOTDIR, PermissionError: errno.EACCES}
        fault = _fault(error) or _FAULTS.get(kinds.get(type(error)))
        if fault is not None:
            return fault
    if type(error).__name__ == "EmptyDataError":
        return "empty: no header and no rows"
    said = str(error).strip()
    return f"not readable as this kind of file ({said.splitlines()[0] if said else type(error).__name__})"


