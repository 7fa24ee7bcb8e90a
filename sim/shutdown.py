"""Ending a command at once without leaving anything behind.

Code that creates something an interrupted command must not leave (a lock file, a folder it
created, a temporary folder) registers a cleanup with ``on_exit``; a forced exit (a second
Ctrl-C, or a first one the command did not finish handling in time) runs the cleanups still
registered, then ends every child process (``end_children``) before ``os._exit``. On an ordinary
exit the code that registered a cleanup runs it itself and removes it (``cancel``).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

__all__ = ["cancel", "child_pids", "end_children", "on_exit", "run_cleanups", "sigint_blocked", "start_deaf_to_ctrl_c"]

_CLEANUPS: dict[int, Callable[[], None]] = {}
_LOCK = threading.Lock()
_NEXT = [0]


def on_exit(cleanup: Callable[[], None]) -> int:
    """Register ``cleanup`` for a forced exit; returns the token that ``cancel`` takes."""
    with _LOCK:
        _NEXT[0] += 1
        _CLEANUPS[_NEXT[0]] = cleanup
        return _NEXT[0]


def cancel(token: int) -> None:
    """Forget a cleanup (its owner ran it, or has nothing left to clean)."""
    with _LOCK:
        _CLEANUPS.pop(token, None)


def run_cleanups() -> None:
    """Run every registered cleanup, newest first, once, then remove the temporary folders
    (``tempfile.TemporaryDirectory``) still open in this process, whoever made them (a forced
    exit skips the interpreter's own exit handlers, which would); errors are ignored."""
    with _LOCK:
        todo = [_CLEANUPS.pop(k) for k in sorted(_CLEANUPS, reverse=True)]
    for cleanup in todo:
        with contextlib.suppress(Exception):
            cleanup()
    _remove_temporary_folders()


def _remove_temporary_folders() -> None:
    import tempfile
    import weakref

    target = getattr(tempfile.TemporaryDirectory._cleanup, "__func__", None)
    registry = getattr(weakref.finalize, "_registry", {})  # no public way to list finalizers
    for finalizer, info in list(registry.items()):
        if target is not None and getattr(info.func, "__func__", None) is target:
            with contextlib.suppress(Exception):
                finalizer()


def _parents() -> dict[int, int]:
    """pid → parent pid of every process (Linux /proc); empty where /proc is not available."""
    table: dict[int, int] = {}
    proc = Path("/proc")
    if not proc.is_dir():  # pragma: no cover - not Linux
        return table
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name (field 2) is in parentheses and may hold spaces: split after the last ')'
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1:
            table[int(entry.name)] = int(fields[1])
    return table


def child_pids(pid: int | None = None) -> list[int]:
    """Every descendant of process ``pid`` (default: this one), children first."""
    root = os.getpid() if pid is None else pid
    parents = _parents()
    found: list[int] = []
    frontier = [root]
    while frontier:
        kids = [p for p, pp in parents.items() if pp in frontier and p not in found]
        found += kids
        frontier = kids
    if pid is None:  # where /proc is missing: the children multiprocessing knows of
        found += [p.pid for p in multiprocessing.active_children() if p.pid and p.pid not in found]
    return found


def _resource_tracker_pid() -> int | None:
    """multiprocessing's resource tracker: it ignores Ctrl-C, unlinks the shared memory of the
    processes it serves and exits by itself once they are all gone; killed, it would be
    restarted by the next one to need it, with warnings about leaked resources."""
    try:
        from multiprocessing import resource_tracker

        return resource_tracker._resource_tracker._pid  # noqa: SLF001 - no public accessor
    except (ImportError, AttributeError):  # pragma: no cover - another implementation
        return None


def end_children() -> None:
    """SIGKILL every descendant of this process (worker pools, local Dask clusters), except
    multiprocessing's resource tracker (which ends once its clients are gone)."""
    spare = _resource_tracker_pid()
    for pid in child_pids():
        if pid == spare:
            continue
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def start_deaf_to_ctrl_c(start: Callable[[], T]) -> T:
    """``start()`` in a thread that blocks SIGINT, so that the threads and processes it starts
    (a local Dask cluster: its event loop, its worker processes) inherit the blocked signal and
    never see a terminal's Ctrl-C, which this process alone handles (it ends them). The calling
    thread waits in short, interruptible steps: a Ctrl-C meanwhile raises KeyboardInterrupt here."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        return start()
    box: dict[str, object] = {}

    def run() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            box["value"] = start()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="sim-start-deaf-to-ctrl-c", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.05)
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


@contextlib.contextmanager
def sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread for the duration: processes forked (and threads started)
    inside inherit the blocked signal, so a terminal's Ctrl-C never reaches a worker between its
    fork and its own set-up. A Ctrl-C meanwhile stays pending and is handled on leaving."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)

