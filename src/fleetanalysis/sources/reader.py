"""The per-file reader: one log file, whole or chunk by chunk, into access and rejected rows.

``read_file(path, consume)`` is the one way a file is read: ``sources.load`` and
``store.ingest`` both go through it. It hands ``consume`` the file's pieces,
``(access, rejected, format)`` each, from ``chunks`` (CSV and NDJSON bigger than a chunk
stream in pieces; ``whole=True`` reads a big CSV in one threaded read instead). When a
file turns out unreadable in pieces midway (``NotStreamable``), ``consume`` is called
again with the file read whole by ``load_file``, which reports it exactly: ``consume``
starts afresh then, so it keeps nothing from the first attempt.

Longer than the ~450 lines a module should have, on purpose: decoding, telling JSON,
NDJSON and CSV apart and the two streaming readers are one job, reading a file, and
share their helpers (the CSV options, malformed-row labels, Arrow's thread release).

Examples:
    >>> import pathlib, tempfile
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
    >>> _ = file.write_text("time,user,user_agent\\n" + "2024-05-01T10:00:00Z,ann@example.com,curl/8.4.0\\n" * 30)
    >>> read_file(file, lambda pieces: [len(access) for access, rejected, format in pieces], chunk_bytes=400)
    [7, 9, 8, 6]
"""

from __future__ import annotations

import codecs
import contextlib
import csv as stdlib_csv
import gzip
import json
import re
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.csv as pyarrow_csv

from fleetanalysis.errors import BadInput
# The format table is the package's face; it is defined there before this module is imported.
from fleetanalysis.sources import FORMATS, entra, github, okta, pages, schema
from fleetanalysis.sources import csv as generic_csv
from fleetanalysis.sources.schema import empty_access, empty_rejected, screen

GZIP_MAGIC = b"\x1f\x8b"
# Big enough that per-chunk overhead is noise, small enough that a chunk's frames fit anywhere.
DEFAULT_CHUNK_BYTES = 64 * 2**20
_SNIFF_BYTES = 1 << 16
# The blocks a whole-file read parses in parallel: many per core, so both stay busy, yet
# few enough that the per-block user-agent dictionaries are quick to unify.
_WHOLE_BLOCK_BYTES = 16 * 2**20
_NO_ROWS = pd.DataFrame({"record": [], "reason": [], "raw": []})
# How long to wait for Arrow's threads to let go of a reader (normally a millisecond).
_RELEASE_SECONDS = 10.0


