"""The two ways a run can end badly, and how the CLI reports them.

``BadInput`` is the user's mistake (a missing file, an unreadable export, a bad option):
the CLI prints its message as one line and exits 2, never a traceback. Its message
names the file, the record and the problem. ``JobFailed`` is a job that could not
finish (a notebook cell raised, Slack refused): exit 1.

A filesystem fault (disk full, read-only file system, no permission, a folder where a
file should be) is the user's to fix too: ``filesystem_problem`` turns the ``OSError``
into a ``BadInput`` naming the file.

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
    number = error.errno
    if number is None:
        found = _ERRNO_IN_TEXT.search(" ".join(str(part) for part in error.args))
        number = int(found.group(1)) if found else None
    if number not in _FAULTS:
        return None
    # os.replace(temporary, target) names the target second.
    return BadInput(error.filename2 or error.filename, _FAULTS[number])
