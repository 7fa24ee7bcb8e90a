"""Issue 15: numbers right at the edges, and output folders that cannot be corrupted."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.calibrate.report import _dur_row, _num_row
from sim.cli import main
from sim.experiment.outdir import FolderLock
from sim.experiment.store import SKETCH_ALPHA, Aggregate
from sim.stats import bounded_interval

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT / "experiments" / "scenarios" / "video.toml"
FLEET = ROOT / "experiments" / "scenarios" / "fleet_research.toml"
PY = [sys.executable, "-m", "sim"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _frame(x: np.ndarray) -> pd.DataFrame:
    n = len(x)
    return pd.DataFrame({"strategy": ["a"] * n + ["b"] * n, "run": list(range(n)) * 2,
                         "x": np.concatenate([x, x])})


# --------------------------------------------------------------------------- 1. quantiles


@pytest.mark.parametrize("value", [1095.0, 0.0, 1e-7, 12345.678, -3.5])
def test_a_constant_column_has_the_constant_as_every_quantile(value):
    agg = Aggregate.from_runs(_frame(np.full(50, value)), ["a", "b"], ["x"])
    row = agg.summary().iloc[0]
    assert row["p50"] == row["p95"] == row["p99"] == value


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.floats(-1e6, 1e6, allow_subnormal=False), st.floats(1e-6, 1e9)),
                min_size=1, max_size=200), st.integers(1, 4))
def test_sketch_quantiles_are_within_the_documented_bound(values, chunks):
    """|q̂ − q| ≤ α·max(|x_(i)|, |x_(i+1)|) against numpy's linear-interpolation quantile, inside [min, max]."""
    x = np.array(values)
    parts = np.array_split(np.arange(len(x)), chunks)
    agg = None
    for idx in parts:
        if len(idx) == 0:
            continue
        df = pd.DataFrame({"strategy": ["a"] * len(idx) + ["b"] * len(idx), "run": list(idx) * 2,
                           "x": np.concatenate([x[idx], x[idx]])})
        part = Aggregate.from_runs(df, ["a", "b"], ["x"])
        agg = part if agg is None else agg.merge(part)
    row = agg.summary().iloc[0]
    s = np.sort(x)
    for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        exact = float(np.quantile(x, q))
        rank = q * (len(x) - 1)
        lo, hi = s[math.floor(rank)], s[math.ceil(rank)]
        bound = SKETCH_ALPHA * max(abs(lo), abs(hi)) * (1 + 1e-9) + 1e-12
        assert abs(row[name] - exact) <= bound, (name, row[name], exact)
        assert s[0] <= row[name] <= s[-1]


def test_sweep_quantiles_of_a_failure_free_column_equal_run(tmp_path):
    """The issue's case: useful_compute_s is exactly 1095 s in every run; the sweep said 1091.21."""
    out = tmp_path / "sw"
    assert main(["sweep", str(VIDEO), "--runs", "300", "--out", str(out), "--quiet"]) == 0
    summary = pd.read_csv(out / "summary.csv")
    useful = summary[summary["metric"] == "useful_compute_s"]
    assert (useful[["p50", "p95", "p99"]].to_numpy() == 1095.0).all()
    makespan = summary[summary["metric"] == "makespan_s"]
    assert (makespan["p50"] >= 1095.0).all()


# --------------------------------------------------------------------------- 2. intervals


def test_transformed_intervals_by_hand():
    t2 = 4.302652729911275  # t_{0.975, 2}
    low, high = bounded_interval(4363.0, 1280.0, 3, (0.0, math.inf))
    assert (low, high) == pytest.approx((4363 * math.exp(-t2 * 1280 / 4363), 4363 * math.exp(t2 * 1280 / 4363)))
    low, high = bounded_interval(0.85, 0.04, 3, (0.0, 1.0))
    z, w = math.log(0.85 / 0.15), t2 * 0.04 / (0.85 * 0.15)
    assert (low, high) == pytest.approx((1 / (1 + math.exp(-(z - w))), 1 / (1 + math.exp(-(z + w)))))
    # far from the bound: the plain t interval
    assert bounded_interval(100.0, 1.0, 3, (0.0, math.inf)) == pytest.approx((100 - t2, 100 + t2))


