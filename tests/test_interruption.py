"""Stopping an ingest or a report midway.

SIGKILL (no cleanup code runs) leaves the previous store and reports readable and
byte-identical, promotes no temporary file, and the next run succeeds and removes the killed
run's temporary files. SIGTERM and SIGHUP (cron, systemd, a closed terminal) stop the job in
order: one line, exit 128 + the signal, no scratch folder or temporary file left, the kernel
shut down, the previous outputs intact, and the next run gives what an uninterrupted one gives.

Every child gets a ``TMPDIR`` of its own inside ``tmp_path``: what a killed job leaves there
is seen by the test and never litters the machine's temporary folder.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fleetanalysis import cli, sources, store
from fleetanalysis.cli import main, stopping

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


def environment(scratch: Path, **more) -> dict[str, str]:
    """The child's environment: its temporary files (scratch folders, kernel connection
    files) go to ``scratch``, which is created."""
    scratch.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "PYTHONWARNINGS": "ignore", "TMPDIR": str(scratch), **more}


def start(*argv, cwd, scratch: Path):
    """The real command in its own process group, so a kill reaches the notebook kernel too."""
    return subprocess.Popen([sys.executable, "-m", "fleetanalysis.cli", *map(str, argv)], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            env=environment(scratch))


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


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def kill(process) -> list[int]:
    """SIGKILL the command's process group; returns the children it had (now orphans)."""
    orphans = children(process.pid)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    return orphans


def stop(process, signum=signal.SIGTERM, *also: int) -> tuple[int, str]:
    """Send ``signum`` to the command (and to the processes ``also``, as systemd signals every
    process of a unit); its exit status and stderr once it has exited."""
    for pid in (process.pid, *also):
        os.kill(pid, signum)
    _, stderr = process.communicate(timeout=60)
    return process.returncode, stderr.decode(errors="replace")


def assert_stopped_in_order(status: int, stderr: str, scratch: Path, signum=signal.SIGTERM) -> None:
    """Exit 128 + signal, the one line saying so last, no traceback, the scratch folder empty."""
    name = signal.Signals(signum).name
    assert status == 128 + signum, stderr[-2000:]
    assert stderr.splitlines()[-1] == f"fleetanalysis: stopped by {name}", stderr[-2000:]
    assert stderr.count("stopped by") == 1 and "Traceback" not in stderr, stderr[-2000:]
    assert not list(scratch.iterdir())


def finish(*argv, cwd, scratch: Path) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "fleetanalysis.cli", *map(str, argv)], cwd=cwd,
                          capture_output=True, text=True, timeout=240, env=environment(scratch))
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
    scratch = tmp_path / "tmp"
    reading = start("ingest", big_csv, "--store", access, cwd=tmp_path, scratch=scratch)
    time.sleep(1.0)
    assert reading.poll() is None, "the ingest finished before it could be interrupted"
    kill(reading)
    assert snapshot(folder) == before

    # While writing: the moment a partition's temporary file appears in the store.
    writing = start("ingest", big_csv, "--store", access, cwd=tmp_path, scratch=scratch)
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

    done = finish("ingest", big_csv, "--store", access, cwd=tmp_path, scratch=scratch)
    assert f"read {ROWS}, loaded {ROWS}, rejected 0, duplicates 0" in done.stdout
    # The next run (holding the store's lock, so no live writer owns them) removed them.
    assert not [path for path in folder.iterdir() if path.name.endswith(".tmp")]
    assert not list(access.rglob(".*"))
    assert len(store.read(access)) == len(pd.read_parquet(access))
    assert store.rejected_path(access).read_bytes() == before["access-rejected.csv"]


