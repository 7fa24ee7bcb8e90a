"""Tests for sim.analysis.plotdata (values) and sim.analysis.plots (headless rendering).

A tiny synthetic simulator below (restart vs durable, exponential crashes, periodic
deployments, 429s on one LLM step) produces run rows and an event log in the shape of
docs/model.md §3, so the figures can be exercised before the real engine lands.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from sim.analysis import plotdata as pdata  # noqa: E402
from sim.analysis import plots  # noqa: E402

# ------------------------------------------------------------------ synthetic data

# name, duration_s, kind, price ($/h for gpu, $ per completed call for llm)
STEPS = [
    ("transcription", 600.0, "gpu", 2.5),
    ("scene_detection", 900.0, "gpu", 2.5),
    ("summary", 60.0, "llm", 0.03),
    ("render", 1200.0, "gpu", 4.0),
]
DETECT_S, RESTART_S, RETRY_AFTER_S, DRAIN_S = 30.0, 20.0, 2.0, 30.0
PER_ACTION_USD = 0.01  # deliberately large so that a break-even exists in the 429 sweep


def _attempt_cost(step: int, elapsed: float, completed: bool) -> float:
    _name, dur, kind, price = STEPS[step]
    if kind == "gpu":
        return price * elapsed / 3600.0
    return price if completed else price * elapsed / dur


def simulate_one(strategy: str, run: int, mtbf: float = math.inf, p429: float = 0.0,
                 deploy_every: float = math.inf, seed: int = 7) -> tuple[dict, list[dict]]:
    """One replication of one strategy; the same (seed, run) gives the same failure
    environment to both strategies (crash lifetimes, deployment phase, 429 draws)."""
    life = np.random.default_rng([seed, run, 0])
    draws = np.random.default_rng([seed, run, 1])
    phase = np.random.default_rng([seed, run, 2]).uniform(0, deploy_every) if np.isfinite(deploy_every) else math.inf
    next_deploy = phase
    t = 0.0
    life_end = life.exponential(mtbf) if np.isfinite(mtbf) else math.inf
    step, attempts_of = 0, [0] * len(STEPS)
    rows: list[dict] = []
    pipeline_rows: list[int] = []
    crashes = kills = limited = restarts = 0

    def lose_pipeline() -> None:
        nonlocal step, restarts
        for k in pipeline_rows:
            rows[k]["useful"] = False
        pipeline_rows.clear()
        step = 0
        restarts += 1

    while step < len(STEPS):
        name, dur, kind, _price = STEPS[step]
        attempts_of[step] += 1
        base = {"run": run, "strategy": strategy, "step": name, "step_index": step,
                "attempt": attempts_of[step], "start_s": t}
        if kind == "llm" and draws.random() < p429:
            rows.append({**base, "end_s": t, "outcome": "rate_limited", "useful": False})
            limited += 1
            t += RETRY_AFTER_S
            if strategy == "restart":
                lose_pipeline()
            continue
        end = t + dur
        kill_at = next_deploy + DRAIN_S if next_deploy < end else math.inf
        fail_at = min(life_end, kill_at)
        if fail_at < end:
            outcome = "crashed" if life_end <= kill_at else "killed_by_deploy"
            rows.append({**base, "end_s": fail_at, "outcome": outcome, "useful": False})
            if outcome == "crashed":
                crashes += 1
                t = fail_at + DETECT_S + RESTART_S
            else:
                kills += 1
                t = fail_at + RESTART_S
            while next_deploy <= t:
                next_deploy += deploy_every
            life_end = t + life.exponential(mtbf) if np.isfinite(mtbf) else math.inf
            if strategy == "restart":
                lose_pipeline()
            continue
        rows.append({**base, "end_s": end, "outcome": "completed", "useful": True})
        pipeline_rows.append(len(rows) - 1)
        t = end
        step += 1
    log = rows
    useful = sum(r["end_s"] - r["start_s"] for r in log if r["useful"])
    compute = sum(r["end_s"] - r["start_s"] for r in log)
    costs = [_attempt_cost(r["step_index"], r["end_s"] - r["start_s"], r["outcome"] == "completed")
             for r in log]
    useful_cost = sum(c for c, r in zip(costs, log, strict=True) if r["useful"])
    compute_cost = sum(costs)
    actions = (1 + len(log)) if strategy == "durable" else 0
    orch = actions * PER_ACTION_USD
    run_row = {
        "scenario": "synthetic", "strategy": strategy, "run": run, "seed": seed, "engine": "test",
        "completed": True, "makespan_s": t, "compute_s": compute, "useful_compute_s": useful,
        "wasted_compute_s": compute - useful, "compute_cost_usd": compute_cost,
        "useful_cost_usd": useful_cost, "wasted_cost_usd": compute_cost - useful_cost,
        "orchestration_actions": actions, "history_events": 5 + 6 * len(STEPS) if actions else 0,
        "orchestration_cost_usd": orch, "total_cost_usd": compute_cost + orch,
        "attempts": len(log), "crashes": crashes, "deploy_kills": kills, "rate_limited": limited,
        "pipeline_restarts": restarts,
    }
    return run_row, log


def make_runs(n: int, seed: int = 7, **env: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, logs = [], []
    for r in range(n):
        for s in ("restart", "durable"):
            row, log = simulate_one(s, r, seed=seed, **env)
            rows.append(row)
            logs.extend(log)
    return pd.DataFrame(rows), pd.DataFrame(logs)


def make_sweep(path: str, values: list[float], n: int, seed: int = 7, **env: float) -> pd.DataFrame:
    key = {"failures.crash.mtbf": "mtbf", "failures.rate_limit.probability": "p429"}[path]
    frames = []
    for v in values:
        runs, _ = make_runs(n, seed=seed, **{**env, key: v})
        frames.append(runs.assign(**{path: v}))
    return pd.concat(frames, ignore_index=True)


def analytic_waste(mtbfs: list[float]) -> pd.DataFrame:
    """Expected wasted compute with exponential crashes only (no 429s, no deployments):
    restart redoes the whole pipeline, durable the failed step; E[time to finish d] =
    (e^{d/m} - 1) m of which d is useful."""
    total = sum(s[1] for s in STEPS)
    rows = []
    for m in mtbfs:
        rows.append({"x": m, "strategy": "restart", "value": math.expm1(total / m) * m - total})
        rows.append({"x": m, "strategy": "durable",
                     "value": sum(math.expm1(s[1] / m) * m - s[1] for s in STEPS)})
    return pd.DataFrame(rows)


def breakeven_from_sweep(sweep: pd.DataFrame, x: str, level: float = 0.95) -> SimpleNamespace:
    """Crossing of the paired mean difference restart - durable and of its CI edges."""
    w = sweep.pivot_table(index=[x, "run"], columns="strategy", values="total_cost_usd")
    d = (w["restart"] - w["durable"]).groupby(level=0).agg(["mean", "std", "count"])
    se = d["std"] / np.sqrt(d["count"])
    lo, hi = pdata.confidence_interval(d["mean"], se, d["count"], level)

    def cross(y: np.ndarray) -> float:
        xs = d.index.to_numpy(dtype=float)
        for i in range(len(xs) - 1):
            if y[i] <= 0 < y[i + 1] or y[i] >= 0 > y[i + 1]:
                return float(xs[i] - y[i] * (xs[i + 1] - xs[i]) / (y[i + 1] - y[i]))
        return math.nan

    # the upper CI curve crosses zero first (smaller x), the lower one last
    return SimpleNamespace(estimate=cross(d["mean"].to_numpy()), ci_low=cross(hi), ci_high=cross(lo))


def tornado_results() -> tuple[float, pd.DataFrame]:
    rows = [
        ("worker MTBF", "low", 310.0, "2 h"), ("worker MTBF", "high", 40.0, "24 h"),
        ("429 probability", "low", 95.0, "0.5%"), ("429 probability", "high", 180.0, "5%"),
        ("GPU price", "low", 90.0, "$1.50/h"), ("GPU price", "high", 150.0, "$4/h"),
        ("orchestration price", "low", 125.0, "$0.25/M"), ("orchestration price", "high", 115.0, "$1/M"),
        ("deployment interval", "low", 160.0, "6 h"), ("deployment interval", "high", 112.0, "7 d"),
    ]
    df = pd.DataFrame(rows, columns=["input", "level", "value", "setting"])
    df["ci_low"] = df["value"] - 8.0
    df["ci_high"] = df["value"] + 8.0
    return 120.0, df


MTBFS = [3600.0 * h for h in (1, 2, 4, 8, 16, 32)]
P429 = [i / 100 for i in range(0, 13)]


@pytest.fixture(scope="module")
def mtbf_sweep() -> pd.DataFrame:
    return make_sweep("failures.crash.mtbf", MTBFS, n=150)


@pytest.fixture(scope="module")
def p429_sweep() -> pd.DataFrame:
    return make_sweep("failures.rate_limit.probability", P429, n=300)


@pytest.fixture(scope="module")
def runs_and_log() -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_runs(400, mtbf=4 * 3600.0, p429=0.03, deploy_every=8 * 3600.0)


# ------------------------------------------------------------------- plotdata: values


def test_sweep_summary_mean_se_and_t_band() -> None:
    df = pd.DataFrame({
        "strategy": ["durable"] * 4 + ["restart"] * 4 + ["restart"],
        "x": [1, 1, 1, 1, 1, 1, 1, 1, 2],
        "m": [1.0, 2.0, 3.0, 4.0, 10.0, 10.0, 12.0, 12.0, 5.0],
    })
    s = pdata.sweep_summary(df, "x", "m")
    assert list(s["strategy"]) == ["restart", "restart", "durable"]  # restart first, then by x
    d = s[s["strategy"] == "durable"].iloc[0]
    assert d["n"] == 4 and d["mean"] == pytest.approx(2.5)
    assert d["se"] == pytest.approx(math.sqrt(5 / 3) / 2)
    t3 = 3.182446305284263  # t_{0.975, 3}
    assert d["ci_low"] == pytest.approx(2.5 - t3 * d["se"])
    assert d["ci_high"] == pytest.approx(2.5 + t3 * d["se"])
    r = s[(s["strategy"] == "restart") & (s["x"] == 1)].iloc[0]
    assert r["mean"] == pytest.approx(11.0) and r["ci_high"] - r["ci_low"] == pytest.approx(
        2 * t3 * math.sqrt(4 / 3) / 2)
    one = s[(s["strategy"] == "restart") & (s["x"] == 2)].iloc[0]
    assert one["mean"] == 5.0 and math.isnan(one["ci_low"]) and math.isnan(one["ci_high"])
    lo, hi = pdata.confidence_interval(0.0, 1.0, 11, level=0.9)
    assert hi == pytest.approx(1.812461122811676) and lo == pytest.approx(-hi)


def test_paired_sweep_summary() -> None:
    df = pd.DataFrame({
        "x": [1] * 6 + [2] * 2,
        "run": [0, 1, 2, 0, 1, 2, 0, 0],
        "strategy": ["restart"] * 3 + ["durable"] * 3 + ["restart", "durable"],
        "m": [5.0, 7.0, 9.0, 4.0, 4.0, 4.0, 3.0, 1.0],
    })
    d = pdata.paired_sweep_summary(df, "x", "m", "restart", "durable")
    assert list(d["x"]) == [1, 2] and list(d["n"]) == [3, 1]
    assert d["mean"].iloc[0] == pytest.approx(3.0) and d["se"].iloc[0] == pytest.approx(2 / math.sqrt(3))
    t2 = 4.302652729749464  # t_{0.975, 2}
    assert d["ci_high"].iloc[0] == pytest.approx(3.0 + t2 * 2 / math.sqrt(3))
    assert d["mean"].iloc[1] == 2.0 and math.isnan(d["ci_low"].iloc[1])
    with pytest.raises(ValueError, match="duplicate"):
        pdata.paired_sweep_summary(pd.concat([df, df.iloc[:1]]), "x", "m", "restart", "durable")
    one = pdata.paired_difference(df[df["x"] == 1], "m", "restart", "durable")
    assert one["n"] == 3 and one["mean"] == pytest.approx(3.0)
    assert one["ci_low"] == pytest.approx(3.0 - t2 * 2 / math.sqrt(3))


def test_is_log_spaced() -> None:
    assert pdata.is_log_spaced(MTBFS)
    assert pdata.is_log_spaced(np.geomspace(0.001, 0.1, 7).round(5))
    assert not pdata.is_log_spaced(np.linspace(1, 10, 10))
    assert not pdata.is_log_spaced(P429)  # contains 0
    assert not pdata.is_log_spaced([1, 2])
    assert not pdata.is_log_spaced([1.0, 1.1, 1.21])  # geometric but spans < 5x


def test_units_and_formatting() -> None:
    assert pdata.time_unit(90).label == "s"
    assert pdata.time_unit(45 * 60).label == "min"
    assert pdata.time_unit(20 * 3600).label == "h"
    assert pdata.time_unit(10 * 86400).label == "d"
    u = pdata.metric_unit("wasted_compute_s", [1200.0, 7200.0])
    assert u.label == "min" and u.scale([7200.0])[0] == pytest.approx(120.0)
    assert pdata.metric_unit("total_cost_usd", [0.004]).label == "$ per 1,000 runs"
    assert pdata.metric_unit("total_cost_usd", [2.4]).label == "$ per run"
    label, xu = pdata.param_axis("failures.rate_limit.probability", P429)
    assert label == "429 probability per call" and xu.fmt(0.128) == "12.8%"
    label, xu = pdata.param_axis("failures.crash.mtbf", MTBFS)
    assert label == "worker MTBF" and xu.label == "h" and xu.fmt(4 * 3600) == "4.00 h"
    assert pdata.format_value(0.0523, pdata.Unit(1.0, "$", "usd")) == "$0.0523"
    assert pdata.format_value(-1234.5, pdata.Unit(1.0, "$", "usd")) == "-$1,234"
    assert pdata.format_value(float("nan"), xu) == "n/a"
    assert pdata.format_value(6.58e-6, pdata.Unit(1.0, "$", "usd")) == "$0.0000066"
    assert pdata.format_value(0.4, pdata.Unit(1.0, "$", "usd")) == "$0.40"


def test_crossing_points_interpolates() -> None:
    s = pd.DataFrame({"x": [0, 1, 2, 0, 1, 2], "strategy": ["a"] * 3 + ["b"] * 3,
                      "mean": [0.0, 1.0, 2.0, 1.5, 1.5, 1.5]})
    assert pdata.crossing_points(s, "x", "a", "b") == [pytest.approx(1.5)]
    s2 = s.assign(mean=[0.0, 1.0, 2.0, 3.0, 3.0, 3.0])
    assert pdata.crossing_points(s2, "x", "a", "b") == []


def test_ecdf_and_quantiles() -> None:
    df = pd.DataFrame({"strategy": ["durable"] * 100 + ["restart"] * 4,
                       "m": list(range(100, 0, -1)) + [1.0, 2.0, np.nan, 8.0]})
    e = pdata.ecdf(df.loc[df["strategy"] == "durable", "m"])
    assert e["value"].iloc[0] == 1 and e["cdf"].iloc[0] == pytest.approx(0.01)
    assert e["cdf"].iloc[-1] == 1.0 and e["value"].is_monotonic_increasing
    q = pdata.quantile_table(df, "m")
    d = q[q["strategy"] == "durable"].set_index("label")["value"]
    assert (d["p50"], d["p95"], d["p99"]) == (50.0, 95.0, 99.0)
    r = q[q["strategy"] == "restart"]
    assert list(r["label"]) == ["p50", "p95", "p99"] and list(r["value"]) == [2.0, 8.0, 8.0]
    assert int(r["n"].iloc[0]) == 3  # NaN dropped
    assert list(q["strategy"].unique()) == ["restart", "durable"]


def test_cost_breakdown_table(runs_and_log: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    runs, _ = runs_and_log
    tab = pdata.cost_breakdown_table(runs).set_index("strategy")
    assert int(tab["per_runs"].iloc[0]) == 1
    for s in ("restart", "durable"):
        sub = runs[runs["strategy"] == s]
        assert tab.loc[s, "total"] == pytest.approx(sub["total_cost_usd"].mean())
        assert tab.loc[s, "wasted_cost_usd"] == pytest.approx(sub["wasted_cost_usd"].mean())
        assert tab.loc[s, "total_ci_low"] < tab.loc[s, "total"] < tab.loc[s, "total_ci_high"]
    tiny = runs.assign(**{c: runs[c] / 1e4 for c in pdata.COST_COMPONENTS})
    t2 = pdata.cost_breakdown_table(tiny).set_index("strategy")
    assert int(t2["per_runs"].iloc[0]) == 1000
    assert t2.loc["restart", "total"] == pytest.approx(tab.loc["restart", "total"] / 10)


def _hand_log() -> pd.DataFrame:
    rows = [
        # run 0: restart crashes in step b, redoes a and b; durable retries b only
        (0, "restart", "a", 0, 1, 0, 10, "completed", False),
        (0, "restart", "b", 1, 1, 10, 14, "crashed", False),
        (0, "restart", "a", 0, 2, 20, 30, "completed", True),
        (0, "restart", "b", 1, 2, 30, 50, "completed", True),
        (0, "durable", "a", 0, 1, 0, 10, "completed", True),
        (0, "durable", "b", 1, 1, 10, 14, "crashed", False),
        (0, "durable", "b", 1, 2, 20, 40, "completed", True),
        # run 1: no failure
        (1, "durable", "a", 0, 1, 0, 10, "completed", True),
        (1, "durable", "b", 1, 1, 10, 30, "completed", True),
        (1, "restart", "a", 0, 1, 0, 10, "completed", True),
        (1, "restart", "b", 1, 1, 10, 30, "completed", True),
        # run 2: only restart present (incomplete replication)
        (2, "restart", "b", 1, 1, 10, 12, "rate_limited", False),
    ]
    return pd.DataFrame(rows, columns=["run", "strategy", "step", "step_index", "attempt",
                                       "start_s", "end_s", "outcome", "useful"])


def test_timeline_bar_geometry() -> None:
    log = _hand_log()
    assert pdata.pick_timeline_run(log) == 0  # run 2 lacks durable, run 1 has no failure
    bars = pdata.timeline_bars(log)
    assert set(bars["run"]) == {0}
    assert list(bars.loc[bars["lane"] == 0, "strategy"].unique()) == ["restart"]
    assert list(bars.loc[bars["lane"] == 1, "strategy"].unique()) == ["durable"]
    r = bars[bars["strategy"] == "restart"]
    assert list(r["start_s"]) == [0, 10, 20, 30] and list(r["duration_s"]) == [10, 4, 10, 20]
    assert list(r["wasted"]) == [True, True, False, False]
    assert list(r["failed"]) == [False, True, False, False]
    lanes = pdata.timeline_lanes(bars).set_index("strategy")
    assert lanes.loc["restart", "finish_s"] == 50 and lanes.loc["durable", "finish_s"] == 40
    assert lanes.loc["restart", "wasted_s"] == 14 and lanes.loc["durable", "wasted_s"] == 4
    assert lanes.loc["restart", "crashed"] == 1 and lanes.loc["restart", "rate_limited"] == 0
    one = pdata.timeline_bars(log, run=1)
    assert one["wasted"].sum() == 0 and len(one) == 4
    with pytest.raises(ValueError):
        pdata.timeline_bars(log, run=99)


def test_pick_timeline_run_prefers_median_failures() -> None:
    log = _hand_log()
    extra = []
    for run, nfail in ((5, 3), (6, 9)):
        for s in ("restart", "durable"):
            for k in range(nfail):
                extra.append((run, s, "a", 0, k + 1, k, k + 0.5, "crashed", False))
            extra.append((run, s, "a", 0, nfail + 1, nfail, nfail + 1, "completed", True))
    log = pd.concat([log, pd.DataFrame(extra, columns=log.columns)], ignore_index=True)
    # failure counts: run 0 -> 2, run 5 -> 6, run 6 -> 18; the median is run 5
    assert pdata.pick_timeline_run(log) == 5


def test_tornado_table_ranks_by_swing() -> None:
    baseline, res = tornado_results()
    tab = pdata.tornado_table(baseline, res)
    assert list(tab["input"]) == ["worker MTBF", "429 probability", "GPU price",
                                  "deployment interval", "orchestration price"]
    assert list(tab["rank"]) == [1, 2, 3, 4, 5]
    top = tab.iloc[0]
    assert top["swing"] == 270 and top["low_delta"] == 190 and top["high_delta"] == -80
    assert top["low_setting"] == "2 h" and top["high_ci_high"] == 48
    assert (tab["baseline"] == 120).all()
    one_sided = pd.DataFrame({"input": ["a", "b", "b"], "level": ["high", "low", "high"],
                              "value": [200.0, 110.0, 150.0]})
    t2 = pdata.tornado_table(100.0, one_sided)
    assert list(t2["input"]) == ["a", "b"] and t2.iloc[0]["swing"] == 100
    assert math.isnan(t2.iloc[0]["low"])
    with pytest.raises(ValueError, match="duplicate"):
        pdata.tornado_table(0.0, pd.concat([one_sided, one_sided.iloc[:1]]))
    with pytest.raises(ValueError, match="level"):
        pdata.tornado_table(0.0, one_sided.assign(level=["mid", "low", "high"]))


def test_synthetic_sweep_agrees_with_analytic(mtbf_sweep: pd.DataFrame) -> None:
    """Guards the test data itself: the waste figure's analytic overlay must sit inside the
    simulated bands for most points, else the preview figures would be misleading."""
    s = pdata.sweep_summary(mtbf_sweep, "failures.crash.mtbf", "wasted_compute_s", level=0.99)
    a = analytic_waste(MTBFS).rename(columns={"x": "failures.crash.mtbf"})
    m = s.merge(a, on=["failures.crash.mtbf", "strategy"])
    inside = (m["ci_low"] <= m["value"]) & (m["value"] <= m["ci_high"])
    assert inside.mean() >= 0.8
    assert (mtbf_sweep["useful_compute_s"] + mtbf_sweep["wasted_compute_s"]).sub(
        mtbf_sweep["compute_s"]).abs().max() < 1e-9


# ------------------------------------------------------------------ plots: rendering


def _check_saved(fig: Figure, tmp_path, name: str) -> None:
    paths = plots.save_figure(fig, tmp_path / "out" / name)
    assert [p.suffix for p in paths] == [".png", ".svg"]
    png, svg = paths
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert svg.stat().st_size > 20_000 and b"<svg" in svg.read_bytes()[:2000]


def _legend_texts(fig: Figure) -> list[str]:
    """Legend strings with matplotlib's dollar escaping undone."""
    out = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
    for ax in fig.axes:
        lg = ax.get_legend()
        if lg is not None:
            out += [t.get_text() for t in lg.get_texts()] + [lg.get_title().get_text()]
    return [t.replace("\\$", "$") for t in out]


