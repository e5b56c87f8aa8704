"""One executed notebook as a report page: its title, its headline bundle, its HTML.

The notebook tells the index its headline figure by displaying a JSON bundle with
:func:`fleetanalysis.show.record_headline`; :func:`read_headline` finds it again here.
"""

from __future__ import annotations

import copy
import re
from datetime import date

import nbformat
import pandas as pd

from fleetanalysis import config
from fleetanalysis.errors import BadInput
from fleetanalysis.show import HEADLINE_KEY, HEADLINE_MIME

# Cells with this tag are left out of the HTML (papermill's own markers, helper cells).
HIDDEN_TAGS = {"remove-cell", "papermill-error-cell-tag"}
TEMPLATES = config.PACKAGE_DATA / "templates"
OFFLINE_TEMPLATE = "offline"
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)


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
    day = as_date(as_of)
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


def as_date(value) -> date | None:
    """A report's as-of date from a date, a timestamp or ISO text; ``None`` for none;
    ``BadInput`` for anything else.

    Examples:
        >>> as_date("2026-01-04"), as_date(None)
        (datetime.date(2026, 1, 4), None)
    """
    if value is None or (not isinstance(value, (str, date)) and pd.isna(value)):
        return None
    try:
        return pd.Timestamp(value).date()
    except (ValueError, TypeError):
        raise BadInput("as_of", repr(value), "not a date (use YYYY-MM-DD)") from None
