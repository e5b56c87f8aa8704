"""Filesystem faults are the user's to fix: a full disk, a read-only folder, no permission, a
folder where a file should be or a path under a file end in one line naming the file, exit 2,
checked before the work starts where they can be, and the previous outputs stay as they were.

The suite runs as root, whom permission bits do not stop: a read-only file system is a real
read-only tmpfs where the machine lets the test mount one (skipped with the reason otherwise),
and the same faults are also raised in-process where the rename or the write happens.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pyarrow.parquet
import pytest

from fleetanalysis import cli, reporting, store, writing

# Real agents: Chrome on Windows with its frozen "Windows NT 10.0" token, Slack's iOS app.
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/{major}.0.0.0 Safari/537.36")
PHONE = "com.tinyspeck.chatlyio/24.03.10 (iPhone; iOS 17.4.1; Scale/3.00)"


def sign_ins(path: Path, rows: int) -> Path:
    """A generic sign-in CSV (email, timestamp, user_agent) of ``rows`` distinct events."""
    frame = pd.DataFrame({
        "email": [f"user{number}@example.com" for number in range(rows)],
        "timestamp": (pd.Timestamp("2025-06-01", tz="UTC") + pd.to_timedelta(range(rows), unit="min"))
        .strftime("%Y-%m-%dT%H:%M:%SZ"),
        "user_agent": [PHONE if number % 7 == 0 else CHROME.format(major=110 + number % 30)
                       for number in range(rows)]})
    frame.to_csv(path, index=False)
    return path


def one_line_error(capsys) -> str:
    error = capsys.readouterr().err
    assert "Traceback" not in error
    lines = [line for line in error.strip().splitlines() if line.startswith("fleetanalysis: ")]
    assert len(lines) == 1, error
    return lines[0]


def contents(folder: Path) -> dict[str, bytes]:
    # Recursive: the store is a folder of partitions.
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file()}


@pytest.fixture
def tmpfs(tmp_path):
    """``mount(name, size)``: a fresh tmpfs of ``size`` under tmp_path; unmounted afterwards."""
    mounted = []

    def mount(name: str, size: str = "1m") -> Path:
        point = tmp_path / name
        point.mkdir()
        if shutil.which("mount") is None:
            pytest.skip("no mount command on this machine")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                              capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", str(point)], check=False)


def read_only(point: Path) -> None:
    done = subprocess.run(["mount", "-o", "remount,ro", str(point)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot remount read-only here: {done.stderr.strip()}")


@pytest.fixture
def previous(tmp_path):
    """A store with rows and a rejected-rows CSV from a first ingest."""
    source = sign_ins(tmp_path / "first.csv", 20)
    with source.open("a") as extra:
        extra.write("nobody@example.com,not a time,Mozilla/5.0\n")
    return source


def test_a_read_only_store_folder_is_refused_before_reading(tmp_path, tmpfs, capsys, previous):
    folder = tmpfs("ro")
    access = folder / "access.parquet"
    assert cli.main(["ingest", str(previous), "--store", str(access)]) == 0
    before = contents(folder)
    read_only(folder)
    capsys.readouterr()
    assert cli.main(["ingest", str(sign_ins(tmp_path / "more.csv", 50)), "--store", str(access)]) == 2
    assert one_line_error(capsys) == (f"fleetanalysis: {folder}: read-only file system: "
                                      f"cannot write the store {access}")
    assert contents(folder) == before


@pytest.mark.parametrize("command", [
    lambda ro: ["report", "--out", str(ro / "reports")],
    lambda ro: ["demo", "--out", str(ro / "demo")],
    lambda ro: ["catalog", "update", "--out", str(ro / "overlay.csv")],
    lambda ro: ["nudges", "--send", "--state", str(ro / "nudges.sqlite"), "--devices", str(ro / "x.csv")],
    lambda ro: ["fetch", "slack", "--raw-dir", str(ro / "raw"), "--store", str(ro / "access.parquet")],
], ids=["report", "demo", "catalog-update", "nudges-send", "fetch-slack"])
def test_every_writing_command_refuses_a_read_only_folder_first(tmpfs, capsys, monkeypatch, command):
    folder = tmpfs("ro")
    read_only(folder)
    # Nothing may start: no notebook, no Slack, no feed.
    monkeypatch.setattr("papermill.execute_notebook", lambda *a, **k: pytest.fail("the notebook ran"))
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-not-used")
    monkeypatch.setenv("SLACK_USER_TOKEN", "xoxp-not-used")
    assert cli.main(command(folder)) == 2
    assert "read-only file system: cannot write the " in one_line_error(capsys)


def test_a_full_disk_leaves_the_previous_store_intact(tmp_path, tmpfs, capsys, previous):
    folder = tmpfs("full", "96k")
    access = folder / "access.parquet"
    assert cli.main(["ingest", str(previous), "--store", str(access)]) == 0
    before = contents(folder)
    capsys.readouterr()
    assert cli.main(["ingest", str(sign_ins(tmp_path / "big.csv", 4000)), "--store", str(access)]) == 2
    line = one_line_error(capsys)
    assert line.startswith(f"fleetanalysis: {folder}/access") and line.endswith(
        "no space left on the device (free some space and run again)"), line
    assert contents(folder) == before  # no half-written file, no temporary left behind
    assert sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if not path.is_dir()) == sorted(
        before)


@pytest.mark.parametrize("fault", [errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT])
def test_a_fault_while_writing_the_store_is_one_line_and_changes_nothing(tmp_path, capsys, monkeypatch,
                                                                           previous, fault):
    access = tmp_path / "store" / "access.parquet"
    assert cli.main(["ingest", str(previous), "--store", str(access)]) == 0
    before = contents(access.parent)
    capsys.readouterr()

    def failing_replace(source, target):
        raise OSError(fault, os.strerror(fault), str(source), None, str(target))

    monkeypatch.setattr(writing.os, "replace", failing_replace)
    assert cli.main(["ingest", str(sign_ins(tmp_path / "more.csv", 50)), "--store", str(access)]) == 2
    line = one_line_error(capsys)
    assert line.startswith(f"fleetanalysis: {store.rejected_path(access)}: ") or line.startswith(
        f"fleetanalysis: {access}: "), line
    assert contents(access.parent) == before


def test_arrow_s_write_error_without_a_file_name_names_the_store(tmp_path, capsys, monkeypatch, previous):
    access = tmp_path / "access.parquet"

    def full(table, path, **options):
        # What pyarrow raises on ENOSPC: an OSError with no errno attribute, the number in its text.
        raise OSError("[Errno 28] Error writing bytes to file. Detail: [errno 28] No space left on device")

    monkeypatch.setattr(pyarrow.parquet, "write_table", full)
    assert cli.main(["ingest", str(previous), "--store", str(access)]) == 2
    assert one_line_error(capsys) == (f"fleetanalysis: {access}: no space left on the device "
                                      f"(free some space and run again)")
    assert not access.exists()


def test_a_store_path_that_is_a_folder_is_refused(tmp_path, capsys, previous):
    assert cli.main(["ingest", str(previous), "--store", str(tmp_path)]) == 2
    assert one_line_error(capsys).startswith(f"fleetanalysis: {tmp_path}: a folder but not a fleetanalysis access store")


def test_a_store_path_under_a_file_is_refused(tmp_path, capsys, previous):
    access = previous / "access.parquet"
    assert cli.main(["ingest", str(previous), "--store", str(access)]) == 2
    assert one_line_error(capsys) == (f"fleetanalysis: {previous}: is a file, not a folder: "
                                      f"cannot write the store {access}")


def test_a_rejected_rows_csv_that_is_a_folder_is_refused_before_the_store_is_touched(tmp_path, capsys, previous):
    access = tmp_path / "access.parquet"
    store.rejected_path(access).mkdir()
    assert cli.main(["ingest", str(previous), "--store", str(access)]) == 2
    assert "is a folder, not a rejected-rows CSV file" in one_line_error(capsys)
    assert not access.exists()


@pytest.mark.parametrize("where", ["file", "under-file"])
def test_an_unwritable_report_out_fails_before_the_notebook_runs(tmp_path, capsys, monkeypatch, where):
    monkeypatch.setattr("papermill.execute_notebook", lambda *a, **k: pytest.fail("the notebook ran"))
    blocker = tmp_path / "reports"
    blocker.write_text("not a folder")
    out = blocker if where == "file" else blocker / "weekly"
    assert cli.main(["report", "--out", str(out)]) == 2
    assert one_line_error(capsys).startswith(f"fleetanalysis: {blocker}: is a file, not a folder: "
                                             f"cannot write the reports folder {out}")


def test_a_report_date_folder_that_is_a_symlink_is_not_written_through(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("papermill.execute_notebook", lambda *a, **k: pytest.fail("the notebook ran"))
    outside, out = tmp_path / "outside", tmp_path / "reports"
    outside.mkdir(), out.mkdir()
    (out / "2026-01-05").symlink_to(outside)
    assert cli.main(["report", "--out", str(out), "--as-of", "2026-01-05"]) == 2
    assert one_line_error(capsys) == (f"fleetanalysis: {out / '2026-01-05'}: is a symbolic link (to {outside}): "
                                      f"not writing through it; remove the link")
    assert list(outside.iterdir()) == []


def test_a_report_date_folder_link_found_after_the_run_is_refused_before_publishing(tmp_path, monkeypatch):
    """Without --as-of the folder is known only once the notebook has run: checked before writing."""
    outside, out = tmp_path / "outside", tmp_path / "reports"
    outside.mkdir(), out.mkdir()
    (out / "2026-01-05").symlink_to(outside)
    with pytest.raises(cli.BadInput, match="is a symbolic link"):
        reporting.own_folder(out, "2026-01-05")
    (out / "failed").symlink_to(outside)
    with pytest.raises(cli.BadInput, match="failed: is a symbolic link"):
        reporting.own_folder(out, "failed")
    assert list(outside.iterdir()) == []


def test_nudge_state_under_a_file_is_refused_before_slack_is_asked(tmp_path, capsys, monkeypatch):
    devices = tmp_path / "devices.csv"
    devices.write_text("user_id,user,verdict\n")
    blocker = tmp_path / "state"
    blocker.write_text("")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-not-used")
    assert cli.main(["nudges", "--send", "--devices", str(devices), "--state", str(blocker / "n.sqlite")]) == 2
    assert one_line_error(capsys) == (f"fleetanalysis: {blocker}: is a file, not a folder: "
                                      f"cannot write the nudge state {blocker / 'n.sqlite'}")


def test_a_notebook_that_is_not_one_is_refused_before_a_kernel_starts(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("papermill.execute_notebook", lambda *a, **k: pytest.fail("the notebook ran"))
    fake = tmp_path / "weekly.ipynb"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")  # a PNG's signature saved under the wrong name
    assert cli.main(["report", "--notebook", str(fake), "--out", str(tmp_path / "reports")]) == 2
    assert one_line_error(capsys) == f"fleetanalysis: {fake}: not a Jupyter notebook (UnicodeDecodeError)"


@pytest.mark.parametrize("argv", [["status", "--directory"], ["status", "--networks"], ["status", "--policy"],
                                  ["status", "--catalog"], ["nudges", "--devices"], ["ingest", "--store", "s", "--"]])
def test_a_fifo_given_as_an_input_file_is_one_line_not_a_hang(tmp_path, argv):
    # An outside trial: "--directory f.csv" on a FIFO waited forever for a writer.
    import sys

    fifo = tmp_path / "f.csv"
    os.mkfifo(fifo)
    (tmp_path / "empty.toml").write_text("")
    env = {**os.environ, "FLEETANALYSIS_CONFIG": str(tmp_path / "empty.toml"), "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, "-m", "fleetanalysis.cli", *argv, str(fifo)], capture_output=True,
                          text=True, timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith("not a regular file"), done.stderr