def _assert_no_mathtext(fig: Figure) -> None:
    """Every "$" drawn is escaped: "$2.72, $2.89" must not turn into mathtext."""
    from matplotlib.text import Text

    texts = [t.get_text() for t in fig.findobj(Text)]
    for ax in fig.axes:
        texts += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
    for t in texts:
        if "\\mathdefault" in t:  # matplotlib's own numeric tick labels
            continue
        assert t.count("$") == t.count("\\$"), t


def test_plot_waste_vs_failure_rate(mtbf_sweep: pd.DataFrame, tmp_path) -> None:
    before = plt.get_fignums()
    fig = plots.plot_waste_vs_failure_rate(mtbf_sweep, "failures.crash.mtbf",
                                           analytic=analytic_waste(MTBFS))
    assert plt.get_fignums() == before  # no pyplot state
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "worker MTBF (h)"
    assert ax.get_ylabel() == "mean wasted compute (min)"
    assert "analytic model" in _legend_texts(fig)
    # 2 strategies x (mean line) + 2 analytic lines; the plotted means are the summary means
    s = pdata.sweep_summary(mtbf_sweep, "failures.crash.mtbf", "wasted_compute_s")
    restart_line = ax.lines[0]
    np.testing.assert_allclose(restart_line.get_ydata(),
                               s.loc[s["strategy"] == "restart", "mean"] / 60)
    np.testing.assert_allclose(restart_line.get_xdata(), np.array(MTBFS) / 3600)
    _check_saved(fig, tmp_path, "waste")
    cost = plots.plot_waste_vs_failure_rate(mtbf_sweep, "failures.crash.mtbf",
                                            metric="wasted_cost_usd", unit_scale="usd_per_1000")
    assert cost.axes[0].get_ylabel() == "mean wasted compute cost (\\$ per 1,000 runs)"


