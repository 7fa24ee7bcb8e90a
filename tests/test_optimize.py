"""sim optimize: explicit activity groups, the closed form and its dynamic program, the CRN ranking,
the heartbeat search against Daly, the command and the recommended scenario."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.analysis import analytic
from sim.analysis.optimize import exact
from sim.analysis.optimize.heartbeat import equal_segments_s, search_heartbeat
from sim.analysis.optimize.recommend import recommend
from sim.analysis.optimize.select import rank
from sim.analysis.optimize.toml_out import dumps
from sim.cli import main
from sim.errors import ScenarioError
from sim.experiment.api import simulate
from sim.model.costs import with_orchestration_profile
from sim.model.scenario import load_scenario, scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "experiments" / "scenarios"

# a chain whose cheapest grouping is neither per-step nor one activity (checked below)
MIXED = {
    "name": "mixed-chain",
    "pricing": {"profile": "article-2026-04", "orchestration": {"per_million_actions_usd": 50.0}},
    "steps": [
        {"name": "fetch", "kind": "llm", "model": "gpt-5.4-mini", "input_tokens": 2000, "duration": "10s"},
        {"name": "parse", "kind": "llm", "model": "deepseek-v4-pro", "input_tokens": 3000,
         "duration": {"dist": "lognormal", "median": "20s", "p95": "40s"}},
        {"name": "embed", "kind": "gpu", "gpu": "l4", "duration": "40s"},
        {"name": "render", "kind": "gpu", "gpu": "h100", "duration": {"dist": "lognormal", "median": "6m", "p95": "9m"}},
        {"name": "summary", "kind": "llm", "model": "gpt-5.4-mini", "output_tokens": 12000,
         "duration": {"dist": "lognormal", "median": "70s", "p95": "110s"}},
    ],
    "failures": {"crash": {"mtbf": "3h", "detection_delay": "30s", "restart_time": "20s"},
                 "rate_limit": {"probability": 0.05, "steps": ["summary", "fetch"], "retry_after": "2s"}},
    "strategies": {"restart": {}, "durable": {"persist_latency": "10ms"}},
}


def _with_strategies(raw: dict, strategies: dict) -> dict:
    out = {**raw, "strategies": strategies}
    return out


# --------------------------------------------------------------------------- explicit groups


def test_groups_equal_every_k_and_per_step_run_by_run() -> None:
    """groups [[a,b],[c,d]] is checkpoint every 2; singleton groups are durable; both engines agree."""
    sc = load_scenario(SCENARIOS / "video.toml")
    names = sc.step_names
    strategies = {
        "every2": {"kind": "checkpoint", "every": 2, "persist_latency": "10ms"},
        "pairs": {"kind": "checkpoint", "groups": [names[:2], names[2:]], "persist_latency": "10ms"},
        "durable": {"persist_latency": "10ms"},
        "singles": {"kind": "checkpoint", "groups": [[n] for n in names], "persist_latency": "10ms"},
        "odd": {"kind": "checkpoint", "groups": [names[:1], names[1:3], names[3:]], "persist_latency": "10ms"},
    }
    scg = scenario_from_dict(_with_strategies(sc.raw, strategies))
    cols = ["makespan_s", "total_cost_usd", "orchestration_actions", "history_events", "pipeline_restarts"]
    des = simulate(scg, 3000, 5, engine="des")
    fast = simulate(scg, 3000, 5, engine="fast")
    pd.testing.assert_frame_equal(des[cols].reset_index(drop=True), fast[cols].reset_index(drop=True), rtol=1e-9)

    def rows(label: str) -> pd.DataFrame:
        return des.loc[des["strategy"] == label, cols].reset_index(drop=True)

    pd.testing.assert_frame_equal(rows("every2"), rows("pairs"))
    pd.testing.assert_frame_equal(rows("durable"), rows("singles"))
    odd = rows("odd")
    # one activity per group: 3 activities (and the workflow-task timeouts some crashes add)
    assert (odd["history_events"] >= 5 + 6 * 3).all()
    assert (odd["history_events"] == 5 + 6 * 3).mean() > 0.9
    assert not odd.equals(rows("pairs"))


def test_fleet_engine_runs_explicit_groups_as_every_k() -> None:
    from sim.engines.fleet import simulate_fleet

    sc = load_scenario(SCENARIOS / "fleet_research.toml")
    raw = sc.raw
    names = sc.step_names
    raw["strategies"] = {"checkpoint": raw["strategies"]["checkpoint"],
                         "pairs": {"kind": "checkpoint", "groups": [names[:2], names[2:]], "persist_latency": "10ms"}}
    raw["fleet"]["horizon"] = "20m"
    workflows, _ = simulate_fleet(scenario_from_dict(raw), 1, 4)
    cols = ["latency_s", "total_cost_usd", "orchestration_actions", "history_events", "provider_429s"]
    a = workflows[workflows["strategy"] == "checkpoint"][cols].reset_index(drop=True)
    b = workflows[workflows["strategy"] == "pairs"][cols].reset_index(drop=True)
    assert len(a) > 10
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize(("groups", "problem"), [
    ([["transcription", "script_analysis"], ["thumbnail"]], "'video_generation' in no group"),
    ([["script_analysis", "transcription"], ["video_generation", "thumbnail"]], "in pipeline order"),
    ([["transcription", "transcription"], ["script_analysis", "video_generation", "thumbnail"]], "more than one"),
    ([["transcripton"], ["script_analysis", "video_generation", "thumbnail"]], "did you mean 'transcription'"),
    ([], "'groups' is empty"),
    ([["transcription", "script_analysis", "video_generation", "thumbnail"], []], "group 1 is empty"),
])
def test_bad_groups_are_one_line_naming_the_key(groups: list, problem: str) -> None:
    raw = load_scenario(SCENARIOS / "video.toml").raw
    raw["strategies"]["grouped"] = {"kind": "checkpoint", "groups": groups}
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(raw, file="bad.toml")
    text = str(info.value)
    assert text.startswith("bad.toml: key 'strategies.grouped.groups': "), text
    assert problem in text and "\n" not in text


def test_every_and_groups_together_is_an_error() -> None:
    raw = load_scenario(SCENARIOS / "video.toml").raw
    raw["strategies"]["grouped"] = {"kind": "checkpoint", "every": 2, "groups": [raw_names(raw)]}
    with pytest.raises(ScenarioError, match="key 'strategies.grouped': give either 'every' or 'groups'"):
        scenario_from_dict(raw, file="bad.toml")


def raw_names(raw: dict) -> list[str]:
    return [s["name"] for s in raw["steps"]]


# --------------------------------------------------------------------------- closed form


def _gpu_chain(durations_s: list[float], mtbf_s: float, prices: list[float]) -> exact.ChainModel:
    raw = {"name": "gpu", "steps": [{"name": f"s{i}", "kind": "gpu", "price_per_hour": p * 3600, "duration": d}
                                    for i, (d, p) in enumerate(zip(durations_s, prices, strict=True))],
           "defaults": {"retry": {"initial_interval": 0}},
           "failures": {"crash": {"mtbf": mtbf_s}},
           "strategies": {"restart": {"retry": {"initial_interval": 0}}, "durable": {}}}
    return exact.chain_model(scenario_from_dict(raw))


def test_closed_form_matches_the_analytic_module() -> None:
    """One group, singleton groups, and 429s only: the formulas of sim.analysis.analytic."""
    work, prices, mtbf = [120.0, 30.0, 900.0, 45.0], [0.001, 0.002, 0.0007, 0.003], 3600.0
    m = _gpu_chain(work, mtbf, prices)
    lam = 1.0 / mtbf
    one = exact.grouping_expected(m, (tuple(range(4)),)).compute_cost_usd
    singles = exact.grouping_expected(m, tuple((i,) for i in range(4))).compute_cost_usd
    assert one == pytest.approx(analytic.restart_compute_cost_exponential_usd(work, prices, lam), rel=1e-12)
    assert singles == pytest.approx(analytic.durable_compute_cost_exponential_usd(work, prices, lam), rel=1e-12)
    assert exact.restart_expected(m).makespan_s == pytest.approx(
        analytic.restart_makespan_exponential_s(sum(work), lam, 0.0), rel=1e-12)
    # 429s only: restart Σ c_k Q_k / Q_n, durable Σ c_k + overhead + per-action × (1 + Σ 1/(1 − p_k))
    sc = load_scenario(SCENARIOS / "research_paper.toml")
    raw = sc.raw
    # the article's flat $0.0045 per paper (the bundled file is on Temporal's list prices) plus $120/M actions
    raw["pricing"]["orchestration"] = {"profile": "article-2026-04-per-paper", "per_million_actions_usd": 120.0}
    sc = scenario_from_dict(raw)
    m = exact.chain_model(sc)
    costs = [sc.step_attempt_cost_usd(s) for s in sc.steps]
    p = [0.0, 0.0, 0.0, 0.02]
    assert exact.restart_expected(m).total_cost_usd == pytest.approx(analytic.restart_expected_cost_usd(costs, p))
    durable = exact.grouping_expected(m, tuple((i,) for i in range(4))).total_cost_usd
    assert durable == pytest.approx(analytic.durable_expected_cost_usd(costs, p, 0.0045, 120e-6), rel=1e-12)


@st.composite
def chains(draw) -> dict:
    n = draw(st.integers(1, 10))
    steps = []
    for i in range(n):
        if draw(st.booleans()):
            dur = draw(st.sampled_from(["20s", "2m", "9m", {"dist": "lognormal", "median": "40s", "p95": "90s"}]))
            steps.append({"name": f"s{i}", "kind": "gpu", "gpu": draw(st.sampled_from(["h100", "l4"])),
                          "duration": dur})
        else:
            steps.append({"name": f"s{i}", "kind": "llm", "model": "gpt-5.4-mini",
                          "input_tokens": draw(st.integers(0, 20000)), "output_tokens": draw(st.integers(0, 15000)),
                          "duration": draw(st.sampled_from(["5s", "40s", {"dist": "lognormal", "median": "30s",
                                                                         "p95": "60s"}]))})
    failures: dict = {}
    if draw(st.booleans()):
        failures["crash"] = {"mtbf": draw(st.sampled_from(["20m", "2h", "1d"])), "detection_delay": "30s",
                             "restart_time": "10s"}
    if draw(st.booleans()):
        limited = [s["name"] for s in steps if draw(st.booleans())]
        failures["rate_limit"] = {"probability": draw(st.floats(0.0, 0.4)), "steps": limited, "retry_after": "2s"}
    orchestration = {"per_million_actions_usd": draw(st.sampled_from([0.0, 0.5, 50.0, 5000.0])),
                     "per_workflow_run_usd": draw(st.sampled_from([0.0, 0.0045])),
                     "active_storage_per_gb_hour_usd": draw(st.sampled_from([0.0, 500.0])),
                     "retained_storage_per_gb_hour_usd": draw(st.sampled_from([0.0, 3.0])),
                     "retention_days": 7.0, "bytes_per_history_event": 2000.0}
    return {"name": "random-chain", "pricing": {"profile": "article-2026-04", "orchestration": orchestration},
            "steps": steps, "failures": failures,
            "strategies": {"restart": {}, "durable": {"persist_latency": draw(st.sampled_from(["0s", "50ms"]))}}}


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(chains())
def test_dynamic_program_equals_brute_force(raw: dict) -> None:
    """The program's optimum equals the best of all 2^(n−1) groupings (each evaluated from scratch)."""
    model = exact.chain_model(scenario_from_dict(raw))
    dp = exact.optimal_grouping(model)
    brute = exact.brute_force(model)
    assert dp.best.total_cost_usd == pytest.approx(brute.total_cost_usd, rel=1e-10, abs=1e-15)
    for g, best_g in enumerate(dp.by_activities, start=1):
        assert len(best_g.groups) == g
        same_count = [exact.grouping_expected(model, gr).total_cost_usd for gr in exact.all_groupings(model.n)
                      if len(gr) == g]
        assert best_g.total_cost_usd == pytest.approx(min(same_count), rel=1e-10, abs=1e-15)


