"""The reports folder: each report in ``<out>/<as-of>/``, the index, and ``latest``.

Publishing writes ``<out>/<as-of>/<notebook>.html`` and the executed ``<notebook>.ipynb``
beside it, each under a temporary name renamed on success, then rebuilds
``<out>/index.html`` and points ``<out>/latest`` (a relative symlink) and
``<out>/latest.html`` (a redirect page) at the newest report. A page that names people
goes to ``<out>/named/<as-of>/`` instead: never beside or over the page of its date that
management reads, never in the index nor behind ``latest``, and one folder to keep out of
wherever the reports are shared. The index and redirect pages are Jinja2 templates
(``data/templates/pages``) with autoescape on, so a notebook or folder name cannot become markup.
"""

from __future__ import annotations

import os
import re
import tempfile
from datetime import date
from pathlib import Path
from urllib.parse import quote

import nbformat
import pandas as pd

from fleetanalysis.errors import BadInput
from fleetanalysis.reporting.pages import TEMPLATES, read_headline, to_html
from fleetanalysis.writing import locked, write_text

_DATE_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Where the pages that name people go, under the reports folder.
NAMED = "named"


def publish(executed: nbformat.NotebookNode, name: str, out_dir: Path, as_of: date,
            tell=lambda line: None, names: bool = False) -> Path:
    """Write the executed notebook ``name`` and its HTML page into ``out_dir/<as_of>/`` and
    rebuild the index; returns the page.

    A page run with ``names``, or whose headline says it names people, goes into
    ``out_dir/named/<as_of>/``: the page without names of the same date stays as it was.
    Two runs publishing at once (the scheduled job and a manual report) take turns on
    the reports folder's lock, so neither index loses the other's page.

    Examples:
        >>> out = Path(tempfile.mkdtemp())
        >>> page = publish(nbformat.v4.new_notebook(), "report.ipynb", out, date(2026, 1, 4))
        >>> page.relative_to(out).as_posix(), (out / "index.html").exists()
        ('2026-01-04/report.html', True)
        >>> publish(nbformat.v4.new_notebook(), "report.ipynb", out, date(2026, 1, 4), names=True).relative_to(out).as_posix()
        'named/2026-01-04/report.html'
    """
    out_dir = Path(out_dir)
    stem = Path(name).stem
    names = names or read_headline(executed).get("names") is True
    with locked(out_dir / "index.html"):
        folder = page_folder(out_dir, as_of.isoformat(), names)
        tell(f"writing {folder / stem}.html")
        write_text(folder / name, nbformat.writes(executed))
        page = write_text(folder / f"{stem}.html", to_html(executed, as_of))
        tell(f"updating {out_dir / 'index.html'}")
        rebuild_index(out_dir)
    return page


def page_folder(out_dir: Path, name: str, names: bool = False) -> Path:
    """The folder a page goes in: ``out_dir/name``, or ``out_dir/named/name`` for a page
    that names people; each checked by ``own_folder``.

    >>> page_folder(Path("reports"), "2026-01-04", names=True).as_posix()
    'reports/named/2026-01-04'
    """
    return own_folder(own_folder(out_dir, NAMED) if names else Path(out_dir), name)


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
    ``devices`` (Int64), ``names`` (bool: the page names people, being in ``named/`` or as
    its headline says), ``demo`` (bool: it describes the demo organisation).

    Examples:
        >>> reports(Path(tempfile.mkdtemp())).columns.tolist()
        ['as_of', 'notebook', 'html', 'share', 'devices', 'names', 'demo']
    """
    rows = []
    # The date folders, then those of the pages that name people (``named``).
    places = [(path, False) for path in Path(out_dir).glob("*")]
    named = Path(out_dir) / NAMED
    if named.is_dir() and not named.is_symlink():
        places += [(path, True) for path in named.glob("*")]
    for folder, naming in places:
        if not _DATE_FOLDER.match(folder.name) or not folder.is_dir() or folder.is_symlink():
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
                         "names": naming or figures.get("names") is True, "demo": figures.get("demo") is True})
    table = pd.DataFrame(rows, columns=["as_of", "notebook", "html", "share", "devices", "names", "demo"])
    table = table.astype({"as_of": "datetime64[us]", "notebook": "str", "html": "str",
                          "share": "Float64", "devices": "Int64", "names": "bool", "demo": "bool"})
    table["share"] = table["share"].astype("float64")
    return table.sort_values(["as_of", "notebook"], ascending=[False, True], ignore_index=True)


def rebuild_index(out_dir: Path) -> Path:
    """Write ``<out_dir>/index.html`` listing every report; point ``latest`` at the newest.

    Pages that name people (run with ``--names``) are left out of the index and never
    become ``latest``: the index is what management is sent. Pages on the demo organisation
    are marked "demo data" and become ``latest`` only while no other page exists. ``latest`` is a relative symlink to the newest date folder, replaced atomically;
    ``latest.html`` redirects to the newest report for systems without symlinks.

    Examples:
        >>> folder = Path(tempfile.mkdtemp())
        >>> rebuild_index(folder).name
        'index.html'
    """
    out_dir = Path(out_dir)
    table = reports(out_dir)
    table = table[~table["names"]]
    # A page's name is a path, its link a URL: "fleet #2 100%.html" would end at the "#".
    rows = [{"as_of": row.as_of.date().isoformat(), "href": quote(row.html), "notebook": row.notebook,
             "share": "" if pd.isna(row.share) else f"{row.share:.1%}",
             "devices": "" if pd.isna(row.devices) else f"{row.devices:,}", "demo": row.demo}
            for row in table.itertuples()]
    index = _page("index.html.j2", title="Fleet reports", rows=rows)
    written = write_text(out_dir / "index.html", index)
    if len(table):
        _point_latest(out_dir, table)
    return written


def _point_latest(out_dir: Path, table: pd.DataFrame) -> None:
    # The demo organisation's page is the newest only until a report on real logs exists.
    real = table[~table["demo"]]
    table = real if len(real) else table
    newest = table[table["as_of"] == table["as_of"].max()]
    preferred = newest[newest["notebook"] == "report"]
    target = (preferred if len(preferred) else newest)["html"].iloc[0]
    write_text(out_dir / "latest.html", _page("latest.html.j2", title="Newest fleet report", href=quote(target)))
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
