"""sim.experiment.store: aggregates and sketches, atomic chunks, resume after an interruption, manifests."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from sim.cli import main
from sim.experiment.points import build_points, parse_vary, sweep_spec
from sim.experiment.runner import run_sweep
from sim.experiment.store import (
    SKETCH_ALPHA,
    Aggregate,
    StoreError,
    SweepStore,
    _codes,
    _sketch_counts,
    _sketch_quantile,
    _slot_keys,
)

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "experiments" / "scenarios" / "research_paper.toml"
VIDEO = ROOT / "experiments" / "scenarios" / "video.toml"
VARY = ["failures.crash.mtbf=1h,6h"]


def _points(path=VIDEO, vary=VARY):
    varies = [parse_vary(v) for v in vary]
    return build_points(sim.load_scenario(path), varies), sweep_spec(varies)


def _frame(values_a, values_b):
    n = len(values_a)
    rows = []
    for label, values in (("restart", values_b), ("durable", values_a)):
        rows.append(pd.DataFrame({"strategy": label, "run": np.arange(n), "x": np.asarray(values, float)}))
    return pd.concat(rows, ignore_index=True)


# --------------------------------------------------------------------------- aggregates


def test_chunked_merge_equals_the_whole_and_survives_bytes():
    rng = np.random.default_rng(3)
    a = rng.lognormal(0, 1, 1000)
    b = a * 1.1 + rng.normal(0, 0.01, 1000)
    df = _frame(a, b)
    whole = Aggregate.from_runs(df, ["restart", "durable"], ["x"])
    merged = None
    for lo in range(0, 1000, 137):
        part = df[(df["run"] >= lo) & (df["run"] < lo + 137)]
        agg = Aggregate.from_bytes(Aggregate.from_runs(part, ["restart", "durable"], ["x"]).to_bytes())
        merged = agg if merged is None else merged.merge(agg)
    s, w = merged.summary(), whole.summary()
    np.testing.assert_allclose(s[["mean", "std", "se", "ci_low", "ci_high"]], w[["mean", "std", "se", "ci_low", "ci_high"]],
                               rtol=1e-12)
    assert s[["p50", "p95", "p99"]].equals(w[["p50", "p95", "p99"]])  # integer counts: exact
    p, pw = merged.paired(), whole.paired()
    np.testing.assert_allclose(p.select_dtypes("number"), pw.select_dtypes("number"), rtol=1e-10)
    # hand check of the paired mean and the relative difference
    row = p.iloc[0]
    assert row["a"] == "durable" and row["b"] == "restart"
    assert row["mean_diff"] == pytest.approx(np.mean(a - b), rel=1e-12)
    assert row["rel_diff"] == pytest.approx(a.mean() / b.mean() - 1, rel=1e-10)
    assert row["std_diff"] == pytest.approx(np.std(a - b, ddof=1), rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=300),
       st.sampled_from([0.0, 0.25, 0.5, 0.95, 0.99, 1.0]))
def test_sketch_quantiles_are_within_the_relative_accuracy(values, q):
    x = np.array(values)
    codes, counts = np.unique(_codes(x), return_counts=True)
    got = _sketch_quantile(codes, counts, q, integer=False)
    xs = np.sort(x)
    rank = q * (len(xs) - 1)
    lo, hi = int(np.floor(rank)), int(np.ceil(rank))
    # each of the two order statistics is within α; so is their interpolation when they share a sign
    lo_v, hi_v = xs[lo], xs[hi]
    frac = rank - lo
    bound = SKETCH_ALPHA * ((1 - frac) * abs(lo_v) + frac * abs(hi_v)) + 1e-12
    assert abs(got - np.quantile(x, q)) <= bound * (1 + 1e-9)


def test_integer_quantiles_are_exact_and_memory_is_bounded():
    rng = np.random.default_rng(0)
    small = rng.integers(0, 60, 5000).astype(float)
    codes, counts = np.unique(_codes(small), return_counts=True)
    for q in (0.5, 0.95, 0.99):
        assert _sketch_quantile(codes, counts, q, integer=True) == np.quantile(small, q)
    # buckets are set by the value range, not by the number of values
    big = rng.lognormal(3, 1, 200_000)
    assert np.unique(_codes(big)).size < 1500
    assert np.unique(_codes(big[:2000])).size > 300


# --------------------------------------------------------------------------- folder


def test_resume_after_keyboard_interrupt_gives_the_same_tables(tmp_path):
    points, spec = _points()
    clean = run_sweep(points, 600, 7, chunk_size=100, out=tmp_path / "clean", spec=spec, workers=1)
    seen = []

    def stop_after_three(task):
        seen.append(task)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(points, 600, 7, chunk_size=100, out=tmp_path / "cut", spec=spec, workers=1,
                  on_chunk=stop_after_three)
    assert len(list((tmp_path / "cut" / "chunks").glob("*.npz"))) == 3
    assert not (tmp_path / "cut" / "summary.parquet").exists()
    again = run_sweep(points, 600, 7, chunk_size=100, out=tmp_path / "cut", spec=spec, workers=1)
    assert again.chunks_reused == 3 and again.chunks_run == 12 - 3
    for name in ("summary", "paired"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "cut" / f"{name}.parquet"),
                                      pd.read_parquet(tmp_path / "clean" / f"{name}.parquet"), check_exact=True)
    pd.testing.assert_frame_equal(again.read_runs(), clean.read_runs(), check_exact=True)
    # a third run reuses everything
    third = run_sweep(points, 600, 7, chunk_size=100, out=tmp_path / "cut", spec=spec, workers=1)
    assert third.chunks_run == 0 and third.chunks_reused == 12


@pytest.mark.slow
def test_killed_cli_sweep_resumes_to_the_uninterrupted_result(tmp_path, capsys):
    args = ["sweep", str(PAPER), "--vary", "failures.rate_limit.probability=0.05,0.1,0.2", "--runs", "3000",
            "--seed", "5", "--chunk-size", "100", "--workers", "1", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cut = tmp_path / "cut"
    proc = subprocess.Popen([sys.executable, "-m", "sim", *args, "--out", str(cut)], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if len(list((cut / "chunks").glob("*.npz"))) >= 5 if (cut / "chunks").exists() else False:
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    done = len(list((cut / "chunks").glob("*.npz")))
    assert 5 <= done < 90, f"the sweep was interrupted part-way ({done} chunks of 90)"
    assert not (cut / "summary.parquet").exists()
    assert main([*args, "--out", str(cut)]) == 0, capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "clean")]) == 0, capsys.readouterr().err
    for name in ("summary", "paired"):
        pd.testing.assert_frame_equal(pd.read_parquet(cut / f"{name}.parquet"),
                                      pd.read_parquet(tmp_path / "clean" / f"{name}.parquet"), check_exact=True)
    assert len(list((cut / "runs").glob("*.parquet"))) == 90


def test_a_changed_scenario_is_refused(tmp_path):
    scenario_file = tmp_path / "video.toml"
    shutil.copy(VIDEO, scenario_file)
    out = tmp_path / "out"
    points, spec = _points(scenario_file)
    run_sweep(points, 50, 1, chunk_size=25, out=out, spec=spec, workers=1)
    scenario_file.write_text(VIDEO.read_text().replace('restart_time = "20s"', 'restart_time = "25s"', 1))
    changed, spec2 = _points(scenario_file)
    with pytest.raises(StoreError, match=r"different sweep \(changed: scenario\).*--overwrite"):
        run_sweep(changed, 50, 1, chunk_size=25, out=out, spec=spec2, workers=1)
    with pytest.raises(StoreError, match="changed: runs"):
        run_sweep(points, 60, 1, chunk_size=25, out=out, spec=spec, workers=1)
    with pytest.raises(StoreError, match="changed: seed"):
        run_sweep(points, 50, 2, chunk_size=25, out=out, spec=spec, workers=1)
    other, spec3 = _points(scenario_file, ["failures.crash.mtbf=1h,7h"])
    with pytest.raises(StoreError, match="changed: scenario, sweep"):
        run_sweep(other, 50, 1, chunk_size=25, out=out, spec=spec3, workers=1)
    fresh = run_sweep(changed, 50, 1, chunk_size=25, out=out, spec=spec2, workers=1, overwrite=True)
    assert fresh.chunks_run == 4 and fresh.chunks_reused == 0


def test_a_foreign_folder_is_never_used_or_deleted(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    points, spec = _points()
    for overwrite in (False, True):
        with pytest.raises(StoreError, match="not a sweep folder"):
            run_sweep(points, 20, 1, out=folder, spec=spec, workers=1, overwrite=overwrite)
    assert (folder / "notes.txt").read_text() == "keep me"


def test_no_runs_keeps_only_aggregates_with_the_same_tables(tmp_path):
    points, spec = _points()
    with_rows = run_sweep(points, 200, 3, chunk_size=50, out=tmp_path / "a", spec=spec, workers=1)
    without = run_sweep(points, 200, 3, chunk_size=50, out=tmp_path / "b", spec=spec, workers=1, keep_runs=False)
    pd.testing.assert_frame_equal(with_rows.summary, without.summary, check_exact=True)
    assert not list((tmp_path / "b").glob("runs/*.parquet"))
    assert len(list((tmp_path / "a" / "runs").glob("*.parquet"))) == 8
    with pytest.raises(StoreError, match="no-runs"):
        without.read_runs()
    for name in ("summary", "paired", "points"):
        assert (tmp_path / "b" / f"{name}.parquet").exists() and (tmp_path / "b" / f"{name}.csv").exists()
    csv = pd.read_csv(tmp_path / "b" / "summary.csv")
    assert list(csv.columns[:2]) == ["point", "failures.crash.mtbf"]


def test_temp_files_of_an_interrupted_write_are_ignored_and_removed(tmp_path):
    points, spec = _points()
    run_sweep(points, 40, 1, chunk_size=20, out=tmp_path, spec=spec, workers=1)
    stray = tmp_path / "chunks" / ".p00000-c0000009.npz.abc.tmp"
    stray.write_bytes(b"half")
    (tmp_path / "chunks" / "p00000-c0000001.npz").unlink()  # as if killed before this chunk
    again = run_sweep(points, 40, 1, chunk_size=20, out=tmp_path, spec=spec, workers=1)
    assert again.chunks_run == 1 and not stray.exists()


def test_store_identity_hash_is_stable(tmp_path):
    with SweepStore(tmp_path / "x", {"seed": 1, "runs": 2}) as a:
        pass
    with SweepStore(tmp_path / "x", {"runs": 2, "seed": 1}) as b:
        pass
    assert a.hash == b.hash


values_2d = st.integers(0, 40).flatmap(lambda rows: st.lists(
    st.lists(st.one_of(st.just(0.0), st.just(float("nan")), st.floats(-1e6, 1e6), st.floats(1e-300, 1e300),
                       st.sampled_from([1.0, 2.5, 900.0])), min_size=rows, max_size=rows), min_size=1, max_size=5))


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(values_2d, st.integers(0, 50))
def test_sketch_counts_equal_a_sort_of_the_slot_keys(columns, first_slot):
    """The bincount path (and its np.unique fallback) gives exactly np.unique of the slot keys."""
    x = np.array(columns, dtype=np.float64).T.reshape(len(columns[0]), len(columns))
    ok = ~np.isnan(x)
    codes = _codes(np.where(ok, x, 0.0))
    slots = np.broadcast_to(first_slot + np.arange(x.shape[1]), x.shape)
    expected_keys, expected_counts = np.unique(_slot_keys(codes, slots)[ok], return_counts=True)
    keys, counts = _sketch_counts(codes, ok, first_slot)
    np.testing.assert_array_equal(keys, expected_keys)
    np.testing.assert_array_equal(counts, expected_counts)