@pytest.mark.slow
def test_plot_breakeven(p429_sweep: pd.DataFrame, tmp_path) -> None:
    x = "failures.rate_limit.probability"
    be = breakeven_from_sweep(p429_sweep, x)
    assert 0.01 < be.estimate < 0.1 and be.ci_low < be.estimate < be.ci_high
    fig = plots.plot_breakeven(p429_sweep, x, breakeven=be)
    texts = _legend_texts(fig)
    want = f"break-even {pdata.format_value(be.estimate, pdata.Unit(0.01, '%', 'percent'))}"
    assert any(t.startswith(want) for t in texts), texts
    assert len(fig.axes) == 2  # costs, and the paired difference restart - durable
    assert fig.axes[1].get_xscale() == "linear"
    assert fig.axes[0].get_ylabel() == "expected total cost (\\$ per run)"
    diff = pdata.paired_sweep_summary(p429_sweep, x, "total_cost_usd", "restart", "durable")
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), diff["mean"])
    np.testing.assert_allclose(fig.axes[1].lines[0].get_xdata(), np.array(P429) * 100)
    _assert_no_mathtext(fig)
    _check_saved(fig, tmp_path, "breakeven")
    none = plots.plot_breakeven(p429_sweep, x, breakeven=SimpleNamespace(
        estimate=float("nan"), ci_low=None, ci_high=None))
    assert "no crossing in range" in _legend_texts(none)
    auto = plots.plot_breakeven(p429_sweep, x)  # no object: interpolated means, flagged
    assert any(t.startswith("means cross at") for t in _legend_texts(auto))


