"""sim.experiment.runner: chunking, identical results on every backend, streaming summaries, stopping rule."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim import stats
from sim.experiment.points import build_points, parse_vary
from sim.experiment.runner import (
    ChunkTask,
    RunnerError,
    StoppingRule,
    default_workers,
    plan_chunks,
    run_sweep,
)
from sim.experiment.store import METRICS, SKETCH_ALPHA

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "experiments" / "scenarios" / "research_paper.toml"
VIDEO = ROOT / "experiments" / "scenarios" / "video.toml"


@pytest.fixture(scope="module")
def video_points():
    return build_points(sim.load_scenario(VIDEO), [parse_vary("failures.crash.mtbf=1h,6h")])


def test_plan_chunks_cover_every_run_once():
    tasks = plan_chunks(n_points=2, runs=2500, chunk_size=1000)
    assert tasks == [
        ChunkTask(0, 0, 0, 1000), ChunkTask(0, 1, 1000, 1000), ChunkTask(0, 2, 2000, 500),
        ChunkTask(1, 0, 0, 1000), ChunkTask(1, 1, 1000, 1000), ChunkTask(1, 2, 2000, 500),
    ]
    later = plan_chunks(1, 3000, 1000, first_chunk=2)
    assert later == [ChunkTask(0, 2, 2000, 1000)]
    with pytest.raises(RunnerError):
        plan_chunks(1, 10, 0)


def test_default_workers_depend_on_the_amount_of_work():
    assert default_workers(100) == 1
    assert default_workers(10**6) >= 1


def test_rows_do_not_depend_on_chunk_size(video_points):
    a = run_sweep(video_points, 300, 5, chunk_size=300, collect_runs=True, workers=1)
    b = run_sweep(video_points, 300, 5, chunk_size=70, collect_runs=True, workers=1)
    pd.testing.assert_frame_equal(a.runs, b.runs, check_exact=True)
    # the merge order differs, so sums may differ in the last bits; sketches merge exactly
    pd.testing.assert_frame_equal(a.summary, b.summary, rtol=1e-10)
    for q in ("p50", "p95", "p99"):
        assert a.summary[q].equals(b.summary[q])


def _results(points, **backend):
    return run_sweep(points, 600, 9, chunk_size=150, collect_runs=True, **backend)


def test_serial_and_two_processes_are_identical(video_points):
    serial = _results(video_points, workers=1)
    procs = _results(video_points, workers=2)
    assert serial.backend == "serial" and procs.backend == "processes" and procs.workers == 2
    pd.testing.assert_frame_equal(serial.runs, procs.runs, check_exact=True)
    pd.testing.assert_frame_equal(serial.summary, procs.summary, check_exact=True)
    pd.testing.assert_frame_equal(serial.paired, procs.paired, check_exact=True)


@pytest.mark.slow
def test_dask_local_cluster_is_identical(video_points):
    pytest.importorskip("distributed")
    serial = _results(video_points, workers=1)
    dask = _results(video_points, scheduler="local", workers=2)
    assert dask.backend == "dask" and dask.workers == 2
    pd.testing.assert_frame_equal(serial.runs, dask.runs, check_exact=True)
    pd.testing.assert_frame_equal(serial.summary, dask.summary, check_exact=True)
    pd.testing.assert_frame_equal(serial.paired, dask.paired, check_exact=True)


def test_streaming_summary_matches_stats_on_the_rows(video_points):
    result = run_sweep(video_points, 1200, 21, chunk_size=250, collect_runs=True, workers=1)
    ref = stats.summarize(result.runs, metrics=list(METRICS), by=("point", "strategy"))
    mine = result.summary.merge(ref, on=["point", "strategy", "metric"], suffixes=("", "_ref"))
    assert len(mine) == len(ref) == 2 * 2 * len(METRICS)
    assert (mine["n"] == mine["n_ref"]).all()
    for col in ("mean", "ci_low", "ci_high"):
        np.testing.assert_allclose(mine[col], mine[col + "_ref"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(mine["se"], mine["se_ref"], rtol=1e-6, atol=1e-12)
    for q in ("p50", "p95", "p99"):
        np.testing.assert_allclose(mine[q], mine[q + "_ref"], rtol=SKETCH_ALPHA, atol=1e-12)
    ref_p = stats.paired_differences(result.runs, "durable", "restart", metrics=list(METRICS), by=("point",))
    mine_p = result.paired.merge(ref_p, on=["point", "a", "b", "metric"], suffixes=("", "_ref"))
    assert len(mine_p) == len(ref_p)
    for col in ("mean_diff", "mean_a", "mean_b", "ci_low", "ci_high", "rel_diff", "rel_ci_low", "rel_ci_high"):
        np.testing.assert_allclose(mine_p[col], mine_p[col + "_ref"], rtol=1e-9, atol=1e-12)


def test_stopping_rule_reaches_a_relative_target():
    points = build_points(sim.load_scenario(PAPER), [parse_vary("failures.rate_limit.probability=0.05,0.2")])
    rule = StoppingRule(metric="total_cost_usd", target=0.005, relative=True, min_runs=200, max_runs=20_000)
    result = run_sweep(points, 0, 4, chunk_size=200, collect_runs=True, workers=1, stopping=rule)
    out = result.stopping
    assert out.met and out.rounds >= 2
    assert out.runs == result.runs_per_point and out.runs % 200 == 0 and 200 < out.runs < 20_000
    # checked independently on the rows: every point × strategy meets the target, and the
    # run count before the last round did not
    s = stats.summarize(result.runs, metrics=["total_cost_usd"], by=("point", "strategy"))
    half = (s["ci_high"] - s["ci_low"]) / 2
    assert (half <= 0.005 * s["mean"].abs()).all()
    assert (s["n"] == out.runs).all()
    assert "reached" in out.message()


def test_stopping_rule_on_a_paired_difference_and_max_runs():
    points = build_points(sim.load_scenario(PAPER), [parse_vary("failures.rate_limit.probability=0.12")])
    rule = StoppingRule(metric="total_cost_usd", target=1e-6, relative=False, paired=("durable", "restart"),
                        min_runs=100, max_runs=400)
    result = run_sweep(points, 0, 4, chunk_size=100, workers=1, stopping=rule, collect_runs=True)
    assert not result.stopping.met and result.stopping.runs == 400
    assert "NOT reached" in result.stopping.message()
    ref = stats.paired_differences(result.runs, "durable", "restart", metrics=["total_cost_usd"])
    row = result.stopping.points.iloc[0]
    assert row["half_width"] == pytest.approx((ref["ci_high"] - ref["ci_low"]).iloc[0] / 2, rel=1e-9)


def test_stopping_rule_errors():
    assert StoppingRule.parse_target("2%") == (0.02, True)
    assert StoppingRule.parse_target("0.001") == (0.001, False)
    for bad in ("x", "-1", "0%"):
        with pytest.raises(RunnerError):
            StoppingRule.parse_target(bad)
    points = build_points(sim.load_scenario(PAPER), [])
    with pytest.raises(RunnerError, match="not a result column"):
        run_sweep(points, 0, stopping=StoppingRule(metric="cost", target=0.1), workers=1)
    with pytest.raises(RunnerError, match="use durable - restart"):
        run_sweep(points, 0, stopping=StoppingRule(metric="total_cost_usd", target=0.1,
                                                   paired=("restart", "durable")), workers=1)


def test_runner_argument_errors(video_points):
    with pytest.raises(RunnerError):
        run_sweep(video_points, 0, workers=1)
    with pytest.raises(RunnerError):
        run_sweep(video_points, 10, seed=-1, workers=1)
    with pytest.raises(RunnerError):
        run_sweep(video_points, 10, engine="warp", workers=1)
    with pytest.raises(RunnerError):
        run_sweep([], 10, workers=1)


def test_library_is_silent(video_points, capsys):
    run_sweep(video_points, 50, 1, workers=1, quiet=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""  # stderr is not a terminal here


def test_run_count_and_strategy_order(video_points):
    result = run_sweep(video_points, 40, 2, chunk_size=15, collect_runs=True, workers=1)
    df = result.runs
    assert len(df) == 2 * 2 * 40
    first = df[df["point"] == 0]
    assert first["strategy"].tolist() == ["restart"] * 40 + ["durable"] * 40
    assert first["run"].tolist() == list(range(40)) * 2
    assert math.isclose(result.summary["n"].min(), 40)


def test_default_chunk_size_follows_the_engine(video_points, tmp_path):
    """Fast-path sweeps default to FAST_CHUNK_SIZE; the DES engine (asked for, or needed by a
    heartbeat strategy) and stopping rules keep DEFAULT_CHUNK_SIZE; the store records the size used."""
    import json

    from sim.cli import main
    from sim.experiment.runner import DEFAULT_CHUNK_SIZE, FAST_CHUNK_SIZE, default_chunk_size

    assert default_chunk_size(video_points) == FAST_CHUNK_SIZE
    assert default_chunk_size(video_points, "des") == DEFAULT_CHUNK_SIZE
    rule = StoppingRule(metric="makespan_s", target=0.01, relative=True, min_runs=100, max_runs=2000)
    assert default_chunk_size(video_points, stopping=rule) == DEFAULT_CHUNK_SIZE
    raw = sim.load_scenario(VIDEO).raw
    raw["strategies"]["hb"] = {"kind": "heartbeat", "every": "1m"}
    hb = build_points(sim.scenario_from_dict(raw, file="hb.toml", base_dir=None), [])
    assert default_chunk_size(hb) == DEFAULT_CHUNK_SIZE
    out = tmp_path / "sweep"
    assert main(["sweep", str(VIDEO), "--runs", "30", "--workers", "1", "--quiet", "--out", str(out)]) == 0
    assert json.loads((out / "manifest.json").read_text())["identity"]["chunk_size"] == FAST_CHUNK_SIZE
