"""Output folders: checked before any simulation, locked while a command writes into them.

``FolderLock(path)`` creates the folder if needed (so an impossible ``--out``, below a regular
file, under /proc or in a folder the process cannot write, fails at once with one line, exit
code 2) and takes an exclusive ``flock`` on ``path/.lock``. A second command on the same folder
is refused with one line naming the process that holds it (pid and command line). The lock is
released, and ``.lock`` removed, when the command ends; a folder the lock created and nothing
else wrote into is removed too, so a command that fails leaves nothing behind.

Results are never overwritten by accident: every command that writes a results folder leaves a
marker (``.sim-results.json``: the command and a hash of what determines its numbers), and
``check_results_folder`` refuses, before any simulation, a folder that holds another command's
results (always), or another run of the same command (unless ``--overwrite``). Folders written
before markers existed are recognised by their files.

The lock file is re-checked after locking (same inode as the path): a lock taken on a file
that its previous holder had just removed is dropped and taken again, so two commands can
never both hold one folder. Worker processes forked while a lock is held close their copy of
the descriptor (``close_inherited_locks``): the lock belongs to the command, not its workers.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import shutil
import sys
import time
from pathlib import Path
from types import TracebackType

from sim import shutdown
from sim.errors import SimError

__all__ = ["MARKER_NAME", "FolderLock", "OutputFolderError", "ResultsFolder", "check_results_folder", "close_inherited_locks",
           "results_identity", "write_marker"]

LOCK_NAME = ".lock"
MARKER_NAME = ".sim-results.json"
#: Files that say which command wrote a folder that has no marker (written by an earlier version).
SIGNATURES = [
    ("manifest.json", "sweep"),  # sim sweep, and each stage of sim breakeven
    ("coarse/manifest.json", "breakeven"),
    ("data/report.json", "report"),
    ("report.md", "report"),
    ("audit.md", "audit"),
    ("recommendation.txt", "optimize"),
    ("compare.md", "compare"),
    ("fleet.parquet", "fleet"),
    ("runs.parquet", "run"),
    ("histories", "validate"),
]
_HELD: set[int] = set()  # descriptors of the locks this process holds


class OutputFolderError(SimError):
    """An output folder that cannot be written, or that another command is writing into."""


def _command_line() -> str:
    argv = getattr(sys, "orig_argv", None) or sys.argv
    return shlex.join(argv)


def _holder(lock_path: Path, wait_s: float = 0.5) -> str:
    """Who holds the lock: its holder writes its pid just after locking, so wait up to ``wait_s`` for it."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            info = json.loads(lock_path.read_text() or "{}")
        except (OSError, ValueError):
            info = {}
        if "pid" in info:
            return f"process {info['pid']} ({info.get('command', 'unknown command')})"
        if time.monotonic() >= deadline:
            return "another process"
        time.sleep(0.01)


def close_inherited_locks() -> None:
    """In a forked worker: close the copies of the parent's lock descriptors (the parent keeps its lock)."""
    for fd in list(_HELD):
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


class FolderLock:
    """Exclusive lock of an output folder for the duration of a command (a context manager)."""

    def __init__(self, path: str | Path, option: str = "--out"):
        self.path = Path(path)
        self.option = option
        self._fd: int | None = None
        self._created: list[Path] = []
        self._token: int | None = None

    def _fail(self, problem: str) -> OutputFolderError:
        return OutputFolderError(f"{self.option} {self.path}: {problem}")

    def _make_folder(self) -> None:
        missing = []
        p = self.path
        while not p.exists() and p != p.parent:
            if p.is_symlink():  # a dangling link
                raise self._fail(f"{p} is a broken symbolic link")
            missing.append(p)
            p = p.parent
        if not p.is_dir():
            raise self._fail(f"{p} is not a folder" + (" (it is a file)" if p.is_file() else ""))
        for folder in reversed(missing):
            try:
                folder.mkdir()
            except FileExistsError:
                if not folder.is_dir():
                    raise self._fail(f"{folder} is not a folder") from None
                continue
            except OSError as exc:
                self._remove_created()
                raise self._fail(f"cannot create the folder ({exc.strerror or exc})") from None
            self._created.append(folder)

    def _remove_created(self) -> None:
        for folder in reversed(self._created):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty
        self._created = []

    def acquire(self) -> FolderLock:
        self._make_folder()
        lock_path = self.path / LOCK_NAME
        while True:
            try:
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
            except OSError as exc:
                self._remove_created()
                raise self._fail(f"cannot write in the folder ({exc.strerror or exc})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise self._fail(f"in use by {_holder(lock_path)}; wait for it to finish or use another "
                                 f"{self.option}") from None
            try:
                same = os.stat(lock_path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # locked a file its holder had just removed: take the new one
        try:
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps({"pid": os.getpid(), "command": _command_line()}).encode())
        except OSError as exc:
            os.close(fd)
            self._remove_created()
            raise self._fail(f"cannot write in the folder ({exc.strerror or exc})") from None
        self._fd = fd
        _HELD.add(fd)
        self._token = shutdown.on_exit(self.release)  # a forced exit (second Ctrl-C) releases it too
        return self

    def release(self) -> None:
        if self._token is not None:
            shutdown.cancel(self._token)
            self._token = None
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            (self.path / LOCK_NAME).unlink()
        _HELD.discard(self._fd)
        with contextlib.suppress(OSError):
            os.close(self._fd)  # closing the last descriptor releases the flock
        self._fd = None
        self._remove_created()

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def results_identity(parts: dict) -> str:
    """A short hash of what determines a command's numbers (scenario, seed, runs, options)."""
    import hashlib

    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _writer(path: Path) -> tuple[str | None, str | None]:
    """(command, identity) of the results in ``path``: from its marker, else from its files."""
    marker = path / MARKER_NAME
    if marker.is_file():
        try:
            info = json.loads(marker.read_text())
            return str(info.get("command")), str(info.get("identity"))
        except (OSError, ValueError, AttributeError):
            return "an unknown command", None
    for name, command in SIGNATURES:
        if (path / name).exists():
            return command, None
    return None, None