def test_proportion_interval_is_wilsons_and_not_empty_at_zero():
    from sim.stats.bounds import proportion_interval

    z2 = 1.959963984540054 ** 2
    share, low, high = proportion_interval(0, 5000)
    assert (share, low) == (0.0, 0.0) and high == pytest.approx(z2 / (5000 + z2))  # Wilson's upper end at 0 of n
    share, low, high = proportion_interval(30, 100)  # Wilson by hand
    centre, half = (0.3 + z2 / 200) / (1 + z2 / 100), (z2 ** 0.5 / (1 + z2 / 100)) * math.sqrt(0.3 * 0.7 / 100 + z2 / 4e4)
    assert (share, low, high) == pytest.approx((0.3, centre - half, centre + half))


def test_three_replication_fleet_intervals_respect_their_bounds(tmp_path, capsys):
    out = tmp_path / "fleet"
    assert main(["fleet", str(FLEET), "--replications", "3", "--seed", "1", "--out", str(out), "--quiet"]) == 0
    text, err = capsys.readouterr()
    assert "only 3 replications" in err
    summary = pd.read_csv(out / "summary.csv")
    counts = summary[summary["metric"].isin(["calls", "provider_429s", "crashes", "deploy_kills", "completed",
                                              "queue_wait_mean_s", "latency_p99_s", "total_cost_usd"])]
    assert len(counts) and (counts["ci_low"] >= 0).all()
    util = summary[summary["metric"] == "worker_utilisation"]
    assert len(util) and (util["ci_low"] >= 0).all() and (util["ci_high"] <= 1).all()
    # the one sign convention (sim.analysis.saving): the saving of durable over restart = restart − durable
    assert "paired saving of durable over restart = restart − durable" in text and "nan" not in text
    paired = pd.read_csv(out / "paired.csv")
    calls = paired[(paired["a"] == "durable") & (paired["b"] == "restart") & (paired["metric"] == "calls")].iloc[0]
    fleet = pd.read_parquet(out / "fleet.parquet")
    d = (fleet[fleet["strategy"] == "restart"].sort_values("run")["calls"].to_numpy()
         - fleet[fleet["strategy"] == "durable"].sort_values("run")["calls"].to_numpy())
    assert calls["kind"] == "saving" and calls["definition"] == "restart - durable"
    assert calls["advantage"] == pytest.approx(d.mean())


def test_fit_tables_say_na_instead_of_nan():
    from sim.calibrate.fits import Estimate

    row = _dur_row("x", Estimate(68.2, 60.0, math.nan))
    assert "nan" not in " ".join(row) and "n/a" in " ".join(row)
    row = _num_row("y", Estimate(math.nan, math.nan, math.nan))
    assert "nan" not in " ".join(row)


# --------------------------------------------------------------------------- 3. exit codes


def test_runs_that_never_complete_warn_and_exit_3(tmp_path, capsys):
    bad = tmp_path / "never.toml"
    bad.write_text(VIDEO.read_text().replace('mtbf = "4h"', 'mtbf = "2m"') + '\n[simulation]\nmax_time = "2h"\n')
    rc = main(["run", str(bad), "--runs", "20", "--out", str(tmp_path / "o"), "--quiet", "--engine", "des"])
    err = capsys.readouterr().err
    assert rc == 3
    assert "did not complete: cut at simulation.max_time (2h)" in err and "restart: 20 of 20 replications (100.0%)" in err


def test_a_stopping_rule_not_reached_exits_3(tmp_path, capsys):
    rc = main(["sweep", str(VIDEO), "--runs", "200", "--chunk-size", "100", "--target-half-width", "0.001%",
               "--max-runs", "400", "--out", str(tmp_path / "o"), "--quiet"])
    assert rc == 3
    assert "NOT reached" in capsys.readouterr().err


def test_ctrl_c_in_run_says_nothing_was_written(tmp_path, capsys, monkeypatch):
    import sim.commands.run as run_cmd

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_cmd, "simulate_parallel", interrupted)
    out = tmp_path / "o"
    assert main(["run", str(VIDEO), "--out", str(out), "--quiet"]) == 130
    assert "interrupted: nothing was written" in capsys.readouterr().err
    assert not out.exists()


# --------------------------------------------------------------------------- 4. defaults