def test_simulated_cost_of_the_chosen_grouping_agrees_with_the_program() -> None:
    sc = scenario_from_dict(MIXED)
    model = exact.chain_model(sc)
    opt = exact.optimal_grouping(model)
    groups = opt.best.groups
    assert 1 < len(groups) < model.n  # neither one activity nor per-step: a real choice
    assert exact.describe(model, groups) == "fetch + parse + embed | render | summary"
    raw = _with_strategies(MIXED, {"chosen": {"kind": "checkpoint", "groups": exact.names_of(model.names, groups),
                                              "persist_latency": "10ms"}, "restart": {}})
    df = simulate(scenario_from_dict(raw), 40000, 3)
    for label, expected in (("chosen", opt.best), ("restart", exact.restart_expected(model))):
        part = df[df["strategy"] == label]
        for col, value in (("total_cost_usd", expected.total_cost_usd), ("makespan_s", expected.makespan_s)):
            x = part[col].to_numpy()
            se = x.std(ddof=1) / math.sqrt(x.size)
            assert abs(x.mean() - value) < 4 * se, (label, col, x.mean(), value, se)


# --------------------------------------------------------------------------- selection


def _frame(values: dict[str, np.ndarray]) -> pd.DataFrame:
    rows = [pd.DataFrame({"strategy": k, "run": np.arange(v.size), "total_cost_usd": v, "makespan_s": v})
            for k, v in values.items()]
    return pd.concat(rows, ignore_index=True)


