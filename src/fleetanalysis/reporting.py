"""Publishing reports: run a notebook with papermill, export it as HTML without code, keep an index.

A run writes ``<out>/<as-of>/<notebook>.html`` and the executed ``<notebook>.ipynb``
beside it, each under a temporary name renamed on success, then rebuilds
``<out>/index.html`` and points ``<out>/latest`` (a relative symlink) and
``<out>/latest.html`` (a redirect page) at the newest report. A run whose cell raises
keeps the executed notebook in ``<out>/failed/`` and touches nothing else.

The notebook tells the index its headline figure by displaying a JSON bundle with
:func:`fleetanalysis.show.record_headline`; :func:`read_headline` finds it in the executed
notebook. The display helpers the notebooks call live in ``show``; the weekly schedule in
``schedule``. The index and redirect pages are Jinja2 templates (``data/templates/pages``)
with autoescape on, so a notebook or folder name cannot become markup.
(About 560 lines, over the project's ~450: one job, publishing, whose parameter checks,
failure messages and atomic writes each carry a doctest.)

Examples:
    >>> kernel_name() in {"fleetanalysis", "python3"}
    True
    >>> parameter_value("26"), parameter_value("false"), parameter_value("Berlin")
    (26, False, 'Berlin')
"""

from __future__ import annotations

import copy
import json
import os
import re
import tempfile
from datetime import date, datetime
from pathlib import Path

import nbformat
import pandas as pd

from fleetanalysis import config
from fleetanalysis.errors import BadInput, JobFailed
from fleetanalysis.show import HEADLINE_KEY, HEADLINE_MIME
from fleetanalysis.writing import check_folder, locked, strip_controls, write_text

# Cells with this tag are left out of the HTML (papermill's own markers, helper cells).
HIDDEN_TAGS = {"remove-cell", "papermill-error-cell-tag"}
TEMPLATES = config.PACKAGE_DATA / "templates"
OFFLINE_TEMPLATE = "offline"
_DATE_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)


def kernel_name() -> str:
    """The kernel to run notebooks with: the project's named kernel, else ``python3``.

    ``make install`` registers ``fleetanalysis``; without it (tests, a fresh checkout)
    the ``python3`` kernel of the running environment runs the notebook.

    Examples:
        >>> kernel_name() in {config.KERNEL_NAME, "python3"}
        True
    """
    from jupyter_client.kernelspec import find_kernel_specs

    return config.KERNEL_NAME if config.KERNEL_NAME in find_kernel_specs() else "python3"


def kernel_settings():
    """Kernel manager settings for report runs: CurveZMQ keys for the kernel's sockets.

    ipykernel 7 warns on stderr whenever a kernel listens on TCP without encryption.
    ``transport_encryption = "auto"`` has jupyter_client give the kernel keys when its
    kernelspec declares ``curve`` support (ipykernel's do), which encrypts the traffic and
    so answers the warning rather than hiding it. Without CurveZMQ in pyzmq the setting
    is left at jupyter_client's default and the warning stays.

    Examples:
        >>> kernel_settings().KernelManager.transport_encryption in {"auto", "disabled"}
        True
    """
    import zmq
    from traitlets.config import Config

    return Config({"KernelManager": {"transport_encryption": "auto" if zmq.has("curve") else "disabled"}})


def notebook_path(notebook: str | os.PathLike) -> Path:
    """Resolve a notebook name (``report``) or path to an existing ``.ipynb`` file.

    A bare name is looked up in ``config.NOTEBOOKS_DIR``; a missing file is ``BadInput``.

    Examples:
        >>> notebook_path("report").name
        'report.ipynb'
        >>> notebook_path("no-such-notebook")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        fleetanalysis.errors.BadInput: ...no-such-notebook.ipynb: no such notebook
    """
    path = Path(notebook)
    if path.suffix != ".ipynb":
        path = path.with_name(path.name + ".ipynb")
    if not path.is_absolute() and not path.exists() and len(path.parts) == 1:
        path = config.NOTEBOOKS_DIR / path
    if not path.is_file():
        raise BadInput(path, "no such notebook")
    try:
        nbformat.read(path, as_version=4)
    except (OSError, UnicodeDecodeError, ValueError, KeyError) as error:  # nbformat's NotJSONError is a ValueError
        raise BadInput(path, f"not a Jupyter notebook ({type(error).__name__})") from None
    return path


