"""A generic CSV file read into the store by DuckDB: rows screened and grouped in SQL.

DuckDB reads the file on every core, every field as text (empty ones missing, as Arrow
reads them). A row is *fine* when the checks of
``schema.screen`` certainly pass: an ISO 8601 time that every parser reads alike
(``2024-05-01T10:00:00Z``, a fraction of up to six digits, an offset or none, read as
UTC), between 2000 and a day from now; a user agent with a character Python's
``str.strip`` keeps, no NUL byte and at most ``MAX_USER_AGENT`` bytes; no NUL byte in
the user; user, user id and address at most ``MAX_FIELD`` bytes; no event id; no sign-in
error code other than 0, an outcome, if any, of ``SUCCESS`` and no action naming a failure (a failed sign-in, which
``candidates`` rejects); no ``UNKNOWN`` in the agent (Okta's placeholder); no stated OS or browser. Fine rows
are grouped by the store's dedupe key (source, user id, user, address, agent and the UTC
month of the time): the earliest and latest time and how many rows, all that
``dedupe._newest`` keeps of them (nothing else differs between them). When some rows
are not fine, a second read hands every row's verdict back in file order (DuckDB keeps
it), with the fields of the others, which go through ``candidates`` and ``screen``: they
are kept or rejected with the reason and record (``row N``, counting records, not lines)
the general path gives. Numbering rows in SQL (``row_number() OVER ()``) would read the
file on one core. Groups are ordered by their first time and a hash of their key, so
rows with the same ``first_seen`` may lie in another order than the general path's (the
store holds the same rows).

Files DuckDB cannot read as the general path reads them are left to it (``read``
returns None): rows of the wrong width, bytes that are not UTF-8, a quote left open, a
line break alone, a row longer than DuckDB's line limit; a value holding a line break
in a file with an odd number of quotes (``sources.reader`` reads those line by line);
and a file without rows (a header alone, which the general path reports).

Examples:
    >>> import pathlib, tempfile
    >>> from fleetanalysis.store.batch import Batch
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "log.csv").write_text("time,user,user_agent\\n2024-05-01T10:00:00Z,ann,curl/8\\n"
    ...     "2024-05-02T10:00:00Z,ann,curl/8\\n1999-05-02T10:00:00Z,bo,curl/8\\n")
    >>> batch = Batch(folder / "access.parquet")
    >>> tally, rejected = read(folder / "log.csv", ["time", "user", "user_agent"], {}, batch)
    >>> tally.tolist(), rejected[["record", "reason"]].values.tolist()
    ([3, 1, 1, 1, 0], [['row 3', 'first seen is before 2000']])
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow
import pyarrow.compute

from fleetanalysis.errors import BadInput
from fleetanalysis.sources import csv as generic_csv
from fleetanalysis.sources import reader, schema
from fleetanalysis.sources.schema import COLUMNS, EARLIEST, FUTURE_SLACK, MAX_FIELD, MAX_USER_AGENT, SOURCES, conform
from fleetanalysis.store import dataset

# The ISO 8601 times DuckDB, Arrow and pandas read alike: two-digit fields in range, up to
# microseconds, ``Z``, an offset or none (UTC). Others (unix numbers, leap seconds, day
# names) are not fine rows: ``candidates`` reads them.
_ISO = (r"\d{4}-\d{2}-\d{2}[T ](?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?"
        r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?")
# Whitespace as Python's str.strip() sees it (Unicode): an agent without another character is blank.
_NOT_BLANK = r"[^\s\p{Z}\x{0b}\x{1c}-\x{1f}\x{85}]"
# DuckDB's working memory; beyond it the grouping spills to a temporary folder. The
# groups of 100 million events (about a million) fit well within it.
MEMORY_LIMIT = "2GB"
# Rows handed back at a time: the rows that are not fine are screened in pieces of this many.
_BATCH_ROWS = 2**18


def read(path: Path, header: list[str], options: dict, batch,
         on_progress=None) -> tuple[np.ndarray, pd.DataFrame] | None:
    """The generic CSV file ``path`` (with ``header``) merged into ``batch``: ``(tally,
    rejected)``, ``tally`` being ``read, loaded, rejected, duplicates, conflicts``; None,
    ``batch`` untouched, when DuckDB cannot read it as ``sources.chunks`` would.

    ``options`` are the CSV column options; ``on_progress(fraction)`` is called while
    DuckDB reads.
    """
    name = str(path)
    try:
        fields = generic_csv.mapping(header, file=name, **options)
    except BadInput:
        # Reported by the general path, with any problem it finds first.
        return None
    spill = tempfile.mkdtemp(prefix="fleetanalysis-duckdb-")
    db = None
    try:
        # Inside the try: a stop (SIGTERM) while connecting still removes the spill folder.
        db = duckdb.connect(config={"threads": dataset.cores(), "memory_limit": MEMORY_LIMIT, "temp_directory": spill})
        # Months and offsets in UTC, whatever the machine's zone (ICU is built into DuckDB).
        db.execute("SET TimeZone = 'UTC'")
        flagged = _flagged(path, header, fields)
        try:
            _run(db, f"""CREATE TEMP TABLE screened AS
                SELECT fine, user_id, "user", ip, user_agent, date_trunc('month', t) AS month,
                       min(t) AS first_seen, max(t) AS last_seen, count(*) AS members, bool_or(broken) AS broken
                FROM ({flagged}) GROUP BY ALL""", on_progress)
        except duckdb.Error:
            return None
        # A fine row's key fields are looked at once per group.
        key_breaks = " OR ".join(f"contains({name}, chr(10)) OR contains({name}, chr(13))"
                                 for name in ('user_id', '"user"', 'ip', 'user_agent'))
        rows, others, broken = db.execute(f"""
            SELECT coalesce(sum(members), 0), coalesce(sum(members) FILTER (WHERE NOT fine), 0),
                   coalesce(bool_or(broken OR (fine AND ({key_breaks}))), false) FROM screened""").fetchall()[0]
        # No rows: the general path's word on a file that is (at most) a header.
        if not rows or (broken and (_odd_quotes(path) or _rows_inside(db, flagged, len(header)))):
            return None
        # The line naming the columns guessed, as the general path logs it.
        generic_csv.candidates(pd.DataFrame(columns=header), file=name, announce=True, **options)
        tally = np.array([rows, 0, 0, 0, 0], dtype="int64")
        groups = db.sql("SELECT user_id, \"user\", ip, user_agent, first_seen, last_seen, members FROM screened "
                        "WHERE fine ORDER BY first_seen, hash(user_id, \"user\", ip, user_agent)").to_arrow_table()
        base = batch.taken
        tally[3] += batch.add_groups(_groups_access(groups), np.arange(groups.num_rows) + base,
                                     int(pyarrow.compute.sum(groups.column("members")).as_py() or 0))
        rejected = schema.empty_rejected()
        if others:
            # Without a fine row, the first rows may have no time the reader takes at all.
            found = _others(db, batch, flagged, path, header, options, base + groups.num_rows,
                            check_times=others == rows)
            tally += found[0]
            rejected = found[1]
        batch.taken = base + groups.num_rows + rows
        tally[1] = tally[0] - tally[2] - tally[3]
        return tally, rejected
    finally:
        if db is not None:
            db.close()
        shutil.rmtree(spill, ignore_errors=True)


def _run(db, sql: str, on_progress) -> None:
    """Run ``sql``, calling ``on_progress`` with DuckDB's progress while it runs."""
    if on_progress is None:
        db.execute(sql)
        return
    db.execute("SET enable_progress_bar = true; SET enable_progress_bar_print = false")
    failure: list[BaseException] = []
    # Waited on rather than the thread: Python before 3.13 marks a thread finished when a
    # signal handler raises inside its join() (the query would still hold the connection).
    finished = threading.Event()

    def work() -> None:
        try:
            db.execute(sql)
        except BaseException as error:  # handed to the caller's thread
            failure.append(error)
        finally:
            finished.set()

    threading.Thread(target=work, daemon=True).start()
    try:
        while not finished.wait(0.2):
            found = db.query_progress()
            if found >= 0:
                on_progress(found / 100)
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM): the query stops too, before the store is touched.
        # Again until it has: an interrupt before the query starts is not remembered.
        db.interrupt()
        while not finished.wait(0.05):
            db.interrupt()
        raise
    if failure:
        raise failure[0]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _flagged(path: Path, header: list[str], fields: dict[str, str]) -> str:
    """The SQL of the file's rows as text columns ``c0, c1...``, the access fields, the
    time ``t``, ``fine`` and ``broken`` (a value holds a line break)."""
    with open(path, "rb") as probe:
        packed = probe.read(2) == reader.GZIP_MAGIC
    names = [f"c{number}" for number in range(len(header))]
    column = {field: names[header.index(name)] for field, name in fields.items()}

    def text(field: str) -> str:
        return column.get(field, "NULL::VARCHAR")

    now = pd.Timestamp.now(tz="UTC")
    agent, user = text("user_agent"), text("user")
    fine = " AND ".join([
        f"t >= TIMESTAMPTZ {_literal(EARLIEST.isoformat())}",
        f"t <= TIMESTAMPTZ {_literal((now + FUTURE_SLACK).isoformat())}",
        f"regexp_matches({agent}, {_literal(_NOT_BLANK)})",
        f"NOT contains({agent}, chr(0))", f"strlen({agent}) <= {MAX_USER_AGENT}",
        f"NOT contains(coalesce({user}, ''), chr(0))",
        *(f"coalesce(strlen({text(field)}), 0) <= {MAX_FIELD}" for field in ("user_id", "user", "ip")),
        f"{text('event_id')} IS NULL",
        # A failed sign-in (an error code other than 0) is rejected by ``candidates``.
        f"coalesce(trim({text('error_code')}), '') IN ('', '0')",
        # So is an outcome that says the attempt did not finish, and a placeholder agent
        # (``schema.known``): rows that might be either are left to ``candidates``.
        f"coalesce(upper({text('outcome')}), 'SUCCESS') = 'SUCCESS'",
        # An action naming a failure; one not in ASCII is left to Python's case folding.
        f"NOT coalesce(contains(lower({text('action')}), 'fail') "
        f"OR regexp_matches({text('action')}, '[^\\x00-\\x7f]'), false)",
        # Only its first seven letters are folded: every row passes this test.
        f"upper(left(ltrim({agent}), 7)) <> 'UNKNOWN'",
        # A stated OS or browser is read by ``candidates``: the groups carry only the key.
        f"{text('reported_os')} IS NULL", f"{text('reported_browser')} IS NULL"])
    def breaks(chosen: list[str]) -> str:
        return " OR ".join(f"contains({name}, chr(10)) OR contains({name}, chr(13))" for name in chosen) or "false"

    # A fine row's time has no line break, and its key fields are looked at once per group
    # (``read``): every row pays only for its other columns.
    unmapped = [name for name in names if name not in column.values()]
    broken = f"CASE WHEN {fine} THEN {breaks(unmapped)} ELSE {breaks(names)} END"
    types = ", ".join(f"{_literal(name)}: 'VARCHAR'" for name in names)
    fields_sql = ", ".join(f'{text(field)} AS "{field}"' for field in ("user_id", "user", "ip", "user_agent"))
    return f"""
        SELECT *, coalesce({fine}, false) AS fine, coalesce({broken}, false) AS broken FROM (
            SELECT *, {fields_sql}, CASE WHEN regexp_full_match({text("time")}, {_literal(_ISO)})
                                         THEN TRY_CAST({text("time")} AS TIMESTAMPTZ) END AS t
            FROM read_csv({_literal(str(path))}, auto_detect = false, header = true, delim = ',', quote = '"',
                          escape = '"', strict_mode = true, compression = '{"gzip" if packed else "none"}',
                          columns = {{{types}}}))"""