def test_killing_a_report_midway_leaves_the_published_reports_unchanged(previous, tmp_path):
    out = previous["root"] / "reports"
    report = ["report", "--store", previous["store"].resolve(), "--directory", (previous["demo"] / "directory.csv").resolve(),
              "--networks", (previous["demo"] / "networks.csv").resolve(), "--out", out]
    scratch = tmp_path / "tmp"
    first = finish(*report, cwd=previous["root"], scratch=scratch)
    page = Path(first.stdout.strip().splitlines()[-1])
    assert page.is_file()
    before = snapshot(out)
    assert "latest" in before and "index.html" in before

    running = start(*report, cwd=previous["root"], scratch=scratch)
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

    again = finish(*report, cwd=previous["root"], scratch=scratch)
    assert Path(again.stdout.strip().splitlines()[-1]) == page and page.is_file()


def hidden(folder: Path) -> set[str]:
    """The hidden files under ``folder`` (locks, temporary files), as relative names."""
    return {str(path.relative_to(folder)) for path in folder.rglob(".*")}


def wait_until(ready, process, what: str) -> None:
    """Poll ``ready()`` until it holds, while ``process`` runs (two minutes at most)."""
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline and not ready():
        time.sleep(0.005)
    assert process.poll() is None, f"the command finished before {what}"


@pytest.fixture(scope="module")
def uninterrupted(previous, big_csv, tmp_path_factory):
    """The store an uninterrupted ingest of the big file into the previous store gives."""
    folder = tmp_path_factory.mktemp("uninterrupted") / "store"
    shutil.copytree(previous["store"].parent, folder)
    finish("ingest", big_csv, "--store", folder / "access.parquet", cwd=folder.parent, scratch=folder.parent / "tmp")
    return store.read(folder / "access.parquet")


def same_rows(found: pd.DataFrame, expected: pd.DataFrame) -> None:
    order = list(expected.columns)
    pd.testing.assert_frame_equal(found[order].sort_values(order, ignore_index=True),
                                  expected.sort_values(order, ignore_index=True))


def copied_store(previous, tmp_path: Path) -> tuple[Path, Path, Path]:
    """The previous store copied into ``tmp_path``: its folder, its access store, and the
    scratch folder the stopped child will use as TMPDIR."""
    folder = tmp_path / "store"
    shutil.copytree(previous["store"].parent, folder)
    return folder, folder / "access.parquet", tmp_path / "tmp"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_stopping_an_ingest_while_it_reads_cleans_up_and_the_next_run_gives_the_same_store(
        previous, big_csv, uninterrupted, tmp_path, signum):
    folder, access, scratch = copied_store(previous, tmp_path)
    before, locks = snapshot(folder), hidden(folder)

    reading = start("ingest", big_csv, "--store", access, cwd=tmp_path, scratch=scratch)
    # Midway through DuckDB's read: its spill folder exists in the child's temporary folder.
    wait_until(lambda: any(scratch.glob("fleetanalysis-duckdb-*")), reading, "DuckDB's read began")
    time.sleep(0.2)
    assert_stopped_in_order(*stop(reading, signum), scratch, signum)
    assert snapshot(folder) == before and hidden(folder) == locks

    done = finish("ingest", big_csv, "--store", access, cwd=tmp_path, scratch=scratch)
    assert f"read {ROWS}, loaded {ROWS}, rejected 0, duplicates 0" in done.stdout
    same_rows(store.read(access), uninterrupted)
    assert not list(scratch.iterdir())


def test_stopping_an_ingest_while_it_writes_leaves_the_store_as_it_was(previous, big_csv, uninterrupted, tmp_path):
    folder, access, scratch = copied_store(previous, tmp_path)
    before, locks = snapshot(folder), hidden(folder)

    writing = start("ingest", big_csv, "--store", access, cwd=tmp_path, scratch=scratch)
    # The moment a partition's temporary file appears in the store (before the commit point).
    wait_until(lambda: any(path.name.endswith(".pending") for path in access.glob("month=*/log=*/.*")),
               writing, "a temporary partition was seen")
    assert_stopped_in_order(*stop(writing), scratch)
    # The partitions written so far were removed on the way out: nothing half-written stays.
    assert snapshot(folder) == before and hidden(folder) == locks

    finish("ingest", big_csv, "--store", access, cwd=tmp_path, scratch=scratch)
    same_rows(store.read(access), uninterrupted)