@pytest.mark.slow
def test_plot_distributions(runs_and_log: tuple[pd.DataFrame, pd.DataFrame], tmp_path) -> None:
    runs, _ = runs_and_log
    fig = plots.plot_distributions(runs)
    assert len(fig.axes) == 2
    q = pdata.quantile_table(runs, "makespan_s")
    p99 = q[(q["strategy"] == "restart") & (q["label"] == "p99")]["value"].iloc[0]
    texts = _legend_texts(fig)
    assert any(t.startswith("restart") and "p99" in t for t in texts)
    unit = pdata.metric_unit("makespan_s", [q["value"].max()], per_run=False)
    assert any(pdata.format_value(p99, unit) in t for t in texts)
    _check_saved(fig, tmp_path, "cdf")
    vio = plots.plot_distributions(runs, metrics=("makespan_s", "wasted_compute_s", "total_cost_usd"),
                                   kind="violin")
    assert len(vio.axes) == 3
    _check_saved(vio, tmp_path, "violin")
    with pytest.raises(ValueError):
        plots.plot_distributions(runs, kind="box")


def test_plot_cost_breakdown(runs_and_log: tuple[pd.DataFrame, pd.DataFrame], tmp_path) -> None:
    runs, _ = runs_and_log
    fig = plots.plot_cost_breakdown(runs)
    ax = fig.axes[0]
    tab = pdata.cost_breakdown_table(runs)
    # three stacked segments per strategy: heights are the component means
    rects = [p for p in ax.patches if p.get_width() == pytest.approx(0.55)]
    assert len(rects) == 3 * len(tab)
    assert sum(r.get_height() for r in rects) == pytest.approx(tab["total"].sum())
    texts = [t.get_text().replace("\\$", "$") for t in ax.texts]
    for _, r in tab.iterrows():
        money = pdata.Unit(1.0, "$", "usd")
        w = r["total_ci_high"] - r["total_ci_low"]  # digits enough for the interval's width
        want = (f"total {pdata.format_value(r['total'], money, w)}\n"
                f"[{pdata.format_value(r['total_ci_low'], money, w)}, "
                f"{pdata.format_value(r['total_ci_high'], money, w)}]")
        assert want in texts, texts
    _assert_no_mathtext(fig)
    d = pdata.paired_difference(runs, "total_cost_usd", "restart", "durable")
    title = fig.legends[0].get_title().get_text().replace("\\$", "$")
    assert title.startswith(f"saving of durable = restart − durable, paired over 400 runs: "
                            f"{pdata.format_value(d['mean'], pdata.Unit(1.0, '$', 'usd'), d['ci_high'] - d['ci_low'])} [")
    _check_saved(fig, tmp_path, "costs")
    # an interval narrower than a cent never prints as "$0.82 [$0.82, $0.82]"
    money = pdata.Unit(1.0, "$", "usd")
    ends = [pdata.format_value(x, money, 0.8232 - 0.8196) for x in (0.8214, 0.8196, 0.8232)]
    assert ends == ["$0.8214", "$0.8196", "$0.8232"]
    tiny = runs.assign(**{c: runs[c] / 1e4 for c in pdata.COST_COMPONENTS})
    assert "1,000 runs" in plots.plot_cost_breakdown(tiny).axes[0].get_ylabel()


