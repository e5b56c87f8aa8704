"""analysis.prepare: one composition from a store to judged devices, and its warnings."""

import pandas as pd
import pytest

from fleetanalysis import analysis, demo
from fleetanalysis.errors import BadInput


@pytest.fixture(scope="module")
def organisation(demo_store):
    """The shared demo organisation's folder: ``access.parquet``, ``directory.csv``, ``networks.csv``."""
    return demo_store["folder"]


def _prepare(folder, **options):
    return analysis.prepare(folder / "access.parquet", folder / "directory.csv", folder / "networks.csv", **options)


def test_devices_are_judged_and_placed_on_the_newest_evidence_day(organisation):
    run = _prepare(organisation)
    assert run.as_of == run.access["last_seen"].max().tz_convert(None).normalize()
    assert {"verdict", "office", "exempt"} <= set(run.devices.columns)
    assert run.devices["office"].notna().all()


def test_devices_at_a_date_equal_that_dates_slice_of_the_timeline(organisation):
    run = _prepare(organisation)
    weekly = run.timeline(weeks=3)
    day = weekly["as_of"].max()
    at_day = run.devices_at(day)
    sliced = weekly[weekly["as_of"] == day].drop(columns="as_of").reset_index(drop=True)
    sliced = sliced.astype(dict.fromkeys(sliced.select_dtypes("category").columns, "str"))
    pd.testing.assert_frame_equal(sliced[["device_id", "verdict", "office"]],
                                  at_day[["device_id", "verdict", "office"]].reset_index(drop=True))


def test_a_catalog_behind_the_logs_is_named_with_product_and_version(organisation):
    # The shipped catalog has no dated Slack iOS releases after 2019; the demo's are newer.
    warnings = _prepare(organisation).stale_warnings()
    assert any("slack-ios" in line and "newer than the newest it knows" in line for line in warnings)


def test_missing_files_are_bad_input_naming_the_file(organisation, tmp_path):
    with pytest.raises(BadInput, match="nowhere.parquet"):
        analysis.prepare(tmp_path / "nowhere.parquet")
    with pytest.raises(BadInput, match="no-directory.csv"):
        analysis.prepare(organisation / "access.parquet", tmp_path / "no-directory.csv")


def test_prepare_reads_no_settings_and_writes_no_demo(organisation, monkeypatch):
    # The middle takes resolved inputs: the settings and the demo belong to the edge.
    def refuse(*args, **kwargs):
        raise AssertionError("analysis reached for the settings or the demo")

    from fleetanalysis import config

    for name in ("active_settings", "load_settings", "settings_path"):
        monkeypatch.setattr(config, name, refuse)
    for name in ("write", "ensure_store"):
        monkeypatch.setattr(demo, name, refuse)
    run = _prepare(organisation)
    assert len(run.devices)
    inputs = config.FleetInputs(organisation / "access.parquet", directory=organisation / "directory.csv",
                                window_days=14, as_of="2024-01-01")
    assert analysis.prepare(inputs).as_of == pd.Timestamp("2024-01-01")