def parameter_value(text: str):
    """Read a ``-p NAME VALUE`` value: JSON or Python literals (numbers, booleans, null), else text.

    Examples:
        >>> parameter_value("0.5"), parameter_value("True"), parameter_value("None")
        (0.5, True, None)
        >>> parameter_value("data/raw/directory.csv")
        'data/raw/directory.csv'
    """
    python_words = {"True": True, "False": False, "None": None}
    if text in python_words:
        return python_words[text]
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, (int, float, bool)) or value is None else text


def read_headline(notebook: nbformat.NotebookNode) -> dict:
    """The headline bundle recorded in an executed notebook, or ``{}`` when there is none.

    Examples:
        >>> cell = nbformat.v4.new_code_cell("", outputs=[nbformat.v4.new_output(
        ...     "display_data", data={HEADLINE_MIME: {"share": 0.5, "as_of": "2026-01-04"}},
        ...     metadata={HEADLINE_KEY: "headline"})])
        >>> read_headline(nbformat.v4.new_notebook(cells=[cell]))
        {'share': 0.5, 'as_of': '2026-01-04'}
    """
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("metadata", {}).get(HEADLINE_KEY) == "headline":
                figures = output.get("data", {}).get(HEADLINE_MIME)
                if isinstance(figures, dict):
                    return dict(figures)
    return {}


def failure(notebook: nbformat.NotebookNode) -> str | None:
    """Say which cell of an executed notebook failed and why, or ``None`` if none did.

    Cells are numbered as in the source notebook (papermill's injected cells skipped).

    Examples:
        >>> ok = nbformat.v4.new_code_cell("x = 1")
        >>> bad = nbformat.v4.new_code_cell("1 / 0", execution_count=2, outputs=[
        ...     nbformat.v4.new_output("error", ename="ZeroDivisionError",
        ...                            evalue="division by zero", traceback=[])])
        >>> failure(nbformat.v4.new_notebook(cells=[ok, bad]))
        'cell 2 (In [2]) raised ZeroDivisionError: division by zero'
    """
    number = 0
    for cell in notebook.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & {"injected-parameters", "papermill-error-cell-tag"}:
            continue
        number += 1
        errors = [out for out in cell.get("outputs", []) if out.get("output_type") == "error"]
        raised = cell.get("metadata", {}).get("papermill", {}).get("exception") is True
        if errors:
            name, message = errors[0].get("ename", "Error"), errors[0].get("evalue", "")
        elif raised:
            name, message = "CellExecutionError", "the cell did not finish"
        else:
            continue
        where = f"cell {number} (In [{cell.get('execution_count') or ' '}])"
        said = strip_controls(f"{name}: {message}" if message else name)
        return f"{where} raised {said[:500]}"
    return None


def _raised(error, executed: nbformat.NotebookNode | None) -> str:
    """Say papermill's ``PapermillExecutionError`` as :func:`failure` says a failed cell.

    The exception carries the cell, its execution count, ``ename`` and ``evalue``; its
    ``cell_index`` counts papermill's injected parameters cell, so the executed notebook
    (less the error cells papermill adds after raising) only maps it to the source's numbering.

    Examples:
        >>> from papermill import PapermillExecutionError
        >>> injected = nbformat.v4.new_code_cell("x = 2", metadata={"tags": ["injected-parameters"]})
        >>> executed = nbformat.v4.new_notebook(cells=[injected, nbformat.v4.new_code_cell("1 / 0")])
        >>> _raised(PapermillExecutionError(1, 2, "1 / 0", "ZeroDivisionError", "division by zero", []), executed)
        'cell 1 (In [2]) raised ZeroDivisionError: division by zero'
    """
    cells = [cell for cell in (executed.cells if executed is not None else [])
             if "papermill-error-cell-tag" not in cell.get("metadata", {}).get("tags", [])]
    injected = sum(1 for cell in cells[:error.cell_index]
                   if "injected-parameters" in cell.get("metadata", {}).get("tags", []))
    name, message = error.ename or "Error", error.evalue or ""
    if name == "CellExecutionError" and not message:
        message = "the cell did not finish"
    said = strip_controls(f"{name}: {message}" if message else name)
    return f"cell {error.cell_index + 1 - injected} (In [{error.exec_count or ' '}]) raised {said[:500]}"


