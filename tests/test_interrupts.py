"""Ctrl-C: exit code 130, and a message that is true for each command (what was kept)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import sim.experiment.runner as runner
from sim.cli import main

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT / "experiments" / "scenarios" / "video.toml"
FLEET = ROOT / "experiments" / "scenarios" / "fleet_research.toml"


_PROGRESS = re.compile(r"^.+: ([\d,]+ runs( \(.+\))?, about .+ in all \(estimated from|\d+% \([\d,]+ of [\d,]+ runs\), about .+ left$)")


def _without_progress(err: str) -> list[str]:
    """stderr's lines without a long run's announcement and progress lines (``sim.experiment.eta``),
    which come before the interrupt's one line."""
    return [line for line in err.strip().splitlines() if not _PROGRESS.match(line)]


def _raise(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize(("argv", "target"), [
    (["run", str(VIDEO), "--runs", "50"], "sim.commands.run.simulate_parallel"),
    (["fleet", str(FLEET), "--replications", "2"], "sim.commands.fleet.simulate_with_progress"),
    (["report", str(VIDEO), "--quick"], "sim.commands.report.compute_report"),
    (["audit", "--quick"], "sim.analysis.audit.build_claims"),
])
def test_commands_that_write_at_the_end_say_nothing_was_written(argv, target, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(target, _raise)
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out)]) == 130
    err = _without_progress(capsys.readouterr().err)
    assert len(err) == 1 and err[0].startswith("interrupted: nothing was written")
    assert not out.exists()


@pytest.mark.parametrize("command", ["sweep", "breakeven"])
def test_sweeps_keep_their_finished_chunks(command, tmp_path, capsys, monkeypatch):
    real = runner._work
    calls = {"n": 0}

    def second_chunk_interrupted(payload):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(payload)

    monkeypatch.setattr(runner, "_work", second_chunk_interrupted)
    out = tmp_path / "out"
    argv = [command, str(VIDEO), "--vary", "failures.crash.mtbf=1h,2h", "--runs", "200", "--chunk-size", "100",
            "--engine", "des", "--quiet", "--workers", "1", "--out", str(out)]
    if command == "breakeven":
        argv += ["--refine", "0"]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "interrupted: the finished chunks" in err and "run the same command again" in err
    stored = sorted((out if command == "sweep" else out / "coarse").glob("chunks/*.npz"))
    assert len(stored) == 2  # the message is true: two chunks were kept
    monkeypatch.setattr(runner, "_work", real)
    main(argv)
    assert "2 reused" in capsys.readouterr().out or command == "breakeven"


# --------------------------------------------------------------------------- a real Ctrl-C
#
# ``python -m sim …`` as the leader of a new process group; SIGINT goes to its whole process group, as a
# terminal's Ctrl-C does (the workers get it too). Whatever the instant (start-up, loading, the
# pilot, the simulation, on worker processes or a local Dask cluster), the command must exit
# with 130 within 2 s, print one line and no traceback, write nothing it had not finished, and
# leave no process of its group behind.

import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

EXIT_WITHIN_S = 2.0
STARTUP_S, LOADING_S, SIMULATING_S = 0.3, 1.2, 3.5


def _session_members(sid: int) -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(f"{entry} {stat[:stat.rfind(')') + 1]}")
    return found


