"""Nudge state: the SQLite file recording every message before and after it is sent.

``State`` holds the file (created atomically, one transaction per change, an exclusive
lock so that one send run at a time works on it); ``read_history`` reads it without the
lock for a dry run. The table and column names are the file's format: state files
written by earlier versions are upgraded in place (``State._upgrade``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from fleetanalysis.config import DEMO_DIR, DEMO_STORE, PROCESSED_DIR
from fleetanalysis.days import utc
from fleetanalysis.errors import BadInput, JobFailed
from fleetanalysis.writing import atomic_path

DEFAULT_STATE = PROCESSED_DIR / "nudges.sqlite"
# The demo organisation's simulated campaign (``fleetanalysis demo``), beside its logs.
DEMO_STATE = DEMO_DIR / "nudges.sqlite"
# How long a send run waits for another one holding the state file.
LOCK_WAIT = 600.0
# What makes two messages "the same" for State.claim: a first DM is the same person and
# device list; a ladder step the same person (or office) and step, whatever the list.
CLAIM_MATCH = ("person", "fingerprint")
MATCHABLE = {"person", "fingerprint", "step"}


def _stamp(moment: object) -> str:
    """A UTC time as fixed-width text, so that SQLite compares it in time order."""
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


MESSAGES = """
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,            -- 'dm' to a person, 'league' or 'office' to a channel
    person TEXT,                   -- email or user id the plan grouped by
    user_id TEXT,                  -- Slack member id messaged
    channel TEXT,                  -- Slack channel (DM or league channel)
    fingerprint TEXT,
    devices TEXT,                  -- JSON list of device ids named in the message
    week TEXT,                     -- ISO week of a league post
    created TEXT NOT NULL,         -- UTC time the send began
    updated TEXT NOT NULL,
    -- sending: claimed, not answered yet (or the run died), unconfirmed: 5xx or lost answer
    status TEXT NOT NULL CHECK (status IN ('sending', 'unconfirmed', 'sent', 'failed')),
    ts TEXT,                       -- Slack's message timestamp once sent
    error TEXT,
    nudge_id TEXT,                 -- carried in the message's metadata, found again in history
    step TEXT                      -- the ladder step of a dm: 'first' (NULL in older files) or 'reminder'
);
CREATE INDEX messages_person ON messages (person, created);
"""
ANSWERS = """
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages (id),
    person TEXT NOT NULL,          -- the person the message was planned for
    user_id TEXT NOT NULL,         -- Slack member id who pressed the button
    action TEXT NOT NULL CHECK (action IN ('updated', 'snooze', 'not_mine')),
    device_id TEXT NOT NULL DEFAULT '',  -- the device called "not my device"; '' otherwise
    answered TEXT NOT NULL,        -- UTC time the answer arrived
    snooze_until TEXT,             -- for a snooze: no message to the person before this
    UNIQUE (message_id, action, device_id)
);
"""
# Slack's signatures of the button presses answered in the last minutes, so that one played
# again is refused also by an endpoint started since (a restart, a deploy).
REQUESTS = """
CREATE TABLE IF NOT EXISTS requests (
    signature TEXT PRIMARY KEY,
    sent INTEGER NOT NULL          -- the request's X-Slack-Request-Timestamp
);
"""
SCHEMA = MESSAGES + ANSWERS + REQUESTS + """
CREATE TABLE lookups (
    email TEXT PRIMARY KEY,
    user_id TEXT,                  -- NULL when Slack knows no such user
    looked_up TEXT NOT NULL
);
"""


def _hold_lock(path: Path, wait: float) -> int:
    """An open descriptor of ``<path>.lock`` holding its exclusive lock, waiting up to
    ``wait`` seconds for another run to let go; the lock dies with the process."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        raise BadInput(lock_path, "cannot create the state's lock file", error.strerror or type(error).__name__) from None
    deadline = time.monotonic() + wait
    told = False
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(handle)
                raise JobFailed(f"{path}: another nudges run has held it for {wait:.0f} s; "
                                "try again when it has finished") from None
            if not told:
                print(f"waiting for another nudges run to finish with {path}", file=sys.stderr)
                told = True
            time.sleep(0.1)


