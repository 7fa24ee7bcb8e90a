"""Resources: a bound on --runs, and a memory estimate that refuses what cannot fit before running."""

from __future__ import annotations

import os

import pytest

import sim
import sim.experiment.resources as resources
from sim.cli import main
from sim.experiment.resources import MAX_RUNS, PEAK_FACTOR, ResourceError, check_runs


def test_runs_bound():
    check_runs(1)
    check_runs(MAX_RUNS)
    for bad in (0, -5, MAX_RUNS + 1):
        with pytest.raises(ResourceError, match="--runs"):
            check_runs(bad)


@pytest.mark.parametrize("command", ["run", "sweep", "compare"])
def test_huge_runs_refused_at_once(command, tmp_path, capsys):
    argv = [command, "video", "--runs", str(10 ** 10), "--out", str(tmp_path / "out")]
    if command == "sweep":
        argv += ["--vary", "failures.crash.mtbf=1h,2h"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "above the limit of 100,000,000" in err[0]
    assert not (tmp_path / "out").exists()


def test_available_memory_is_a_plausible_number():
    free = resources.available_memory_bytes()
    assert free is not None
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert 0 < free <= total


def test_pilot_bytes_per_row_match_the_full_table():
    """The pilot's bytes per row, measured on 200 runs, hold for a table 50 times larger."""
    sc = sim.load_scenario("video")
    pilot = resources.estimate(sc, 10_000, seed=3)
    df = sim.simulate(sc, 10_000, seed=3)
    assert pilot.rows == len(df)
    actual = df.memory_usage(deep=True).sum() / len(df)
    assert pilot.bytes_per_row == pytest.approx(actual, rel=0.05)
    assert pilot.peak_bytes == pytest.approx(PEAK_FACTOR * actual * len(df), rel=0.05)


def test_what_cannot_fit_is_refused_before_running(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(resources, "available_memory_bytes", lambda: 50_000_000)
    ran = []
    import sim.experiment.runner as runner

    real = runner._work
    monkeypatch.setattr(runner, "_work", lambda payload: ran.append(1) or real(payload))
    out = tmp_path / "out"
    assert main(["run", "video", "--runs", "300000", "--out", str(out), "--workers", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--runs 300,000: the runs table needs" in err[0] and "50 MB are available" in err[0]
    assert not ran and not out.exists()
    # the suggested --runs fits: its estimate is below the memory available
    fit = int(err[0].split("use --runs ")[1].split()[0].replace(",", ""))
    assert resources.estimate(sim.load_scenario("video"), fit).peak_bytes <= 50_000_000 * 1.05


def test_streaming_sweeps_are_not_refused(tmp_path, monkeypatch, capsys):
    """sim sweep keeps no runs table in memory: the memory check does not apply to it."""
    monkeypatch.setattr(resources, "available_memory_bytes", lambda: 1)
    # 2 points x 2 strategies x 100,000 runs: above the size from which run and compare are checked
    assert 100_000 * 2 >= resources.CHECK_FROM_ROWS
    argv = ["sweep", "video", "--vary", "failures.crash.mtbf=1h,2h", "--runs", "100000", "--out",
            str(tmp_path / "out"), "--quiet", "--workers", "1"]
    assert main(argv) == 0


def test_fleet_refuses_tables_that_cannot_fit(tmp_path, capsys, monkeypatch):
    """sim fleet keeps one row per workflow: a pilot replication sizes it before anything runs."""
    monkeypatch.setattr(resources, "available_memory_bytes", lambda: 1_000_000)
    out = tmp_path / "out"
    assert main(["fleet", "fleet_research", "--runs", str(resources.FLEET_CHECK_FROM), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the fleet's workflow table needs" in err[0] and "1 MB are available" in err[0]
    assert not out.exists()
    assert main(["fleet", "fleet_research", "--runs", str(MAX_RUNS + 1), "--out", str(out)]) == 2
    assert "above the limit" in capsys.readouterr().err


def test_the_fleet_estimate_scales_one_replication():
    sc = sim.load_scenario("fleet_research")
    peak = resources.check_fleet_memory(sc, 200, seed=4)
    workflows, fleet = sim.simulate_fleet(sc, 1, seed=4)
    one = workflows.memory_usage(deep=True).sum() + fleet.memory_usage(deep=True).sum()
    assert peak == pytest.approx(PEAK_FACTOR * 200 * one, rel=1e-9)
    assert resources.check_fleet_memory(sc, resources.FLEET_CHECK_FROM - 1) is None
