"""The manifest of a store: the input files ``store.ingest`` read, so an unchanged one is skipped.

``<store>/_manifest.json`` lists each file by resolved path with its size, mtime,
SHA-256 hash, the options it was read with and its counts. A file still matching its
entry (same size and mtime, or else the same hash) is not read again: merging the same
rows again would change nothing. A store from before partitions kept its manifest beside
it (``legacy_path``).

Examples:
    >>> content({})
    {'version': 2, 'files': {}}
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fleetanalysis.store import dataset

MANIFEST_VERSION = 2


def manifest_path(store_path: str | os.PathLike) -> Path:
    """Where the manifest of ingested files is kept: ``_manifest.json`` in the store folder.

    Examples:
        >>> manifest_path("data/processed/access.parquet").as_posix()
        'data/processed/access.parquet/_manifest.json'
    """
    return Path(store_path) / dataset.MANIFEST


def legacy_path(store_path: Path) -> Path:
    """Where a store from before partitions kept its manifest: beside it."""
    return store_path.with_name(f"{store_path.stem}-manifest.json")


def _identity(path: Path) -> dict | None:
    """What tells this file from a replaced one without reading it: size, mtime, inode."""
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return {"size": found.st_size, "mtime_ns": found.st_mtime_ns, "inode": found.st_ino}


def file_hash(path: str | os.PathLike) -> str:
    """SHA-256 of the file's bytes (its first 16 bytes, in hex).

    SHA-256, not BLAKE2b as before: processors hash it in hardware, twice as fast here,
    and the hash runs beside DuckDB's reading on the same cores. An entry with the old
    hash only costs one read again, when the file's size or mtime changed.

    Examples:
        >>> import pathlib, tempfile
        >>> log = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
        >>> _ = log.write_text("time,user,user_agent\\n")
        >>> len(file_hash(log))
        32
    """
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()[:32]


def read_manifest(store_path: str | os.PathLike) -> dict[str, dict]:
    """The manifest entries of the store at ``store_path``, by resolved input path.

    Empty when there is no manifest (a store written by ``merge`` alone: the next ingest
    reads every file and records it) or when it is unreadable. A store from before
    partitions kept its manifest beside it, naming the store file it described.

    Examples:
        >>> read_manifest("/nonexistent/fleetanalysis/access.parquet")
        {}
    """
    store_path = Path(store_path)
    legacy = store_path.is_file()
    try:
        manifest = json.loads((legacy_path(store_path) if legacy else manifest_path(store_path))
                              .read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        return {}
    if legacy and (manifest.get("version") != 1 or manifest.get("store") != _identity(store_path)):
        return {}
    if not legacy and manifest.get("version") != MANIFEST_VERSION:
        return {}
    return manifest["files"]


def content(files: dict[str, dict]) -> dict:
    """A manifest holding the entries ``files``."""
    return {"version": MANIFEST_VERSION, "files": files}


def changed_since(path: Path, entry: dict) -> bool:
    """Whether ``path``'s size or mtime is no longer what ``entry`` recorded (or it is gone).

    Examples:
        >>> import pathlib, tempfile
        >>> log = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
        >>> _ = log.write_text("a")
        >>> entry = unchanged(log, None, {})[1]
        >>> changed_since(log, entry), (log.write_text("ab") and changed_since(log, entry))
        (False, True)
    """
    try:
        found = path.stat()
    except OSError:
        return True
    return (found.st_size, found.st_mtime_ns) != (entry.get("size"), entry.get("mtime_ns"))


def unchanged(path: Path, entry: dict | None, options: dict,
              hashing: ThreadPoolExecutor | None = None) -> tuple[bool, dict]:
    """Whether ``path`` still is what its manifest ``entry`` recorded; and its identity now.

    Size and mtime equal: unchanged, not hashed. Otherwise the file is hashed, and the
    same bytes (a file touched or copied back) still count as unchanged. A file without
    an entry is hashed on ``hashing``'s thread: its ``hash`` is a future then.
    """
    found = path.stat()
    now = {"size": found.st_size, "mtime_ns": found.st_mtime_ns, "options": options}
    known = entry is not None and entry.get("options") == options and entry.get("hash")
    if known and entry.get("size") == now["size"] and entry.get("mtime_ns") == now["mtime_ns"]:
        return True, {**now, "hash": entry["hash"]}
    if not known and hashing is not None:
        # Nothing to compare with: the hash is only recorded, so it is taken while the file is read.
        now["hash"] = hashing.submit(file_hash, path)
        return False, now
    now["hash"] = file_hash(path)
    return bool(known) and entry.get("hash") == now["hash"], now
