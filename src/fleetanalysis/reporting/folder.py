"""The reports folder: each report in ``<out>/<as-of>/``, the index, and ``latest``.

Publishing writes ``<out>/<as-of>/<notebook>.html`` and the executed ``<notebook>.ipynb``
beside it, each under a temporary name renamed on success, then rebuilds
``<out>/index.html`` and points ``<out>/latest`` (a relative symlink) and
``<out>/latest.html`` (a redirect page) at the newest report. The index and redirect
pages are Jinja2 templates (``data/templates/pages``) with autoescape on, so a notebook
or folder name cannot become markup.
"""

from __future__ import annotations

import os
import re
import tempfile
from datetime import date
from pathlib import Path

import nbformat
import pandas as pd

from fleetanalysis.errors import BadInput
from fleetanalysis.reporting.pages import TEMPLATES, read_headline, to_html
from fleetanalysis.writing import locked, write_text

_DATE_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")


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