def test_plot_timeline(runs_and_log: tuple[pd.DataFrame, pd.DataFrame], tmp_path) -> None:
    _, log = runs_and_log
    fig = plots.plot_timeline(log)
    ax = fig.axes[0]
    bars = pdata.timeline_bars(log)
    assert len(ax.patches) == len(bars)  # one rectangle per attempt
    hatched = [p for p in ax.patches if p.get_hatch()]
    assert len(hatched) == int(bars["wasted"].sum())
    texts = _legend_texts(fig)
    for outcome, label in (("crashed", "worker crashed"), ("killed_by_deploy", "killed by deployment"),
                           ("rate_limited", "rate limited (HTTP 429)")):
        assert (label in texts) == bool((bars["outcome"] == outcome).any())
    assert [t.get_text().split("\n")[0] for t in ax.get_yticklabels()] == ["restart", "durable"]
    _check_saved(fig, tmp_path, "timeline")
    # the hand-made log: seconds axis, given run, drawn into a caller's axes
    f2 = Figure()
    ax2 = f2.add_subplot()
    out = plots.plot_timeline(_hand_log(), run=0, ax=ax2)
    assert out is ax2 and ax2.get_xlabel().endswith("(s)")
    assert ax2.patches[1].get_x() == 10 and ax2.patches[1].get_width() == 4