class State:
    """The SQLite file recording every nudge before and after it is sent.

    Created atomically on first use (schema written to a temporary file, then renamed),
    so a half-created state file never exists. Each change is its own transaction. A
    ``State`` opened with ``lock=True`` (the default) holds an exclusive lock on
    ``<path>.lock`` until closed, so that one send run at a time works on the file; a
    second one waits up to ``wait`` seconds, saying so, then fails (``JobFailed``).

    Examples:
        >>> import pathlib, tempfile
        >>> state = State(pathlib.Path(tempfile.mkdtemp()) / "nudges.sqlite")
        >>> row = state.record_sending("dm", pd.Timestamp("2026-05-01", tz="UTC"), person="ana@x.io",
        ...                            user_id="U0ANA0001", channel="D1", fingerprint="ab", devices="[]")
        >>> state.record_sent(row, "1714550400.000100", pd.Timestamp("2026-05-01", tz="UTC"))
        >>> state.history()[["person", "status", "ts"]].values.tolist()
        [['ana@x.io', 'sent', '1714550400.000100']]
        >>> state.close()
    """

    def __init__(self, path: str | os.PathLike = DEFAULT_STATE, lock: bool = True, wait: float = LOCK_WAIT) -> None:
        self.path = Path(path)
        self._lock = _hold_lock(self.path, wait) if lock else None
        try:
            if not self.path.exists():
                with atomic_path(self.path) as temporary:
                    with contextlib.closing(sqlite3.connect(temporary)) as fresh:
                        fresh.executescript(SCHEMA)
                        fresh.commit()
            try:
                # Autocommit: every change below opens its own BEGIN IMMEDIATE transaction.
                self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                self._upgrade()
            except sqlite3.DatabaseError as error:
                raise BadInput(self.path, "not a nudges state file", str(error)) from None
        except BaseException:
            self._release()
            raise

    def _upgrade(self) -> None:
        """Bring a state file written by an earlier version to this schema (``unconfirmed``
        status, ``nudge_id`` column); SQLite cannot change a CHECK, so the table is rebuilt."""
        found = self._db.execute("SELECT sql FROM sqlite_master WHERE name = 'messages'").fetchone()
        if found is None:
            raise sqlite3.DatabaseError("no messages table")
        # Files from before issue 19 have no answers table; it is only ever added to.
        if self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'answers'").fetchone() is None:
            self._db.executescript(ANSWERS)
        if self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'requests'").fetchone() is None:
            self._db.executescript(REQUESTS)
        if "'unconfirmed'" not in found[0]:
            self._rebuild()
        # Files from before the escalation ladder have no step column (their DMs were all first).
        if "step" not in self._columns():
            with self._transaction():  # checked again under the write lock: another process may have added it
                if "step" not in self._columns():
                    self._db.execute("ALTER TABLE messages ADD COLUMN step TEXT")

    def _columns(self) -> set[str]:
        return {row[1] for row in self._db.execute("PRAGMA table_info(messages)")}

    def _rebuild(self) -> None:
        """The messages table rebuilt with this version's CHECK, keeping every row."""
        columns = ", ".join(row[1] for row in self._db.execute("PRAGMA table_info(messages)"))
        with self._transaction():
            self._db.execute("ALTER TABLE messages RENAME TO messages_before")
            self._db.execute("DROP INDEX IF EXISTS messages_person")
            for statement in MESSAGES.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute(f"INSERT INTO messages ({columns}) SELECT {columns} FROM messages_before")
            self._db.execute("DROP TABLE messages_before")

    def _release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the lock
            self._lock = None

    def close(self) -> None:
        """Close the database and release the lock."""
        with contextlib.suppress(AttributeError):
            self._db.close()
        self._release()

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction, taking the write lock at once so concurrent runs queue."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def history(self) -> pd.DataFrame:
        """Every recorded message: ``id, kind, person, user_id, channel, fingerprint,
        devices, week, created (datetime UTC), updated, status, ts, error``."""
        frame = pd.read_sql_query("SELECT * FROM messages ORDER BY id", self._db)
        frame["created"] = pd.to_datetime(frame["created"], utc=True, format="ISO8601")
        return frame

    def record_sending(self, kind: str, at: pd.Timestamp, **fields: object) -> int:
        """Record a message about to be sent; return its row id (committed before sending)."""
        return self.claim(kind, at, None, **fields)

    def claim(self, kind: str, at: pd.Timestamp, since: pd.Timestamp | None, match: tuple[str, ...] = CLAIM_MATCH,
              **fields: object) -> int | None:
        """Record a message about to be sent, unless one of the same ``kind`` with the same
        ``match`` fields (default ``person`` and ``fingerprint``; a ladder step matches
        ``person`` and ``step``) was sent, or left unconfirmed, after ``since``; return its
        row id, or None.

        Checked and written in one transaction, so two runs at once cannot both send.
        """
        fields = {key: (None if value is None or value is pd.NA else str(value)) for key, value in fields.items()}
        when = _stamp(at)
        names = ", ".join(["kind", "created", "updated", "status", *fields])
        marks = ", ".join("?" * (4 + len(fields)))
        unknown = set(match) - MATCHABLE
        if unknown:
            raise ValueError(f"cannot match messages on {sorted(unknown)}")
        # A dm from before the ladder (step NULL) was a first one.
        same = " ".join(f"AND coalesce({name}, 'first') = ?" if name == "step" else f"AND {name} = ?"
                        for name in match)
        values = [fields.get(name) or ("first" if name == "step" else None) for name in match]
        with self._transaction():
            if since is not None and self._db.execute(
                    f"SELECT 1 FROM messages WHERE kind = ? {same} AND status != 'failed' AND created > ? LIMIT 1",
                    [kind, *values, _stamp(since)]).fetchone():
                return None
            cursor = self._db.execute(f"INSERT INTO messages ({names}) VALUES ({marks})",
                                      [kind, when, when, "sending", *fields.values()])
        return int(cursor.lastrowid)

    def record_sent(self, row: int, ts: str, at: pd.Timestamp) -> None:
        """Record that Slack accepted message ``row`` with timestamp ``ts``."""
        with self._transaction():
            self._db.execute("UPDATE messages SET status = 'sent', ts = ?, updated = ? WHERE id = ?",
                             [ts, _stamp(at), row])

    def record_failed(self, row: int, error: str, at: pd.Timestamp) -> None:
        """Record that message ``row`` was not delivered, and why."""
        with self._transaction():
            self._db.execute("UPDATE messages SET status = 'failed', error = ?, updated = ? WHERE id = ?",
                             [error[:500], _stamp(at), row])

    def record_unconfirmed(self, row: int, error: str, at: pd.Timestamp) -> None:
        """Record that message ``row`` may or may not have arrived, and why (``resolve`` settles it)."""
        with self._transaction():
            self._db.execute("UPDATE messages SET status = 'unconfirmed', error = ?, updated = ? WHERE id = ?",
                             [error[:500], _stamp(at), row])

    def record_not_sent(self, kind: str, at: pd.Timestamp, error: str, **fields: object) -> int:
        """Record a message that failed before anything was posted (no channel, a refused lookup)."""
        row = self.record_sending(kind, at, **fields)
        self.record_failed(row, error, at)
        return row

    def unresolved(self) -> list[dict]:
        """Messages whose delivery is unknown and can be looked for: ``id, kind, channel,
        nudge_id, created`` of ``sending``/``unconfirmed`` rows that carry a nudge id."""
        found = self._db.execute(
            "SELECT id, kind, channel, nudge_id, created FROM messages WHERE status IN ('sending', 'unconfirmed') "
            "AND nudge_id IS NOT NULL AND channel IS NOT NULL ORDER BY id").fetchall()
        return [dict(zip(["id", "kind", "channel", "nudge_id", "created"], row)) for row in found]

    def lookup(self, email: str) -> tuple[bool, str | None]:
        """``(known, user_id)`` from the cache of users.lookupByEmail answers."""
        found = self._db.execute("SELECT user_id FROM lookups WHERE email = ?", [email.lower()]).fetchone()
        return (False, None) if found is None else (True, found[0])

    def remember_lookup(self, email: str, user_id: str | None, at: pd.Timestamp) -> None:
        """Cache Slack's answer for ``email`` (``None``: no such user)."""
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO lookups VALUES (?, ?, ?)",
                             [email.lower(), user_id, _stamp(at)])

    def first_request(self, signature: str, sent: int, now: float, max_age: int) -> bool:
        """Whether a signed request is seen for the first time (and remember it); requests
        older than ``max_age`` seconds are forgotten, as they are refused as stale anyway."""
        with self._transaction():
            self._db.execute("DELETE FROM requests WHERE sent < ?", [int(now) - max_age])
            cursor = self._db.execute("INSERT OR IGNORE INTO requests VALUES (?, ?)", [signature, sent])
        return cursor.rowcount == 1

    def sent_message(self, channel: str, ts: str) -> dict | None:
        """The sent DM Slack knows as ``ts`` in ``channel``: ``id, person, user_id, devices``."""
        found = self._db.execute(
            "SELECT id, person, user_id, devices FROM messages WHERE kind = 'dm' AND status = 'sent' "
            "AND channel = ? AND ts = ? ORDER BY id DESC LIMIT 1", [channel, ts]).fetchone()
        return None if found is None else dict(zip(["id", "person", "user_id", "devices"], found))

    def record_answer(self, message_id: int, person: str, user_id: str, action: str, at: pd.Timestamp,
                      device_id: str = "", snooze_until: pd.Timestamp | None = None) -> bool:
        """Record a button press once; False when that answer to that message was already recorded."""
        with self._transaction():
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO answers (message_id, person, user_id, action, device_id, answered, "
                "snooze_until) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [message_id, person, user_id, action, device_id, _stamp(at),
                 None if snooze_until is None else _stamp(snooze_until)])
        return cursor.rowcount == 1

    def answers(self) -> pd.DataFrame:
        """Every recorded answer: ``id, message_id, person, user_id, action, device_id,
        answered, snooze_until`` (times as UTC text)."""
        return pd.read_sql_query("SELECT * FROM answers ORDER BY id", self._db)

    def league_posted(self, channel: str, week: str) -> str | None:
        """The status of this week's league post to ``channel`` (None when never tried or failed)."""
        found = self._db.execute(
            "SELECT status FROM messages WHERE kind = 'league' AND channel = ? AND week = ? "
            "AND status != 'failed' ORDER BY id DESC LIMIT 1", [channel, week]).fetchone()
        return None if found is None else found[0]


