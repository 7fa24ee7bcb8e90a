"""Each experiment runs in --quick mode and writes its tables and figures."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"exp_{name}", ROOT / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _png_ok(path: Path) -> None:
    assert path.exists() and path.stat().st_size > 10_000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore")
def test_research_paper_quick(tmp_path: Path) -> None:
    assert _load("research_paper").main(["--quick", "--out", str(tmp_path)]) == 0
    fig = pd.read_csv(tmp_path / "key_figures.csv").set_index("figure")
    assert fig.loc["ai_cost_per_paper_usd", "value"] == pytest.approx(0.02085 + 0.0032 + 0.00695 + 0.03, abs=1e-12)
    assert fig.loc["wasted_per_summary_failure_usd", "ci_low"] == pytest.approx(0.02085 + 0.0032 + 0.00695, rel=1e-9)
    be = fig.loc["breakeven_p_flat_0.0045"]
    assert be["value"] == pytest.approx(0.0045 / (0.0310 + 0.0045), rel=1e-6)
    assert be["ci_low"] < be["value"] < be["ci_high"]  # the simulated interval covers the closed form
    prof = pd.read_csv(tmp_path / "orchestration_by_profile.csv").set_index("profile")
    assert prof.loc["article-flat", "orchestration_usd_mean"] == pytest.approx(0.0045)
    assert prof.loc["article-2026-04", "orchestration_usd_mean"] < 1e-5 < prof.loc["temporal-cloud-payg", "orchestration_usd_mean"]
    assert len(pd.read_csv(tmp_path / "breakeven_points.csv")) >= 5
    assert len(pd.read_parquet(tmp_path / "breakeven_runs.parquet")) > 1000
    for name in ("breakeven.png", "orchestration_by_profile.png"):
        _png_ok(tmp_path / name)


@pytest.mark.filterwarnings("ignore")
def test_video_pipeline_quick(tmp_path: Path) -> None:
    assert _load("video_pipeline").main(["--quick", "--out", str(tmp_path)]) == 0
    single = pd.read_csv(tmp_path / "deploy_during_thumbnail.csv").set_index("strategy")
    assert single.loc["restart", "reexecuted_gpu_s"] == pytest.approx(18.25 * 60)
    assert single.loc["durable", "reexecuted_gpu_s"] == pytest.approx(45.0)
    assert single.loc["restart", "wasted_gpu_s"] == pytest.approx(17 * 60 + 55)
    table = pd.read_csv(tmp_path / "wasted_vs_frequency.csv")
    assert set(table["source"]) == {"deploy", "crash"} and set(table["strategy"]) == {"restart", "durable"}
    checked = 0
    for row in table.itertuples(index=False):
        if math.isfinite(row.analytic_wasted_gpu_min):
            half = (row.ci_high - row.ci_low) / 2
            assert abs(row.wasted_gpu_min_mean - row.analytic_wasted_gpu_min) <= 2 * half + 1e-9
            checked += 1
    assert checked >= 8
    for name in ("deploy_during_thumbnail.png", "wasted_vs_frequency.png"):
        _png_ok(tmp_path / name)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore")
def test_workflow_patterns_quick(tmp_path: Path) -> None:
    assert _load("workflow_patterns").main(["--quick", "--out", str(tmp_path)]) == 0
    arith = pd.read_csv(tmp_path / "article_table_arithmetic.csv").set_index("pattern")
    assert arith["implied_actions_at_article_price"].round().tolist() == [600, 15000, 360000, 200]
    table = pd.read_csv(tmp_path / "overhead_by_profile.csv")
    assert len(table) == 4 * 3
    flat = table[table["profile"] == "article-flat"].set_index("pattern")
    assert flat["ai_cost_usd"].tolist() == pytest.approx([0.002, 0.12, 3.50, 0.0001], rel=1e-9)
    assert flat["overhead_pct"].tolist() == pytest.approx([15.0, 6.25, 100 * 0.18 / 3.5, 100.0], rel=1e-9)
    assert math.isnan(flat.loc["monitoring", "breakeven_analytic"])  # one step: nothing to lose
    sim = pd.read_csv(tmp_path / "breakeven_simulated.csv").set_index("pattern")
    for key in ("simple_text", "document_analysis", "video_generation"):
        assert sim.loc[key, "ci_low"] < sim.loc[key, "analytic"] < sim.loc[key, "ci_high"]
    _png_ok(tmp_path / "overhead_by_profile.png")