def published(out: Path) -> dict[str, bytes | str]:
    """The reports folder as a reader sees it: the pages (less the cell ids nbconvert draws at
    random each run), the index and the ``latest`` links."""
    pages = snapshot(out)
    return {name: re.sub(rb'cell-id=[0-9a-f]+', b"", found) if name.endswith(".html") else found
            for name, found in pages.items() if not name.endswith(".ipynb")}


@pytest.mark.parametrize("unit", [False, True], ids=["the-command", "every-process-as-systemd"])
def test_stopping_a_report_shuts_its_kernel_down_and_publishes_nothing(previous, tmp_path, unit):
    out, scratch = tmp_path / "reports", tmp_path / "tmp"
    report = ["report", "--store", previous["store"].resolve(), "--directory", (previous["demo"] / "directory.csv").resolve(),
              "--networks", (previous["demo"] / "networks.csv").resolve(), "--out", out]
    first = finish(*report, cwd=tmp_path, scratch=scratch)
    before, expected = snapshot(out), published(out)

    running = start(*report, cwd=tmp_path, scratch=scratch)
    # While the notebook runs: once the kernel is up (its connection file is in the scratch folder).
    wait_until(lambda: children(running.pid), running, "the kernel started")
    time.sleep(0.5)
    kernels = children(running.pid)
    # systemd's default (KillMode=control-group) signals the kernel too; kill(1) the command alone.
    assert_stopped_in_order(*stop(running, signal.SIGTERM, *(kernels if unit else ())), scratch)
    assert kernels and not [pid for pid in kernels if alive(pid)]
    # Nothing published, no failed notebook kept: the stop is not a failure of the notebook.
    assert snapshot(out) == before

    again = finish(*report, cwd=tmp_path, scratch=scratch)
    assert again.stdout.strip().splitlines()[-1] == first.stdout.strip().splitlines()[-1]
    assert published(out) == expected
    assert not list(scratch.iterdir())


def test_slack_events_answers_the_request_in_hand_then_stops_on_sigterm(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The signing secret is the example on Slack's "Verifying requests from Slack" page
    # (api.slack.com/authentication/verifying-requests-from-slack).
    server = subprocess.Popen(
        [sys.executable, "-m", "fleetanalysis.cli", "slack-events", "--port", str(port),
         "--state", str(tmp_path / "nudges.sqlite")], stderr=subprocess.PIPE, stdout=subprocess.PIPE,
        env=environment(tmp_path / "tmp", SLACK_SIGNING_SECRET="8f742231b10e8888abcd99yyyzzz85a5"))
    try:
        assert "listening on http://127.0.0.1:" in server.stderr.readline().decode()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
            # A request whose body is still arriving when systemctl stop signals the server.
            client.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n\r\nto")
            time.sleep(0.3)
            server.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            assert server.poll() is None, "the server stopped before answering the request in hand"
            client.sendall(b"ok")
            answer = client.recv(4096).split(b"\r\n")[0]
        assert b" 401 " in answer  # answered: the body carries no Slack signature
        _, stderr = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    said = stderr.decode()
    assert server.returncode == 0, said
    assert said.splitlines()[-1] == "slack-events: stopped by SIGTERM" and "Traceback" not in said
    # The port is free: nothing listens on it any more.
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))


def test_a_stop_a_library_wrapped_in_its_own_error_still_exits_143(capsys):
    """DuckDB, asked to stop mid-query by the signal handler, raises ``RuntimeError: Query
    interrupted`` in place of the handler's exception: the command still says it was stopped."""
    def query(args):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler runs here, at once
        except KeyboardInterrupt:
            raise RuntimeError("Query interrupted") from None
        return 0

    previous_handler = signal.getsignal(signal.SIGTERM)
    with stopping.stop_on_signals():
        assert cli._run(argparse.Namespace(run=query)) == 143
    assert capsys.readouterr().err == "fleetanalysis: stopped by SIGTERM\n"
    assert signal.getsignal(signal.SIGTERM) is previous_handler
