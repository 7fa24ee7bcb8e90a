"""Command line: ``sim <command> …`` or ``python -m sim <command> …`` (``sim --help`` lists the
commands; usage lines show the name the program was invoked by).

Each command lives in ``sim/commands/<name>.py`` with ``register(subparsers)``. Errors that
users can fix (a bad scenario, a missing file) are printed as one line, exit code 2, no traceback.

Ctrl-C: the first one raises KeyboardInterrupt in the command, which stops its work, removes
what it must not leave and prints one line saying what was kept (exit code 130). A command that
has not exited ``GRACE_S`` seconds later, or a second Ctrl-C, forces the exit: the registered
cleanups run (``sim.shutdown``), every child process is killed, and the process ends at once.
"""

from __future__ import annotations

import _thread
import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any, NoReturn

from sim import shutdown
from sim.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, SimError

#: multiprocessing's resource tracker, a process started with this interpreter's -W options, cleans
#: up the semaphores of worker processes ended by a Ctrl-C; its warnings about them would follow
#: the one line of the interrupt
_QUIET_TRACKER = "ignore:resource_tracker:UserWarning"

#: Seconds a command has, after the first Ctrl-C, to stop and clean up before the exit is forced.
GRACE_S = 1.2

COMMANDS = [
    "run",
    "fit",
    "sweep",
    "breakeven",
    "fleet",
    "audit",
    "report",
    "optimize",
    "compare",
    "prices",
    "scenarios",
    "init",
    "validate",
    "notebooks",
    "docs",
]


class _OneLineParser(argparse.ArgumentParser):
    """A bad flag is bad input like any other: one line on stderr, exit code 2 (no usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"error: {self.prog}: {message} (see --help)\n")


def program_name() -> str:
    """How the user invoked us: ``sim`` (the console script), ``python -m sim``, or the script's name."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "sim"
    return "python -m sim" if name in ("__main__.py", "-m", "-c", "") else name


def version_text() -> str:
    from sim import DISTRIBUTION, __version__

    return f"{DISTRIBUTION} {__version__} (import name: sim)"


def build_parser(only: str | None = None, prog: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command, or with command ``only`` (whose module alone is imported:
    each command imports what it needs, from pandas to matplotlib, at registration)."""
    parser = _OneLineParser(
        prog=prog or program_name(),
        description="Monte Carlo failure-injection simulator for multi-step AI pipelines: "
        "restart-from-scratch vs durable execution under crashes, deployments and rate limits.",
    )
    parser.add_argument("--version", action="version", version=version_text())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS if only is None else [only]:
        importlib.import_module(f"sim.commands.{name}").register(sub)
    return parser


class _Interrupts:
    """SIGINT while a command runs: KeyboardInterrupt first, a forced exit on the second or after
    ``GRACE_S``; the one line about what was kept is printed once, whichever path ends."""

    def __init__(self) -> None:
        self.message = "interrupted: nothing was written (the command had not started)"
        self.count = 0
        self.printed = threading.Lock()
        self.said = False
        self.previous: Any = None
        self.previous_hook: Any = None
        self.redeliver = False
        self.in_hook = False

    def say(self) -> None:
        with self.printed:
            if not self.said:
                self.said = True
                with contextlib.suppress(OSError, ValueError):
                    sys.stderr.write(self.message + "\n")
                    sys.stderr.flush()

    def force(self) -> NoReturn:
        shutdown.run_cleanups()
        shutdown.end_children()
        self.say()
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        os._exit(EXIT_INTERRUPTED)

    def _later(self) -> None:
        threading.Event().wait(GRACE_S)
        self.force()

    def handler(self, signum: int, frame: FrameType | None) -> None:
        if self.redeliver:  # a KeyboardInterrupt that code ignoring exceptions swallowed, raised again
            if self.in_hook:
                return
            self.redeliver = False
            raise KeyboardInterrupt
        self.count += 1
        if self.count > 1:
            self.force()
        threading.Thread(target=self._later, name="sim-force-exit", daemon=True).start()
        raise KeyboardInterrupt

    def unraisable(self, info: Any) -> None:
        """The KeyboardInterrupt raised where exceptions are ignored (a callback run at fork, a
        ``__del__``) would print "Exception ignored" and a traceback, and the command would go on:
        deliver it again instead, where it stops the command."""
        self.in_hook = True
        try:
            if info.exc_type is not None and issubclass(info.exc_type, KeyboardInterrupt):
                self.redeliver = True
                threading.Thread(target=self._redeliver_soon, name="sim-redeliver", daemon=True).start()
            else:
                self.previous_hook(info)
        finally:
            self.in_hook = False

    def _redeliver_soon(self) -> None:
        threading.Event().wait(0.02)  # once the hook has returned
        _thread.interrupt_main()

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self.handler)
            self.previous_hook, sys.unraisablehook = sys.unraisablehook, self.unraisable

    def restore(self) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            sys.unraisablehook = self.previous_hook
            self.previous = None


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run one command; ``prog``: the name shown in usage lines (default: as invoked)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if _QUIET_TRACKER not in sys.warnoptions:
        sys.warnoptions.append(_QUIET_TRACKER)
    interrupts = _Interrupts()
    interrupts.install()
    try:
        return _main(argv, prog, interrupts)
    except KeyboardInterrupt:
        # each command says what an interruption keeps (set_defaults(interrupted=...))
        shutdown.end_children()
        interrupts.say()
        return EXIT_INTERRUPTED
    finally:
        interrupts.restore()


def _main(argv: list[str], prog: str | None, interrupts: _Interrupts) -> int:
    # a known command first: register it alone (start-up); anything else gets the full parser
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None, prog)
    args = parser.parse_args(argv)
    interrupts.message = f"interrupted: {getattr(args, 'interrupted', 'nothing may have been written')}"
    try:
        return int(args.handler(args) or 0)
    except SimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0


def entry() -> NoReturn:
    """The ``sim`` program (console script and ``python -m sim``): ``main``, then the exit. After
    a Ctrl-C the process ends at once: exit handlers of libraries (a Dask cluster that was still
    starting, say) could otherwise wait or print tracebacks after the one line."""
    code = main()
    if code == EXIT_INTERRUPTED:
        shutdown.run_cleanups()  # what the exit handlers skipped by os._exit would have removed
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