def check_results_folder(path: str | Path, command: str, identity: str, overwrite: bool = False,
                         option: str = "--out") -> None:
    """Refuse ``path`` if it holds another command's results, or (unless ``overwrite``) the results
    of another run of ``command``. A missing or empty folder, a folder of files that no command of
    sim wrote, and the results of the very same run (same identity) are accepted."""
    path = Path(path)
    if not path.is_dir():
        return
    writer, previous = _writer(path)
    if writer is None:
        return
    if writer != command:
        raise OutputFolderError(f"{option} {path}: holds the results of `sim {writer}`; choose another folder "
                                f"(a command never writes into another command's results)")
    if previous != identity and not overwrite:
        what = "another run (a different scenario, seed, runs or options)" if previous else "earlier results"
        raise OutputFolderError(f"{option} {path}: holds the results of {what} of `sim {command}`; choose another "
                                "folder, or --overwrite to replace them")


def write_marker(path: str | Path, command: str, identity: str) -> None:
    """Record which command wrote ``path`` and for what (before its results: a folder a command
    began to write always says whose it is)."""
    from sim.experiment.io import atomic_write_text

    atomic_write_text(Path(path) / MARKER_NAME, json.dumps({"command": command, "identity": identity}) + "\n")


class ResultsFolder(FolderLock):
    """``FolderLock`` for a command's results: refuses (``check_results_folder``) another
    command's results, and another run's unless ``overwrite``; marks the folder as this
    command's once locked. A folder left with nothing but the new marker is cleaned up on release.

    ``at_end``: the command writes its files only at its end, so a ``with`` block left by an
    exception (a Ctrl-C during the writing included) removes every entry it added to the folder:
    nothing is left half-written. (Files it replaced under ``--overwrite`` cannot come back.)
    Commands that keep finished work for a resume (the sweeps of ``breakeven``) pass False."""

    def __init__(self, path: str | Path, command: str, identity: str, overwrite: bool = False,
                 option: str = "--out", at_end: bool = True):
        super().__init__(path, option)
        self.command = command
        self.identity = identity
        self.overwrite = overwrite
        self.at_end = at_end
        self._new_marker = False
        self._before: set[str] = set()

    def check(self) -> None:
        """The refusal alone, without locking (before a long computation that writes at its end)."""
        check_results_folder(self.path, self.command, self.identity, self.overwrite, self.option)

    def acquire(self) -> ResultsFolder:
        self.check()
        super().acquire()
        try:  # again under the lock: another command may have written meanwhile
            check_results_folder(self.path, self.command, self.identity, self.overwrite, self.option)
            self._new_marker = not (self.path / MARKER_NAME).exists()
            self._before = set(os.listdir(self.path))
            write_marker(self.path, self.command, self.identity)
        except BaseException:
            self.release()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None and self.at_end and self._fd is not None:
            self._remove_written()
        self.release()

    def _remove_written(self) -> None:
        """Remove the entries this command added (not the marker, not the lock: ``release``'s)."""
        with contextlib.suppress(OSError):
            for name in set(os.listdir(self.path)) - self._before - {MARKER_NAME, LOCK_NAME}:
                entry = self.path / name
                with contextlib.suppress(OSError):
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry)
                    else:
                        entry.unlink()

    def release(self) -> None:
        if self._new_marker:
            with contextlib.suppress(OSError):
                if set(os.listdir(self.path)) <= self._before | {MARKER_NAME, LOCK_NAME}:  # nothing written
                    (self.path / MARKER_NAME).unlink()
            self._new_marker = False
        super().release()
