"""Both notebooks run end to end with papermill on demo data, and say what a reader needs.

The executed pages are checked against the CLI: the devices behind on screen one and every
office's share equal ``fleetanalysis status`` on the same date; the page loads nothing from
the network; the explore page names nobody unless asked; the trend sentence counts the
points drawn.
"""

import json
import re
from html.parser import HTMLParser

import nbformat
import pandas as pd
import pytest

from fleetanalysis import analysis, cli, demo, metrics, reporting, sources, store

SECTIONS = {
    "report": ["What would fix the most", "Offices", "Offices over time", "Office and platform",
               "Platforms", "Updates to make", "How fast we patch", "Data quality", "What the words mean"],
    "explore": ["The evidence", "Clients", "Devices and verdicts", "Offices, then one office", "One version",
                "One person", "Over time"],
}
WEEKS = 6


class _Page(HTMLParser):
    """Start tags with attributes, the text, and the cells of each table by its id."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._table = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "table":
            self._table = attrs.get("id")
            self.tables.setdefault(self._table, [])
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in {"td", "th"} and self._table is not None:
            self.tables[self._table][-1].append("")

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None

    def handle_data(self, data):
        self.text.append(data)
        if self._table is not None and self.tables[self._table] and self.tables[self._table][-1]:
            self.tables[self._table][-1][-1] += data.strip()


def parse(page: str) -> _Page:
    parsed = _Page()
    parsed.feed(page)
    return parsed


def words(page: str) -> str:
    return re.sub(r"\s+", " ", " ".join(parse(page).text))


@pytest.fixture(scope="module")
def organisation(demo_store):
    """The shared demo organisation's folder: ``access.parquet``, ``directory.csv``, ``networks.csv``."""
    return demo_store["folder"]


def _files(folder) -> dict:
    return {"store": folder / "access.parquet", "directory": folder / "directory.csv",
            "networks": folder / "networks.csv"}


def _options(folder) -> list[str]:
    return [text for name, path in _files(folder).items() for text in (f"--{name}", str(path))]


@pytest.fixture(scope="module")
def published(organisation, tmp_path_factory):
    """The report and the explore page (without names) of the demo organisation."""
    out = tmp_path_factory.mktemp("reports")
    parameters = {**_files(organisation), "weeks": WEEKS}
    return out, {notebook: reporting.run(notebook, out, None, parameters) for notebook in SECTIONS}


def _status(organisation, capsys, by, as_of) -> pd.DataFrame:
    assert cli.main(["status", *_options(organisation), "--by", by, "--format", "json", "--as-of", as_of]) == 0
    return pd.DataFrame(json.loads(capsys.readouterr().out))


@pytest.mark.parametrize("notebook", sorted(SECTIONS))
def test_notebook_runs_on_demo_data_and_shows_its_sections(notebook, published):
    _, pages = published
    page = pages[notebook]
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
    # Raw Python output is not for readers: no reprs, no NaN, no code words as headers.
    text = words(shown)
    for raw in ("dtype:", "Series([]", "NaN", "nan%", "outdated_rate", "up_to_date", "median_days", "within_grace"):
        assert raw not in text, f"{notebook}: {raw!r} shown"


def test_screen_one_counts_the_devices_behind_that_status_counts(organisation, published, capsys):
    _, pages = published
    executed = nbformat.read(pages["report"].with_suffix(".ipynb"), as_version=4)
    headline = reporting.read_headline(executed)
    total = _status(organisation, capsys, "platform", headline["as_of"]).set_index("platform").loc["Total"]
    behind = int(total["outdated"] + total["unsupported"])
    judged = int(total["devices"] - total["unknown"])
    assert headline["behind"] == behind and headline["devices"] == total["devices"]
    text = words(pages["report"].read_text(encoding="utf-8"))
    first = text.index(f"{behind:,} of {judged:,} devices are behind on updates ({total['outdated_rate']:.1%})")
    assert first < text.index("What would fix the most") < text.index("Offices")


def test_every_office_share_equals_status_by_office(organisation, published, capsys):
    _, pages = published
    executed = nbformat.read(pages["report"].with_suffix(".ipynb"), as_version=4)
    as_of = reporting.read_headline(executed)["as_of"]
    offices = _status(organisation, capsys, "office", as_of).set_index("office")
    rows = parse(pages["report"].read_text(encoding="utf-8")).tables["league"]
    header, body = rows[0], rows[1:]
    shown = {row[header.index("Office")]: row[header.index("Share up to date")] for row in body}
    judged = offices.drop(index=["Total", "Unknown office"], errors="ignore")
    judged = judged[judged["outdated_rate"].notna()]
    assert shown == {office: f"{1 - rate:.1%}" for office, rate in judged["outdated_rate"].items()}
    assert {row[header.index("Office")]: int(row[header.index("Devices behind")]) for row in body} == {
        office: int(row["outdated"] + row["unsupported"]) for office, row in judged.iterrows()}


def test_the_unknown_office_is_shown_apart_from_the_ranking(published):
    _, pages = published
    page = pages["report"].read_text(encoding="utf-8")
    ranked = [row[1] for row in parse(page).tables["league"][1:]]
    assert "Unknown office" not in ranked
    if "Unknown office" in page:
        assert "Not ranked: Unknown office" in words(page)