def test_plot_sensitivity(tmp_path) -> None:
    baseline, res = tornado_results()
    tab = pdata.tornado_table(baseline, res)
    fig = plots.plot_sensitivity(tab)
    ax = fig.axes[0]
    ticks = [t.get_text().replace("\\$", "$") for t in ax.get_yticklabels()]
    assert [t.split("\n")[0] for t in ticks] == list(tab["input"])
    assert ticks[0] == "worker MTBF\n2 h → 24 h" and ticks[2] == "GPU price\n$1.50/h → $4/h"
    assert "baseline $120" in _legend_texts(fig)
    # values at the bar ends, same number of decimals for all ($40 not $40.00 next to $310)
    ends = {t.get_text().replace("\\$", "$") for t in ax.texts}
    assert {"$310", "$40", "$95", "$180"} <= ends
    _assert_no_mathtext(fig)
    _check_saved(fig, tmp_path, "tornado")
    same = plots.plot_sensitivity(res, baseline=baseline)
    assert [t.get_text() for t in same.axes[0].get_yticklabels()] == [
        t.get_text() for t in ax.get_yticklabels()]
    with pytest.raises(ValueError):
        plots.plot_sensitivity(res)


def test_report_style_is_scoped_and_loaded_from_package() -> None:
    size = matplotlib.rcParams["font.size"]
    assert plots.report_style_path().is_file()
    with plots.use_report_style():
        assert matplotlib.rcParams["font.size"] == 13
        assert matplotlib.rcParams["savefig.dpi"] == 200
        assert matplotlib.rcParams["axes.prop_cycle"].by_key()["color"][0] == "#0072B2"
    assert matplotlib.rcParams["font.size"] == size


def test_plot_into_given_axes(mtbf_sweep: pd.DataFrame) -> None:
    fig = Figure()
    ax = fig.add_subplot()
    out = plots.plot_waste_vs_failure_rate(mtbf_sweep, "failures.crash.mtbf", ax=ax)
    assert out is ax and isinstance(ax, Axes) and len(ax.lines) == 2


def test_backlog_figure_says_when_no_task_waited():
    import pandas as pd

    from sim.analysis.plots.fleet import plot_backlog

    flat = pd.DataFrame({"time_s": [0.0, 600.0], "backlog": [0, 0]})
    busy = pd.DataFrame({"time_s": [0.0, 60.0, 120.0], "backlog": [0, 3, 0]})
    fig = plot_backlog({"durable": flat})
    assert any("durable: no activity task waited" in t.get_text() for t in fig.axes[0].texts)
    fig = plot_backlog({"durable": busy})
    assert not fig.axes[0].texts and fig.axes[0].get_ylim()[1] >= 3