def test_selection_rule_separated_or_tied() -> None:
    rng = np.random.default_rng(0)
    common = rng.normal(10.0, 3.0, 2000)  # the shared failure environment
    noise = rng.normal(0.0, 0.1, (3, 2000))
    df = _frame({"a": common + noise[0], "b": common + 0.5 + noise[1], "c": common + 0.001 + noise[2]})
    r = rank(df, ["a", "b", "c"], "cost")
    assert r.best == "a" and r.runner_up == "c" and not r.separated and r.tied == ("a", "c")
    assert "tied with 'c'" in r.statement
    r2 = rank(df, ["a", "b"], "cost")
    assert r2.separated and r2.tied == ("a",) and r2.gap.low > 0.45
    assert "ahead of the runner-up 'b'" in r2.statement
    p95 = rank(df, ["a", "b"], "p95")
    assert p95.best == "a" and p95.separated


# --------------------------------------------------------------------------- heartbeat


@pytest.mark.slow
def test_recommended_heartbeat_interval_agrees_with_daly() -> None:
    """One 10 h GPU step, exponential crashes (MTBF 2 h), saves of 60 s, restart 2 min: Daly's
    optimum lies within the simulated interval of the optimum, and so does the recommendation,
    up to the equal-segment rounding."""
    raw = {"name": "daly", "steps": [{"name": "train", "kind": "gpu", "price_per_hour": 2.5, "duration": 36000}],
           "defaults": {"retry": {"initial_interval": 0, "maximum_attempts": 0}},
           "failures": {"crash": {"mtbf": 7200, "restart_time": 120, "detection_delay": 0}},
           "strategies": {"durable": {}}}
    hb = search_heartbeat(scenario_from_dict(raw), "makespan", 3000, 11, checkpoint_cost_s=60.0)
    daly = analytic.daly_interval_s(60.0, 7200.0)
    assert hb.ci_low_s <= daly <= hb.ci_high_s, hb
    assert hb.ci_high_s - hb.ci_low_s < 0.15 * daly
    step = 36000 / math.floor(36000 / hb.best_every_s) - hb.best_every_s  # next coarser equal segment
    assert hb.ci_low_s - step <= hb.best_every_s <= hb.ci_high_s + step, hb
    assert hb.best_every_s == equal_segments_s(36000, hb.best_every_s)


