"""Killing an ingest or a report midway (SIGKILL: no cleanup code runs) leaves the previous
store and reports readable and byte-identical, promotes no temporary file, and the next
run succeeds and removes the killed run's temporary files.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fleetanalysis import sources, store
from fleetanalysis.cli import main

ROWS = 300_000


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every visible file's bytes and every symlink's target under ``folder``."""
    found: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_symlink():
            found[str(relative)] = f"-> {os.readlink(path)}"
        elif path.is_file():
            found[str(relative)] = path.read_bytes()
    return found


def start(*argv, cwd):
    """The real command in its own process group, so a kill reaches the notebook kernel too."""
    return subprocess.Popen([sys.executable, "-m", "fleetanalysis.cli", *map(str, argv)], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})


def children(parent: int) -> list[int]:
    """The live child processes of ``parent`` (the notebook kernel runs in its own session)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent and fields[0] != "Z":
            found.append(int(entry.parent.name))
    return found


def kill(process) -> list[int]:
    """SIGKILL the command's process group; returns the children it had (now orphans)."""
    orphans = children(process.pid)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    return orphans


def finish(*argv, cwd) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "fleetanalysis.cli", *map(str, argv)], cwd=cwd,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    return done


@pytest.fixture(scope="module")
def previous(tmp_path_factory):
    """A demo store with some rejected rows, and a report written from it."""
    root = tmp_path_factory.mktemp("interruption")
    demo = root / "demo"
    assert main(["demo", "--out", str(demo), "--users", "40", "--weeks", "6", "--seed", "3"]) == 0
    bad = root / "bad.csv"
    bad.write_text("email,timestamp,user_agent\nann@example.com,1970-01-02T00:00:00Z,Mozilla/5.0\n")
    access = root / "store" / "access.parquet"
    assert main(["ingest", str(demo / "slack"), str(bad), "--store", str(access)]) == 0
    assert store.rejected_path(access).exists()
    return {"root": root, "demo": demo, "store": access}


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory):
    """300,000 sign-ins as a generic CSV (about 50 MB), enough for an ingest to take seconds."""
    rng = np.random.default_rng(9)
    agents = np.array([f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                       f"Chrome/{major}.0.0.0 Safari/537.36" for major in range(110, 140)])
    when = pd.Timestamp("2025-06-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 80 * 86400, ROWS), unit="s")
    frame = pd.DataFrame({"id": np.char.add("e", np.arange(ROWS).astype(str)),
                          "email": np.char.add(np.char.add("user", rng.integers(0, 3000, ROWS).astype(str)),
                                               "@example.com"),
                          "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                          "user_agent": agents[rng.integers(0, len(agents), ROWS)]})
    path = tmp_path_factory.mktemp("big") / "signins.csv"
    frame.to_csv(path, index=False)
    return path


def test_killing_an_ingest_midway_changes_nothing_and_the_next_run_succeeds(previous, big_csv, tmp_path):
    folder = tmp_path / "store"
    shutil.copytree(previous["store"].parent, folder)
    access = folder / "access.parquet"
    before = snapshot(folder)
    # The store is a folder of partitions and its manifest (store.dataset).
    assert {name for name in before if not name.startswith("access.parquet/month=")} == {
        "access.parquet/_manifest.json", "access-rejected.csv"}
    assert any(name.endswith("/part-0.parquet") for name in before)

    # While reading: well before the big file can have been merged.
    reading = start("ingest", big_csv, "--store", access, cwd=tmp_path)
    time.sleep(1.0)
    assert reading.poll() is None, "the ingest finished before it could be interrupted"
    kill(reading)
    assert snapshot(folder) == before

    # While writing: the moment a partition's temporary file appears in the store.
    writing = start("ingest", big_csv, "--store", access, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while writing.poll() is None and time.monotonic() < deadline:
        # The store's own temporary files: the rejected CSV's is renamed too fast to be caught.
        if any(path.name.endswith(".pending") for path in access.glob("month=*/log=*/.*")):
            break
        time.sleep(0.002)
    assert writing.poll() is None, "the ingest finished before a temporary file was seen"
    kill(writing)
    assert snapshot(folder) == before
    assert len(store.read(access)) == len(pd.read_parquet(access))
    # A half-written temporary file is hidden: reading the folder as logs never picks it up.
    files, _ = sources.expand([folder])
    assert not [path for path in files if path.name.startswith(".")]

    # The kill may land just after a rename; then stand in for the writer it interrupted
    # with the file such a writer leaves (writing.atomic_path's name), so the clean-up
    # below is checked on every run.
    if not [path for path in folder.iterdir() if path.name.endswith(".tmp")]:
        (folder / ".access.parquet.killed.tmp").write_bytes(b"PAR1")

    done = finish("ingest", big_csv, "--store", access, cwd=tmp_path)
    assert f"read {ROWS}, loaded {ROWS}, rejected 0, duplicates 0" in done.stdout
    # The next run (holding the store's lock, so no live writer owns them) removed them.
    assert not [path for path in folder.iterdir() if path.name.endswith(".tmp")]
    assert not list(access.rglob(".*"))
    assert len(store.read(access)) == len(pd.read_parquet(access))
    assert store.rejected_path(access).read_bytes() == before["access-rejected.csv"]


def test_killing_a_report_midway_leaves_the_published_reports_unchanged(previous):
    out = previous["root"] / "reports"
    report = ["report", "--store", previous["store"].resolve(), "--directory", (previous["demo"] / "directory.csv").resolve(),
              "--networks", (previous["demo"] / "networks.csv").resolve(), "--out", out]
    first = finish(*report, cwd=previous["root"])
    page = Path(first.stdout.strip().splitlines()[-1])
    assert page.is_file()
    before = snapshot(out)
    assert "latest" in before and "index.html" in before

    running = start(*report, cwd=previous["root"])
    # Kill while the notebook runs: once the kernel (a second process in the group) is up.
    deadline = time.monotonic() + 120
    while running.poll() is None and time.monotonic() < deadline and not children(running.pid):
        time.sleep(0.05)
    time.sleep(0.5)
    assert running.poll() is None, "the report finished before it could be interrupted"
    orphans = kill(running)
    assert snapshot(out) == before
    # The kernel notices its parent died and exits (ipykernel's parent poller); tidy up regardless.
    for pid in orphans:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    again = finish(*report, cwd=previous["root"])
    assert Path(again.stdout.strip().splitlines()[-1]) == page and page.is_file()