def read_text(path: Path) -> str:
    """The text of a log file: gunzipped when gzip, decoded from UTF-8 (BOM accepted).

    Raises ``BadInput`` for an unreadable, empty, binary or wrongly encoded file.

    Examples:
        >>> import pathlib, tempfile
        >>> file = pathlib.Path(tempfile.mkdtemp()) / "latin1.csv"
        >>> _ = file.write_bytes("user,time,ua\\nJos\\xe9,1,x\\n".encode("latin-1"))
        >>> read_text(file)
        Traceback (most recent call last):
        fleetanalysis.errors.BadInput: ...latin1.csv: line 2: not UTF-8 (byte 0xe9 at offset 16); re-save the file as UTF-8
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise BadInput(path, f"cannot read ({error.strerror or error})") from None
    if data.startswith(GZIP_MAGIC):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            raise BadInput(path, f"truncated or corrupt gzip ({error})") from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as error:
            raise BadInput(path, f"broken UTF-16 ({error.reason})") from None
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    if not data.strip():
        raise BadInput(path, "empty file")
    sample = data[:4096]
    # UTF-16 text without a BOM shows up as a NUL byte beside every ASCII character.
    if sample.count(0) * 10 > len(sample):
        raise BadInput(path, "binary data or UTF-16 without a byte-order mark; re-save the file as UTF-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise BadInput(path, f"line {line}", f"not UTF-8 (byte 0x{data[error.start]:02x} at offset {error.start}); "
                       "re-save the file as UTF-8") from None


def _parse_ndjson(text: str, first_line: int = 1) -> tuple[list[dict], list[str], pd.DataFrame]:
    """Rows, their labels and rejected lines of newline-delimited JSON (numbered from ``first_line``)."""
    items, labels, bad = [], [], []
    for number, line in enumerate(text.splitlines(), start=first_line):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
            labels.append(f"line {number}")
        except json.JSONDecodeError as error:
            bad.append((f"line {number}", f"not valid JSON ({error.msg})", line))
        except RecursionError:
            bad.append((f"line {number}", "JSON nested too deeply", line))
    return items, labels, pd.DataFrame(bad, columns=["record", "reason", "raw"])


def parse(text: str, file: str) -> tuple[str, object, list[str] | None, pd.DataFrame]:
    """Tell JSON, NDJSON and CSV apart: ``(kind, document, line labels, rejected lines)``.

    Examples:
        >>> parse('{"a": 1}\\n{"a": 2}\\n{"a"', "x")[0:3]
        ('ndjson', [{'a': 1}, {'a': 2}], ['line 1', 'line 2'])
        >>> parse('[{"a": 1}, {"a"', "x.json")
        Traceback (most recent call last):
        fleetanalysis.errors.BadInput: x.json: line 1 column 16: not valid JSON (Expecting ':' delimiter); truncated?
        >>> parse('[{"a": "b', "x.json")
        Traceback (most recent call last):
        fleetanalysis.errors.BadInput: x.json: line 1 column 8: not valid JSON (Unterminated string starting here); truncated?
        >>> parse('[\\n{"a": 1}\\n]\\n[\\n{"a": 2}\\n]\\n', "x.json")
        Traceback (most recent call last):
        fleetanalysis.errors.BadInput: x.json: line 4 column 1: a second JSON document starts here (responses appended to one file?); save each in a file of its own
    """
    stripped = text.lstrip()
    none = pd.DataFrame(columns=["record", "reason", "raw"])
    if not stripped.startswith(("{", "[")):
        return "csv", text, None, none
    try:
        return "json", json.loads(stripped), None, none
    except RecursionError:
        raise BadInput(file, "JSON nested too deeply") from None
    except json.JSONDecodeError as error:
        lines = [line for line in stripped.splitlines() if line.strip()]
        first = None
        if len(lines) > 1:
            try:
                first = json.loads(lines[0])
            except (json.JSONDecodeError, RecursionError):
                first = None
        if isinstance(first, dict):
            return ("ndjson", *_parse_ndjson(text))
        if error.msg == "Extra data":
            # A whole document, then another: responses appended to one file (curl >> file).
            raise BadInput(file, f"line {error.lineno} column {error.colno}",
                           "a second JSON document starts here (responses appended to one file?); "
                           "save each in a file of its own") from None
        # json words some problems as "... starting at" the position given first.
        said = error.msg.removesuffix(" at") + " here" if error.msg.endswith(" at") else error.msg
        raise BadInput(file, f"line {error.lineno} column {error.colno}",
                       f"not valid JSON ({said}); truncated?") from None


def detect(doc: object) -> str | None:
    """The format whose shape ``doc`` (a parsed JSON document or NDJSON row) has, or None.

    Examples:
        >>> detect({"ok": True, "logins": []}), detect({"value": []}), detect({"x": 1})
        ('slack_access', 'entra', None)
    """
    for name, module in FORMATS.items():
        if name != generic_csv.FORMAT and module.matches(doc):
            return name
    return None


# Separators a spreadsheet may have saved a "CSV" file with, by how a message names them.
_OTHER_SEPARATORS = {";": "semicolons (;)", "\t": "tabs"}


def _csv_header(first_line: str, file: str) -> list[str]:
    """The column names on the first line of a CSV file; ``BadInput`` when there are none.

    A name the header repeats (Entra's sign-in download has "Incoming token type" twice)
    is read as ``generic_csv.repeated`` the second time, so that the file loads; the
    generic CSV refuses it only when it is a column it would read (``generic_csv.mapping``).

    A header read as one column holding a semicolon or a tab is a file separated by that:
    ``BadInput`` says so.

    Examples:
        >>> _csv_header("Date (UTC),Incoming token type,User,Incoming token type", "x.csv")
        ['Date (UTC)', 'Incoming token type', 'User', 'Incoming token type (repeat 2)']
        >>> _csv_header("Date (UTC);User;User agent", "x.csv")
        Traceback (most recent call last):
        fleetanalysis.errors.BadInput: x.csv: header: the columns are separated by semicolons (;), not commas; save the file again as comma-separated CSV (CSV UTF-8)
    """
    header = next(stdlib_csv.reader([first_line]), [])
    if not header:
        raise BadInput(file, "header", "no column names")
    separator = next((name for mark, name in _OTHER_SEPARATORS.items() if len(header) == 1 and mark in header[0]), None)
    if separator is not None:
        # Excel in a European locale saves "CSV" with semicolons: one column, to a comma reader.
        raise BadInput(file, "header", f"the columns are separated by {separator}, not commas; "
                                       "save the file again as comma-separated CSV (CSV UTF-8)")
    seen: set[str] = set()
    for position, name in enumerate(header):
        number = 1
        while header[position] in seen:
            number += 1
            header[position] = generic_csv.repeated(name, number)
        seen.add(header[position])
    return header


def _csv_options(header: list[str], reject, ua_column: str | None = None) -> dict:
    """The pyarrow CSV options both the one-shot and the streaming reader use.

    Every column is text, empty fields are missing; user-agent columns (``ua_column``, or
    a header ``generic_csv`` would guess) are dictionary-encoded, so that they arrive as a
    categorical holding each distinct agent once. Other text is read as ``large_string``,
    the layout of pandas' ``str``, so that it reaches pandas without a copy.
    """
    agents = agent_columns(header, ua_column)
    types = {name: pyarrow.dictionary(pyarrow.int32(), pyarrow.string()) if name in agents
             else pyarrow.large_string() for name in header}
    return {"parse_options": pyarrow_csv.ParseOptions(invalid_row_handler=reject, newlines_in_values=True),
            "convert_options": pyarrow_csv.ConvertOptions(column_types=types, strings_can_be_null=True,
                                                          null_values=[""])}


def agent_columns(header: list[str], ua_column: str | None = None) -> set[str]:
    """The CSV columns read dictionary-encoded: ``ua_column``, or headers ``generic_csv`` would guess.

    Examples:
        >>> sorted(agent_columns(["time", "User-Agent", "agent"]))
        ['User-Agent', 'agent']
    """
    return {name for name in header if name == ua_column
            or generic_csv.plain_name(name) in generic_csv.GUESSES["user_agent"]}


def _malformed(rows: list[tuple[str, str]], first: int = 1) -> pd.DataFrame:
    """Rows of the wrong width as ``record, reason, raw``, numbered from ``first``."""
    return pd.DataFrame({"record": [f"malformed row {number}" for number in range(first, first + len(rows))],
                         "reason": [reason for reason, _ in rows], "raw": [raw for _, raw in rows]})


def _await_release(thing: object, own_references: int) -> None:
    """Wait (at most ``_RELEASE_SECONDS``) until Arrow's threads hold no reference to ``thing``.

    Arrow's CSV readers finish in the background: after an error, or when a stream is
    dropped midway, an Arrow I/O thread may still hold the reader, and with it the Python
    row handler and file it was given. Were that thread to let go of them while the
    interpreter shuts down (a run that exits 2 right after), taking the GIL would end it
    inside C++ and abort the process ("terminate called without an active exception",
    exit 134). ``own_references`` counts the caller's own names for ``thing``.
    """
    deadline = time.monotonic() + _RELEASE_SECONDS
    # Two more: this function's parameter and getrefcount's argument.
    while sys.getrefcount(thing) > own_references + 2 and time.monotonic() < deadline:
        time.sleep(0.001)


def _csv_frame(open_source, header: list[str], ua_column: str | None,
               block_size: int) -> tuple[pd.DataFrame, list[tuple[str, str]], bool]:
    """A whole CSV read on every core: its rows, its rows of the wrong width in file order,
    and whether any value holds a line break (``_line_breaks``).

    ``open_source()`` opens the bytes afresh (a context manager). Threads meet malformed
    rows in no fixed order, so a file that has any is read again on one thread to number
    them as they stand: the second read is paid by broken files only. The Arrow table is
    let go here: its per-block user-agent dictionaries are not needed once unified.
    """
    malformed: list[tuple[str, str]] = []

    def reject(row) -> str:
        malformed.append((f"expected {row.expected_columns} fields, found {row.actual_columns}", row.text))
        return "skip"

    for threads in (True, False):
        malformed.clear()
        try:
            with open_source() as source:
                table = pyarrow_csv.read_csv(
                    source, read_options=pyarrow_csv.ReadOptions(block_size=block_size, use_threads=threads,
                                                                 **_names(header)),
                    **_csv_options(header, reject, ua_column))
        except pyarrow.ArrowInvalid as error:
            # The traceback's frames would keep ``reject`` referenced while we wait.
            error.__traceback__ = None
            _await_release(reject, 1)
            raise error from None
        if not malformed:
            break
    breaks = _line_breaks(table)
    frame = table.to_pandas()
    del table
    # The read's block buffers are free now but kept by Arrow's allocator, which pandas'
    # arrays (numpy's allocator) cannot reuse: handing them back keeps the peak down.
    pyarrow.default_memory_pool().release_unused()
    return frame, malformed, breaks


def _read_csv(text: str, file: str, ua_column: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """CSV rows as text columns (row N is position N - 1); rows of the wrong width rejected.

    Examples:
        >>> frame, bad = _read_csv('user,time\\nann,1\\nbo,2,3\\n"cy', "x.csv")
        >>> frame["user"].tolist(), bad["reason"].tolist()
        (['ann'], ['expected 2 fields, found 3', 'expected 2 fields, found 1'])
    """
    header = _csv_header(text.split("\n", 1)[0], file)
    data = text.encode("utf-8")
    try:
        try:
            frame, malformed, breaks = _csv_frame(lambda: pyarrow.BufferReader(data), header, ua_column, 1 << 20)
        except pyarrow.ArrowInvalid as error:
            # A row longer than a block (a megabytes-long hostile field) must not cost the
            # good rows: read again in one block; screen() then rejects the long field.
            if "straddl" not in str(error):
                raise
            frame, malformed, breaks = _csv_frame(lambda: pyarrow.BufferReader(data), header, ua_column,
                                          min(len(data) + 1, 2**31 - 1))
    except pyarrow.ArrowInvalid as error:
        raise BadInput(file, f"not a readable CSV ({str(error).splitlines()[0]})") from None
    # Quotes come in pairs ("" inside a value too): an odd count is a quote left open, and a
    # value spanning lines is then the rows it swallowed, not a quoted line break.
    if (text.count('"') % 2 and _spans_lines(frame)) or _swallowed(malformed) \
            or (breaks and _rows_inside(frame, len(header))):
        return _read_lines(text, header)
    return frame, _malformed(malformed)


def _names(header: list[str]) -> dict:
    """Arrow's read options for the column names: its own reading of the header line (the
    fast path), unless the header repeats a name and ``_csv_header`` renamed it."""
    renamed = any(generic_csv.REPEAT in name for name in header)
    return {"column_names": header, "skip_rows": 1} if renamed else {}


def _line_breaks(table: pyarrow.Table) -> bool:
    """Whether a text value of ``table`` may hold a line break: one search of each column's
    bytes (a dictionary column's distinct values), no pass over the values.

    Examples:
        >>> _line_breaks(pyarrow.table({"ua": ["a", "b\\nc"]})), _line_breaks(pyarrow.table({"ua": ["a"], "n": [1]}))
        (True, False)
    """
    for column in table.columns:
        for chunk in column.chunks:
            if pyarrow.types.is_dictionary(chunk.type):
                chunk = chunk.dictionary
            if not (pyarrow.types.is_string(chunk.type) or pyarrow.types.is_large_string(chunk.type)):
                continue
            data = chunk.buffers()[2]
            text = b"" if data is None else data.to_pybytes()
            if b"\n" in text or b"\r" in text:
                return True
    return False


def row_shaped(width: int) -> str:
    r"""The regex (Python's and RE2's alike) of a line holding a ``width``-column row's
    separators: a quote closed at the end of a later line swallows the rows between into
    one value, and such a value holds lines like that.

    Examples:
        >>> re.search(row_shaped(3), "Chrome/137\nbo@x.io,2026-06-01,Firefox/139") is not None
        True
        >>> re.search(row_shaped(3), "Mozilla/5.0 (X11;\nLinux x86_64)") is None
        True
    """
    return r"(?:,[^\r\n]*){%d}" % max(width - 1, 1)


def _broken_values(frame: pd.DataFrame):
    """Per column, the text values of ``frame`` that hold a line break (a categorical's
    distinct values only)."""
    for column in frame.columns:
        values = frame[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = pd.Series(values.cat.categories)
        if not pd.api.types.is_string_dtype(values):
            values = values.astype("str")
        # Plain substring tests (Arrow's, on text columns): a regex per value costs 3x more.
        broken = values.str.contains("\n", regex=False, na=False) | values.str.contains("\r", regex=False, na=False)
        if broken.any():
            yield values[broken]


def _rows_inside(frame: pd.DataFrame, width: int) -> bool:
    r"""Whether a value holds a line that could be a whole row (``row_shaped``): which no
    reader can reject, the value having the right width. A quoted line break inside a user
    agent (``(X11;\nLinux x86_64)``) holds no such line.

    Examples:
        >>> _rows_inside(pd.DataFrame({"ua": ['Chrome/137\nbo@x.io,2026-06-01,Firefox/139']}), 3)
        True
        >>> _rows_inside(pd.DataFrame({"ua": ["Mozilla/5.0 (X11;\nLinux x86_64)"]}), 3)
        False
    """
    row = re.compile(row_shaped(width))
    return width > 1 and any(row.search(value) for values in _broken_values(frame) for value in values)


def _swallowed(malformed: list[tuple[str, str]]) -> bool:
    r"""Whether a row of the wrong width runs over several lines: a quote opened on one line
    and closed by a quote on a later one, the rows between read as one value. Read a line
    a row, each of those rows is counted (and the good ones loaded).

    Examples:
        >>> _swallowed([("expected 3 fields, found 4", 'c,1,"Mozilla\nd,2,"Mozilla"')]), _swallowed([("x", "a,b")])
        (True, False)
    """
    return any("\n" in raw or "\r" in raw for _, raw in malformed)


def _spans_lines(frame: pd.DataFrame) -> bool:
    """Whether a value of ``frame`` holds a line break: what an unterminated quote does to
    the rows after it (no user, time, address or user agent has one).

    Examples:
        >>> _spans_lines(pd.DataFrame({"ua": ['Mozilla/5.0\\nbo,2024-05-01,curl/8']})), _spans_lines(pd.DataFrame({"ua": ["x"]}))
        (True, False)
    """
    return next(_broken_values(frame), None) is not None


def _read_lines(text: str, header: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """CSV text whose quotes cannot be trusted, read one line per row: rows as text, and
    the lines that do not split into the header's fields, as ``record, reason, raw``.

    A quote left open would otherwise run on and swallow every row after it into one
    value; here it costs its own line only, and every line is counted.

    Examples:
        >>> frame, bad = _read_lines('user,time,ua\\nann,1,"Mozilla/5.0 (X11\\nbo,2,curl/8\\n', ["user", "time", "ua"])
        >>> frame["user"].tolist(), bad.values.tolist()
        (['bo'], [['line 2', 'unterminated quote: the field runs past the end of its line', 'ann,1,"Mozilla/5.0 (X11']])
    """
    rows, bad = [], []
    for number, line in enumerate(text.split("\n")[1:], start=2):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        try:
            [fields] = stdlib_csv.reader([line], strict=True)
        except stdlib_csv.Error as error:
            reason = ("unterminated quote: the field runs past the end of its line"
                      if "end of data" in str(error) else f"cannot split into fields ({error})")
            bad.append((f"line {number}", reason, line))
            continue
        if len(fields) != len(header):
            bad.append((f"line {number}", f"expected {len(header)} fields, found {len(fields)}", line))
            continue
        rows.append(fields)
    frame = pd.DataFrame(rows, columns=header, dtype="str")
    # Empty fields are missing, as Arrow reads them.
    frame = frame.mask(frame.eq(""))
    return frame, pd.DataFrame(bad, columns=["record", "reason", "raw"])


def load_file(path: Path, format: str | None = None, **csv_options) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """One file as ``(access, rejected, format)``; ``BadInput`` when it cannot be read at all.

    Examples:
        >>> import pathlib, tempfile
        >>> file = pathlib.Path(tempfile.mkdtemp()) / "x.json"
        >>> _ = file.write_text('{"hello": "world"}')
        >>> load_file(file)
        Traceback (most recent call last):
        fleetanalysis.errors.BadInput: ...x.json: not a known sign-in log (Slack, Okta, Entra, Google, GitHub); use --format
    """
    if format is not None and format not in FORMATS:
        raise BadInput(path, f"unknown format {format!r} (choose from {', '.join(FORMATS)})")
    name = str(path)
    text = read_text(path)
    kind, doc, labels, bad_lines = parse(text, name)
    if kind == "csv":
        frame, bad_lines = _read_csv(text, name, csv_options.get("ua_column"))
        format = _csv_format(path, format, list(frame.columns))
        items = frame
        skipped = _NO_ROWS
    else:
        format = _json_format(path, format, doc)
        items, skipped = _json_items(FORMATS[format], kind, doc, labels)
    access, rejected = _screen_items(items, kind, format, name, csv_options, bad_lines, skipped)
    return access, rejected, format


def _json_format(path: Path, format: str | None, probe: object) -> str:
    """The format of a JSON log ``probe`` (a document, or the rows of NDJSON), told by its
    first rows: detected, or the forced one checked."""
    found = detect(probe)
    # An empty array (a quiet polling window) holds no rows of any format: read as the
    # format named, 0 rows. Without a name nothing tells what it is.
    empty = probe == []
    if format is None:
        format = found
    elif format == generic_csv.FORMAT or not (empty or FORMATS[format].matches(probe)):
        raise BadInput(path, f"is not {_article(format)} {format} export "
                              f"(looks like {found or 'an unknown format'})")
    if format is None and empty:
        raise BadInput(path, "an empty list: no rows, and no field tells which log it is; use --format")
    if format is None and pages.error_of(probe) is not None:
        raise BadInput(path, f"a Slack error answer ({pages.error_of(probe)}): it holds no log rows")
    if format is None:
        raise BadInput(path, "not a known sign-in log (Slack, Okta, Entra, Google, GitHub); use --format")
    return format


def _json_items(module, kind: str, doc, labels: list[str] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The flattened fields of the JSON rows of ``doc`` with ``record``/``raw``, and non-objects."""
    if kind == "ndjson":
        rows, records = [], []
        for label, item in zip(labels, doc):
            unwrapped = module.rows(item)
            rows.extend(unwrapped)
            records.extend([label] if len(unwrapped) == 1 else
                           [f"{label} record {number}" for number in range(1, len(unwrapped) + 1)])
    else:
        rows = module.rows(doc)
        records = [f"record {number}" for number in range(1, len(rows) + 1)]
    objects = [isinstance(row, dict) for row in rows]
    skipped = pd.DataFrame({"record": [label for label, ok in zip(records, objects) if not ok],
                            "reason": "not a JSON object",
                            "raw": [row for row, ok in zip(rows, objects) if not ok]})
    rows = [row for row, ok in zip(rows, objects) if ok]
    items = schema.flatten(rows, module.FIELDS)
    items["record"] = [label for label, ok in zip(records, objects) if ok]
    items["raw"] = rows
    return items, skipped


def _screen_items(items: pd.DataFrame, kind: str, format: str, name: str, csv_options: dict,
                  bad_lines: pd.DataFrame, skipped: pd.DataFrame,
                  first_row: int = 1, first_piece: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Access and rejected rows of parsed items; CSV items are rows ``first_row`` onwards.

    Raises ``BadInput`` when no row of a file's first piece has a time (``schema.no_times``):
    a layout the reader cannot take, said once, not a rejected file's worth of rows.
    """
    module = FORMATS[format]
    if format == generic_csv.FORMAT:
        # The first piece of a file says which columns were guessed; later pieces do not repeat it.
        found = module.candidates(items, file=name, announce=first_row == 1, **csv_options)
    else:
        found = module.candidates(items)
    if kind == "csv":
        found["record"] = np.arange(first_row, first_row + len(items))
    else:
        found["record"] = items["record"]
        found["raw"] = items["raw"]
    unreadable = schema.no_times(found) if first_piece and first_row == 1 else None
    if unreadable is not None:
        raise BadInput(name, unreadable)
    access, rejected = screen(found, name)
    if kind == "csv" and len(rejected):
        # CSV rows get their label and are turned back into text only when rejected: most
        # rows never are.
        position = rejected["record"].astype("int64") - first_row
        rejected["record"] = "row " + rejected["record"]
        rejected["raw"] = schema.truncate_raw(pd.Series(items.iloc[position.to_numpy()].to_dict("records")))
    return access, _with_early(rejected, name, bad_lines, skipped)


def _with_early(rejected: pd.DataFrame, name: str, bad_lines: pd.DataFrame, skipped: pd.DataFrame) -> pd.DataFrame:
    """The rows rejected before screening (bad lines, non-objects) first, then ``rejected``."""
    early = pd.concat([bad_lines, skipped], ignore_index=True)
    if len(early):
        early = pd.DataFrame({"file": name, "record": early["record"].astype("str"),
                              "reason": early["reason"].astype("str"), "raw": schema.truncate_raw(early["raw"])})
        rejected = pd.concat([early, rejected], ignore_index=True)
    return rejected


class NotStreamable(Exception):
    """A file ``chunks`` cannot read piece by piece after all (a row longer than a chunk,
    bytes that are not UTF-8): read it whole with ``load_file``, which reports it exactly."""


def _open_binary(path: Path):
    """``(file, stream)``: the file on disk (its position counts bytes read) and its
    content, gunzipped when it starts with the gzip magic bytes."""
    handle = open(path, "rb")
    if handle.read(2) == GZIP_MAGIC:
        handle.seek(0)
        return handle, gzip.GzipFile(fileobj=handle)
    handle.seek(0)
    return handle, handle


def streamable(path: Path, chunk_bytes: int) -> str | None:
    """``"csv"`` or ``"ndjson"`` when ``path`` is plain UTF-8 text of that kind bigger than a
    chunk, else None (JSON documents, UTF-16, binary and small files are read whole).

    Examples:
        >>> import pathlib, tempfile
        >>> file = pathlib.Path(tempfile.mkdtemp()) / "log.ndjson"
        >>> _ = file.write_text('{"a": 1}\\n{"a": 2}\\n')
        >>> streamable(file, 8), streamable(file, 1 << 20)
        ('ndjson', None)
    """
    size = path.stat().st_size
    try:
        handle, stream = _open_binary(path)
        with handle:
            head = stream.read(_SNIFF_BYTES)
    except (OSError, EOFError, zlib.error):
        return None
    # Compressed text is several times larger than the file: stream it sooner.
    if (size * 4 if stream is not handle else size) <= chunk_bytes:
        return None
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    head = head.removeprefix(codecs.BOM_UTF8)
    sample = head[:4096]
    if not head.strip() or sample.count(0) * 10 > len(sample):
        return None
    stripped = head.lstrip()
    if not stripped.startswith((b"{", b"[")):
        return "csv"
    first, newline, rest = stripped.partition(b"\n")
    try:
        return "ndjson" if newline and rest.strip() and isinstance(json.loads(first), dict) else None
    except (ValueError, RecursionError):
        return None


def generic_csv_header(path: Path, format: str | None = None) -> list[str] | None:
    """The column names of ``path`` when it is a generic CSV log (plain or gzip UTF-8 text
    whose header is not a GitHub, Entra or Okta export's, or ``format="csv"``), else None.

    Where ``store.ingest`` reads a CSV file in bulk (``store.bulk_csv``); None for
    anything else, a file ``read_file`` reads and reports.

    Examples:
        >>> import pathlib, tempfile
        >>> file = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
        >>> _ = file.write_text("time,user,user_agent\\n2024-05-01T10:00:00Z,ann,curl/8\\n")
        >>> generic_csv_header(file), generic_csv_header(file, "okta")
        (['time', 'user', 'user_agent'], None)
    """
    if format not in (None, generic_csv.FORMAT) or streamable(path, 0) != "csv":
        return None
    try:
        header, found = _csv_head(path, format)
    except (BadInput, NotStreamable, OSError, EOFError, zlib.error):
        return None
    return header if found == generic_csv.FORMAT else None


def chunks(path: Path, format: str | None = None, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES,
           on_bytes=None, **csv_options):
    """Read one log file piece by piece: yields ``(access, rejected, format)`` per chunk.

    CSV files stream through ``pyarrow.csv.open_csv`` in blocks of ``chunk_bytes``, NDJSON
    in batches of whole lines of about ``chunk_bytes``; other files (and files no bigger
    than a chunk) come whole from ``load_file`` as one piece. Rows are labelled and
    screened as ``load_file`` does, so the pieces hold the same rows. ``on_bytes(n)`` is
    called with the bytes of the file read so far (for a progress bar). Raises
    ``BadInput`` as ``load_file`` does, and ``NotStreamable`` when a file turns out
    unreadable in pieces midway (the caller then reads it whole).

    Examples:
        >>> import pathlib, tempfile
        >>> file = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
        >>> _ = file.write_text("time,user,user_agent\\n" + "2024-05-01T10:00:00Z,ann@example.com,curl/8.4.0\\n" * 30)
        >>> [len(access) for access, rejected, format in chunks(file, chunk_bytes=400)]
        [7, 9, 8, 6]
    """
    if format is not None and format not in FORMATS:
        raise BadInput(path, f"unknown format {format!r} (choose from {', '.join(FORMATS)})")
    kind = streamable(path, chunk_bytes)
    if kind is None:
        yield load_file(path, format, **csv_options)
        return
    try:
        if kind == "csv":
            yield from _csv_chunks(path, format, chunk_bytes, on_bytes, csv_options)
        else:
            yield from _ndjson_chunks(path, format, chunk_bytes, on_bytes, csv_options)
    except (OSError, EOFError, zlib.error):
        # A gzip file cut short or corrupt midway: read whole, it is reported exactly.
        raise NotStreamable(str(path)) from None


def _csv_chunks(path: Path, format: str | None, chunk_bytes: int, on_bytes, csv_options: dict):
    """The CSV side of ``chunks``."""
    name = str(path)
    header, format = _csv_head(path, format)
    handle, stream = _open_binary(path)
    with handle:
        malformed: list[tuple[str, str]] = []

        def reject(row) -> str:
            malformed.append((f"expected {row.expected_columns} fields, found {row.actual_columns}", row.text))
            return "skip"

        rows = taken = 0
        reader = None
        try:
            reader = pyarrow_csv.open_csv(
                stream, read_options=pyarrow_csv.ReadOptions(block_size=chunk_bytes, use_threads=False,
                                                             **_names(header)),
                **_csv_options(header, reject, csv_options.get("ua_column")))
            for batch in reader:
                table = pyarrow.Table.from_batches([batch])
                if _spans_lines(table.slice(max(table.num_rows - 1, 0)).to_pandas()):
                    # Perhaps a quote left open, running to the end of the file: load_file
                    # reads the text and tells.
                    raise NotStreamable(name)
                # Arrow's reader may meet the next block's bad rows meanwhile: counted once, here.
                seen = len(malformed)
                items = table.to_pandas()
                if _swallowed(malformed[taken:seen]) or (_line_breaks(table) and _rows_inside(items, len(header))):
                    raise NotStreamable(name)
                bad_lines = _malformed(malformed[taken:seen], taken + 1)
                access, rejected = _screen_items(items, "csv", format, name, csv_options, bad_lines,
                                                 _NO_ROWS, rows + 1)
                rows, taken = rows + table.num_rows, seen
                if on_bytes is not None:
                    on_bytes(handle.tell())
                yield access, rejected, format
        except pyarrow.ArrowInvalid:
            # A row longer than a block, or bytes that are not UTF-8.
            raise NotStreamable(name) from None
        finally:
            # However the reading ends (done, bad input, the consumer gone), the reader
            # is closed and let go by Arrow's threads before the file is.
            if reader is not None:
                reader.close()
                del reader
            _await_release(reject, 1)
            # Our names for the file: ``stream``, and ``handle`` with its ``with`` when the same.
            _await_release(stream, 1 + 2 * (stream is handle))
    if taken < len(malformed):
        early = _malformed(malformed[taken:], taken + 1)
        early = pd.DataFrame({"file": name, "record": early["record"], "reason": early["reason"],
                              "raw": schema.truncate_raw(early["raw"])})
        yield empty_access(), early.astype("str"), format


def _csv_head(path: Path, format: str | None) -> tuple[list[str], str]:
    """The header of a CSV log file and its format (``github``, ``entra``, ``okta`` or ``csv``, or the one forced)."""
    handle, stream = _open_binary(path)
    with handle:
        first = stream.readline().removeprefix(codecs.BOM_UTF8)
    try:
        header = _csv_header(first.decode("utf-8").removesuffix("\n"), str(path))
    except UnicodeDecodeError:
        raise NotStreamable(str(path)) from None
    return header, _csv_format(path, format, header)


# The formats that have a CSV export, told apart by header; anything else is generic CSV.
_CSV_FORMATS = (github, entra, okta)


def _csv_format(path: Path, format: str | None, header: list[str]) -> str:
    """The format of a CSV log with ``header``: detected, or the forced one checked."""
    if format is None:
        format = next((module.FORMAT for module in _CSV_FORMATS if module.matches_header(header)), generic_csv.FORMAT)
    elif format not in {module.FORMAT for module in _CSV_FORMATS} | {generic_csv.FORMAT}:
        raise BadInput(path, f"is a CSV file, not {_article(format)} {format} export ({format} logs are JSON); "
                             "without --format it is read as a generic CSV")
    forced = next((module for module in _CSV_FORMATS if module.FORMAT == format), None)
    if forced is not None and not forced.matches_header(header):
        # Read anyway, every row would be rejected for the columns it lacks.
        raise BadInput(path, "header", f"not the columns of {_article(format)} {format} CSV export; "
                                       "without --format it is read as a generic CSV")
    if format == entra.FORMAT and entra.header_problem(header) is not None:
        raise BadInput(path, "header", entra.header_problem(header))
    return format


def _article(word: str) -> str:
    """``a`` or ``an`` before ``word`` as it is spoken (``an entra``, ``an okta``, ``a github``)."""
    return "an" if word[:1].lower() in "aeiou" else "a"


@contextlib.contextmanager
def _opened(path: Path):
    """The content of ``path`` (gunzipped when gzip) as an Arrow stream, closed on leaving.

    Arrow's own file and gzip readers feed its threads without taking the GIL for every
    block, as a Python file object would.
    """
    with open(path, "rb") as probe:
        packed = probe.read(2) == GZIP_MAGIC
    with pyarrow.input_stream(str(path), compression="gzip" if packed else None) as stream:
        yield stream


def _csv_whole(path: Path, format: str | None, csv_options: dict) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """A big CSV file for ``load`` in one read on every core: ``(access, rejected, format)``.

    ``load`` keeps every row, so reading in bounded chunks would save it no memory and
    would leave the second core idle. Raises ``NotStreamable`` as ``chunks`` does (a row
    longer than a block, bytes not UTF-8): ``load_file`` then reads and reports the file.
    """
    header, format = _csv_head(path, format)
    try:
        items, malformed, breaks = _csv_frame(lambda: _opened(path), header, csv_options.get("ua_column"),
                                      _WHOLE_BLOCK_BYTES)
    except (pyarrow.ArrowInvalid, OSError):
        # Arrow's gzip reader reports a file cut short or corrupt as an OSError.
        raise NotStreamable(str(path)) from None
    if _spans_lines(items.tail(1)) or _swallowed(malformed) or (breaks and _rows_inside(items, len(header))):
        # A quote left open runs to the end of the file, swallowing the rows after it into
        # the last value (or a later quote closes it): load_file reads the text and tells
        # (quoted line breaks elsewhere stay).
        raise NotStreamable(str(path))
    access, rejected = _screen_items(items, "csv", format, str(path), csv_options, _malformed(malformed), _NO_ROWS)
    return access, rejected, format


def _ndjson_chunks(path: Path, format: str | None, chunk_bytes: int, on_bytes, csv_options: dict):
    """The NDJSON side of ``chunks``: batches of whole lines."""
    name = str(path)
    handle, stream = _open_binary(path)
    lines, decided = 0, False
    with handle:
        block = stream.read(chunk_bytes).removeprefix(codecs.BOM_UTF8)
        while block:
            block += stream.readline()
            try:
                text = block.decode("utf-8")
            except UnicodeDecodeError:
                raise NotStreamable(name) from None
            first_piece = lines == 0
            items, labels, bad = _parse_ndjson(text, first_line=lines + 1)
            lines += len(text.splitlines())
            if not decided:
                # As load_file does: the file's first rows tell (or check) the format.
                format, decided = _json_format(path, format, items if items else None), True
            found, skipped = _json_items(FORMATS[format], "ndjson", items, labels)
            access, rejected = _screen_items(found, "ndjson", format, name, csv_options, bad, skipped,
                                             first_piece=first_piece)
            if on_bytes is not None:
                on_bytes(handle.tell())
            yield access, rejected, format
            block = stream.read(chunk_bytes)


def read_file(path: Path, consume, format: str | None = None, *, whole: bool = False,
              chunk_bytes: int = DEFAULT_CHUNK_BYTES, on_bytes=None, **csv_options):
    """``consume(pieces)`` of one log file, the streaming fallback in one place.

    ``pieces`` yields ``(access, rejected, format)``: ``chunks`` of ``chunk_bytes``, or
    with ``whole`` a big CSV file in one read on every core (a caller keeping every row
    saves no memory with chunks, and they would leave the second core idle). When the
    file cannot be read in pieces after all, ``consume`` is called again with the file
    read whole by ``load_file``. Returns what
    ``consume`` returns; raises ``BadInput`` as ``load_file`` does.
    """
    try:
        if whole and (format is None or format in FORMATS) and streamable(path, DEFAULT_CHUNK_BYTES) == "csv":
            return consume([_csv_whole(path, format, csv_options)])
        return consume(chunks(path, format, chunk_bytes=chunk_bytes, on_bytes=on_bytes, **csv_options))
    except NotStreamable:
        return consume([load_file(path, format, **csv_options)])
