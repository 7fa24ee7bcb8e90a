"""One sign everywhere: every output of every command, read back, against an independent
difference of its own run rows and against the sentence it prints.

The published convention (``sim.analysis.saving``): the saving of durable over restart is
restart − durable (less is better), the gain is durable − restart (more is better), so a positive
number always means durable is better.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.analysis.saving import MORE_IS_BETTER, advantage_of, advantages, kind_of
from sim.cli import main
from sim.stats import paired_differences

NUMBER = re.compile(r"(-?)\$?(\d[\d,]*\.?\d*)")


def signed_first_number(text: str) -> float:
    """The first number of ``text`` with its sign ("-$0.53" → -0.53, "2.21 s" → 2.21)."""
    m = NUMBER.search(text)
    assert m, text
    return float(m.group(1) + m.group(2).replace(",", ""))


def independent(rows: pd.DataFrame, metric: str, a: str = "durable", b: str = "restart",
                by: str = "run") -> np.ndarray:
    """Per-replication saving (b − a) or gain (a − b), from the rows, not from the code under test."""
    xa = rows[rows["strategy"] == a].sort_values(by)[metric].to_numpy(dtype=float)
    xb = rows[rows["strategy"] == b].sort_values(by)[metric].to_numpy(dtype=float)
    return xa - xb if metric in MORE_IS_BETTER else xb - xa


def verdict_word(sentence: str) -> int:
    """+1 for "saves", −1 for "costs … more", 0 for "no significant difference"."""
    if "no significant difference" in sentence:
        return 0
    if re.search(r"\bsaves\b", sentence):
        return 1
    assert re.search(r"\bcosts\b.*\bmore\b", sentence), sentence
    return -1


def direction(low: float, high: float) -> int:
    return 1 if low > 0 else -1 if high < 0 else 0


# --------------------------------------------------------------------------- sim run


@pytest.mark.parametrize("scenario", ["research_paper", "video"])
def test_run_prints_and_writes_restart_minus_durable(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                      scenario: str) -> None:
    out = tmp_path / "o"
    assert main(["run", scenario, "--runs", "300", "--seed", "2", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    rows = pd.read_parquet(out / "runs.parquet")
    paired = pd.read_csv(out / "paired.csv")
    assert {"kind", "definition", "advantage"} <= set(paired.columns) and "mean_diff" not in paired.columns
    first = paired[(paired["a"] == "durable") & (paired["b"] == "restart")]
    assert len(first) and (first["definition"] == "restart - durable").all()
    section = text.split("paired saving of durable over restart = restart − durable", 1)[1]
    for metric, label in (("makespan_s", "makespan"), ("wasted_compute_s", "wasted compute"),
                          ("total_cost_usd", "total cost")):
        d = independent(rows, metric)
        row = first[first["metric"] == metric].iloc[0]
        assert row["advantage"] == pytest.approx(d.mean(), rel=1e-9, abs=1e-12)
        line = next(ln for ln in section.splitlines() if ln.strip().startswith(label))
        printed = signed_first_number(line[len(label) + 2:])
        assert np.sign(printed) == np.sign(round(d.mean(), 12)) or abs(d.mean()) < 1e-12
        assert row["ci_low"] <= row["advantage"] <= row["ci_high"]


# --------------------------------------------------------------------------- sim fleet


def test_fleet_gains_are_durable_minus_restart(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "f"
    assert main(["fleet", "fleet_research", "--runs", "3", "--seed", "1", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    fleet = pd.read_parquet(out / "fleet.parquet")
    paired = pd.read_csv(out / "paired.csv")
    first = paired[(paired["a"] == "durable") & (paired["b"] == "restart")].set_index("metric")
    assert first.loc["throughput_per_h", "kind"] == "gain"
    assert first.loc["throughput_per_h", "definition"] == "durable - restart"
    assert first.loc["cost_per_completed_usd", "definition"] == "restart - durable"
    paired_section = text.split("the same arrivals and failures in every replication:", 1)[1]
    for metric, label, kind in (("throughput_per_h", "throughput (per hour)", "gain"),
                                ("cost_per_completed_usd", "cost per completed", "saving"),
                                ("calls", "LLM calls", "saving")):
        d = independent(fleet, metric)
        assert first.loc[metric, "advantage"] == pytest.approx(d.mean(), rel=1e-9)
        line = next(ln for ln in paired_section.splitlines() if ln.strip().startswith(label + "  "))
        cells = re.split(r"\s{2,}", line.strip())
        assert cells[1] == kind and np.sign(signed_first_number(cells[2])) == np.sign(d.mean())


# --------------------------------------------------------------------------- sim breakeven


def test_breakeven_points_hold_the_saving(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "b"
    assert main(["breakeven", "research_paper", "--vary", "failures.rate_limit.probability=0.005,0.05,0.3",
                 "--runs", "200", "--refine", "0", "--boot", "100", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    points = pd.read_csv(out / "breakeven_points.csv")
    col = "saving_restart_minus_durable"
    assert {col, f"{col}_ci_low", f"{col}_ci_high"} <= set(points.columns) and "mean_diff" not in points.columns
    assert (points[col] == points["mean_b"] - points["mean_a"]).all() or np.allclose(
        points[col], points["mean_b"] - points["mean_a"], rtol=1e-9, atol=1e-15)
    # "lower" names the cheaper strategy: durable exactly where the saving is positive
    assert ((points[col] > 0) == (points["lower"] == "durable")).all()
    after = text.split("paired means on the coarse grid:", 1)[1].splitlines()
    rule = next(k for k, ln in enumerate(after) if ln.strip().startswith("---"))
    for line, value in zip(after[rule + 1:rule + 1 + len(points)], points[col], strict=True):
        cell = re.split(r"\s{2,}", line.strip())[1]  # the saving column
        assert np.sign(signed_first_number(cell)) == np.sign(value)


# --------------------------------------------------------------------------- sim report, sim compare, API


def test_report_files_and_sentence_agree(tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert main(["report", "research_paper", "--quick", "--runs", "300", "--seed", "3", "--workers", "1",
                 "--quiet", "--no-svg", "--out", str(out)]) == 0
    record = json.loads((out / "data" / "report.json").read_text())
    paired = pd.read_csv(out / "data" / "paired.csv")
    row = paired[(paired["a"] == "durable") & (paired["b"] == "restart")
                 & (paired["metric"] == "total_cost_usd")].iloc[0]
    rows = sim.simulate(sim.load_scenario("research_paper"), 300, 3)
    d = independent(rows, "total_cost_usd")
    assert row["advantage"] == pytest.approx(d.mean(), rel=1e-9)
    s = record["saving_per_1000_runs"]
    assert s["mean"] == pytest.approx(row["advantage"] * 1000, rel=1e-9)
    assert verdict_word(record["conclusions"][0]) == direction(row["ci_low"], row["ci_high"])
    points = pd.read_csv(out / "data" / "breakeven_points.csv")
    assert ((points["saving_restart_minus_durable"] > 0) == (points["lower"] == "durable")).all()
    sens = pd.read_csv(out / "data" / "sensitivity.csv")
    assert "saving_restart_minus_durable_per_1000_runs" in sens.columns
    md = (out / "report.md").read_text()
    assert "restart − durable" in md and "durable − restart" not in md


def test_compare_table_and_verdict_agree(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "c"
    assert main(["compare", "research_paper", "--runs", "200", "--boot", "100", "--pricing",
                 "article-2026-04-per-paper,temporal-cloud-payg", "--out", str(out), "--quiet",
                 "--max-runs", "3000"]) == 0
    text = capsys.readouterr().out
    # the precision target (10%) asked for more than 200 replications at the scenario's settings
    assert "(3,000 at the scenario's settings, by the precision target)" in text
    table = pd.read_csv(out / "compare.csv")
    for _, r in table.iterrows():  # the printed share is the half-width of the printed interval
        lo, hi = (signed_first_number(x) for x in r["saving per 1,000 runs"].split("[", 1)[1].split(","))
        mean = signed_first_number(r["saving per 1,000 runs"])
        rel = float(r["half-width / saving"].split("%")[0]) / 100
        assert rel == pytest.approx((hi - lo) / 2 / abs(mean), rel=0.06)
        assert ("not reached" in r["half-width / saving"]) == (rel > 0.10)
    for _, r in table.iterrows():
        saving = signed_first_number(r["saving per 1,000 runs"])
        word = {"durable saves": 1, "durable costs more": -1}.get(r["verdict"], 0)
        if word:
            assert np.sign(saving) == word
    per_paper = table[table["profile"] == "article-2026-04-per-paper"].iloc[0]
    assert per_paper["verdict"] == "durable costs more"  # $0.0045 a paper at 2% 429s: independent, docs/audit.md


def test_comparison_api_has_the_published_sign() -> None:
    result = sim.compare("research_paper", runs=400, seed=5)
    d = independent(result.runs, "total_cost_usd")
    row = result.paired[(result.paired["a"] == "durable") & (result.paired["b"] == "restart")
                        & (result.paired["metric"] == "total_cost_usd")].iloc[0]
    assert row["definition"] == "restart - durable" and row["advantage"] == pytest.approx(d.mean(), rel=1e-9)
    s = result.saving()
    assert s["mean"] == pytest.approx(d.mean(), rel=1e-9) and s["kind"] == "saving"
    assert verdict_word(result.verdict()) == direction(s["ci_low"], s["ci_high"])


# --------------------------------------------------------------------------- the rules themselves


def _rows(a_values: list[float], b_values: list[float], metric: str) -> pd.DataFrame:
    n = len(a_values)
    return pd.DataFrame({"strategy": ["durable"] * n + ["restart"] * n, "run": list(range(n)) * 2,
                         metric: a_values + b_values})


def test_gain_for_more_is_better() -> None:
    rows = _rows([10.0, 12.0, 11.0, 13.0], [8.0, 9.0, 10.0, 9.0], "throughput_per_h")
    adv = advantage_of(paired_differences(rows, "durable", "restart", ["throughput_per_h"]), "durable", "restart",
                       "throughput_per_h")
    assert kind_of("throughput_per_h") == "gain" and adv.kind == "gain"
    assert adv.mean == pytest.approx(2.5) and adv.ci_low < adv.mean < adv.ci_high
    assert adv.rel == pytest.approx(46 / 36 - 1)


def test_one_interval_where_one_side_is_always_zero() -> None:
    """durable wastes nothing in any replication: its saving is restart's waste, with that value's
    own interval (bounded at 0), the same as the summary's, not a t interval reaching below 0."""
    b = [0.0] * 18 + [30.0, 10.0]
    rows = _rows([0.0] * 20, b, "wasted_compute_s")
    paired = paired_differences(rows, "durable", "restart", ["wasted_compute_s"])
    sv = advantage_of(paired, "durable", "restart", "wasted_compute_s")
    summary = sim.stats.summarize(rows, metrics=["wasted_compute_s"]).set_index("strategy")
    assert paired["ci_low"].iloc[0] > -np.inf and float(-paired["ci_high"].iloc[0]) < 0  # the t interval crosses 0
    assert sv.mean == pytest.approx(2.0) and sv.one_sided == "restart"
    assert (sv.ci_low, sv.ci_high) == pytest.approx((summary.loc["restart", "ci_low"], summary.loc["restart", "ci_high"]))
    assert sv.ci_low > 0
    table = advantages(paired)
    assert table["interval"].iloc[0] == "restart's own" and table["ci_low"].iloc[0] == pytest.approx(sv.ci_low)


