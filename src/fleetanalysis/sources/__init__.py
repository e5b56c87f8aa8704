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

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from pandas.api.types import union_categoricals
from tqdm import tqdm

from fleetanalysis.errors import BadInput
from fleetanalysis.sources import csv as generic_csv
from fleetanalysis.sources import entra, github, google_mobile, okta, slack_access, slack_audit
from fleetanalysis.sources.schema import conform, empty_access, empty_rejected

# Detection order matters: the most specific shapes first. Defined before the reader is
# imported: it reads this table.
FORMATS = {
    module.FORMAT: module
    for module in (google_mobile, slack_access, slack_audit, entra, okta, github, generic_csv)
}
COUNT_COLUMNS = ["file", "format", "read", "loaded", "rejected"]

from fleetanalysis.sources.reader import (  # noqa: E402  (the face re-exports the per-file reader)
    DEFAULT_CHUNK_BYTES, GZIP_MAGIC, NotStreamable, chunks, detect, load_file, parse, read_file, read_text,
    streamable)

__all__ = ["COUNT_COLUMNS", "DEFAULT_CHUNK_BYTES", "FORMATS", "GZIP_MAGIC", "LoadResult", "NotStreamable", "chunks",
           "concat_access", "detect", "expand", "load", "load_file", "parse", "read_file", "read_text", "streamable"]


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
            inside = sorted(child for child in path.rglob("*")
                            if child.is_file() and not any(part.startswith(".")
                                                           for part in child.relative_to(path).parts))
            files.extend(inside) if inside else problems.append(f"{item}: no files in this folder")
        elif path.is_file():
            files.append(path)
        elif glob.has_magic(str(item)):
            matched = sorted(Path(name) for name in glob.glob(str(item), recursive=True) if Path(name).is_file())
            files.extend(matched) if matched else problems.append(f"{item}: no file matches this pattern")
        elif path.exists():
            # A named pipe, a socket or a device: a log is a file that can be read twice (once
            # to hash it for the manifest, once to read it).
            problems.append(f"{item}: not a regular file")
        else:
            problems.append(f"{item}: no such file or directory")
    return list(dict.fromkeys(files)), problems


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
            pieces = read_file(path, list, format, whole=True, **options)
        except BadInput as problem:
            problems.append(str(problem))
            continue
        access = [piece[0] for piece in pieces]
        rejected = pd.concat([piece[1] for piece in pieces], ignore_index=True)
        read = sum(len(frame) for frame in access)
        accesses.extend(access)
        rejects.append(rejected)
        counts.append((str(path), pieces[0][2], read + len(rejected), read, len(rejected)))
    if not counts:
        raise BadInput(problems[0] if problems else "no input files given")
    return LoadResult(
        access=conform(concat_access(accesses)),
        rejected=pd.concat(rejects, ignore_index=True).astype("str"),
        counts=pd.DataFrame(counts, columns=COUNT_COLUMNS),
        problems=problems,
    )


def concat_access(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Access tables stacked, their categorical columns kept categorical.

    ``pd.concat`` turns categoricals with different categories into text, which costs a
    string per row; the categories are unified first, which costs one per distinct value.

    Examples:
        >>> parts = [conform(pd.DataFrame({"source": ["csv"], "user_agent": [agent]})) for agent in ("a", "b")]
        >>> str(concat_access(parts)["user_agent"].dtype)
        'category'
    """
    if not frames:
        return empty_access()
    categorical = [column for column in frames[0].columns
                   if all(isinstance(frame[column].dtype, pd.CategoricalDtype) for frame in frames)]
    stacked = pd.concat([frame.drop(columns=categorical) for frame in frames], ignore_index=True)
    for column in categorical:
        kind = frames[0][column].cat.categories.dtype
        stacked[column] = union_categoricals(
            [frame[column].cat.set_categories(frame[column].cat.categories.astype(kind)) for frame in frames])
    return stacked[list(frames[0].columns)]
