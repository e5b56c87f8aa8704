"""Running a report notebook with papermill: the kernel, the parameters, and what failed.

:func:`run` checks the parameters against the notebook's ``parameters`` cell before the
kernel starts, executes the notebook in a scratch folder and hands the result to
:func:`fleetanalysis.reporting.folder.publish`. A run whose cell raises keeps the executed
notebook in ``<out>/failed/`` and touches nothing else; papermill's
``PapermillExecutionError`` is read by its fields (``cell_index``, ``ename``, ``evalue``).

Examples:
    >>> kernel_name() in {"fleetanalysis", "python3"}
    True
    >>> parameter_value("26"), parameter_value("false"), parameter_value("Berlin")
    (26, False, 'Berlin')
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from datetime import date, datetime
from pathlib import Path

import nbformat
import pandas as pd

from fleetanalysis import config
from fleetanalysis.errors import BadInput, JobFailed
from fleetanalysis.reporting.folder import page_folder, publish
from fleetanalysis.reporting.pages import as_date, read_headline
from fleetanalysis.writing import check_folder, strip_controls, write_text


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


@contextlib.contextmanager
def kernels_shut_down():
    """A kernel manager class for papermill whose kernels are all shut down on leaving.

    papermill shuts its kernel down when the notebook ends or a cell is interrupted, but not
    when the run is stopped (SIGTERM, Ctrl-C) while the kernel is still starting: the kernel
    would outlive the command. Kernels are killed at once (the report keeps nothing in them).

    Examples:
        >>> with kernels_shut_down() as manager_class:
        ...     manager_class(kernel_name="python3").has_kernel
        False
    """
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync

    made: list[AsyncKernelManager] = []

    class Remembered(AsyncKernelManager):
        def __init__(self, **settings):
            super().__init__(**settings)
            made.append(self)

    try:
        yield Remembered
    finally:
        for manager in made:
            if manager.has_kernel:
                run_sync(manager.shutdown_kernel)(now=True)


# A run's scratch folder in the temporary folder: the prefix, then the pid of the run.
_SCRATCH = "fleetanalysis-report-"


def remove_abandoned_scratch(folder: str | os.PathLike | None = None) -> list[Path]:
    """Remove the scratch folders of report runs that ended without removing theirs (a
    ``kill -9``): this user's, whose run's process is gone. A partly run notebook can hold
    people's names, outside the reports folder a ``names`` run keeps them in.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / f"{_SCRATCH}{2**22 + 1}-k3j9").mkdir(); (folder / f"{_SCRATCH}{os.getpid()}-a1b2").mkdir()
    >>> [path.name.split("-")[-1] for path in remove_abandoned_scratch(folder)]
    ['k3j9']
    """
    import shutil

    removed = []
    for scratch in Path(folder or tempfile.gettempdir()).glob(f"{_SCRATCH}*-*"):
        pid = scratch.name[len(_SCRATCH):].split("-", 1)[0]
        try:
            if not pid.isdigit() or scratch.is_symlink() or scratch.stat().st_uid != os.getuid():
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(scratch, ignore_errors=True)
            removed.append(scratch)
        except OSError:
            continue  # another user's process, or a folder gone meanwhile
    return removed


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
PARAMETER_BOUNDS = {"weeks": (1, 520), "window_days": config.WINDOW_DAYS}


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
            as_date(value)
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
    With the ``names`` parameter true, both go under ``<out_dir>/named/`` (``publish``).
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
    as_of = as_date(as_of)
    # Paths first: a report that cannot be published must fail before the notebook runs.
    check_folder(out_dir, "reports folder")
    values = {name: _parameter(value) for name, value in (parameters or {}).items()}
    named = values.get("names") is True
    if as_of is not None:
        page_folder(out_dir, as_of.isoformat(), named)
        values["as_of"] = as_of.isoformat()
    tell = stages or (lambda line: None)
    check_parameters(source, values)
    label = as_of.isoformat() if as_of else "newest"
    cells = sum(1 for cell in nbformat.read(source, as_version=4).cells if cell.cell_type == "code")
    tell(f"running {source.name} ({cells} code cells: reading the store, judging devices, "
         f"weekly history, charts)")
    remove_abandoned_scratch()
    with tempfile.TemporaryDirectory(prefix=f"{_SCRATCH}{os.getpid()}-") as scratch, kernels_shut_down() as manager:
        executed_path = Path(scratch) / source.name
        try:
            # A stopped run kills its kernel at once rather than asking it to finish the cell.
            papermill.execute_notebook(
                str(source), str(executed_path), parameters=values, kernel_name=kernel_name(),
                progress_bar=progress, cwd=str(source.parent), log_output=False, config=kernel_settings(),
                kernel_manager_class=manager, shutdown_kernel="immediate")
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
                # A failed run with names keeps its notebook with the other pages that name people.
                kept = page_folder(out_dir, "failed", named) / f"{label}-{source.stem}.ipynb"
                write_text(kept, nbformat.writes(executed))
                said += f"; executed notebook kept in {kept}"
                if isinstance(problem, papermill.PapermillExecutionError) and problem.ename == "BadInput":
                    # The package refused the user's input inside the notebook: exit 2, not 1.
                    said = strip_controls(problem.evalue or "")[:500]
                    raise BadInput(f"{said} (in {source.name}; executed notebook kept in {kept})")
            raise JobFailed(f"{source.name}: {said}")
    recorded = read_headline(executed).get("as_of")
    folder_date = as_of or as_date(recorded)
    if folder_date is None:
        raise JobFailed(f"{source.name}: the notebook recorded no as_of date; pass --as-of")
    return publish(executed, source.name, out_dir, folder_date, tell, names=named)