def default_state(store: str | os.PathLike) -> Path:
    """The nudge state whose outcomes a report or ``nudges outcomes`` measures for the run
    on ``store`` (resolved at the edge): the demo campaign's when it is the demo store,
    else ``DEFAULT_STATE``.

    Examples:
        >>> default_state("data/processed/access.parquet") == DEFAULT_STATE
        True
        >>> default_state(DEMO_STORE) == DEMO_STATE
        True
    """
    return DEMO_STATE if Path(store).resolve() == DEMO_STORE.resolve() else DEFAULT_STATE


def write_history(path: str | os.PathLike, messages: pd.DataFrame, answers: pd.DataFrame | None = None) -> Path:
    """A new state file at ``path`` holding ``messages`` and ``answers`` (rows in the
    tables' columns; times as timestamps), replacing any file there in one rename: for
    a simulated campaign (``fleetanalysis demo``), never for a live one.

    Examples:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "nudges.sqlite"
        >>> _ = write_history(path, pd.DataFrame({"id": [1], "kind": ["dm"], "person": ["U0ANA0001"],
        ...     "status": ["sent"], "step": ["first"], "created": [pd.Timestamp("2026-05-01 09:00", tz="UTC")]}))
        >>> read_history(path)[["person", "status", "step"]].values.tolist()
        [['U0ANA0001', 'sent', 'first']]
    """
    tables = {"messages": messages, "answers": answers if answers is not None else pd.DataFrame()}
    times = {"created", "updated", "answered", "snooze_until"}
    with atomic_path(path) as temporary:
        with contextlib.closing(sqlite3.connect(temporary)) as db:
            db.executescript(SCHEMA)
            for table, frame in tables.items():
                if frame.empty:
                    continue
                if table == "messages" and "updated" not in frame:
                    frame = frame.assign(updated=frame["created"])
                rows = frame.astype(object).where(frame.notna(), None)
                for column in times & set(rows.columns):
                    rows[column] = [None if value is None else _stamp(value) for value in rows[column]]
                names = ", ".join(rows.columns)
                db.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(rows.columns))})",
                               rows.itertuples(index=False, name=None))
            db.commit()
    return Path(path)


def read_history(path: str | os.PathLike) -> pd.DataFrame | None:
    """The message history in the state file at ``path``, or None when there is none yet
    (a dry run never creates the state file)."""
    if not Path(path).exists():
        return None
    with State(path, lock=False) as state:
        return state.history()


def read_answers(path: str | os.PathLike) -> pd.DataFrame | None:
    """The answers in the state file at ``path`` (``State.answers()``), or None when there
    is no state file yet."""
    if not Path(path).exists():
        return None
    with State(path, lock=False) as state:
        return state.answers()