def test_per_step_heartbeat_intervals_follow_dalys_dependence_on_the_save_cost() -> None:
    """Two GPU steps, 1 h and 4 h, exponential crashes (MTBF 2 h): the short step writes a large
    checkpoint (120 s per save), the long one a small one (5 s). Daly's optimum sqrt(2·C·MTBF)
    does not depend on the step's length but grows with C: about 1,236 s for the short step and
    265 s for the long one. The per-step search recommends intervals in that order, with no
    overlap between the two steps' ranges of intervals not distinguishable from their optimum,
    and each range contains Daly's value (600 replications, seed 3)."""
    from sim.analysis.optimize.heartbeat import search_heartbeats

    raw = {"name": "two", "steps": [{"name": "short", "kind": "gpu", "price_per_hour": 2.5, "duration": 3600},
                                    {"name": "long", "kind": "gpu", "price_per_hour": 2.5, "duration": 14400}],
           "defaults": {"retry": {"initial_interval": 0}},
           "failures": {"crash": {"mtbf": 7200, "restart_time": 60, "detection_delay": 0}},
           "strategies": {"heartbeat": {"every": "10m", "checkpoint_cost": "5s",
                                        "checkpoint_cost_by_step": {"short": "120s"}}}}
    plan = search_heartbeats(scenario_from_dict(raw), "makespan", 600, 3, checkpoint_cost_s=5.0,
                             cost_by_step_s={"short": 120.0})
    by = {h.step: h for h in plan.searches}
    assert [h.step for h in plan.searches] == ["long", "short"]  # longest first
    assert by["short"].checkpoint_cost_s == 120.0 and by["long"].checkpoint_cost_s == 5.0
    assert by["short"].best_every_s > by["long"].best_every_s
    assert by["short"].tied_low_s > by["long"].tied_high_s
    for h in plan.searches:
        daly = analytic.daly_interval_s(h.checkpoint_cost_s, 7200.0)
        assert h.tied_low_s <= daly <= h.tied_high_s, (h.step, daly, h.tied_low_s, h.tied_high_s)
    table = plan.table()
    sc = scenario_from_dict({**raw, "strategies": {"recommended": table}})
    assert sc.strategies["recommended"].intervals_s(sc.steps) == (by["short"].best_every_s, by["long"].best_every_s)


def test_a_step_where_saves_do_not_pay_gets_none() -> None:
    """A 2 min GPU step, exponential crashes (MTBF 2 h), saves of 10 s: without saves a run loses
    about w²/(2·MTBF) = 1 s of work on average, one save costs 10 s, so the optimum is no save
    (H = w, the search's upper end, which bounded Brent never evaluates: the grid does). The plan
    leaves the step without heartbeat (0) and says so. (The bundled video's transcription step
    was given saves every 40 s, at a higher cost than none, before the grid was consulted.)"""
    from sim.analysis.optimize.heartbeat import search_heartbeats

    raw = {"name": "short", "steps": [{"name": "s", "kind": "gpu", "price_per_hour": 2.5, "duration": 120}],
           "defaults": {"retry": {"initial_interval": 0}},
           "failures": {"crash": {"mtbf": 7200, "restart_time": 60, "detection_delay": 0}},
           "strategies": {"durable": {}}}
    plan = search_heartbeats(scenario_from_dict(raw), "cost", 400, 5, checkpoint_cost_s=10.0)
    (hb,) = plan.searches
    assert hb.best_every_s == 120.0 and hb.saves_at_best == 0
    assert hb.best_value == hb.curve["value"].min()
    assert plan.intervals_s == {"s": 0.0}
    assert "no saves in any GPU step" in plan.describe()


