"""SIGTERM and SIGHUP as an orderly stop: the job unwinds as it would on Ctrl-C.

cron, systemd timers and ``kill`` stop a job with SIGTERM; a closed terminal sends SIGHUP.
Python's default for both is to die at once, so no ``finally`` runs: scratch folders stay in
the temporary folder, a report's kernel is orphaned, temporary files stay beside their
targets. :func:`stop_on_signals` installs, for the length of one command, a handler that
raises :class:`Stopped` instead: every ``with`` and ``finally`` on the way out runs, and the
command exits ``128 + signal`` (143 for SIGTERM), the status shells and systemd expect of a
job ended by that signal. A second signal while the job unwinds is ignored, so the clean-up
itself is not cut short (systemd's SIGKILL after ``TimeoutStopSec`` still ends it).

The handlers are installed by the command line only, never on importing the package, and
the ones found before are put back afterwards (``main`` may run inside another program).

Examples:
    >>> import os, signal
    >>> before = signal.getsignal(signal.SIGTERM)
    >>> with stop_on_signals():
    ...     try:
    ...         os.kill(os.getpid(), signal.SIGTERM)
    ...     except Stopped as stop:
    ...         print(stop, stop.status, received() is stop)
    stopped by SIGTERM 143 True
    >>> signal.getsignal(signal.SIGTERM) is before
    True
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

# The signals that ask a job to stop (Ctrl-C's SIGINT is Python's KeyboardInterrupt already).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """The job was asked to stop by a signal; ``status`` is the exit status that says so.

    A ``KeyboardInterrupt``: libraries let it through where they keep other exceptions
    (``except Exception`` clauses that turn a failure into a message; asyncio, whose tasks
    would otherwise hold it and carry on), and clean up after it as after Ctrl-C.
    """

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")

    @property
    def status(self) -> int:
        return 128 + self.signum


# The signal that stopped this command, once one has. Remembered because a library may turn
# the handler's exception into its own (DuckDB raises ``RuntimeError: Query interrupted``).
_received: list[Stopped] = []


def received() -> Stopped | None:
    """The stop a signal asked for since :func:`stop_on_signals` began, or ``None``."""
    return _received[0] if _received else None


def _stop(signum: int, frame) -> None:
    for other in STOP_SIGNALS:
        signal.signal(other, signal.SIG_IGN)
    _received.append(Stopped(signum))
    _abandon_event_loop()
    raise _received[0]


def _abandon_event_loop() -> None:
    """Cancel the tasks of the event loop the stop interrupts, and keep it quiet about them.

    A report's kernel is driven from an asyncio loop (papermill, nbclient). The stop leaves
    its tasks waiting; when the clean-up runs the loop again to shut the kernel down they
    would wake to a dead kernel and log it. Cancelled, they end at once, and what they raise
    on the way (nbclient turns the cancellation into ``DeadKernelError``) is not reported.
    """
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:  # never imported: no loop runs
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    loop.set_exception_handler(lambda loop, context: None)
    for task in asyncio.all_tasks(loop):
        task.cancel()


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`Stopped` in the main thread.

    Outside the main thread (where Python cannot install handlers) nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    before = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    # A job started with SIGHUP ignored (nohup) keeps ignoring it.
    mine = [signum for signum, handler in before.items() if handler is not signal.SIG_IGN]
    for signum in mine:
        signal.signal(signum, _stop)
    try:
        yield
    finally:
        for signum in mine:
            signal.signal(signum, before[signum])
