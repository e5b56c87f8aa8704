"""Reports: papermill runs of the fixture notebooks in tests/notebooks, the HTML they give,
the index and the ``latest`` pointers, a failing run."""

from __future__ import annotations

import os
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from fleetanalysis import cli, config, reporting

FIXTURES = Path(__file__).parent / "notebooks"
HEADLINE = FIXTURES / "headline.ipynb"
FAILS = FIXTURES / "fails.ipynb"
HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)">[link](javascript:alert(3))'


class _Elements(HTMLParser):
    """Every start tag with its attributes, and the text between tags."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def elements(page: str) -> _Elements:
    parser = _Elements()
    parser.feed(page)
    return parser


def active_markup(page: str) -> tuple[int, set, list]:
    """Scripts, event-handler attributes and javascript: links in a page."""
    parsed = elements(page)
    scripts = sum(1 for tag, _ in parsed.tags if tag == "script")
    handlers = {(tag, name) for tag, attrs in parsed.tags for name in attrs if name.startswith("on")}
    links = [value for _, attrs in parsed.tags for name, value in attrs.items()
             if name in {"href", "src"} and value and value.strip().lower().startswith("javascript:")]
    return scripts, handlers, links


def _problem(err: str) -> str:
    """What a run said on stderr, less its progress lines (one per stage)."""
    return "\n".join(line for line in err.strip().splitlines()
                     if not line.startswith(("fleetanalysis: running ", "fleetanalysis: writing ",
                                             "fleetanalysis: updating ",
                                             # a fresh checkout's first report writes the demo
                                             "fleetanalysis: no logs configured: writing demo data")))


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """One benign and one hostile run of the headline fixture, into one reports folder."""
    out = tmp_path_factory.mktemp("reports")
    benign = reporting.run(HEADLINE, out, date(2026, 1, 4), {"office": "Berlin", "share": 0.75})
    hostile = reporting.run(HEADLINE, out, None, {"office": HOSTILE, "share": 0.9,
                                                  "as_of": "2026-01-11"})
    return out, benign, hostile


def test_run_writes_html_and_executed_notebook_under_the_date(published):
    out, benign, hostile = published
    assert benign == out / "2026-01-04" / "headline.html"
    # With no as_of given, the folder is named after the as_of the notebook recorded.
    assert hostile == out / "2026-01-11" / "headline.html"
    executed = nbformat.read(out / "2026-01-04" / "headline.ipynb", as_version=4)
    assert reporting.read_headline(executed) == {"share": 0.75, "as_of": "2026-01-04", "devices": 3,
                                                 "behind": None, "names": False, "demo": False}
    assert not list(out.rglob(".*.tmp")), "temporary files left behind"


def test_html_has_its_sections_and_no_code(published):
    _, benign, _ = published
    page = benign.read_text(encoding="utf-8")
    text = " ".join(elements(page).text)
    assert "Fixture report" in text and "Offices" in text
    assert "The busiest office is" in text and "Berlin" in text
    assert "record_headline" not in page and "import pandas" not in page  # code is hidden
    classes = " ".join(attrs.get("class") or "" for _, attrs in elements(page).tags)
    assert "jp-InputPrompt" not in classes and "jp-OutputPrompt" not in classes
    assert "highlight" not in classes  # no code block at all


def test_log_text_is_escaped_in_the_html(published):
    _, benign, hostile = published
    page = hostile.read_text(encoding="utf-8")
    # nbconvert's own template has scripts: the hostile page may have no more than the benign one.
    assert active_markup(page)[0] == active_markup(benign.read_text(encoding="utf-8"))[0]
    assert active_markup(page)[1:] == (set(), [])
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # The office shows as text, in the sentence and the table, twice.
    assert " ".join(elements(page).text).count("<script>alert(1)</script>") == 2


def test_index_lists_reports_newest_first_and_latest_points_at_newest(published):
    out, _, _ = published
    listed = reporting.reports(out)
    assert listed["html"].tolist() == ["2026-01-11/headline.html", "2026-01-04/headline.html"]
    assert listed["share"].tolist() == [0.9, 0.75]
    index = (out / "index.html").read_text(encoding="utf-8")
    hrefs = [attrs["href"] for tag, attrs in elements(index).tags if tag == "a"]
    assert "2026-01-11/headline.html" in hrefs and "2026-01-04/headline.html" in hrefs
    assert "90.0%" in index and "75.0%" in index
    assert os.readlink(out / "latest") == "2026-01-11"
    assert (out / "latest" / "headline.html").is_file()
    redirect = (out / "latest.html").read_text(encoding="utf-8")
    assert 'url=2026-01-11/headline.html' in redirect


def test_a_failing_cell_exits_1_keeps_the_notebook_and_leaves_reports_alone(published, capsys):
    out, _, _ = published
    before = {path: path.read_bytes() for path in out.rglob("*") if path.is_file()}
    link = os.readlink(out / "latest")
    status = cli.main(["report", "--notebook", str(FAILS), "--out", str(out), "--as-of", "2026-02-01"])
    said = _problem(capsys.readouterr().err)
    assert status == 1 and len(said.splitlines()) == 1
    assert "cell 4 (In [" in said and "raised ValueError: the store is empty" in said
    kept = out / "failed" / "2026-02-01-fails.ipynb"
    assert str(kept) in said
    executed = nbformat.read(kept, as_version=4)
    assert reporting.failure(executed).startswith("cell 4 (In [")
    assert not (out / "2026-02-01").exists()
    after = {path: path.read_bytes() for path in out.rglob("*") if path.is_file() and path != kept}
    assert after == before
    assert os.readlink(out / "latest") == link


def test_cli_report_prints_the_html_path_last(tmp_path, capsys):
    status = cli.main(["report", "--notebook", str(HEADLINE), "--out", str(tmp_path),
                       "--as-of", "2026-03-01", "-p", "share", "0.5", "-p", "office", "Lima"])
    printed = capsys.readouterr()
    assert status == 0
    page = Path(printed.out.strip().splitlines()[-1])
    assert page == tmp_path / "2026-03-01" / "headline.html" and page.is_file()
    assert "Lima" in page.read_text(encoding="utf-8")
    assert reporting.reports(tmp_path)["share"].tolist() == [0.5]


def test_failure_drops_terminal_control_characters():
    executed = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "x = 1", execution_count=1, outputs=[nbformat.v4.new_output(
            "error", ename="KeyError", evalue="'office'\x1b[31m", traceback=[])])])
    assert reporting.failure(executed) == "cell 1 (In [1]) raised KeyError: 'office'[31m"


def test_cli_report_names_a_missing_notebook_and_exits_2(tmp_path, capsys):
    assert cli.main(["report", "--notebook", "nowhere", "--out", str(tmp_path)]) == 2
    assert "nowhere.ipynb: no such notebook" in capsys.readouterr().err


def test_failure_names_the_cell_papermill_marked_without_an_error_output():
    cell = nbformat.v4.new_code_cell("time.sleep(999)", execution_count=3)
    cell.metadata["papermill"] = {"exception": True}
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# x"), cell])
    assert reporting.failure(notebook) == "cell 2 (In [3]) raised CellExecutionError: the cell did not finish"


def test_rebuild_index_escapes_notebook_names(tmp_path):
    folder = tmp_path / "2026-01-04"
    folder.mkdir()
    (folder / "<b onmouseover=x>.html").write_text("<p>report</p>")
    index = reporting.rebuild_index(tmp_path).read_text(encoding="utf-8")
    assert active_markup(index)[1:] == (set(), [])
    assert "&lt;b onmouseover=x&gt;" in index


def test_index_links_reach_pages_whose_names_hold_url_characters(tmp_path):
    # An outside trial: "report --notebook 'fleet #2 100%.ipynb'" linked "fleet #2 100%.html",
    # which a browser opens as "fleet " (the rest a fragment).
    folder = tmp_path / "2026-01-04"
    folder.mkdir()
    (folder / "fleet #2 100%.html").write_text("<p>report</p>")
    index = reporting.rebuild_index(tmp_path).read_text(encoding="utf-8")
    assert 'href="2026-01-04/fleet%20%232%20100%25.html"' in index
    assert 'fleet%20%232%20100%25.html' in (tmp_path / "latest.html").read_text(encoding="utf-8")


def test_rebuild_index_without_reports_says_so(tmp_path):
    assert "No reports yet" in reporting.rebuild_index(tmp_path).read_text(encoding="utf-8")
    assert not (tmp_path / "latest").exists()


def test_parameters_reach_the_notebook_as_literals(published):
    out, _, _ = published
    executed = nbformat.read(out / "2026-01-04" / "headline.ipynb", as_version=4)
    injected = next(cell for cell in executed.cells
                    if "injected-parameters" in cell.metadata.get("tags", []))
    assert 'office = "Berlin"' in injected.source and "share = 0.75" in injected.source
    assert 'as_of = "2026-01-04"' in injected.source


def test_kernel_is_the_project_kernel_when_registered_else_python3(monkeypatch):
    from jupyter_client import kernelspec

    monkeypatch.setattr(kernelspec, "find_kernel_specs", lambda: {"python3": "/k/python3"})
    assert reporting.kernel_name() == "python3"
    monkeypatch.setattr(kernelspec, "find_kernel_specs",
                        lambda: {"python3": "/k/python3", config.KERNEL_NAME: "/k/fa"})
    assert reporting.kernel_name() == config.KERNEL_NAME


def test_shipped_notebooks_have_parameters_no_outputs_and_the_project_kernel():
    for name in ("report", "explore"):
        notebook = nbformat.read(reporting.notebook_path(name), as_version=4)
        nbformat.validate(notebook)
        assert notebook.metadata.kernelspec.name == config.KERNEL_NAME
        tagged = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
        assert len(tagged) == 1 and "as_of = None" in tagged[0].source
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert all(cell.outputs == [] and cell.execution_count is None for cell in code)


def test_report_notebook_hides_names_unless_asked():
    notebook = nbformat.read(reporting.notebook_path("report"), as_version=4)
    parameters = next(cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", []))
    assert "names = False" in parameters.source
    shown = [cell.source for cell in notebook.cells if '"user"' in cell.source]
    assert shown and all("if names:" in source for source in shown)


def test_cli_report_names_a_missing_store_and_exits_2(tmp_path, capsys):
    missing = tmp_path / "absent.parquet"
    assert cli.main(["report", "--store", str(missing), "--out", str(tmp_path)]) == 2
    assert f"{missing}: no such store file" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_bad_input_raised_in_the_notebook_exits_2_and_keeps_the_notebook(tmp_path, capsys):
    status = cli.main(["report", "--notebook", str(FIXTURES / "bad_input.ipynb"), "--out", str(tmp_path),
                       "--as-of", "2026-05-03"])
    said = _problem(capsys.readouterr().err)
    assert status == 2 and len(said.splitlines()) == 1
    assert said.startswith("fleetanalysis: directory.csv: record 3: no office (in bad_input.ipynb;")
    assert (tmp_path / "failed" / "2026-05-03-bad_input.ipynb").is_file()
    assert not (tmp_path / "index.html").exists()


def _title(page: str) -> str:
    parsed = _Elements()
    parsed.feed(page.split("</title>")[0] + "</title>")
    return parsed.text[-1]


def test_page_title_is_the_first_heading_and_the_as_of_date(published):
    _, benign, hostile = published
    assert _title(benign.read_text(encoding="utf-8")) == "Fixture report, 2026-01-04"
    assert _title(hostile.read_text(encoding="utf-8")) == "Fixture report, 2026-01-11"


def test_page_title_is_escaped():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("Not a heading"),
        nbformat.v4.new_markdown_cell("## </title><script>alert(1)</script> \\*fleet\\* ##")])
    page = reporting.to_html(notebook, "2026-02-01")
    assert "<title>&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt; *fleet*, 2026-02-01</title>" in page
    assert _title(page) == "</title><script>alert(1)</script> *fleet*, 2026-02-01"


def test_a_report_run_leaves_no_kernel_warning_on_stderr(tmp_path, capfd):
    # The kernel is a child process writing to the same stderr a scheduled job logs.
    assert cli.main(["report", "--notebook", str(HEADLINE), "--out", str(tmp_path), "--as-of", "2026-03-08"]) == 0
    err = capfd.readouterr().err
    assert "without encryption" not in err and "WARNING" not in err, err


def test_pages_load_no_script_or_stylesheet_from_the_network(published):
    # Issue 16: nbconvert's lab template loaded require.js and MathJax from a CDN.
    _, benign, _ = published
    page = benign.read_text(encoding="utf-8")
    parsed = elements(page)
    assert not [attrs for tag, attrs in parsed.tags if tag == "script" and attrs.get("src")]
    assert not [attrs for tag, attrs in parsed.tags if tag == "link"]
    assert "cdnjs" not in page and "mathjax" not in page.lower() and "require.js" not in page
    assert "@media print" in page  # printable: one file, page breaks kept out of charts and tables


def test_pages_that_name_people_stay_out_of_the_index(tmp_path):
    out = tmp_path / "reports"
    reporting.run(HEADLINE, out, date(2026, 1, 4), {"share": 0.7})
    named = FIXTURES / "headline.ipynb"
    notebook = nbformat.read(named, as_version=4)
    for cell in notebook.cells:
        cell.source = cell.source.replace("show.record_headline(share, as_of, devices=3)",
                                          "show.record_headline(share, as_of, devices=3, names=True)")
    assert "names=True" in "".join(cell.source for cell in notebook.cells)
    with_names = tmp_path / "named.ipynb"
    nbformat.write(notebook, with_names)
    page = reporting.run(with_names, out, date(2026, 1, 11), {"share": 0.9})
    index = (out / "index.html").read_text(encoding="utf-8")
    assert page.is_file() and "named.html" not in index and "headline.html" in index
    assert os.readlink(out / "latest") == "2026-01-04"
    assert reporting.reports(out)["names"].tolist() == [True, False]


def test_a_demo_page_is_marked_and_gives_way_to_a_report_on_real_logs(tmp_path):
    # After `make report` on the demo, a report on real logs (of an earlier date) was listed
    # below the demo's with nothing to tell them apart, and `latest` stayed the demo's.
    out = tmp_path / "reports"
    notebook = nbformat.read(FIXTURES / "headline.ipynb", as_version=4)
    for cell in notebook.cells:
        cell.source = cell.source.replace("show.record_headline(share, as_of, devices=3)",
                                          "show.record_headline(share, as_of, devices=3, demo=True)")
    demo = tmp_path / "demo.ipynb"
    nbformat.write(notebook, demo)
    reporting.run(demo, out, date(2026, 6, 30), {"share": 0.9})
    assert os.readlink(out / "latest") == "2026-06-30"  # the only page so far
    reporting.run(HEADLINE, out, date(2026, 6, 2), {"share": 0.7})
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "demo</a> (demo data)" in index and "headline</a></td>" in index
    assert os.readlink(out / "latest") == "2026-06-02"
    assert reporting.reports(out)["demo"].tolist() == [True, False]


def test_unknown_parameters_are_refused_before_the_kernel_starts(tmp_path, capsys):
    status = cli.main(["report", "--notebook", str(HEADLINE), "--out", str(tmp_path), "-p", "ofice", "Lima"])
    said = capsys.readouterr().err
    assert status == 2 and "headline.ipynb: -p ofice: no such parameter (did you mean office?" in said
    assert not list(tmp_path.iterdir())


def test_report_says_each_stage_on_stderr(tmp_path, capsys):
    assert cli.main(["report", "--notebook", str(HEADLINE), "--out", str(tmp_path), "--as-of", "2026-03-15"]) == 0
    said = capsys.readouterr().err.splitlines()
    assert [line.split(" ")[1] for line in said if line.startswith("fleetanalysis: ")] == ["running", "writing", "updating"]


def test_a_second_publisher_waits_for_the_first_and_both_pages_are_listed(tmp_path, capfd):
    """A real second process holds the reports folder's lock (as a run publishing at the
    same moment would): publishing waits for it, says so, then the index lists both days."""
    import subprocess
    import sys
    import time

    from fleetanalysis.writing import lock_path

    reporting.publish(nbformat.v4.new_notebook(), "report.ipynb", tmp_path, date(2026, 1, 4))
    holder = subprocess.Popen(
        [sys.executable, "-c", "import filelock, time\n"
         f"lock = filelock.FileLock({str(lock_path(tmp_path / 'index.html'))!r}); lock.acquire()\n"
         "print('held', flush=True); time.sleep(1.5)"],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    started = time.monotonic()
    reporting.publish(nbformat.v4.new_notebook(), "report.ipynb", tmp_path, date(2026, 1, 11))
    assert time.monotonic() - started > 1.0, "published while another process held the lock"
    assert holder.wait(timeout=30) == 0
    assert "another fleetanalysis run is writing it" in capfd.readouterr().err
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "2026-01-04" in index and "2026-01-11" in index


def test_report_refuses_a_bad_policy_before_the_notebook_runs(tmp_path, capsys, monkeypatch):
    # Found in a first-use trial: the notebook ran for seconds, then failed into reports/failed.
    def never(*args, **kwargs):
        raise AssertionError("the notebook ran")

    monkeypatch.setattr(reporting, "run", never)
    mine = tmp_path / "policy.toml"
    mine.write_text("[nudges.reminder]\nafter_day = 3\n")
    assert cli.main(["report", "--policy", str(mine), "--out", str(tmp_path / "reports")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "nudges.reminder.after_day: unknown key" in error
    assert not (tmp_path / "reports" / "failed").exists()


@pytest.mark.parametrize("days", ["0", "36501"])
def test_the_report_and_status_refuse_the_same_window_days(days, tmp_path, capsys):
    # A trial: `report -p window_days 0` ran while `status --window-days 0` was refused.
    assert cli.main(["report", "--out", str(tmp_path), "-p", "window_days", days]) == 2
    report_error = capsys.readouterr().err
    assert cli.main(["status", "--window-days", days]) == 2
    status_error = capsys.readouterr().err
    low, high = config.WINDOW_DAYS
    assert f"({low} to {high})" in report_error and f"use {low} to {high} days" in status_error


def test_a_page_with_names_never_replaces_nor_becomes_the_page_management_reads(tmp_path, capsys):
    # Found by a new user: `report --names` for a date already reported wrote over that
    # page, which `latest` and latest.html still led to, names and all.
    notebook = nbformat.read(HEADLINE, as_version=4)
    notebook.cells[1].source += "\nnames = False"
    # The name is built when the notebook runs (as names come from the logs): no cell's code holds it.
    notebook.cells[4].source = 'show.say("Owner: **{who}**.", who="ann" + "@example.com" if names else "not shown")'
    notebook.cells[5].source = "show.record_headline(share, as_of, devices=3, names=names)"
    source = tmp_path / "report.ipynb"
    nbformat.write(notebook, source)
    out = tmp_path / "reports"
    for names in ([], ["--names"]):
        assert cli.main(["report", "--notebook", str(source), "--out", str(out), "--as-of", "2026-06-30",
                         "-p", "share", "0.7", *names]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / "2026-06-30" / "report.html"), str(out / "named" / "2026-06-30" / "report.html")]
    assert "ann@example.com" in Path(printed[1]).read_text(encoding="utf-8")
    shared = [path for path in out.rglob("*") if path.is_file() and "named" not in path.relative_to(out).parts]
    assert shared and not [path for path in shared if "ann@example.com" in path.read_text(encoding="utf-8")]
    assert os.readlink(out / "latest") == "2026-06-30"
    assert 'href="2026-06-30/report.html"' in (out / "index.html").read_text(encoding="utf-8")
    assert "2026-06-30/report.html" in (out / "latest.html").read_text(encoding="utf-8")
    found = reporting.reports(out)
    assert sorted(map(tuple, found[["html", "names"]].values.tolist())) == [
        ("2026-06-30/report.html", False), ("named/2026-06-30/report.html", True)]


IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS {} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/{} Mobile/15E148 Safari/604.1")


def test_a_first_report_without_offices_says_so_instead_of_drawing_empty_charts(tmp_path, capsys):
    # Found by a new user: a few sign-ins and no directory drew an empty office table, an office
    # chart whose axis ran from -0.05 to 0.05, empty "over time" and time-to-patch charts on
    # 0-1 axes, and "These 1 updates".
    log = tmp_path / "signins.csv"
    log.write_text("user,time,user_agent\n"
                   f'alice@x.com,2026-06-20T10:00:00Z,"{IPHONE.format("18_6", "26.0")}"\n'
                   f'erin@x.com,2026-06-21T10:00:00Z,"{IPHONE.format("17_4", "17.4")}"\n')
    store = tmp_path / "access.parquet"
    assert cli.main(["ingest", "--store", str(store), str(log)]) == 0
    out = tmp_path / "reports"
    assert cli.main(["report", "--store", str(store), "--as-of", "2026-06-30", "--out", str(out)]) == 0
    page = Path(capsys.readouterr().out.split()[-1]).read_text(encoding="utf-8")
    assert "No office is ranked" in page and "No office to follow week by week" in page
    assert "nothing to draw yet" in page
    drawn = [attributes.get("alt", "") for tag, attributes in elements(page).tags if tag == "img"]
    # The office x platform heatmap stays: it shows where the devices behind are, office or not.
    empty = ("Outdated rate by office,", "Outdated rate by office:", "Outdated rate by office from", "Days to patch")
    assert drawn and not [alt for alt in drawn if alt.startswith(empty)]
    assert "This update would bring" in page and "These 1 updates" not in page


@pytest.mark.parametrize("notebook", ["report", "explore"])
def test_papermill_reads_every_parameter_the_notebook_assigns(notebook):
    """papermill stops reading a parameter line at a comment holding " = " ("needs names = True"):
    the parameter then vanishes, and `-p user ...` was refused as "no such parameter"."""
    import ast

    import papermill

    from fleetanalysis.reporting.running import notebook_path

    path = notebook_path(notebook)
    cell = next(cell for cell in nbformat.read(path, as_version=4).cells
                if "parameters" in cell.metadata.get("tags", []))
    assigned = {node.targets[0].id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign)}
    assert set(papermill.inspect_notebook(str(path))) == assigned


def test_a_killed_report_s_scratch_folder_is_removed_by_the_next_run(tmp_path, monkeypatch):
    # An outside trial: a report killed with SIGKILL left its partly run notebook (names
    # included, with --names) in the temporary folder for good.
    import subprocess
    import sys
    import tempfile

    from fleetanalysis.reporting import running

    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    abandoned = tmp_path / f"fleetanalysis-report-{ended.stdout.strip()}-x1y2"
    abandoned.mkdir()
    (abandoned / "report.ipynb").write_text("{}")
    ours = tmp_path / f"fleetanalysis-report-{os.getpid()}-a1b2"
    ours.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert running.remove_abandoned_scratch() == [abandoned]
    assert not abandoned.exists() and ours.exists()
