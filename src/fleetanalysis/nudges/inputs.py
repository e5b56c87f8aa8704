"""The files a nudge run reads besides its state: a devices or league table, the opt-out list.

Each unusable file is one ``BadInput`` naming it and the problem.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from fleetanalysis.errors import BadInput, reading_problem

# Characters a pasted address carries unseen: zero-width spaces and joiners, direction marks
# and overrides, the word joiner, a byte-order mark.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
# A member pasted from Slack as a mention: "<@U0ANA0001>", "<@U0ANA0001|ana>".
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>", re.IGNORECASE)


def read_table(path: str | os.PathLike, what: str = "devices") -> pd.DataFrame:
    """A devices or league table saved as Parquet or CSV (``BadInput`` when unreadable).

    Examples:
        >>> read_table("no-such-file.parquet")
        Traceback (most recent call last):
        ...
        fleetanalysis.errors.BadInput: no-such-file.parquet: cannot read the devices table: no such file or folder
    """
    path = Path(path)
    if path.exists() and not path.is_file():
        # A FIFO would block the read forever.
        raise BadInput(path, f"cannot read the {what} table",
                       "is a folder, not a file" if path.is_dir() else "not a regular file")
    try:
        if path.suffix.lower() in (".csv", ".txt"):
            table = pd.read_csv(path)
        else:
            table = pd.read_parquet(path)
    except (OSError, ValueError, ImportError) as error:
        raise BadInput(path, f"cannot read the {what} table", reading_problem(error)) from None
    needed = {"devices": ["device_id", "user_id", "user", "verdict"],
              "league": ["office", "rank", "share"]}[what]
    missing = [column for column in needed if column not in table.columns]
    if missing:
        raise BadInput(path, f"not a {what} table", f"missing columns {', '.join(missing)}")
    return table


def read_opt_out(path: str | os.PathLike, directory: pd.DataFrame | None = None) -> set[str]:
    """User ids, emails and user names (one a line, ``#`` comments; lower case) of people
    who asked not to be nudged, with the user id the ``directory`` gives each listed email
    and the email it gives each listed id (a Slack access log names people by id and user
    name, never by email; Okta, Entra and CSV logs by email). Characters a paste carries
    unseen (zero-width spaces, direction marks) are dropped, and a pasted mention
    (``<@U0ANA0001>``) is its member id.

    Examples:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "opt-out.txt"
        >>> _ = path.write_bytes("\\ufeff# on leave\\nU0ANA0001\\nBo@X.io\\u200b  # ceo\\n<@U0CY00001|cy>\\n".encode())
        >>> sorted(read_opt_out(path))
        ['bo@x.io', 'u0ana0001', 'u0cy00001']
        >>> people = pd.DataFrame({"user_id": ["U0BO00007", "U0ANA0001"], "email": ["bo@x.io", "ana@x.io"]})
        >>> sorted(read_opt_out(path, people))
        ['ana@x.io', 'bo@x.io', 'u0ana0001', 'u0bo00007', 'u0cy00001']
    """
    try:
        # utf-8-sig: a list saved by Notepad or Excel starts with a byte-order mark.
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise BadInput(path, "cannot read the opt-out list", reading_problem(error)) from None
    listed = {_MENTION.sub(r"\1", _INVISIBLE.sub("", line.split("#", 1)[0])).strip().lower()
              for line in text.splitlines()} - {""}
    if directory is not None and {"user_id", "email"} <= set(directory.columns):
        emails = directory["email"].astype("string").str.strip().str.lower()
        ids = directory["user_id"].astype("string").str.strip().str.lower()
        listed |= set(ids[emails.isin(listed)].dropna()) | set(emails[ids.isin(listed)].dropna())
    return listed