def test_per_step_intervals_run_as_one_interval_when_equal_and_zero_means_no_saves() -> None:
    """every = H is every_by_step = {each GPU step: H}, run by run; an interval of 0 makes the
    step save nothing (as durable), while the other step still saves."""
    steps = [{"name": "a", "kind": "gpu", "price_per_hour": 2.5, "duration": {"dist": "exponential", "mean": 3000}},
             {"name": "b", "kind": "gpu", "price_per_hour": 2.5, "duration": 5000}]
    raw = {"name": "hb", "steps": steps, "failures": {"crash": {"mtbf": "1h", "restart_time": "30s"}},
           "defaults": {"retry": {"initial_interval": 0}},
           "strategies": {"one": {"kind": "heartbeat", "every": "7m", "checkpoint_cost": "3s"},
                          "each": {"kind": "heartbeat", "every_by_step": {"a": "7m", "b": "420s"},
                                   "checkpoint_cost": "3s"},
                          "a_off": {"kind": "heartbeat", "every_by_step": {"a": 0, "b": "7m"}, "checkpoint_cost": "3s"},
                          "durable": {}}}
    df = simulate(scenario_from_dict(raw), 300, seed=4).set_index(["strategy", "run"]).sort_index()
    cols = ["makespan_s", "total_cost_usd", "wasted_compute_s", "heartbeats", "attempts"]
    np.testing.assert_array_equal(df.loc["one", cols].to_numpy(), df.loc["each", cols].to_numpy())
    # with a's saves off, a wastes what durable wastes in it: fewer heartbeats than 'one', more waste
    assert (df.loc["a_off", "heartbeats"] <= df.loc["one", "heartbeats"]).all()
    assert df.loc["a_off", "heartbeats"].sum() < df.loc["one", "heartbeats"].sum()
    assert df.loc["a_off", "heartbeats"].sum() > 0


# --------------------------------------------------------------------------- recommend and the command


def test_recommend_research_paper_prefers_restart_at_the_article_prices() -> None:
    """At $0.0045 per durable run and 2% 429s on the summary only, restart is cheaper (README audit)."""
    base = load_scenario(SCENARIOS / "research_paper.toml")  # on Temporal's list prices: use the article's
    raw = with_orchestration_profile(base.raw, "article-2026-04-per-paper")
    rec = recommend(scenario_from_dict(raw, file=base.path, base_dir=SCENARIOS), "cost", runs=2000, seed=2)
    assert rec.best == "restart" and rec.ranking.separated
    t = rec.table.set_index("candidate")
    assert (t["exact_z"].abs().fillna(0) < 4).all()
    assert rec.exact_optimum is not None
    text = rec.scenario_toml()
    sc = scenario_from_dict(tomllib.loads(text))
    assert sc.strategies["recommended"].kind == "restart"


def test_long_chain_without_closed_form_gets_one_candidate_per_activity_count() -> None:
    """8 steps, Weibull crashes and deployments: the exponential stand-in's program shortlists the
    best grouping for each number of activities (7 besides per-step), and the simulation ranks them."""
    steps = [{"name": f"s{i}", "kind": "gpu", "gpu": "h100", "duration": d}
             for i, d in enumerate(["1m", "30s", "5m", "20s", "2m", "40s", "3m", "10s"])]
    raw = {"name": "long", "pricing": {"profile": "article-2026-04",
                                       "orchestration": {"per_million_actions_usd": 3000.0}},
           "steps": steps,
           "failures": {"crash": {"distribution": "weibull", "shape": 0.7, "scale": "1h", "restart_time": "20s"},
                        "deploy": {"mode": "periodic", "every": "1h", "drain": "20s"}},
           "strategies": {"restart": {}, "durable": {"persist_latency": "10ms"}}}
    rec = recommend(scenario_from_dict(raw), "cost", 300, 1, heartbeat=False)
    assert rec.exact_optimum is None and "Weibull" in rec.exact_reason
    groupings = rec.table[rec.table["kind"] == "checkpoint"]
    assert sorted(groupings["activities"]) == list(range(1, 8))
    assert set(rec.ranking.tied) <= set(rec.table["candidate"]) and rec.best in rec.ranking.tied


