"""Publishing reports: run a notebook with papermill, export it as HTML without code, keep an index.

Three jobs, one module each, in the order a report goes through them:

- ``running``: the kernel, the notebook's parameters checked before it starts, papermill's
  run, and what failed (``run``, ``check_parameters``, ``failure``);
- ``pages``: an executed notebook as a page: its title, its headline bundle, its HTML
  (``to_html``, ``read_headline``, ``title``);
- ``folder``: the reports folder: each report under its as-of date (a page that names
  people under ``named/``), the index and ``latest`` (``publish``, ``reports``,
  ``rebuild_index``, ``page_folder``, ``own_folder``).

The display helpers the notebooks call live in ``show``; the weekly schedule in
``schedule``. The names below are the package's face: callers write ``reporting.run``.

Examples:
    >>> from fleetanalysis import reporting
    >>> reporting.notebook_path("report").name
    'report.ipynb'
"""

from fleetanalysis.reporting.folder import own_folder, page_folder, publish, rebuild_index, reports
from fleetanalysis.reporting.pages import HIDDEN_TAGS, TEMPLATES, as_date, read_headline, title, to_html
from fleetanalysis.reporting.running import (PARAMETER_BOUNDS, check_parameters, failure, kernel_name,
                                             kernel_settings, notebook_path, parameter_value, run)

__all__ = ["HIDDEN_TAGS", "PARAMETER_BOUNDS", "TEMPLATES", "as_date", "check_parameters", "failure", "kernel_name",
           "kernel_settings", "notebook_path", "own_folder", "page_folder", "parameter_value", "publish",
           "read_headline", "rebuild_index", "reports", "run", "title", "to_html"]
