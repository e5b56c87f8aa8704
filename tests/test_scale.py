"""The Dask path gives exactly the pandas path's devices and status tables."""

from __future__ import annotations

import sys

import pandas as pd
import pytest

from fleetanalysis import analysis, cli, config, metrics, scale, store
from fleetanalysis.errors import BadInput
from fleetanalysis.sources import reader
from fleetanalysis.writing import write_parquet


@pytest.fixture(scope="module")
def organisation(demo_store, tmp_path_factory):
    """The shared demo store, and the store split into four Parquet parts."""
    access = store.read(demo_store["store"])
    parts = tmp_path_factory.mktemp("parts")
    size = -(-len(access) // 4)
    for number, start in enumerate(range(0, len(access), size)):
        write_parquet(access.iloc[start:start + size], parts / f"part-{number}.parquet")
    return {**demo_store, "parts": parts}


@pytest.mark.parametrize("engine", ["dask", "partitions"])
def test_dask_status_equals_pandas_status_on_the_demo(organisation, engine):
    expected = analysis.prepare(organisation["store"], organisation["directory"], organisation["networks"])
    found = analysis.prepare(organisation["parts"], organisation["directory"], organisation["networks"],
                             engine=engine)
    assert found.as_of == expected.as_of and found.access.empty
    pd.testing.assert_frame_equal(found.devices, expected.devices)
    by = ["platform", "office"]
    pd.testing.assert_frame_equal(metrics.status(found.devices, by=by), metrics.status(expected.devices, by=by))
    pd.testing.assert_frame_equal(found.timeline(weeks=8), expected.timeline(weeks=8))
    assert len(found.sightings) <= len(expected.sightings)


@pytest.mark.parametrize("engine", ["dask", "partitions"])
def test_the_store_is_read_partition_by_partition_in_the_window_judged(organisation, engine, monkeypatch):
    inputs = config.fleet_inputs(organisation["store"], organisation["directory"], organisation["networks"],
                                 settings=config.Settings())
    expected = analysis.prepare(inputs, judges="as_of")
    # One partition a piece: as a store too big for a piece would be read.
    monkeypatch.setattr(scale, "ROWS_PER_PIECE", 1)
    found = analysis.prepare(inputs, judges="as_of", engine=engine)
    assert len(scale.pieces([organisation["store"]])) == len(store.files(organisation["store"])) > 1
    assert found.read_since == expected.read_since is not None
    pd.testing.assert_frame_equal(found.devices, expected.devices)
    with pytest.raises(BadInput, match="only the evidence from"):
        found.timeline(weeks=8)


def test_a_raw_log_is_read_in_chunks_by_the_one_reader(tmp_path, monkeypatch):
    # Okta System Log user.session.start events in the shape of Okta's System Log API
    # reference (developer.okta.com, LogEvent object: actor.alternateId, client.userAgent.rawUserAgent).
    line = ('{{"uuid": "e{n}", "published": "2026-03-0{day}T10:00:00Z", "eventType": "user.session.start", '
            '"actor": {{"id": "00u1", "alternateId": "ann@example.com"}}, "client": {{"ipAddress": "192.0.2.1", '
            '"userAgent": {{"rawUserAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{version}.0) '
            'Gecko/20100101 Firefox/{version}.0"}}}}}}')
    log = tmp_path / "okta.ndjson"
    log.write_text("\n".join(line.format(n=n, day=1 + n % 5, version=120 + n % 5) for n in range(60)) + "\n")
    whole = scale.sightings([log], engine="partitions")
    seen = []
    monkeypatch.setattr(scale, "read_file", lambda *args, **kwargs: reader.read_file(
        *args, chunk_bytes=2000, on_bytes=seen.append, **kwargs))
    chunked = scale.sightings([log], engine="partitions")
    assert len(seen) > 3 and chunked.rows == whole.rows == 60
    pd.testing.assert_frame_equal(chunked.sightings, whole.sightings)


def test_reduced_sightings_do_not_depend_on_partitioning(organisation, monkeypatch):
    one = scale.sightings([organisation["store"]])
    four = scale.sightings([organisation["parts"]])
    pd.testing.assert_frame_equal(one.sightings, four.sightings)
    assert one.rows == four.rows == len(store.read(organisation["store"]))
    assert one.newest == four.newest
    monkeypatch.setattr(scale, "ROWS_PER_PIECE", 1)
    each = scale.sightings([organisation["store"]], engine="partitions")
    assert len(scale.pieces([organisation["store"]])) > 1
    pd.testing.assert_frame_equal(each.sightings, one.sightings)


def test_raw_ndjson_files_read_per_file_on_the_workers(tmp_path):
    lines = [
        '{"uuid": "e1", "published": "2026-03-02T10:00:00Z", "eventType": "user.session.start", '
        '"actor": {"id": "00u1", "alternateId": "ann@example.com"}, "client": {"ipAddress": "192.0.2.1", '
        '"userAgent": {"rawUserAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:124.0) Gecko/20100101 '
        'Firefox/124.0"}}}',
        '{"uuid": "e2", "published": "2026-03-03T10:00:00Z", "eventType": "user.session.start", '
        '"actor": {"id": "00u1", "alternateId": "ann@example.com"}, "client": {"ipAddress": "192.0.2.1", '
        '"userAgent": {"rawUserAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 '
        'Firefox/125.0"}}}',
    ]
    (tmp_path / "a.ndjson").write_text(lines[0] + "\n" + lines[0] + "\n")
    (tmp_path / "b.ndjson").write_text(lines[1] + "\n")
    found = scale.sightings([tmp_path])
    assert found.rows == 3
    # The event read twice collapses: one sighting per version and day.
    assert found.sightings["client_version"].tolist() == ["124.0", "125.0"]
    assert found.sightings["device_id"].unique().tolist() == ["ann@example.com|Windows|desktop"]  # the e-mail joins sources


@pytest.mark.parametrize("engine", ["dask", "partitions"])
def test_cli_status_engine_prints_the_pandas_table(organisation, engine, capsys):
    options = ["status", "--store", str(organisation["parts"]), "--directory", str(organisation["directory"]),
               "--networks", str(organisation["networks"]), "--by", "platform,office", "--format", "csv"]
    assert cli.main([*options, "--engine", engine]) == 0
    engine_out = capsys.readouterr().out
    options[2] = str(organisation["store"])
    assert cli.main(options) == 0
    assert engine_out == capsys.readouterr().out
    assert "Total" in engine_out


def test_engine_dask_without_dask_is_bad_input(monkeypatch, organisation, capsys):
    monkeypatch.setitem(sys.modules, "dask", None)
    with pytest.raises(BadInput, match="pip install"):
        scale.require_dask()
    assert cli.main(["status", "--store", str(organisation["store"]), "--engine", "dask"]) == 2
    assert "dask is not installed" in capsys.readouterr().err


def test_unreachable_scheduler_is_bad_input(organisation, monkeypatch):
    monkeypatch.setattr(scale, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(BadInput, match="cannot reach Dask scheduler"):
        scale.sightings([organisation["store"]], scheduler="tcp://127.0.0.1:9")


def test_a_running_scheduler_is_used_by_its_address(organisation):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as running:
        found = scale.sightings([organisation["parts"]], scheduler=running.scheduler_address)
    pd.testing.assert_frame_equal(found.sightings, scale.sightings([organisation["store"]]).sightings)


def test_reduced_sightings_break_ties_by_every_column_whatever_the_input_order():
    """Rows of one device seen at the same moments are ordered by their other columns (a
    missing value first), so the reduced frame does not depend on the order rows came in."""
    moment = pd.Timestamp("2024-05-01 10:00", tz="UTC")
    day = pd.Timestamp("2024-05-01")
    seen = pd.DataFrame({"device_id": ["b", "a", "a", "a"], "ip": ["10.0.0.9", "10.0.0.2", "10.0.0.1", pd.NA],
                         "first_seen": [moment] * 4, "last_seen": [moment] * 4,
                         "first_day": [day] * 4, "last_day": [day] * 4})
    forward = scale.reduce_sightings(seen)
    pd.testing.assert_frame_equal(forward, scale.reduce_sightings(seen.iloc[::-1]))
    assert forward["device_id"].tolist() == ["a", "a", "a", "b"]
    assert forward["ip"].isna().tolist() == [True, False, False, False]
    assert forward["ip"].tolist()[1:] == ["10.0.0.1", "10.0.0.2", "10.0.0.9"]