def test_toml_writer_round_trips_every_bundled_scenario() -> None:
    for path in sorted(SCENARIOS.glob("*.toml")):
        raw = tomllib.loads(path.read_text())
        assert tomllib.loads(dumps(raw)) == raw, path.name


@pytest.mark.slow
def test_cli_optimize_writes_a_runnable_recommendation(tmp_path: Path, capsys) -> None:
    scenario = tmp_path / "mixed.toml"
    scenario.write_text(dumps(MIXED))
    out = tmp_path / "opt"
    assert main(["optimize", str(scenario), "--runs", "300", "--seed", "1", "--out", str(out),
                 "--heartbeat-runs", "100", "--heartbeat-cost", "5s"]) == 0
    text = capsys.readouterr().out
    assert "selection:" in text and "closed form" in text and "heartbeat:" in text
    for name in ("recommended.toml", "candidates.csv", "activities.csv", "cost_vs_activities.png",
                 "heartbeat_interval.png", "heartbeat_curve.csv", "recommendation.txt"):
        assert (out / name).is_file(), name
    table = pd.read_csv(out / "candidates.csv")
    assert len(table) == 2 ** 4 - 1 + 2 + 1  # groupings except per-step, durable, restart, heartbeat
    assert main(["run", str(out / "recommended.toml"), "--runs", "50", "--out", str(tmp_path / "run")]) == 0