def test_defaults_retry_applies_to_the_restart_strategy():
    from sim.model.scenario import scenario_from_dict

    raw = {"name": "x", "defaults": {"retry": {"maximum_attempts": 3, "initial_interval": "5s"}},
           "steps": [{"name": "a", "kind": "gpu", "price_per_hour": 1.0, "duration": "1m"}],
           "strategies": {"restart": {}, "rip": {"kind": "retry_in_place", "retry": {"initial_interval": "2s"}},
                          "durable": {}}}
    sc = scenario_from_dict(raw)
    assert sc.strategies["restart"].retry.maximum_attempts == 3
    assert sc.strategies["restart"].retry.initial_interval_s == 5.0
    assert sc.strategies["rip"].retry.maximum_attempts == 3 and sc.strategies["rip"].retry.initial_interval_s == 2.0


# --------------------------------------------------------------------------- 5. output folders


def _sweep_cmd(out: Path, mtbf: str = "1h,2h", runs: int = 400) -> list[str]:
    return [*PY, "sweep", str(VIDEO), "--vary", f"failures.crash.mtbf={mtbf}", "--runs", str(runs),
            "--chunk-size", "100", "--engine", "des", "--out", str(out), "--quiet"]


@pytest.mark.parametrize("command", ["run", "optimize"])
def test_a_second_command_on_a_locked_folder_is_refused_by_name(tmp_path, capsys, command):
    out = tmp_path / "o"
    with FolderLock(out):
        rc = main([command, str(VIDEO), "--runs", "5", "--out", str(out), *(["--quiet"] if command == "run" else [])])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert f"in use by process {os.getpid()}" in err[0]
    assert not out.exists()  # the lock's folder was removed with it


