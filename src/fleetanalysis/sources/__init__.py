"""Read SaaS sign-in logs into the canonical access table (see ``schema``).

``load(paths, format=None)`` takes files, directories (read recursively) and globs,
gunzips files that start with the gzip magic bytes, decodes UTF-8 (with or without BOM;
UTF-16 only with a BOM), tells JSON, NDJSON and CSV apart, detects the log format from
the content (``FORMATS``; ``format=`` forces one) and screens every row. A file that
cannot be read at all becomes a one-line problem and the run goes on with the others;
only when no file can be read does ``load`` raise ``BadInput``.

Examples:
    >>> import json, pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "okta.json").write_text(json.dumps([{"uuid": "u1", "eventType": "user.session.start",
    ...     "published": "2024-05-01T10:00:00Z", "actor": {"alternateId": "ann@example.com"},
    ...     "client": {"userAgent": {"rawUserAgent": "Mozilla/5.0"}}}]))
    >>> result = load([folder])
    >>> result.counts[["format", "read", "loaded", "rejected"]].to_dict("records")
    [{'format': 'okta', 'read': 1, 'loaded': 1, 'rejected': 0}]
    >>> result.access["user"].tolist()
    ['ann@example.com']
"""

from __future__ import annotations

import codecs
import csv as stdlib_csv
import glob
import gzip
import io
import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow
import pyarrow.csv as pyarrow_csv
from tqdm import tqdm

from fleetanalysis.errors import BadInput
from fleetanalysis.sources import csv as generic_csv
from fleetanalysis.sources import entra, github, google_mobile, okta, schema, slack_access, slack_audit
from fleetanalysis.sources.schema import conform, empty_access, empty_rejected, screen

# Detection order matters: the most specific shapes first.
FORMATS = {
    module.FORMAT: module
    for module in (google_mobile, slack_access, slack_audit, entra, okta, github, generic_csv)
}
COUNT_COLUMNS = ["file", "format", "read", "loaded", "rejected"]
GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class LoadResult:
    """What ``load`` read: access rows, rejected rows, per-file counts, file-level problems.

    ``counts`` has ``file, format, read, loaded, rejected`` (read = loaded + rejected);
    ``problems`` holds one line per file that could not be read at all.
    """

    access: pd.DataFrame = field(default_factory=empty_access)
    rejected: pd.DataFrame = field(default_factory=empty_rejected)
    counts: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=COUNT_COLUMNS))
    problems: list[str] = field(default_factory=list)


