"""``status`` and ``devices`` read only the rows their one date can see (``analysis.prepare(judges=...)``),
and judge exactly as the run that reads the whole store."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from fleetanalysis import analysis, cli, demo, metrics, sources, store
from fleetanalysis.errors import BadInput


@pytest.fixture(scope="module")
def organisation(tmp_path_factory):
    """The demo organisation (12 weeks, so most of the store lies outside a 30-day window) in a store."""
    folder = tmp_path_factory.mktemp("demo")
    written = demo.write(folder, users=60, weeks=12, seed=1)
    store_path = folder / "access.parquet"
    store.merge(store_path, sources.load(written["slack"]))
    return {"store": store_path, **written}


def _prepare(organisation, **options):
    return analysis.prepare(organisation["store"], organisation["directory"], organisation["networks"], **options)


@pytest.mark.parametrize("as_of", [None, "offset"])
def test_the_one_date_run_judges_as_the_whole_read(organisation, as_of):
    if as_of == "offset":
        newest = store.read(organisation["store"])["last_seen"].max()
        as_of = (newest - pd.Timedelta(days=20)).tz_localize(None).normalize()
    whole = _prepare(organisation, as_of=as_of)
    window = _prepare(organisation, as_of=as_of, judges="as_of")
    assert window.as_of == whole.as_of
    # Rows outside the window are not read.
    assert 0 < len(window.access) < len(whole.access)
    since = window.as_of - pd.Timedelta(days=window.window_days)
    assert (window.access["last_seen"] >= since.tz_localize("UTC")).all()
    pd.testing.assert_frame_equal(window.devices, whole.devices)
    for by in (["platform"], ["platform", "office"]):
        pd.testing.assert_frame_equal(metrics.status(window.devices, by=by), metrics.status(whole.devices, by=by))


def test_an_earlier_date_is_refused_not_judged_from_missing_rows(organisation):
    window = _prepare(organisation, judges="as_of")
    with pytest.raises(BadInput, match="only the evidence from"):
        window.devices_at(window.as_of - pd.Timedelta(days=7))
    with pytest.raises(BadInput, match="only the evidence from"):
        window.timeline(weeks=2)


def test_status_and_devices_commands_read_the_window_and_print_the_same(organisation, no_settings, monkeypatch, capsys):
    options = ["--store", str(organisation["store"]), "--directory", str(organisation["directory"]),
               "--networks", str(organisation["networks"])]
    commands = [["status", *options, "--by", "platform,office", "--format", "csv"],
                ["devices", *options, "--format", "csv"]]
    read = store.read
    seen = []

    def counted(path, columns=None, **window):
        rows = read(path, columns, **window)
        seen.append((window.get("since"), len(rows)))
        return rows

    monkeypatch.setattr(store, "read", counted)
    windowed = []
    for command in commands:
        assert cli.main(command) == 0
        windowed.append(capsys.readouterr())
    total = len(read(organisation["store"]))
    # The newest date (one column), then the window: never every row of every column.
    assert [since is not None for since, _ in seen] == [False, True, False, True]
    assert all(rows < total for since, rows in seen if since is not None)
    # The same commands reading the whole store, as before.
    original = analysis._evidence
    monkeypatch.setattr(analysis, "_evidence", lambda path, inputs, judges: original(path, inputs, None))
    for command, expected in zip(commands, windowed):
        assert cli.main(command) == 0
        found = capsys.readouterr()
        assert found.out == expected.out
        # The same lines on stderr, but for how many stale versions the catalog warning counts:
        # those of the rows read (the same products, the same newest version).
        assert _uncounted(found.err) == _uncounted(expected.err)


def _uncounted(err: str) -> str:
    return re.sub(r"stale for ([\w-]+): \d+ version", r"stale for \1: N version", err)
