"""The two ways a run can end badly, and how the CLI reports them.

``BadInput`` is the user's mistake (a missing file, an unreadable export, a bad option):
the CLI prints its message as one line and exits 2, never a traceback. Its message
names the file, the record and the problem. ``JobFailed`` is a job that could not
finish (a notebook cell raised, Slack refused): exit 1.

Examples:
    >>> str(BadInput("logs.json", "record 3", "no user agent"))
    'logs.json: record 3: no user agent'
"""

from __future__ import annotations


class BadInput(ValueError):
    """Input the user gave cannot be used; exit status 2."""

    def __init__(self, *parts: object) -> None:
        super().__init__(": ".join(str(part) for part in parts if part not in (None, "")))


class JobFailed(RuntimeError):
    """A job ran but could not finish; exit status 1."""
