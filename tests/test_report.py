"""`python -m sim report`: end to end on small scenarios, the wording rules of the conclusion,
the sensitivity inputs, and the no-partial-output guarantee."""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim import stats
from sim.analysis import plotdata as pdata
from sim.analysis import plots, report
from sim.cli import main

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT / "experiments" / "scenarios" / "video.toml"

SMALL = """
name = "small-gpu"
[pricing]
profile = "article-2026-04"
[[steps]]
name = "prepare"
kind = "gpu"
gpu = "h100"
duration = "5m"
[[steps]]
name = "render"
kind = "gpu"
gpu = "h100"
duration = "20m"
[failures.crash]
mtbf = "2h"
[strategies.restart]
[strategies.durable]
persist_latency = "10ms"
"""


@pytest.fixture(scope="module")
def small_report(tmp_path_factory) -> tuple[Path, Path, float, str]:
    root = tmp_path_factory.mktemp("report")
    scenario = root / "small.toml"
    scenario.write_text(SMALL)
    out = root / "out"
    started = time.perf_counter()
    rc = main(["report", str(scenario), "--out", str(out), "--quick", "--runs", "300", "--seed", "3",
               "--workers", "1", "--quiet"])
    seconds = time.perf_counter() - started
    assert rc == 0
    return scenario, out, seconds, (out / "report.md").read_text()