@pytest.mark.parametrize("notebook", sorted(SECTIONS))
def test_pages_load_nothing_from_the_network(published, notebook):
    _, pages = published
    page = pages[notebook].read_text(encoding="utf-8")
    parsed = parse(page)
    assert not [attrs for tag, attrs in parsed.tags if tag == "script" and attrs.get("src")]
    assert not [attrs for tag, attrs in parsed.tags if tag == "link"]
    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", page)
    assert not re.search(r"""import\s*(\(\s*)?["']https?:""", page)  # no ES module from a CDN
    images = [attrs["src"] for tag, attrs in parsed.tags if tag == "img"]
    assert images and all(src.startswith("data:image/png;base64,") for src in images)


def test_explore_without_names_names_nobody(organisation, published):
    out, pages = published
    directory = pd.read_csv(organisation / "directory.csv", dtype="str")
    access = store.read(organisation / "access.parquet")
    people = set(directory["email"].dropna()) | set(access["user"].dropna()) | set(access["user_id"].dropna())
    people |= {email.split("@")[0] for email in directory["email"].dropna()}
    for shown in (pages["explore"], pages["explore"].with_suffix(".ipynb")):
        text = shown.read_text(encoding="utf-8")
        named = sorted(person for person in people if person in text)
        assert not named, f"{shown.name} names {named[:5]}"
        # Bounded: the embedded DataTables bundle is a megabyte of base64 with no "@".
        assert not re.search(r"[\w.+-]{1,64}@[\w-]{1,63}\.[a-z]{2,}", text)
    assert "explore.html" in (out / "index.html").read_text(encoding="utf-8")


def test_explore_with_names_shows_history_and_stays_out_of_the_index(organisation, tmp_path):
    out = tmp_path / "reports"
    assert cli.main(["report", "--notebook", "explore", *_options(organisation), "--out", str(out),
                     "-p", "weeks", str(WEEKS), "--names"]) == 0
    # Pages that name people live apart, under named/, never in a date folder the index lists.
    page = next(out.glob("named/*/explore.html"))
    assert not list(out.glob("[0-9]*/explore.html"))
    text = words(page.read_text(encoding="utf-8"))
    access = store.read(organisation / "access.parquet")
    assert any(user in text for user in access["user"].dropna().unique())
    assert "versions seen" in text
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "explore.html" not in index and not (out / "latest").exists()
    assert reporting.reports(out)["names"].tolist() == [True]


def test_the_trend_sentence_counts_the_points_drawn(organisation, published):
    _, pages = published
    page = pages["report"].read_text(encoding="utf-8")
    said = int(re.search(r"Over the last (\d+) weeks?", words(page))[1])
    run = analysis.prepare(**_files(organisation))
    history = metrics.status(run.timeline(WEEKS), by=["as_of"])
    drawn = int(history["outdated_rate"].notna().sum())
    assert said == drawn
    alt = [attrs["alt"] for tag, attrs in parse(page).tags if tag == "img" and "weekly point" in attrs.get("alt", "")]
    assert alt and alt[0].startswith(f"Share of judged devices behind, {drawn} weekly point")
    # The last point is the as-of date of the headline: one date for every figure.
    assert history["as_of"].max() == run.as_of


def test_a_young_store_and_an_office_named_like_tex_still_give_a_report(tmp_path):
    # Issue 15: rows all after the last week boundary raised IndexError; `$\something$`
    # crashed matplotlib's mathtext.
    folder = tmp_path / "young"
    demo.write(folder, users=25, weeks=1, seed=11)
    store.merge(folder / "access.parquet", sources.load([folder / "slack"]))
    directory = pd.read_csv(folder / "directory.csv", dtype="str")
    first = directory["office"].iloc[0]
    directory["office"] = directory["office"].replace(first, r"$\something$")
    directory.to_csv(folder / "directory.csv", index=False)
    page = reporting.run("report", tmp_path / "reports", None, {**_files(folder), "weeks": 26})
    text = words(page.read_text(encoding="utf-8"))
    assert r"$\something$" in text
    said = int(re.search(r"Over the last (\d+) weeks?", text)[1])
    assert 1 <= said <= 2
    assert "Too few weeks of history" in text


@pytest.mark.parametrize("parameter, value, problem", [
    ("weeks", "-5", "-p weeks: -5 is out of range (1 to 520)"),
    ("weeks", "0", "-p weeks: 0 is out of range"),
    ("weeks", "many", "-p weeks: 'many' is not a whole number"),
    ("window_days", "-1", "-p window_days: -1 is out of range"),
    ("week", "5", "-p week: no such parameter (did you mean weeks?"),
    ("names", "yes", "-p names: 'yes' is not true or false"),
])
def test_a_parameter_the_notebook_cannot_use_exits_2_before_it_runs(tmp_path, capsys, parameter, value, problem):
    status = cli.main(["report", "--out", str(tmp_path), "-p", parameter, value])
    said = capsys.readouterr().err.strip()
    assert status == 2 and len(said.splitlines()) == 1
    assert said.startswith("fleetanalysis: report.ipynb: ") and problem in said
    assert not list(tmp_path.iterdir())  # nothing ran: no failed notebook, no index
