"""Ctrl-C: exit code 130, and a message that is true for each command (what was kept)."""

from __future__ import annotations

from pathlib import Path

import pytest

import sim.experiment.runner as runner
from sim.cli import main

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT / "experiments" / "scenarios" / "video.toml"
FLEET = ROOT / "experiments" / "scenarios" / "fleet_research.toml"


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
    err = capsys.readouterr().err.strip().splitlines()
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