@pytest.mark.parametrize(("argv", "message"), [
    (["--objective", "weighted"], "needs --value-of-time"),
    (["--value-of-time", "10"], "is for --objective weighted"),
    (["--heartbeat-cost", "soon"], "--heartbeat-cost"),
    (["--runs", "1"], "--runs must be at least 2"),
])
def test_cli_optimize_bad_input(argv: list[str], message: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "opt"
    assert main(["optimize", str(SCENARIOS / "video.toml"), "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not out.exists()


def test_cli_optimize_fleet_without_rate_limits_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    assert main(["optimize", str(SCENARIOS / "fleet_video.toml"), "--fleet", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no rate-limited step" in err and "\n" not in err
    assert not (tmp_path / "o").exists()


def _small_storm() -> dict:
    raw = tomllib.loads((SCENARIOS / "fleet_retry_storm.toml").read_text())
    raw["fleet"]["workflows"] = raw["fleet"]["workers"] = 40
    raw["provider"]["requests_per_minute"] = 60  # 1 call per second, burst of 5
    return raw


@pytest.mark.slow
def test_retry_search_breaks_a_retry_storm() -> None:
    """40 workflows refused together, retrying without jitter up to 60 s: a storm. The search's
    policy brings the mean latency near the limit's own bound: the k-th call admitted at about
    (k − burst)/rate, so mean latency ≈ (N − burst)/(2·rate) + call time = 17.5 + 2.1 s."""
    from sim.analysis.optimize.retry import search_retry

    sc = scenario_from_dict(_small_storm())
    res = search_retry(sc, "makespan", 3, 0, jitters=("none", "full"), max_evaluations=10)
    bound = (40 - 5) / 2.0 + 2.1
    assert res.current.value > 2.0 * bound  # the storm
    assert res.best.label != "current" and res.ranking.separated
    assert res.best.value < 1.5 * bound, res.table
    assert res.ranking.vs_best["current"].low > 0


@pytest.mark.slow
def test_cli_optimize_fleet_writes_a_runnable_policy(tmp_path: Path, capsys) -> None:
    scenario = tmp_path / "storm.toml"
    scenario.write_text(dumps(_small_storm()))
    out = tmp_path / "opt"
    assert main(["optimize", str(scenario), "--fleet", "--objective", "makespan", "--fleet-replications", "2",
                 "--max-evaluations", "4", "--out", str(out)]) == 0
    assert "selection:" in capsys.readouterr().out
    sc = load_scenario(out / "recommended.toml")
    assert sc.steps[0].retry != load_scenario(scenario).steps[0].retry
    assert (out / "retry_candidates.csv").is_file()


# --------------------------------------------------------------------------- workflow graphs


def test_graph_groupings_are_enumerated_along_mergeable_edges() -> None:
    """plan → (a, b) → join → wait: 4 mergeable edges (the wait's edge is not); merging along a
    subset gives connected groups; a → join and b → join without a and b together is fine, but
    plan + join without a, b is never produced (not along edges), and every grouping is valid."""
    from sim.analysis.optimize import graph_groups

    gpu = {"kind": "gpu", "price_per_hour": 3.6, "duration": 10.0}
    raw = {"name": "g", "steps": [{"name": "plan", **gpu}, {"name": "a", "after": ["plan"], **gpu},
                                  {"name": "b", "after": ["plan"], **gpu}, {"name": "join", "after": ["a", "b"], **gpu},
                                  {"name": "w", "kind": "wait", "wait": "timer", "duration": 5.0, "after": ["join"]}],
           "strategies": {"durable": {}}}
    sc = scenario_from_dict(raw)
    assert len(graph_groups.mergeable_edges(sc)) == 4
    every = graph_groups.enumerate_groupings(sc)
    assert every[0] == graph_groups.singletons(5) and len(set(every)) == len(every)
    assert all(graph_groups.is_valid(sc, g) for g in every)
    assert ((0, 3), (1,), (2,), (4,)) not in every  # plan + join: not along edges, and invalid
    assert ((0, 1, 2, 3), (4,)) in every and ((0, 1), (2,), (3,), (4,)) in every
    # greedy with a made-up objective (the number of activities): merges down to plan+a+b+join
    path = graph_groups.greedy_groupings(sc, lambda options: [float(len(g)) for g in options])
    assert path[0] == graph_groups.singletons(5) and path[-1] == ((0, 1, 2, 3), (4,))
    assert [len(g) for g in path] == [5, 4, 3, 2]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["graph_agentic_research", "graph_rag_ingestion", "graph_video_scenes"])
def test_recommend_works_on_the_bundled_graphs(name: str) -> None:
    """Every valid grouping along the edges is a candidate, ranked with restart and durable on
    CRN; the recommended scenario loads (with its [fleet] table) and runs."""
    sc = load_scenario(name)
    rec = recommend(sc, "cost", runs=60, seed=3, heartbeat_runs=30)
    t = rec.table.set_index("candidate")
    groupings = t[t["kind"] == "checkpoint"]
    assert len(groupings) == 3  # 2 mergeable edges in each: 4 groupings, one of them per-step (durable)
    assert rec.exact_optimum is None and "workflow graph" in rec.exact_reason
    assert any("workflow graph" in n for n in rec.notes) and any("[fleet]" in n for n in rec.notes)
    assert rec.best in t.index
    new = scenario_from_dict(tomllib.loads(rec.scenario_toml()))
    assert new.is_graph and new.fleet is not None
    df = simulate(new, 20, seed=1)
    assert set(df["strategy"]) == set(new.strategies)


def test_a_graph_whose_edges_all_touch_waits_says_so_and_still_searches_the_heartbeat() -> None:
    gpu = {"kind": "gpu", "price_per_hour": 3.6, "duration": 600.0}
    raw = {"name": "waits", "steps": [{"name": "a", **gpu}, {"name": "w", "kind": "wait", "wait": "signal",
                                                             "duration": 60.0, "after": ["a"]},
                                      {"name": "b", "after": ["w"], **gpu}],
           "failures": {"crash": {"mtbf": "1h"}}, "strategies": {"restart": {}, "durable": {}}}
    rec = recommend(scenario_from_dict(raw), "cost", runs=40, seed=1, heartbeat_runs=20)
    assert set(rec.table["kind"]) == {"restart", "durable", "heartbeat"}
    assert any("no two steps of this graph can share an activity" in n for n in rec.notes)


@pytest.mark.slow
def test_cli_optimize_graph_with_a_fleet_table(tmp_path: Path, capsys) -> None:
    out = tmp_path / "o"
    # one workflow is the default, also with a [fleet] table, and the output says which mode ran
    assert main(["optimize", "graph_rag_ingestion", "--runs", "40", "--heartbeat-runs", "20",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "mode: one workflow" in text and "--fleet searches the fleet's retry policy" in text
    assert "note: workflow graph: every valid grouping" in text and "groups embed+index" in text
    assert main(["run", str(out / "recommended.toml"), "--runs", "10", "--out", str(tmp_path / "run")]) == 0


def test_recommend_on_a_graph_beyond_the_enumeration_limit_merges_greedily() -> None:
    """With the enumeration limit below the graph's 2 mergeable edges, the candidates are the
    greedy path's groupings (each one merge further than the previous), ranked on CRN. At $2 per
    action every activity attempt is dear (a render fan-out is 4 to 12 of them), so merging pays
    and the path goes down to one activity before the wait-free end."""
    base = load_scenario("graph_video_scenes")
    raw = base.raw
    raw["pricing"]["orchestration"] = {"per_million_actions_usd": 2e6}
    sc = scenario_from_dict(raw, file=base.path, base_dir=Path(base.path).parent)
    rec = recommend(sc, "cost", runs=60, seed=2, heartbeat=False, max_graph_edges=1)
    assert any("greedy merging" in n for n in rec.notes)
    groupings = rec.table[rec.table["kind"] == "checkpoint"].sort_values("activities", ascending=False)
    assert list(groupings["activities"]) == [2, 1]  # one merge per round, down to one activity
    assert rec.best != "durable"
    assert set(rec.table["kind"]) >= {"restart", "durable"}


def test_an_assumed_heartbeat_save_cost_is_said_so() -> None:
    """video has no heartbeat strategy: the search's 10 s per save is the tool's assumption, and the
    note and the conclusion say so; with --heartbeat-cost (the user's own figure) they do not."""
    from sim.analysis.optimize.recommend import DEFAULT_HEARTBEAT_COST_S, recommend
    from sim.model.scenario import load_scenario

    video = load_scenario("video")
    assert not any(s.kind == "heartbeat" for s in video.strategies.values())
    rec = recommend(video, "cost", 60, 0, heartbeat_runs=40)
    assert rec.heartbeat_cost_assumed
    assert any(f"assumes {DEFAULT_HEARTBEAT_COST_S:g} s of worker time per save" in n for n in rec.notes)
    assert any("Heartbeat:" in line and "an assumed cost" in line for line in rec.conclusions())
    own = recommend(video, "cost", 60, 0, heartbeat_runs=40, heartbeat_cost_s=5.0)
    assert not own.heartbeat_cost_assumed and not any("assumed" in line for line in own.conclusions())


def test_cli_optimize_fleet_mode_needs_a_fleet_and_says_so(tmp_path: Path, capsys) -> None:
    assert main(["optimize", "research_paper", "--fleet", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "--fleet needs a scenario with a [fleet] table" in err and not (tmp_path / "o").exists()


def test_cli_optimize_fleet_tied_with_current_keeps_the_current_policy(tmp_path: Path, capsys) -> None:
    """graph_agentic_research's fleet: the retry policy of its search step moves the cost by about
    $1e-10 per workflow, so every candidate is tied with 'current' on 2 replications: the
    recommendation is to keep the current policy, and the written scenario has it."""
    out = tmp_path / "o"
    assert main(["optimize", "graph_agentic_research", "--fleet", "--fleet-replications", "2",
                 "--max-evaluations", "3", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "mode: the fleet's retry policy (--fleet)" in text
    table = pd.read_csv(out / "retry_candidates.csv")
    assert table.loc[table["candidate"] == "current", "tied_with_best"].iloc[0]
    assert "recommended: keep the current policy" in text
    before = load_scenario("graph_agentic_research")
    after = load_scenario(out / "recommended.toml")
    for old, new in zip(before.steps, after.steps, strict=True):
        assert (new.retry.initial_interval_s, new.retry.backoff_coefficient, new.retry.jitter) == (
            old.retry.initial_interval_s, old.retry.backoff_coefficient, old.retry.jitter)


def test_a_heartbeat_search_counts_its_replications_within_its_announced_bound() -> None:
    """The search tells its progress of every replication it simulates: the Brent evaluations and
    the curve's grid, at most the ``expected_evaluations`` it announces (the two steps of
    the per-step test above, 200 replications)."""
    from sim.analysis.optimize.heartbeat import _bounds_s, expected_evaluations, search_heartbeat
    from sim.experiment.eta import Progress

    raw = {"name": "two", "steps": [{"name": "short", "kind": "gpu", "price_per_hour": 2.5, "duration": 3600},
                                    {"name": "long", "kind": "gpu", "price_per_hour": 2.5, "duration": 14400}],
           "defaults": {"retry": {"initial_interval": 0}},
           "failures": {"crash": {"mtbf": 7200, "restart_time": 60, "detection_delay": 0}},
           "strategies": {"durable": {}}}
    for step, work_s in (("long", 14400.0), ("short", 3600.0)):
        with Progress(1, "test", enabled=False) as progress:
            hb = search_heartbeat(scenario_from_dict(raw), "cost", 200, 1, checkpoint_cost_s=5.0, step=step,
                                  progress=progress)
        assert progress.eta.done == 200 * (hb.evaluations + len(hb.curve))
        assert hb.evaluations + len(hb.curve) <= expected_evaluations(_bounds_s(work_s))


def test_candidates_simulated_in_parts_are_the_table_of_one_call() -> None:
    """``simulate_candidates`` simulates 16 strategies at a time (so that a long search reports
    its progress): the table equals ``simulate``'s of all 37 at once, row by row."""
    from sim.analysis.optimize.heartbeat import scenario_with_strategies
    from sim.analysis.optimize.recommend import PART_STRATEGIES, simulate_candidates

    sc = load_scenario("graph_agentic_research")
    tables = {f"d{k}": {"kind": "durable", "persist_latency": f"{k * 0.05:g}s"} for k in range(36)}
    sc = scenario_with_strategies(sc, {"restart": {"kind": "restart"}, **tables})
    assert len(sc.strategies) > 2 * PART_STRATEGIES
    pd.testing.assert_frame_equal(simulate_candidates(sc, 40, 5, "test", quiet=True), simulate(sc, 40, 5))