def title(notebook: nbformat.NotebookNode, as_of=None) -> str:
    """The report's title: the notebook's first Markdown heading, then the as-of date.

    Falls back to ``Fleet report`` when no shown Markdown cell has a heading. Plain
    text: the HTML export escapes it.

    Examples:
        >>> notebook = nbformat.v4.new_notebook(cells=[
        ...     nbformat.v4.new_markdown_cell("Intro text"),
        ...     nbformat.v4.new_markdown_cell("# Device fleet report\\n\\nHow many phones...")])
        >>> title(notebook, "2025-08-31")
        'Device fleet report, 2025-08-31'
        >>> title(nbformat.v4.new_notebook())
        'Fleet report'
    """
    heading = "Fleet report"
    for cell in notebook.cells:
        if cell.cell_type != "markdown" or set(cell.get("metadata", {}).get("tags", [])) & HIDDEN_TAGS:
            continue
        found = _HEADING.search(cell.source)
        if found:
            # Markdown's emphasis and escapes mean nothing in a window title.
            heading = re.sub(r"\\(.)", r"\1", found[1].replace("**", "").replace("`", "")).strip() or heading
            break
    day = _as_date(as_of)
    return f"{heading}, {day.isoformat()}" if day else heading


def to_html(notebook: nbformat.NotebookNode, as_of=None) -> str:
    """Export an executed notebook as a stand-alone HTML page without code or prompts.

    The page's ``<title>`` is :func:`title` (escaped by the export). The template
    (``data/templates/offline``) is JupyterLab's without the scripts nbconvert loads from
    a CDN (require.js, MathJax, mermaid), with print styles: images are inline PNG, so
    the one file opens offline, in a mail viewer and on paper.

    Examples:
        >>> page = to_html(nbformat.v4.new_notebook(cells=[
        ...     nbformat.v4.new_markdown_cell("# Fleet <b>"), nbformat.v4.new_code_cell("secret = 1")]),
        ...     as_of="2026-01-04")
        >>> "Fleet" in page, "secret" in page, "<title>Fleet &lt;b&gt;, 2026-01-04</title>" in page
        (True, False, True)
        >>> re.search(r"<script[^>]+src=|<link[^>]+stylesheet|@import", page) is None
        True
    """
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    settings = Config()
    settings.TagRemovePreprocessor.enabled = True
    settings.TagRemovePreprocessor.remove_cell_tags = set(HIDDEN_TAGS)
    exporter = HTMLExporter(config=settings, exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, template_name=OFFLINE_TEMPLATE,
                            extra_template_basedirs=[str(TEMPLATES)])
    shown = copy.deepcopy(notebook)
    # nbconvert titles the page with metadata.title, else the word "Notebook".
    shown.metadata["title"] = title(notebook, as_of)
    for cell in shown.cells:
        if "outputs" in cell:
            # The headline bundle is data for the index, not something to show.
            cell.outputs = [out for out in cell.outputs
                            if out.get("metadata", {}).get(HEADLINE_KEY) != "headline"]
    body, _ = exporter.from_notebook_node(shown)
    return body


def _as_date(value) -> date | None:
    if value is None or (not isinstance(value, (str, date)) and pd.isna(value)):
        return None
    try:
        return pd.Timestamp(value).date()
    except (ValueError, TypeError):
        raise BadInput("as_of", repr(value), "not a date (use YYYY-MM-DD)") from None


def _parameter(value):
    # papermill writes parameters as Python literals: paths and dates go in as text. Paths
    # are made absolute: the notebook runs in its own folder, where a relative path given on
    # the command line would name another file or none.
    if isinstance(value, os.PathLike):
        return os.fspath(Path(value).resolve())
    if isinstance(value, (datetime, date, pd.Timestamp)):
        return pd.Timestamp(value).date().isoformat()
    return value