@pytest.mark.slow
def test_report_end_to_end(small_report, capsys) -> None:
    _, out, seconds, md = small_report
    # speed is measured by benchmark scripts, not timed tests (a loaded machine made this flaky)
    print(f"report --quick on a 2-step scenario: {seconds:.1f} s")
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    # the six report figures, and the two of the section "What we would change" (sim optimize)
    changes = ["figures/optimize_activities.png", "figures/optimize_heartbeat.png"]
    assert sorted(images) == sorted([f"figures/{name}.png" for name in report.FIGURES] + changes)
    assert "## What we would change" in md
    for f in changes:
        assert (out / f).stat().st_size > 5_000
    for name in report.FIGURES:
        for fmt in ("png", "svg"):
            f = out / "figures" / f"{name}.{fmt}"
            assert f.exists() and f.stat().st_size > 5_000, f
        assert (out / "figures" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>")
    # self-contained: every figure embedded, nothing linked
    pngs = [p for p in (out / "figures").iterdir() if p.suffix == ".png"]  # the optimiser's figures too
    assert html.count('src="data:image/png;base64,') == len(pngs) >= len(report.FIGURES)
    assert 'src="figures/' not in html
    assert "## Conclusion" in md and "<h2>Conclusion</h2>" in html
    # a maintained Markdown renderer: file globs stay literal, not italics
    assert "<code>figures/*.png</code>" in html and "<em>.png" not in html
    assert "Prices:" in md and "Sign convention:" in md
    assert not list(out.rglob(".*.tmp"))  # no leftovers of the atomic writes


@pytest.mark.slow
def test_report_numbers_match_an_independent_computation(small_report) -> None:
    """The headline saving is the paired difference of sim.simulate's rows (same seed and runs)."""
    scenario, out, _, md = small_report
    record = json.loads((out / "data" / "report.json").read_text())
    rows = sim.simulate(sim.load_scenario(scenario), 300, 3)
    d = stats.paired_differences(rows, "restart", "durable", metrics=["total_cost_usd"]).iloc[0]
    saving = record["saving_per_1000_runs"]
    assert saving["mean"] == pytest.approx(d["mean_diff"] * 1000, rel=1e-9)
    assert saving["ci_low"] == pytest.approx(d["ci_low"] * 1000, rel=1e-9)
    assert saving["ci_high"] == pytest.approx(d["ci_high"] * 1000, rel=1e-9)
    # the conclusion quotes that number with the direction its interval implies
    head = record["conclusions"][0]
    if d["ci_low"] > 0:
        assert f"durable saves {report.usd(saving['mean'])} per 1,000 runs" in head
    elif d["ci_high"] < 0:
        assert "costs" in head and "more" in head
    else:
        assert "no significant difference" in head
    assert report.usd(saving["mean"]).replace("$", "\\$") in md
    # crash-only exponential scenario of fixed GPU steps: the closed forms apply
    assert record["sweep"]["path"] == "failures.crash.mtbf"
    assert record["breakeven"]["analytic"] is not None
    assert "closed form of sim.analysis.analytic dashed" in md


def test_bad_scenario_exits_2_and_writes_nothing(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(SMALL.replace("mtbf = \"2h\"", "mtbff = \"2h\""))
    out = tmp_path / "out"
    assert main(["report", str(bad), "--out", str(out), "--quick", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "mtbff" in err
    assert not out.exists()
    # a scenario without failures cannot be swept: also a one-line error before any output
    calm = tmp_path / "calm.toml"
    calm.write_text(SMALL.replace('[failures.crash]\nmtbf = "2h"\n', ""))
    assert main(["report", str(calm), "--out", str(out), "--quick", "--quiet"]) == 2
    assert "no failure source" in capsys.readouterr().err
    assert not out.exists()
    # --out that is a file
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["report", str(VIDEO), "--out", str(afile), "--quick", "--quiet"]) == 2
    assert afile.read_text() == "x"
    assert main(["report", str(VIDEO), "--out", str(out), "--runs", "5", "--quiet"]) == 2
    assert main(["report", str(VIDEO), "--out", str(out), "--sweep", "failures.rate_limit.probability",
                 "--quick", "--quiet"]) == 2
    assert not out.exists()


@pytest.mark.parametrize(("figure", "workers"), [("plot_sensitivity", "1"),
                                                  ("plot_timeline", "2")])  # (drawn by the second process)
def test_an_error_while_rendering_leaves_no_partial_output(tmp_path, monkeypatch, figure, workers) -> None:
    scenario = tmp_path / "small.toml"
    scenario.write_text(SMALL)
    out = tmp_path / "out"

    def boom(*args, **kwargs):
        raise RuntimeError("rendering failed")

    monkeypatch.setattr(sim.analysis.plots, figure, boom)
    with pytest.raises(RuntimeError, match="rendering failed"):
        main(["report", str(scenario), "--out", str(out), "--quick", "--runs", "50", "--workers", workers, "--quiet"])
    assert not out.exists()


def test_figures_drawn_by_two_processes_are_those_drawn_by_one(tmp_path) -> None:
    """``render_figures`` with two cores: half the figures drawn by a forked process, the same
    bytes, in the same order."""
    scenario = tmp_path / "small.toml"
    scenario.write_text(SMALL)
    data = report.compute_report(sim.load_scenario(scenario),
                                 report.ReportOptions(runs=100, seed=3, quick=True, workers=1, quiet=True))
    one = report.render_figures(data, ("png", "svg"), workers=1)
    two = report.render_figures(data, ("png", "svg"), workers=2)
    assert list(one) == [f"figures/{name}.{fmt}" for name in report.FIGURES for fmt in ("png", "svg")]
    assert list(two) == list(one)
    assert two == one


@pytest.mark.parametrize(("mean", "lo", "hi", "expected"), [
    (29.0, 17.7, 40.3, "durable saves $29.0 per 1,000 runs"),
    (-3.97, -4.10, -3.85, "durable costs $3.97 more per 1,000 runs"),
    (1.2, -0.5, 2.9, "no significant difference"),
    (-1.2, -2.9, 0.5, "no significant difference"),
])
def test_saving_sentence_direction_follows_the_interval(mean, lo, hi, expected) -> None:
    text = report.saving_sentence("durable", "restart", mean, lo, hi)
    assert expected in text
    if "no significant" in text:
        assert "saves" not in text and "costs" not in text.split("total cost")[1]


def _fake_breakeven(estimate: float, lo: float, hi: float, a_lower: str) -> stats.BreakEven:
    pts = pd.DataFrame({"x": [1.0, 2.0], "mean_diff": [-1.0, 1.0], "ci_low": [-2, 0.5], "ci_high": [-0.5, 2],
                        "significant": [True, True]})
    return stats.BreakEven(x="x", metric="total_cost_usd", a="durable", b="restart", status="crossing",
                           estimate=estimate, ci_low=lo, ci_high=hi, confidence=0.95, a_lower=a_lower, winner=None,
                           bracket=(1.0, 2.0), crossings=(estimate,), fraction_no_crossing=0.0, scale="log",
                           method="linear", n_runs=10, n_boot=100, points=pts, message="")


def test_breakeven_sentence_in_rate_words() -> None:
    mtbf = report.Intensity("failures.crash.mtbf", 4 * 3600.0, "crash")
    # durable cheaper below MTBF 48 h = above 0.5 crashes per day
    be = _fake_breakeven(48 * 3600.0, 24 * 3600.0, 96 * 3600.0, "below")
    text = report.breakeven_sentence(be, mtbf, "durable", "restart", [3600.0, 7 * 86400.0])
    assert "durable stops paying below **0.5 crashes per day (MTBF 2 d)**" in text
    assert "95% CI 0.25 – 1 per day" in text  # the MTBF interval [24 h, 96 h] as a rate, ends swapped
    p429 = report.Intensity("failures.rate_limit.probability", 0.02, "rate_limit")
    be = _fake_breakeven(0.13, 0.12, np.inf, "above")
    text = report.breakeven_sentence(be, p429, "durable", "restart", [0.001, 0.3])
    assert "durable stops paying below **13% of calls rate limited**" in text
    assert "beyond the range" in text


def test_sensitivity_inputs_scale_what_they_say() -> None:
    sc = sim.load_scenario(VIDEO)
    inputs = {i.name: i for i in report.sensitivity_inputs(sc, 2.0, "durable")}
    crash = inputs["crash rate"]
    assert crash.low.failures.crash.mtbf_s == 8 * 3600 and crash.high.failures.crash.mtbf_s == 2 * 3600
    dep = inputs["deployment frequency"]
    assert dep.low.failures.deploy.every_s == 4 * 3600 and dep.high.failures.deploy.every_s == 3600
    vid = inputs["duration of video_generation"]
    assert vid.low.steps[2].duration.mean() == 450 and vid.high.steps[2].duration.mean() == 1800
    assert vid.low.steps[0].duration.mean() == 120  # other steps untouched
    gpu = inputs["h100 GPU price"]
    assert gpu.low.pricing.gpu["h100"] == 1.25 and gpu.high.pricing.gpu["h100"] == 5.0
    assert inputs["persist latency (durable)"].high.strategies["durable"].persist_latency_s == pytest.approx(0.02)
    assert {i.group for i in inputs.values()} == {"failure rate", "step duration", "price", "overhead"}
    # lognormal durations: both parameters scale, so the mean scales by the same factor
    paper = sim.load_scenario(ROOT / "experiments" / "scenarios" / "research_paper.toml")
    pin = {i.name: i for i in report.sensitivity_inputs(paper, 2.0)}
    summ = pin["duration of summary"]
    base = paper.steps[3].duration.mean()
    assert summ.high.steps[3].duration.mean() == pytest.approx(2 * base, rel=1e-9)
    assert pin["429 probability per call"].high.failures.rate_limit.probability == pytest.approx(0.04)


def test_intensity_grid_is_geometric_around_the_current_value() -> None:
    it = report.Intensity("failures.crash.mtbf", 3600.0, "crash")
    grid = report.intensity_grid(it, 2.0 ** np.arange(-4, 5))
    assert grid[4] == 3600.0 and grid[0] == 225.0 and grid[-1] == 57600.0
    p = report.Intensity("failures.rate_limit.probability", 0.2, "rate_limit", limit=0.8)
    g = report.intensity_grid(p, 2.0 ** np.arange(-4, 5))
    assert max(g) == pytest.approx(0.8) and min(g) == pytest.approx(0.8 / 256)
    assert pdata.is_log_spaced(g)
    # periodic deployments closer than the pipeline's length would never let restart finish:
    # the grid moves towards longer intervals by whole steps
    sc = sim.load_scenario(VIDEO)
    dep = next(i for i in report.failure_intensities(sc) if i.source == "deploy")
    work = sum(s.duration.mean() for s in sc.steps)
    assert dep.limit == pytest.approx(1.5 * (work + 30 + 20))
    g = report.intensity_grid(dep, 2.0 ** np.arange(-4, 5))
    assert min(g) >= dep.limit and min(g) == 1800.0 and len(g) == 9 and 7200.0 in g


def test_timeline_lanes_share_one_unit_for_wasted_compute() -> None:
    """Fix in sim.analysis.plots: every lane label states wasted compute in the same unit."""
    log = pd.DataFrame({
        "run": 0, "strategy": ["restart"] * 3 + ["durable"] * 3, "step": ["a", "b", "a", "a", "b", "b"],
        "step_index": [0, 1, 0, 0, 1, 1], "attempt": [1, 1, 2, 1, 1, 2],
        "start_s": [0, 300, 900, 0, 300, 500], "end_s": [300, 900, 1200, 300, 500, 1100],
        "outcome": ["completed", "crashed", "completed", "completed", "crashed", "completed"],
        "useful": [False, False, True, True, False, True]})
    fig = plots.plot_timeline(log, run=0)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    units = [re.search(r"wasted compute [\d.]+ (\w+)", t).group(1) for t in labels]
    assert units == ["min", "min"]  # 15 min and 200 s, both in minutes


def test_wide_duration_grid_ticks_in_their_own_units() -> None:
    """Fix in sim.analysis.plots: a 30 min … 5.33 d grid is labelled in round durations, each in its own
    unit ("30 min", "1 h", … "4 d"), not "0.0208" d (and not at every grid value: those overlapped)."""
    xs = 1800.0 * 2.0 ** np.arange(9)
    rng = np.random.default_rng(0)
    rows = [{"failures.deploy.every": x, "strategy": s, "run": r, "total_cost_usd": c + rng.normal(0, 0.01),
             "wasted_compute_s": 0.0}
            for x in xs for r in range(20) for s, c in (("restart", 1 + 1e3 / x), ("durable", 1 + 5e2 / x))]
    fig = plots.plot_breakeven(pd.DataFrame(rows), "failures.deploy.every")
    ax = fig.axes[1]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks[0] == "30 min" and ticks[1] == "1 h" and ticks[-1] == "4 d"
    assert ax.get_xlabel() == "deployment interval"


@pytest.mark.slow
def test_report_refuses_another_scenarios_folder(small_report, tmp_path, capsys) -> None:
    _, out, _, _ = small_report
    other = tmp_path / "other.toml"
    other.write_text(SMALL.replace('name = "', 'name = "other-', 1) if 'name = "' in SMALL else SMALL)
    import tomllib

    name = tomllib.loads(other.read_text())["name"]
    before = (out / "report.md").read_bytes()
    assert main(["report", str(other), "--out", str(out), "--quick", "--runs", "20", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "holds the report of scenario" in err and "--force" in err and name in err
    assert (out / "report.md").read_bytes() == before  # nothing written
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "notes.txt").write_text("mine")
    assert main(["report", str(other), "--out", str(stray), "--quick", "--runs", "20", "--quiet"]) == 2
    assert "not empty and holds no report" in capsys.readouterr().err


@pytest.mark.slow
def test_the_conclusion_names_its_prices_and_the_other_price_lists(small_report) -> None:
    import json

    from sim.model.costs import orchestration_profiles

    _, out, _, md = small_report
    record = json.loads((out / "data" / "report.json").read_text())
    first = record["conclusions"][0]
    assert first.startswith("With orchestration at `article-2026-04` prices and model and GPU prices from "
                            "`article-2026-04`")
    others = {o["profile"]: o for o in record["other_orchestration_prices"]}
    assert set(others) == set(orchestration_profiles())
    # a fixed monthly cost cannot be amortised without a monthly volume: said, not priced
    assert others["self-hosted-example"]["saving_per_1000_runs"] is None
    assert "monthly_workflows" in others["self-hosted-example"]["not_priced_because"]
    # the article's flat $0.0045 per run replaces the article's rates (a few thousandths of a dollar per 1,000 runs)
    flat = others["article-2026-04-per-paper"]["saving_per_1000_runs"]["mean"]
    base = record["saving_per_1000_runs"]["mean"]
    rates = others["article-2026-04"]["saving_per_1000_runs"]["mean"]
    assert rates == pytest.approx(base, rel=1e-12)  # the report's own profile
    assert 0 < 4.5 - (base - flat) < 0.01
    assert "## Under other orchestration price lists" in md


def test_the_price_section_shows_the_months_bill_by_volume(small_report) -> None:
    _, out, _, md = small_report
    record = json.loads((out / "data" / "report.json").read_text())
    bills = {(m["profile"], m["workflows_per_month"]): m for m in record["monthly_bills"]}
    assert {w for _p, w in bills} == {1e4, 1e6, 1e8}
    # 10,000 runs of 2 activities a month are inside Essentials' 1 M actions: the bill is its $100 minimum
    small = bills[("temporal-cloud-essentials", 1e4)]
    assert small["decided_by"] == "minimum" and small["bill_usd"]["mean"] == pytest.approx(100.0, rel=1e-9)
    assert bills[("temporal-cloud-business", 1e8)]["decided_by"] == "tiers"
    assert set(record["plan_minimum_decides_below_workflows"]) == {"temporal-cloud-essentials", "temporal-cloud-business"}
    assert "(the \\$100 minimum)" in md and "the plan's minimum is at least half the bill below" in md


# --------------------------------------------------------------------------- sentences beyond the swept range


def _sweep_rows(every_s: list[float], saving_per_run: callable, n: int = 50, seed: int = 0) -> pd.DataFrame:
    """Rows of a deployment sweep: restart costs 1 + saving(rate) + noise per run, durable 1 + noise
    (the same noise per replication at every point, as common random numbers give)."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 1e-4, n)
    rows = []
    for x in every_s:
        rate = 86400.0 / x
        for r in range(n):
            rows.append({"failures.deploy.every": x, "run": r, "strategy": "durable", "total_cost_usd": 1 + noise[r]})
            rows.append({"failures.deploy.every": x, "run": r, "strategy": "restart",
                         "total_cost_usd": 1 + noise[r] + saving_per_run(rate) + rng.normal(0, 1e-5)})
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("intercept", "expected"), [
    (0.008, "stays above 0"),          # levels off at $8 per 1,000 runs: no break-even below the range
    (-0.004, "a break-even lies below the swept range"),
    (0.0, "stays open"),               # the line reaches 0 exactly at no deployments
])
def test_the_sentence_beyond_the_swept_range_follows_the_trend(intercept: float, expected: str) -> None:
    from sim.analysis.report.analysis import Intensity
    from sim.analysis.report.document import beyond_range_sentence

    it = Intensity(path="failures.deploy.every", current=7200.0, source="deploy")
    # saving = intercept + 0.002 per (deployment per day), in $ per run
    rows = _sweep_rows([3600.0, 14400.0, 28800.0], lambda rate: intercept + 0.002 * rate)
    text = beyond_range_sentence(rows, it, "durable", "restart")
    assert expected in text, text
    # the extrapolated value is the intercept, per 1,000 runs (independent: the line we drew)
    m = re.search(r"would be (-?)\$([\d.]+) per 1,000 runs", text)
    assert float(m.group(1) + m.group(2)) == pytest.approx(intercept * 1000, abs=0.05)


def test_no_sentence_beyond_the_range_without_two_points() -> None:
    from sim.analysis.report.analysis import Intensity
    from sim.analysis.report.document import beyond_range_sentence

    it = Intensity(path="failures.deploy.every", current=7200.0, source="deploy")
    assert beyond_range_sentence(_sweep_rows([3600.0], lambda r: 0.01), it, "durable", "restart") is None


def _be(status: str, est: float, lo: float, hi: float) -> stats.BreakEven:
    return stats.BreakEven(x="failures.rate_limit.probability", metric="total_cost_usd", a="durable", b="restart",
                           status=status, estimate=est, ci_low=lo, ci_high=hi, confidence=0.95,
                           a_lower="above" if status == "crossing" else None,
                           winner=None if status == "crossing" else "durable", bracket=None, crossings=(),
                           fraction_no_crossing=0.0, scale="log", method="linear", n_runs=100, n_boot=100,
                           points=pd.DataFrame(), message="")


@pytest.mark.parametrize(("be", "closed", "expected"), [
    (_be("crossing", 0.02, 0.01, 0.04), 0.03, "inside the simulated interval"),
    (_be("crossing", 0.02, 0.01, 0.04), 0.05, "outside the simulated interval"),
    (_be("crossing", 0.02, 0.01, 0.04), 0.9, "outside the swept range"),
    # an infinite end: half the line is "inside", which proves nothing
    (_be("crossing", 0.02, -math.inf, 0.042), 0.01, "does not contradict, but cannot confirm"),
    (_be("crossing", 0.02, 0.01, math.inf), 0.3, "open above"),
    (_be("no_crossing", math.nan, math.nan, math.nan), 0.05, "the simulation finds no crossing"),
])
def test_closed_form_position_is_true_with_infinite_ends(be, closed: float, expected: str) -> None:
    from sim.analysis.report import closed_form_position

    text = closed_form_position(be, closed, [0.005, 0.4])
    assert expected in text, text
    assert "inside the simulated interval" not in text or math.isfinite(be.ci_low + be.ci_high)


def test_breakeven_text_says_where_an_infinite_end_lies() -> None:
    from sim.analysis.report import breakeven_text

    text = breakeven_text(_be("crossing", 0.02, -math.inf, 0.042))
    assert "inf" not in text and "below the swept range to 0.042" in text


def test_every_docs_link_of_the_report_opens_in_its_folder(small_report) -> None:
    """The report cites docs/costs.md and others: each mention is a link to a copy in the report's
    own folder (the installed page), so it opens wherever the folder is shared."""
    _, out, _, md = small_report
    mentions = re.findall(r"docs/[a-z_-]+\.md", md)
    links = re.findall(r"\]\((docs/[a-z_-]+\.md)\)", md)
    assert links and len(mentions) == 2 * len(links)  # every mention is the text and target of a link
    for target in set(links):
        page = out / target
        assert page.is_file() and page.read_bytes() == (Path(__file__).parents[1] / target).read_bytes()
    html = (out / "report.html").read_text()
    assert set(re.findall(r'href="(docs/[a-z_-]+\.md)"', html)) == set(links)


# --------------------------------------------------------------------------- headlines by a precision target


def test_replications_for_a_relative_half_width() -> None:
    from sim.analysis.report.precision import replications_for

    # half-width 0.2 at n = 1,000 for a mean of 1: 10% needs (0.2/0.1)² = 4 × as many
    assert replications_for(1.0, 0.2, 1000, 0.10) == 4000
    assert replications_for(-1.0, 0.2, 1000, 0.10) == 4000  # the sign of the saving does not matter
    assert replications_for(1.0, 0.21, 1000, 0.10) == 5000  # 4,410 rounded up to a thousand
    assert replications_for(1.0, 0.05, 1000, 0.10) == 1000  # already reached
    assert replications_for(0.0, 0.05, 1000, 0.10) == math.inf


def test_the_headline_gets_the_replications_its_target_needs() -> None:
    """research_paper at 500 replications: the saving's interval is far wider than 10% of it, so the
    baseline is run again with more (same seed: the first 500 are the same replications), up to
    the cap; the precision reported is that of the runs returned (independent: recomputed here)."""
    from sim.analysis.report.analysis import ReportOptions, _headline_runs

    scenario = sim.load_scenario("research_paper")
    first = sim.simulate(scenario, 500, 4)
    paired = stats.paired_differences(first, "durable", "restart", metrics=["total_cost_usd"])
    opts = ReportOptions(runs=500, seed=4, target=0.10, max_runs=3000)
    runs, paired2, prec = _headline_runs(scenario, opts, "durable", "restart", first, paired)
    assert prec.extended and prec.first_runs == 500 and prec.runs == 3000 == runs["run"].nunique()
    key = ["run", "strategy"]
    a = runs[runs["run"] < 500].sort_values(key).reset_index(drop=True)["total_cost_usd"]
    b = first.sort_values(key).reset_index(drop=True)["total_cost_usd"]
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    wide = runs.pivot_table(index="run", columns="strategy", values="total_cost_usd")
    d = (wide["restart"] - wide["durable"]).to_numpy()
    from scipy import stats as sps

    half = sps.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    assert prec.mean == pytest.approx(d.mean(), rel=1e-9) and prec.half_width == pytest.approx(half, rel=1e-9)
    assert prec.met == (half <= 0.10 * abs(d.mean()))
    text = prec.sentence()
    if not prec.met:
        assert "not reached" in text and "3,000 (--max-runs)" in text
    # quick: nothing added, and the sentence says why
    quick = ReportOptions(runs=500, seed=4, target=0.10, max_runs=3000, quick=True)
    runs_q, _, prec_q = _headline_runs(scenario, quick, "durable", "restart", first, paired)
    assert runs_q is first and not prec_q.extended and "--quick runs no more" in prec_q.sentence()


def test_the_precision_sentences_are_true() -> None:
    from sim.analysis.report.precision import Precision

    met = Precision(target=0.1, max_runs=100_000, first_runs=10_000, runs=40_000, mean=0.33e-3,
                    half_width=0.02e-3, needed=40_000, extended=True)
    assert met.met and "within the 10% target" in met.sentence() and "6.06% of the estimate" in met.sentence()
    capped = Precision(target=0.1, max_runs=100_000, first_runs=10_000, runs=100_000, mean=0.1e-3,
                       half_width=0.05e-3, needed=2_500_000, extended=True)
    assert not capped.met and "**not reached**" in capped.sentence() and "2,500,000" in capped.sentence()
    assert "the cap of 100,000" in capped.sentence()
    zero = Precision(target=0.1, max_runs=100_000, first_runs=10_000, runs=10_000, mean=0.0, half_width=0.05,
                     needed=math.inf, extended=False)
    assert not zero.met and "no number of replications" in zero.sentence()


def test_docs_links_to_a_published_copy() -> None:
    from sim.analysis.report.document import link_docs

    text = "Prices (sources: docs/costs.md); see [docs/model.md](docs/model.md) and `docs/costs.md`; docs/nope.md."
    linked, copies = link_docs(text, docs_url="..")
    assert copies == {}
    assert "(sources: [docs/costs.md](../costs.md))" in linked
    assert "[docs/model.md](docs/model.md)" in linked  # already a link: left alone
    assert "`docs/costs.md`" in linked and "docs/nope.md." in linked  # code and pages not installed: as written
    linked, copies = link_docs(text)
    assert set(copies) == {"costs"} and "[docs/costs.md](docs/costs.md)" in linked