def _rows_inside(db, flagged: str, width: int) -> bool:
    """Whether a value holds a line that could be a whole row (``reader.row_shaped``), as
    ``reader._rows_inside`` asks of the general path's values: a quote closed at the end of
    a later line swallowed the rows between. Asked only of a file with line breaks in its values."""
    if width < 2:
        return False
    row = _literal(reader.row_shaped(width))
    found = " OR ".join(f"(regexp_matches(c{number}, '[\\r\\n]') AND regexp_matches(c{number}, {row}))"
                        for number in range(width))
    return bool(db.execute(f"SELECT coalesce(bool_or({found}), false) FROM ({flagged})").fetchall()[0][0])


def _odd_quotes(path: Path) -> bool:
    """Whether the file holds an odd number of quotes (a quote left open, in the general path's eyes)."""
    handle, stream = reader._open_binary(path)
    quotes = 0
    with handle:
        while block := stream.read(16 * 2**20):
            quotes += block.count(b'"')
    return quotes % 2 == 1


def _others(db, batch, flagged: str, path: Path, header: list[str], options: dict,
            base: int, check_times: bool = False) -> tuple[np.ndarray, pd.DataFrame]:
    """The rows that are not fine, read again in file order, through ``candidates`` and
    ``screen`` and merged into ``batch`` (``_order`` from ``base``): ``(tally, rejected)``
    (``tally``: rejected, duplicates and conflicts in its places). With ``check_times``, a
    first piece none of whose rows has a time raises ``BadInput`` as the general path does."""
    names = [f"c{number}" for number in range(len(header))]
    agents = reader.agent_columns(header, options.get("ua_column"))
    stream = db.sql(f"SELECT fine, {', '.join(f'CASE WHEN NOT fine THEN {name} END AS {name}' for name in names)} "
                    f"FROM ({flagged})").to_arrow_reader(_BATCH_ROWS)
    tally, rejects, start = np.zeros(5, dtype="int64"), [], 0
    for piece in stream:
        fine = piece.column(0).to_numpy(zero_copy_only=False)
        chosen = np.flatnonzero(~fine)
        positions, start = chosen + start, start + piece.num_rows
        if not len(chosen):
            continue
        taken = piece.take(pyarrow.array(chosen))
        items = pyarrow.table({title: _as_read(taken.column(number + 1), title in agents)
                               for number, title in enumerate(header)}).to_pandas()
        candidates = generic_csv.candidates(items, file=str(path), **options)
        unreadable = schema.no_times(candidates) if check_times and positions[0] == 0 else None
        if unreadable is not None:
            raise BadInput(path, unreadable)
        candidates["record"] = positions + 1
        access, rejected = schema.screen(candidates, str(path))
        numbers = rejected["record"].astype("int64").to_numpy()
        rejected["record"] = "row " + rejected["record"]
        rejected["raw"] = schema.truncate_raw(pd.Series(
            items.iloc[np.searchsorted(positions, numbers - 1)].to_dict("records")))
        kept = np.setdiff1d(positions, numbers - 1, assume_unique=True)
        duplicate, conflict = batch.add(access, order=kept + base)
        tally += [0, 0, len(rejected), int(duplicate.sum()), int(conflict.sum())]
        rejects.append(rejected)
    return tally, pd.concat(rejects, ignore_index=True) if rejects else schema.empty_rejected()


