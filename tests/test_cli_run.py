"""`python -m sim run`: output files, reproducibility, and one clear error for bad input."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sim.cli import main
from sim.experiment.io import read_parquet_metadata

VIDEO = "experiments/scenarios/video.toml"
GOOD_STEP = '[[steps]]\nname = "a"\nkind = "gpu"\nprice_per_hour = 2.0\nduration = "1m"\n'


def test_run_writes_outputs_and_is_reproducible(tmp_path, capsys):
    for name in ("a", "b"):
        assert main(["run", VIDEO, "--runs", "300", "--seed", "7", "--out", str(tmp_path / name), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "paired saving of durable over restart = restart − durable" in out and "95% confidence" in out
    for f in ("runs.parquet", "summary.csv", "paired.csv", "scenario.toml", "scenario.json"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    runs = pd.read_parquet(tmp_path / "a" / "runs.parquet")
    assert len(runs) == 600 and set(runs["strategy"]) == {"restart", "durable"}
    meta = read_parquet_metadata(tmp_path / "a" / "runs.parquet")
    assert meta["seed"] == 7 and meta["scenario"]["name"] == "video-pipeline"
    summary = pd.read_csv(tmp_path / "a" / "summary.csv")
    assert {"mean", "ci_low", "ci_high", "p95"} <= set(summary.columns)


@pytest.mark.parametrize("text, key, problem", [
    ("name = 'x'\n[[steps]\n", None, "malformed TOML"),
    ("name = 'x'\n" + GOOD_STEP + "[failures.crash]\nmtfb = '1h'\n", "failures.crash.mtfb", "did you mean 'mtbf'"),
    ("name = 'x'\n" + GOOD_STEP.replace('"1m"', '"-5s"'), "steps[0](a).duration", "must be a positive duration"),
    ("name = 'x'\n" + GOOD_STEP.replace('"1m"', "0"), "steps[0](a).duration", "must be a positive duration"),
    ("name = 'x'\n" + GOOD_STEP + "[failures.rate_limit]\nprobability = 1.5\n", "failures.rate_limit.probability", "less than or equal to 1"),
    ("name = 'x'\n" + GOOD_STEP + "[failures.rate_limit]\nprobability = -0.1\n", "failures.rate_limit.probability", "greater than or equal to 0"),
    ("name = 'x'\nsteps = []\n", "steps", "no steps"),
    ("name = 'x'\n" + GOOD_STEP + "[strategies.durabel]\n", "strategies.durabel", "did you mean 'durable'"),
    ("name = 'x'\n[pricing]\nprofile = 'article-2026-04'\n[[steps]]\nname = 's'\nkind = 'llm'\nmodel = 'gpt-5.4-mni'\nduration = '5s'\n",
     "steps[0](s).model", "did you mean 'gpt-5.4-mini'"),
    ("name = 'x'\n[pricing]\nprofile = 'nope'\n" + GOOD_STEP, "pricing.profile", "unknown pricing profile"),
])
def test_bad_scenario_one_clear_error(tmp_path, capsys, text, key, problem):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    out_dir = tmp_path / "out"
    assert main(["run", str(path), "--runs", "5", "--out", str(out_dir)]) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip() and not line.startswith("  also")]
    assert len(lines) == 1, captured.err
    assert str(path) in lines[0] and problem in lines[0]
    if key:
        assert f"key '{key}'" in lines[0]
    assert not out_dir.exists()
    assert captured.out == ""


def test_error_from_a_real_process_has_no_traceback(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("name = 'x'\n" + GOOD_STEP + "[failures.crash]\nmtfb = '1h'\n")
    proc = subprocess.run([sys.executable, "-m", "sim", "run", str(path), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "did you mean 'mtbf'" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_missing_file_and_bad_arguments(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "file not found" in err and "nope.toml" in err
    assert not (tmp_path / "o").exists()
    assert main(["run", VIDEO, "--runs", "0"]) == 2
    assert "--runs" in capsys.readouterr().err


def test_bundled_scenarios_load():
    from sim import load_scenario

    for path in Path("experiments/scenarios").glob("*.toml"):
        assert load_scenario(path).steps


def test_strategies_in_any_order(tmp_path, capsys):
    """durable listed before restart: the headline pair is still durable − restart."""
    path = tmp_path / "s.toml"
    path.write_text("name = 'x'\n" + GOOD_STEP + "[failures.crash]\nmtbf = '10m'\n"
                    "[strategies.durable]\n[strategies.checkpoint]\nevery = 1\n[strategies.restart]\n")
    assert main(["run", str(path), "--runs", "50", "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert "paired saving of durable over restart = restart − durable" in capsys.readouterr().out
    paired = pd.read_csv(tmp_path / "o" / "paired.csv")
    pairs = set(zip(paired["a"], paired["b"], strict=True))
    assert ("durable", "restart") in pairs and len(pairs) == 3


@pytest.mark.parametrize("engine", ["fast", "des"])
def test_run_on_two_processes_gives_the_serial_files(tmp_path, capsys, engine):
    """`sim run --workers 2` (chunks on local processes) writes exactly the serial run's tables."""
    from sim import load_scenario
    from sim.experiment.runner import simulate_parallel

    for name, workers in (("serial", "1"), ("two", "2")):
        assert main(["run", VIDEO, "--runs", "500", "--seed", "3", "--engine", engine, "--workers", workers,
                     "--out", str(tmp_path / name), "--quiet"]) == 0
    for f in ("runs.parquet", "summary.csv", "paired.csv"):
        assert (tmp_path / "serial" / f).read_bytes() == (tmp_path / "two" / f).read_bytes(), f
    # small chunks spread over both processes: the same rows as one simulate() call
    sc = load_scenario(VIDEO)
    whole = simulate_parallel(sc, 500, 3, engine=engine, workers=1, chunk_size=500)
    split = simulate_parallel(sc, 500, 3, engine=engine, workers=2, chunk_size=70)
    pd.testing.assert_frame_equal(whole, split)


def test_run_rejects_bad_workers(tmp_path, capsys):
    assert main(["run", VIDEO, "--runs", "10", "--workers", "0", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "--workers must be at least 1" in err and not (tmp_path / "o").exists()