# Parameters whose values the notebooks cannot use outside these bounds (inclusive).
PARAMETER_BOUNDS = {"weeks": (1, 520), "window_days": (0, 3650)}


def check_parameters(notebook: str | os.PathLike, values: dict) -> dict:
    """Refuse, before anything runs, a parameter the notebook does not declare or cannot use.

    Names are checked against the notebook's ``parameters`` cell (papermill reads it); a
    value must have the type of the declared default when that is a number or a boolean
    (``weeks = 26`` takes whole numbers, ``names = False`` true or false) and lie within
    ``PARAMETER_BOUNDS``. Raises ``BadInput`` naming the notebook, the parameter and the
    problem (with the nearest declared name for a typo); returns the declared parameters.

    Examples:
        >>> sorted(check_parameters("report", {"weeks": 8}))[:3]
        ['as_of', 'catalog', 'directory']
        >>> check_parameters("report", {"week": 8})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        fleetanalysis.errors.BadInput: report.ipynb: -p week: no such parameter (did you mean weeks? ...
        >>> check_parameters("report", {"weeks": -5})
        Traceback (most recent call last):
        ...
        fleetanalysis.errors.BadInput: report.ipynb: -p weeks: -5 is out of range (1 to 520)
    """
    import ast
    import difflib

    import papermill

    source = notebook_path(notebook)
    declared = papermill.inspect_notebook(str(source))
    for name, value in values.items():
        where = f"-p {name}"
        if name not in declared:
            near = difflib.get_close_matches(name, declared, n=1)
            hint = f"did you mean {near[0]}? " if near else ""
            raise BadInput(source.name, where, f"no such parameter ({hint}the notebook takes "
                                               f"{', '.join(sorted(declared))})")
        try:
            default = ast.literal_eval(str(declared[name].get("default")))
        except (ValueError, SyntaxError):
            default = None
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise BadInput(source.name, where, f"{value!r} is not true or false")
        elif isinstance(default, int) and (isinstance(value, bool) or not isinstance(value, int)):
            raise BadInput(source.name, where, f"{value!r} is not a whole number")
        elif isinstance(default, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise BadInput(source.name, where, f"{value!r} is not a number")
        if name == "as_of" and value is not None:
            _as_date(value)
        low, high = PARAMETER_BOUNDS.get(name, (None, None))
        if low is not None and isinstance(value, (int, float)) and not low <= value <= high:
            raise BadInput(source.name, where, f"{value!r} is out of range ({low} to {high})")
    return declared


def run(notebook: str | os.PathLike, out_dir: Path, as_of: date | None = None,
        parameters: dict | None = None, *, progress: bool = False, stages=None) -> Path:
    """Execute ``notebook`` with papermill and publish it as ``<out_dir>/<as-of>/<name>.html``.

    ``as_of`` is passed to the notebook as the ``as_of`` parameter (ISO text); when it is
    ``None`` the notebook picks the date and the folder is named after the ``as_of`` it
    records with :func:`record_headline`. Returns the HTML path. A failing cell raises
    ``JobFailed`` naming the cell and the error (``BadInput`` when the package raised it:
    the user's file was unusable), after keeping the executed notebook as
    ``<out_dir>/failed/<as-of>-<name>.ipynb``; earlier reports and the index stay as they were.
    Parameters are checked (:func:`check_parameters`) before the kernel starts. ``stages``,
    when given, is called with one line per stage (for a progress line on stderr);
    ``progress`` shows papermill's bar over the cells.

    Examples:
        >>> run("no-such-notebook", Path("."))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        fleetanalysis.errors.BadInput: ...no-such-notebook.ipynb: no such notebook
    """
    import papermill
    from jupyter_client.kernelspec import NoSuchKernel

    source = notebook_path(notebook)
    out_dir = Path(out_dir)
    as_of = _as_date(as_of)
    # Paths first: a report that cannot be published must fail before the notebook runs.
    check_folder(out_dir, "reports folder")
    if as_of is not None:
        own_folder(out_dir, as_of.isoformat())
    values = {name: _parameter(value) for name, value in (parameters or {}).items()}
    if as_of is not None:
        values["as_of"] = as_of.isoformat()
    tell = stages or (lambda line: None)
    check_parameters(source, values)
    label = as_of.isoformat() if as_of else "newest"
    cells = sum(1 for cell in nbformat.read(source, as_version=4).cells if cell.cell_type == "code")
    tell(f"running {source.name} ({cells} code cells: reading the store, judging devices, "
         f"weekly history, charts)")
    with tempfile.TemporaryDirectory(prefix="fleetanalysis-report-") as scratch:
        executed_path = Path(scratch) / source.name
        try:
            papermill.execute_notebook(
                str(source), str(executed_path), parameters=values, kernel_name=kernel_name(),
                progress_bar=progress, cwd=str(source.parent), log_output=False, config=kernel_settings())
            problem = None
        except papermill.PapermillExecutionError as raised:
            problem = raised
        except NoSuchKernel as missing:
            raise JobFailed(f"{source.name}: no Jupyter kernel {missing} (run make install)") from None
        except Exception as stopped:  # noqa: BLE001 - a dead or timed-out kernel is the job failing
            problem = f"{type(stopped).__name__}: {strip_controls(str(stopped))[:500]}"
        executed = nbformat.read(executed_path, as_version=4) if executed_path.exists() else None
        if problem is not None:
            if isinstance(problem, papermill.PapermillExecutionError):
                said = _raised(problem, executed)
            else:
                said = (failure(executed) if executed is not None else None) or problem
            if executed is not None:
                kept = own_folder(out_dir, "failed") / f"{label}-{source.stem}.ipynb"
                write_text(kept, nbformat.writes(executed))
                said += f"; executed notebook kept in {kept}"
                if isinstance(problem, papermill.PapermillExecutionError) and problem.ename == "BadInput":
                    # The package refused the user's input inside the notebook: exit 2, not 1.
                    said = strip_controls(problem.evalue or "")[:500]
                    raise BadInput(f"{said} (in {source.name}; executed notebook kept in {kept})")
            raise JobFailed(f"{source.name}: {said}")
    recorded = read_headline(executed).get("as_of")
    folder_date = as_of or _as_date(recorded)
    if folder_date is None:
        raise JobFailed(f"{source.name}: the notebook recorded no as_of date; pass --as-of")
    return publish(executed, source.name, out_dir, folder_date, tell)


def publish(executed: nbformat.NotebookNode, name: str, out_dir: Path, as_of: date,
            tell=lambda line: None) -> Path:
    """Write the executed notebook ``name`` and its HTML page into ``out_dir/<as_of>/`` and
    rebuild the index; returns the page.

    Two runs publishing at once (the scheduled job and a manual report) take turns on
    the reports folder's lock, so neither index loses the other's page.

    Examples:
        >>> out = Path(tempfile.mkdtemp())
        >>> page = publish(nbformat.v4.new_notebook(), "report.ipynb", out, date(2026, 1, 4))
        >>> page.relative_to(out).as_posix(), (out / "index.html").exists()
        ('2026-01-04/report.html', True)
    """
    out_dir = Path(out_dir)
    stem = Path(name).stem
    with locked(out_dir / "index.html"):
        folder = own_folder(out_dir, as_of.isoformat())
        tell(f"writing {folder / stem}.html")
        write_text(folder / name, nbformat.writes(executed))
        page = write_text(folder / f"{stem}.html", to_html(executed, as_of))
        tell(f"updating {out_dir / 'index.html'}")
        rebuild_index(out_dir)
    return page


def own_folder(out_dir: Path, name: str) -> Path:
    """``out_dir / name`` once it is sure to be a real folder inside ``out_dir``.

    A symbolic link there (planted, or left by hand) would make the report be written
    wherever it points, outside the reports folder: refused, never followed.

    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> (out / "2026-01-05").symlink_to("/tmp")
    >>> own_folder(out, "2026-01-05")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    fleetanalysis.errors.BadInput: .../2026-01-05: is a symbolic link (to /tmp): not writing through it; remove the link
    """
    folder = Path(out_dir) / name
    if folder.is_symlink():
        raise BadInput(folder, f"is a symbolic link (to {os.readlink(folder)}): not writing through it; "
                               f"remove the link")
    if folder.exists() and not folder.is_dir():
        raise BadInput(folder, "is a file, not a report folder")
    return folder


def reports(out_dir: Path) -> pd.DataFrame:
    """List the published reports under ``out_dir``, newest first.

    Columns: ``as_of`` (datetime64), ``notebook`` (str), ``html`` (str, path relative to
    ``out_dir``), ``share`` (float, share of devices up to date, NA when not recorded),
    ``devices`` (Int64), ``names`` (bool: the page names people, as its headline says).

    Examples:
        >>> reports(Path(tempfile.mkdtemp())).columns.tolist()
        ['as_of', 'notebook', 'html', 'share', 'devices', 'names']
    """
    rows = []
    folders = [path for path in Path(out_dir).glob("*") if path.is_dir() and not path.is_symlink()]
    for folder in folders:
        if not _DATE_FOLDER.match(folder.name):
            continue
        for page in folder.glob("*.html"):
            if page.name.startswith("."):
                continue
            figures = {}
            executed = page.with_suffix(".ipynb")
            if executed.is_file():
                try:
                    figures = read_headline(nbformat.read(executed, as_version=4))
                except (ValueError, OSError):
                    figures = {}
            rows.append({"as_of": folder.name, "notebook": page.stem,
                         "html": page.relative_to(out_dir).as_posix(),
                         "share": figures.get("share"), "devices": figures.get("devices"),
                         "names": figures.get("names") is True})
    table = pd.DataFrame(rows, columns=["as_of", "notebook", "html", "share", "devices", "names"])
    table = table.astype({"as_of": "datetime64[us]", "notebook": "str", "html": "str",
                          "share": "Float64", "devices": "Int64", "names": "bool"})
    table["share"] = table["share"].astype("float64")
    return table.sort_values(["as_of", "notebook"], ascending=[False, True], ignore_index=True)


def rebuild_index(out_dir: Path) -> Path:
    """Write ``<out_dir>/index.html`` listing every report; point ``latest`` at the newest.

    Pages that name people (run with ``--names``) are left out of the index and never
    become ``latest``: the index is what management is sent. ``latest`` is a relative symlink to the newest date folder, replaced atomically;
    ``latest.html`` redirects to the newest report for systems without symlinks.

    Examples:
        >>> folder = Path(tempfile.mkdtemp())
        >>> rebuild_index(folder).name
        'index.html'
    """
    out_dir = Path(out_dir)
    table = reports(out_dir)
    table = table[~table["names"]]
    rows = [{"as_of": row.as_of.date().isoformat(), "href": row.html, "notebook": row.notebook,
             "share": "" if pd.isna(row.share) else f"{row.share:.1%}",
             "devices": "" if pd.isna(row.devices) else f"{row.devices:,}"}
            for row in table.itertuples()]
    index = _page("index.html.j2", title="Fleet reports", rows=rows)
    written = write_text(out_dir / "index.html", index)
    if len(table):
        _point_latest(out_dir, table)
    return written


def _point_latest(out_dir: Path, table: pd.DataFrame) -> None:
    newest = table[table["as_of"] == table["as_of"].max()]
    preferred = newest[newest["notebook"] == "report"]
    target = (preferred if len(preferred) else newest)["html"].iloc[0]
    write_text(out_dir / "latest.html", _page("latest.html.j2", title="Newest fleet report", href=target))
    link = out_dir / "latest"
    if link.exists() and not link.is_symlink():
        return  # a real folder of that name belongs to someone else: leave it
    temporary = out_dir / f".latest.{os.getpid()}.tmp"
    temporary.unlink(missing_ok=True)
    try:
        os.symlink(Path(target).parts[0], temporary, target_is_directory=True)
        os.replace(temporary, link)
    except OSError:
        # No symlinks here (some Windows setups): latest.html still leads the way.
        temporary.unlink(missing_ok=True)


def _page(template: str, **values) -> str:
    """Render one of ``data/templates/pages`` with every value HTML-escaped (Jinja2 autoescape)."""
    import jinja2

    pages = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES / "pages"),
                               autoescape=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    return pages.get_template(template).render(**values)