def _as_read(values: pyarrow.Array, agent: bool) -> pyarrow.Array:
    """A column of the rows handed back typed as ``sources.chunks`` reads CSV: ``large_string``,
    user-agent columns dictionary-encoded."""
    values = values.cast(pyarrow.large_string())
    return values.cast(pyarrow.string()).dictionary_encode() if agent else values


def _groups_access(groups: pyarrow.Table) -> pd.DataFrame:
    """The fine groups as access rows (one per key: ``dedupe._newest``'s row)."""
    agents = groups.column("user_agent").cast(pyarrow.string()).dictionary_encode().combine_chunks()
    return conform(pd.DataFrame({
        "source": pd.Categorical.from_codes(np.full(groups.num_rows, SOURCES.index("csv"), dtype="int8"),
                                            dtype=COLUMNS["source"]),
        **{name: groups.column(name).cast(pyarrow.large_string()).to_pandas() for name in ("user_id", "user", "ip")},
        "user_agent": pd.Categorical.from_codes(agents.indices.fill_null(-1).to_numpy(zero_copy_only=False),
                                                categories=pd.Index(agents.dictionary.to_pandas(), dtype="str")),
        "first_seen": groups.column("first_seen").to_pandas(), "last_seen": groups.column("last_seen").to_pandas()}))