@pytest.mark.slow
@pytest.mark.parametrize("second", ["3h,4h", "1h,2h"], ids=["different", "identical"])
def test_two_sweeps_started_together_into_one_folder(tmp_path, second):
    """One is refused with one line (the lock, or the other's manifest); the other's tables equal a clean run."""
    out, clean = tmp_path / "shared", tmp_path / "clean"
    p1 = subprocess.Popen(_sweep_cmd(out, "1h,2h"), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p2 = subprocess.Popen(_sweep_cmd(out, second), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    r1, r2 = (p1.wait(300), p1.stderr.read()), (p2.wait(300), p2.stderr.read())
    codes = sorted([r1[0], r2[0]])
    if second == "1h,2h" and codes == [0, 0]:  # the second started after the first had finished: it reused it
        assert "chunks run, 8 reused" in (p1.stdout.read() + p2.stdout.read())
    else:
        assert codes == [0, 2], (r1, r2)
        loser = r1 if r1[0] == 2 else r2
        assert len(loser[1].strip().splitlines()) == 1 and ("in use by " in loser[1]
                                                             or "holds a different sweep" in loser[1])
    winner_mtbf = "1h,2h" if r1[0] == 0 else second
    assert subprocess.run(_sweep_cmd(clean, winner_mtbf), env=ENV, capture_output=True).returncode == 0
    for name in ("summary.csv", "paired.csv", "points.csv"):
        assert (out / name).read_bytes() == (clean / name).read_bytes()


def test_truncated_and_foreign_chunks_are_recomputed(tmp_path, capsys):
    out, clean = tmp_path / "o", tmp_path / "clean"
    argv = ["sweep", str(VIDEO), "--vary", "failures.crash.mtbf=1h,2h", "--runs", "300", "--chunk-size", "100",
            "--engine", "des", "--quiet"]
    assert main([*argv, "--out", str(clean)]) == 0
    shutil.copytree(clean, out)
    chunks = out / "chunks"
    first = chunks / "p00000-c0000000.npz"
    first.write_bytes(first.read_bytes()[: len(first.read_bytes()) // 2])  # truncated
    shutil.copy(chunks / "p00001-c0000001.npz", chunks / "p00000-c0000001.npz")  # foreign (other point)
    shutil.copy(out / "runs" / "p00001-c0000001.parquet", out / "runs" / "p00000-c0000001.parquet")
    (out / "runs" / "p00001-c0000002.parquet").write_bytes(b"not parquet")  # damaged rows
    capsys.readouterr()
    assert main([*argv, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "3 chunks run, 3 reused" in captured.out
    assert "p00000-c0000000.npz: damaged (checksum mismatch" in captured.err
    assert "p00000-c0000001.npz: holds point 1 chunk 1, not point 0 chunk 1" in captured.err
    assert "p00001-c0000002.npz: its run rows" in captured.err
    for name in ("summary.csv", "paired.csv"):
        assert (out / name).read_bytes() == (clean / name).read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("where", ["below_file", "proc", "unwritable"])
def test_an_impossible_out_fails_before_simulating(tmp_path, where):
    regular = tmp_path / "file"
    regular.write_text("x")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    # root may write anywhere a permission is concerned: it gets a folder no process can write (sysfs)
    unwritable = Path("/sys/kernel/sim-out") if os.getuid() == 0 else locked / "out"
    out = {"below_file": regular / "out", "proc": Path("/proc/sim-out"), "unwritable": unwritable}[where]
    started = time.perf_counter()
    for cmd in (["run", str(VIDEO), "--runs", "200000"], ["sweep", str(VIDEO), "--runs", "200000"]):
        r = subprocess.run([*PY, *cmd, "--out", str(out), "--quiet", "--engine", "des"], env=ENV,
                           capture_output=True, text=True, cwd=tmp_path, timeout=120)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1, r.stderr
        assert lines[0].startswith(f"error: --out {out}") and "Traceback" not in r.stderr
        assert r.stdout == ""
    assert time.perf_counter() - started < 30  # 200,000 DES replications would take far longer
    assert not (locked / "out").exists()


@pytest.mark.slow
def test_workers_exit_when_their_parent_is_killed(tmp_path):
    proc = subprocess.Popen(_sweep_cmd(tmp_path / "o", "1h,2h,3h,4h", runs=200000)[:-1] + ["--quiet", "--workers", "2"],
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parent = psutil.Process(proc.pid)
    deadline = time.time() + 60
    children: list[psutil.Process] = []
    while time.time() < deadline and len(children) < 2:
        time.sleep(0.2)
        children = parent.children(recursive=True)
    assert len(children) >= 2, "the workers did not start"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    time.sleep(3)
    alive = [c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"workers still running: {alive}"


def test_experiment_tables_have_no_negative_lower_bounds():
    """deploy_frequency's summary (3 skewed replications): non-negative metrics keep ci_low >= 0."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("deploy_frequency", ROOT / "experiments" / "deploy_frequency.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fleet = pd.DataFrame({"deploy_every_h": 1.0, "strategy": "restart", "run": [0, 1, 2],
                          **{m: [0.001, 0.002, 0.9] for m in module.METRICS}})
    fleet["wasted_share"] = [0.01, 0.02, 0.95]
    summary = module.summarise(fleet)
    for m in module.METRICS:
        assert summary[f"{m}_ci_low"].iloc[0] > 0, m
    assert summary["wasted_share_ci_high"].iloc[0] < 1


@pytest.mark.parametrize("existing", [False, True], ids=["new-folder", "earlier-files"])
def test_a_command_interrupted_while_writing_its_results_leaves_none_of_them(tmp_path, existing):
    """A command that writes at its end (``ResultsFolder(at_end=True)``, every command but the
    resumable sweeps) and is interrupted half-way through its writing: the files and folders it
    had added are removed, its marker and lock too, and what was there before stays."""
    from sim.experiment.outdir import MARKER_NAME, ResultsFolder

    out = tmp_path / "o"
    if existing:
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    with pytest.raises(KeyboardInterrupt), ResultsFolder(out, "optimize", "id"):
        (out / "recommended.toml").write_text("x")
        (out / "figures").mkdir()
        (out / "figures" / "a.png").write_bytes(b"x")
        raise KeyboardInterrupt
    assert (sorted(os.listdir(out)) == ["notes.txt"]) if existing else not out.exists()
    # a resumable command keeps what it wrote
    with pytest.raises(KeyboardInterrupt), ResultsFolder(out, "breakeven", "id", at_end=False):
        (out / "chunk-0.parquet").write_text("x")
        raise KeyboardInterrupt
    assert {"chunk-0.parquet", MARKER_NAME} <= set(os.listdir(out))
