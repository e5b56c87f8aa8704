"""Both notebooks run end to end with papermill on demo data, and say what a reader needs."""

import nbformat
import pytest

from fleetanalysis import demo, reporting, sources, store

SECTIONS = {
    "report": ["Headline", "By platform", "By office", "Offices over time", "Office and platform",
               "How fast we patch", "The most common outdated versions", "Data quality"],
    "explore": ["The evidence", "Clients", "Devices and verdicts", "One office", "One version", "Over time"],
}


@pytest.fixture(scope="module")
def organisation(tmp_path_factory):
    folder = tmp_path_factory.mktemp("org")
    demo.write(folder, users=40, weeks=8, seed=5)
    store.merge(folder / "access.parquet", sources.load([folder / "slack"]))
    return folder


@pytest.mark.parametrize("notebook", sorted(SECTIONS))
def test_notebook_runs_on_demo_data_and_shows_its_sections(notebook, organisation, tmp_path):
    parameters = {"store": organisation / "access.parquet", "directory": organisation / "directory.csv",
                  "networks": organisation / "networks.csv", "weeks": 6}
    page = reporting.run(notebook, tmp_path / "reports", None, parameters)
    executed = nbformat.read(page.with_suffix(".ipynb"), as_version=4)
    errors = [output for cell in executed.cells for output in cell.get("outputs", [])
              if output.get("output_type") == "error"]
    assert not errors
    shown = page.read_text(encoding="utf-8")
    for section in SECTIONS[notebook]:
        assert section in shown, f"{notebook}: no {section!r} section"
    assert "<img" in shown and 'alt="' in shown
    headline = reporting.read_headline(executed)
    assert 0 <= headline["share"] <= 1