def test_fleet_latency_quantile_intervals_keep_their_order(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """With 3 skewed replications the interval of mean p99 used to reach below mean p50; in every
    replication p99 ≥ p90 ≥ p50, so no interval of a quantile may start below the mean of the one before."""
    out = tmp_path / "f"
    assert main(["fleet", "fleet_research", "--runs", "3", "--seed", "0", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    fleet = pd.read_parquet(out / "fleet.parquet")
    summary = pd.read_csv(out / "summary.csv").set_index(["strategy", "metric"])
    for strategy in fleet["strategy"].unique():
        part = fleet[fleet["strategy"] == strategy]
        assert (part["latency_p99_s"] >= part["latency_p90_s"]).all()
        assert (part["latency_p90_s"] >= part["latency_p50_s"]).all()
        m50, m90 = part["latency_p50_s"].mean(), part["latency_p90_s"].mean()
        assert summary.loc[(strategy, "latency_p90_s"), "ci_low"] >= m50 * (1 - 1e-9)
        assert summary.loc[(strategy, "latency_p99_s"), "ci_low"] >= m90 * (1 - 1e-9)
        for q in ("latency_p50_s", "latency_p90_s", "latency_p99_s"):
            r = summary.loc[(strategy, q)]
            assert r["ci_low"] <= r["mean"] <= r["ci_high"]


# --------------------------------------------------------------------------- sim optimize


def test_optimize_candidates_hold_savings_against_the_references(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture) -> None:
    """candidates.csv: saving_vs_durable_usd = durable − candidate per run (from the runs the
    optimiser simulated), and the printed conclusion's word matches its sign."""
    from sim.analysis.optimize.recommend import recommend

    rec = recommend(sim.load_scenario("research_paper"), "cost", 300, 1, heartbeat=False)
    runs = rec.runs_df
    wide = runs.pivot_table(index="run", columns="strategy", values="total_cost_usd")
    t = rec.table.set_index("candidate")
    for candidate in t.index:
        for ref in ("durable", "restart"):
            d = (wide[ref] - wide[candidate]).to_numpy()
            assert t.loc[candidate, f"saving_vs_{ref}_usd"] == pytest.approx(d.mean(), rel=1e-9, abs=1e-15)
            assert t.loc[candidate, f"saving_vs_{ref}_low_usd"] <= t.loc[candidate, f"saving_vs_{ref}_usd"]
    best = rec.best
    for line in rec.conclusions():
        m = re.match(r"Against (per-step durable|restart) it (saves|costs)", line)
        if m:
            ref = "durable" if m.group(1) == "per-step durable" else "restart"
            saving = t.loc[best, f"saving_vs_{ref}_usd"]
            assert (m.group(2) == "saves") == (saving > 0), line
    # the CLI prints the same numbers in the same sign
    out = tmp_path / "o"
    assert main(["optimize", "research_paper", "--runs", "300", "--seed", "1", "--no-heartbeat", "--out", str(out)]) == 0
    capsys.readouterr()
    table = pd.read_csv(out / "candidates.csv").set_index("candidate")
    assert "cost_vs_durable_usd" not in table.columns
    assert table.loc[best, "saving_vs_restart_usd"] == pytest.approx(t.loc[best, "saving_vs_restart_usd"], rel=1e-9)


# --------------------------------------------------------------------------- sim sweep


def test_sweep_tables_hold_the_saving(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "s"
    assert main(["sweep", "video", "--vary", "failures.crash.mtbf=1h,4h", "--runs", "200", "--out", str(out),
                 "--quiet"]) == 0
    capsys.readouterr()
    rows = pd.read_parquet(out / "runs")
    for name in ("paired.csv", "paired.parquet"):
        table = pd.read_csv(out / name) if name.endswith(".csv") else pd.read_parquet(out / name)
        assert "mean_diff" not in table.columns
        first = table[(table["a"] == "durable") & (table["b"] == "restart")]
        for point, part in rows.groupby("point"):
            for metric in ("total_cost_usd", "wasted_compute_s"):
                d = independent(part, metric)
                row = first[(first["point"] == point) & (first["metric"] == metric)].iloc[0]
                assert row["definition"] == "restart - durable"
                assert row["advantage"] == pytest.approx(d.mean(), rel=1e-9)


def test_the_published_table_is_the_per_row_rule() -> None:
    """advantages (vectorised) gives, row by row, what advantage_of gives for that pair and metric."""
    rows = sim.simulate(sim.load_scenario("research_paper"), 200, 3)
    metrics = ["total_cost_usd", "wasted_compute_s", "makespan_s", "completed", "attempts"]
    rows = rows.assign(completed=rows["completed"].astype(float))
    paired = pd.concat([paired_differences(rows, "durable", "restart", metrics),
                        paired_differences(rows, "restart", "durable", metrics)], ignore_index=True)
    table = advantages(paired)
    for _, r in table.iterrows():
        one = advantage_of(paired[(paired["a"] == r["a"]) & (paired["b"] == r["b"])], r["a"], r["b"], r["metric"])
        assert (r["advantage"], r["ci_low"], r["ci_high"]) == pytest.approx((one.mean, one.ci_low, one.ci_high),
                                                                           nan_ok=True)
        assert r["kind"] == one.kind