def _interrupt(argv: list[str], cwd: Path, after_s: float, twice: bool = False) -> tuple[int, float, str, str]:
    proc = subprocess.Popen([sys.executable, "-m", "sim", *argv], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    time.sleep(after_s)
    assert proc.poll() is None, f"the command ended before the Ctrl-C: {proc.communicate()}"
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    if twice:
        time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"no exit 30 s after Ctrl-C: {err[-2000:]}")
    elapsed = time.monotonic() - sent
    deadline = time.monotonic() + 2.0
    while (left := _session_members(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.1)  # killed processes take a moment to be reaped
    assert not left, f"processes left behind: {left}"
    return proc.returncode, elapsed, out, err


@pytest.fixture(scope="module")
def event_log(tmp_path_factory) -> Path:
    import sim

    log = tmp_path_factory.mktemp("fit") / "events.csv"
    _, events = sim.simulate_with_events(sim.load_scenario("video"), 20_000, seed=7, event_log=True)
    events.to_csv(log, index=False)
    return log


# (command line, written at the end: the --out folder must not exist after an interrupt)
LONG = {
    # (the graph executor runs 40,000 replications of 3 points on a local Dask cluster in about 5 s: these
    # last well beyond the 7 s at which a running cluster is interrupted)
    "run": (["run", "graph_agentic_research", "--runs", "400000", "--out", "out"], True),
    "sweep": (["sweep", "graph_agentic_research", "--vary", "failures.crash.mtbf=1h,2h,4h", "--runs", "160000",
               "--out", "out", "--quiet"], False),
    "breakeven": (["breakeven", "video", "--vary", "failures.crash.mtbf=1h,2h,4h,8h", "--runs", "200000", "--out",
                   "out", "--quiet"], False),  # about 20 s: the Ctrl-C comes well before the end
    "fleet": (["fleet", "fleet_research", "--replications", "50", "--out", "out"], True),
    "report": (["report", "video", "--out", "out"], True),
    "audit": (["audit", "--out", "out"], True),
    "optimize": (["optimize", "video", "--runs", "40000", "--out", "out"], True),  # (4,000 runs: done in 6 s)
    "compare": (["compare", "video", "--runs", "200000", "--max-runs", "200000", "--out", "out"], True),
    "fit": (["fit", "EVENTS", "--strategy", "durable", "--out", "out/fitted.toml"], True),
}
WITH_WORKERS = {"run", "sweep", "breakeven", "report", "compare"}
ON_DASK = {"run", "sweep"}  # --scheduler local: a local Dask cluster (it starts in a few seconds)
DASK_RUNNING_S = 7.0


def _cases() -> list:
    cases = []
    for name in LONG:
        for workers in ([None, "2"] if name in WITH_WORKERS else [None]) + (["dask"] if name in ON_DASK else []):
            for when in (STARTUP_S, LOADING_S, SIMULATING_S) + ((DASK_RUNNING_S,) if workers == "dask" else ()):
                quick = name == "run" and workers is not None and when == SIMULATING_S
                marks = () if quick else (pytest.mark.slow,)
                cases.append(pytest.param(name, workers, when, marks=marks,
                                          id=f"{name}-{workers if workers == 'dask' else 'w' + workers if workers else 'serial'}-{when}s"))
    return cases


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="the process table is read from /proc")
@pytest.mark.parametrize(("name", "workers", "after_s"), _cases())
def test_ctrl_c_at_any_instant(name, workers, after_s, tmp_path, request):
    argv, written_at_end = LONG[name]
    if "EVENTS" in argv:
        log = request.getfixturevalue("event_log")
        argv = [str(log) if a == "EVENTS" else a for a in argv]
    if workers == "dask":
        # the DES engine: a cluster's start-up varies by seconds, and the graph executor could finish
        # these runs (``run``, ``sweep``: ON_DASK) before the Ctrl-C on a fast machine
        argv += ["--scheduler", "local", "--workers", "2", "--engine", "des"]
    elif workers:
        argv += ["--workers", workers]
    code, elapsed, out, err = _interrupt(argv, tmp_path, after_s)
    assert code == 130, (code, err[-2000:])
    assert elapsed < EXIT_WITHIN_S, f"exit {elapsed:.2f} s after Ctrl-C"
    lines = _without_progress(err)
    assert len(lines) == 1 and lines[0].startswith("interrupted: "), err[-2000:]
    assert "Traceback" not in err + out
    result = tmp_path / "out"
    if written_at_end:
        assert not result.exists() or not any(result.iterdir()), sorted(result.rglob("*"))
    else:
        assert not list(result.rglob(".lock"))


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="the process table is read from /proc")
@pytest.mark.parametrize("scheduler", [pytest.param(None, id="workers"), pytest.param("local", id="dask")])
def test_second_ctrl_c_forces_the_exit(scheduler, tmp_path):
    # the DES engine: the graph executor finished these runs on a local Dask cluster before the Ctrl-C
    argv = ["run", "graph_agentic_research", "--runs", "200000", "--workers", "2", "--engine", "des", "--out", "out"]
    if scheduler:
        argv += ["--scheduler", scheduler]
    code, elapsed, _, err = _interrupt(argv, tmp_path, SIMULATING_S + (3.0 if scheduler else 0.0), twice=True)
    assert code == 130 and elapsed < EXIT_WITHIN_S
    assert len(_without_progress(err)) == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_command_that_ignores_ctrl_c_is_ended_after_the_grace(tmp_path):
    """The first Ctrl-C raises KeyboardInterrupt; a command that swallows it is still ended."""
    script = tmp_path / "stubborn.py"
    script.write_text(
        "import argparse, time\n"
        "import sim.cli as cli\n"
        "def stubborn(args):\n"
        "    while True:\n"
        "        try:\n"
        "            time.sleep(10)\n"
        "        except KeyboardInterrupt:\n"
        "            pass\n"
        "def build(only=None, prog=None):\n"
        "    p = argparse.ArgumentParser()\n"
        "    sub = p.add_subparsers(dest='command')\n"
        "    sub.add_parser('x').set_defaults(handler=stubborn, interrupted='the stubborn command kept nothing')\n"
        "    return p\n"
        "cli.build_parser = build\n"
        "cli.entry()\n")
    proc = subprocess.Popen([sys.executable, str(script), "x"], stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    time.sleep(1.5)
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    elapsed = time.monotonic() - sent
    assert proc.returncode == 130
    assert 1.0 < elapsed < EXIT_WITHIN_S  # the grace, not at once and not never
    assert err.strip() == "interrupted: the stubborn command kept nothing"


def test_a_forced_exit_removes_what_is_being_written(tmp_path, monkeypatch):
    """The cleanups a forced exit runs: the temporary file of a write in flight, the lock and the
    folder a command created (sim.shutdown.run_cleanups, called by the second Ctrl-C)."""
    import sim.experiment.io as io
    from sim import shutdown
    from sim.experiment.outdir import FolderLock

    seen = []

    def forced_exit_during_the_rename(src, dst):
        seen.append(sorted(p.name for p in tmp_path.iterdir()))
        shutdown.run_cleanups()
        seen.append(sorted(p.name for p in tmp_path.iterdir()))
        raise KeyboardInterrupt

    monkeypatch.setattr(io.os, "replace", forced_exit_during_the_rename)
    with pytest.raises(KeyboardInterrupt):
        io.atomic_write_bytes(tmp_path / "runs.parquet", b"data")
    assert len(seen[0]) == 1 and seen[0][0].startswith(".runs.parquet.") and seen[1] == []
    monkeypatch.undo()
    lock = FolderLock(tmp_path / "new" / "out").acquire()
    assert (tmp_path / "new" / "out" / ".lock").exists()
    shutdown.run_cleanups()
    assert not (tmp_path / "new").exists()
    lock.release()  # nothing left to do


def test_a_ctrl_c_where_exceptions_are_ignored_still_ends_the_command(tmp_path):
    """A Ctrl-C that lands in a ``__del__`` (or a callback run at fork) raises KeyboardInterrupt
    where Python ignores exceptions: no "Exception ignored" traceback, the command still ends."""
    script = tmp_path / "deleting.py"
    script.write_text(
        "import argparse, time\n"
        "import sim.cli as cli\n"
        "class Slow:\n"
        "    def __del__(self):\n"
        "        time.sleep(0.2)\n"
        "def deleting(args):\n"
        "    while True:\n"
        "        Slow()\n"
        "def build(only=None, prog=None):\n"
        "    p = argparse.ArgumentParser()\n"
        "    sub = p.add_subparsers(dest='command')\n"
        "    sub.add_parser('x').set_defaults(handler=deleting, interrupted='nothing was kept')\n"
        "    return p\n"
        "cli.build_parser = build\n"
        "cli.entry()\n")
    proc = subprocess.Popen([sys.executable, str(script), "x"], stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    time.sleep(1.5)
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and time.monotonic() - sent < EXIT_WITHIN_S
    assert err.strip() == "interrupted: nothing was kept", err


def test_a_forced_exit_removes_open_temporary_folders(tmp_path):
    """A command stuck after Ctrl-C is ended after the grace; the temporary folders it had open
    (tempfile.TemporaryDirectory, such as those of sim validate) are removed all the same."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    script = tmp_path / "holding.py"
    script.write_text(
        "import argparse, tempfile, time\n"
        "import sim.cli as cli\n"
        "def holding(args):\n"
        "    with tempfile.TemporaryDirectory(prefix='sim-held-') as folder:\n"
        "        open(folder + '/data', 'w').write('x')\n"
        "        while True:\n"
        "            try:\n"
        "                time.sleep(10)\n"
        "            except KeyboardInterrupt:\n"
        "                pass\n"
        "def build(only=None, prog=None):\n"
        "    p = argparse.ArgumentParser()\n"
        "    sub = p.add_subparsers(dest='command')\n"
        "    sub.add_parser('x').set_defaults(handler=holding, interrupted='nothing was kept')\n"
        "    return p\n"
        "cli.build_parser = build\n"
        "cli.entry()\n")
    proc = subprocess.Popen([sys.executable, str(script), "x"], stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, "TMPDIR": str(scratch)})
    deadline = time.monotonic() + 20
    while not list(scratch.glob("sim-held-*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(scratch.glob("sim-held-*"))
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and err.strip() == "interrupted: nothing was kept"
    assert not list(scratch.iterdir())