def expand(paths) -> tuple[list[Path], list[str]]:
    """Files named by ``paths`` (files, folders read recursively, globs) and problems.

    Hidden files (such as half-written ``.name.tmp`` files) inside folders are skipped.

    Examples:
        >>> expand(["/nonexistent/fleetanalysis/x.json"])
        ([], ['/nonexistent/fleetanalysis/x.json: no such file or directory'])
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[Path] = []
    problems: list[str] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            files.extend(sorted(child for child in path.rglob("*")
                                if child.is_file() and not any(part.startswith(".")
                                                               for part in child.relative_to(path).parts)))
        elif path.is_file():
            files.append(path)
        elif glob.has_magic(str(item)):
            matched = sorted(Path(name) for name in glob.glob(str(item), recursive=True) if Path(name).is_file())
            files.extend(matched) if matched else problems.append(f"{item}: no file matches this pattern")
        else:
            problems.append(f"{item}: no such file or directory")
    return list(dict.fromkeys(files)), problems


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


def _parse_ndjson(text: str) -> tuple[list[dict], list[str], pd.DataFrame]:
    """Rows, their labels and rejected lines of newline-delimited JSON."""
    items, labels, bad = [], [], []
    for number, line in enumerate(text.splitlines(), start=1):
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
        raise BadInput(file, f"line {error.lineno} column {error.colno}",
                       f"not valid JSON ({error.msg}); truncated?") from None


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


def _read_csv(text: str, file: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """CSV rows as text columns with a ``record`` label; rows of the wrong width rejected.

    Examples:
        >>> frame, bad = _read_csv('user,time\\nann,1\\nbo,2,3\\n"cy', "x.csv")
        >>> frame["user"].tolist(), bad["reason"].tolist()
        (['ann'], ['expected 2 fields, found 3', 'expected 2 fields, found 1'])
    """
    first = text.split("\n", 1)[0]
    header = next(stdlib_csv.reader([first]), [])
    if not header or len(set(header)) != len(header):
        raise BadInput(file, "header", "missing or repeated column names")
    malformed: list[tuple[str, str]] = []

    def reject(row) -> str:
        malformed.append((f"expected {row.expected_columns} fields, found {row.actual_columns}", row.text))
        return "skip"

    try:
        table = pyarrow_csv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            parse_options=pyarrow_csv.ParseOptions(invalid_row_handler=reject, newlines_in_values=True),
            convert_options=pyarrow_csv.ConvertOptions(column_types={name: pyarrow.string() for name in header},
                                                       strings_can_be_null=False))
    except pyarrow.ArrowInvalid as error:
        raise BadInput(file, f"not a readable CSV ({str(error).splitlines()[0]})") from None
    frame = table.to_pandas().replace("", pd.NA)
    frame["record"] = [f"row {number}" for number in range(1, len(frame) + 1)]
    bad = pd.DataFrame({"record": [f"malformed row {number}" for number in range(1, len(malformed) + 1)],
                        "reason": [reason for reason, _ in malformed], "raw": [raw for _, raw in malformed]})
    return frame, bad


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
        frame, bad_lines = _read_csv(text, name)
        format = format or (github.FORMAT if github.matches_header(list(frame.columns)) else generic_csv.FORMAT)
        if format not in (github.FORMAT, generic_csv.FORMAT):
            raise BadInput(path, f"is a CSV file, not a {format} export")
        items = frame
        skipped = pd.DataFrame(columns=["record", "reason", "raw"])
    else:
        probe = doc[0] if kind == "ndjson" and doc else doc
        found = detect(probe)
        if format is None:
            format = found
        elif format == generic_csv.FORMAT or not FORMATS[format].matches(probe):
            raise BadInput(path, f"is not a {format} export (looks like {found or 'an unknown format'})")
        if format is None:
            raise BadInput(path, "not a known sign-in log (Slack, Okta, Entra, Google, GitHub); use --format")
        module = FORMATS[format]
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
    module = FORMATS[format]
    if format == generic_csv.FORMAT:
        found = module.candidates(items, file=name, **csv_options)
    else:
        found = module.candidates(items)
    found["record"] = items["record"]
    if kind != "csv":
        found["raw"] = items["raw"]
    access, rejected = screen(found, name)
    if kind == "csv" and len(rejected):
        # CSV rows are turned back into text only when rejected: most rows never are.
        position = rejected["record"].str.removeprefix("row ").astype("int64") - 1
        rejected["raw"] = schema.truncate_raw(pd.Series(
            items.drop(columns="record").iloc[position.to_numpy()].to_dict("records")))
    early = pd.concat([bad_lines, skipped], ignore_index=True)
    if len(early):
        early = pd.DataFrame({"file": name, "record": early["record"].astype("str"),
                              "reason": early["reason"].astype("str"), "raw": schema.truncate_raw(early["raw"])})
        rejected = pd.concat([early, rejected], ignore_index=True)
    return access, rejected, format


def load(paths, format: str | None = None, *, user_column: str | None = None,
         time_column: str | None = None, ua_column: str | None = None, progress: bool = False) -> LoadResult:
    """Read every file in ``paths`` into one access table; see the module docstring.

    The CSV options name the user, time and user-agent columns of a generic CSV;
    ``progress`` shows a bar over the files when stderr is a terminal.
    Raises ``BadInput`` (the first problem) only when no file could be read at all.

    Examples:
        >>> load(["/nonexistent/fleetanalysis/a.json"])
        Traceback (most recent call last):
        fleetanalysis.errors.BadInput: /nonexistent/fleetanalysis/a.json: no such file or directory
    """
    files, problems = expand(paths)
    options = {"user_column": user_column, "time_column": time_column, "ua_column": ua_column}
    accesses, rejects, counts = [], [], []
    for path in tqdm(files, desc="reading logs", unit="file", disable=None if progress else True):
        try:
            access, rejected, found = load_file(path, format, **options)
        except BadInput as problem:
            problems.append(str(problem))
            continue
        accesses.append(access)
        rejects.append(rejected)
        counts.append((str(path), found, len(access) + len(rejected), len(access), len(rejected)))
    if not counts:
        raise BadInput(problems[0] if problems else "no input files given")
    return LoadResult(
        access=conform(pd.concat(accesses, ignore_index=True)),
        rejected=pd.concat(rejects, ignore_index=True).astype("str"),
        counts=pd.DataFrame(counts, columns=COUNT_COLUMNS),
        problems=problems,
    )
