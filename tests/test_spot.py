"""Spot capacity (docs/spot.md): preemptions with a notice, capacity waits, save on notice, the
fallback to on-demand, spot prices. Exact cases on traces of kill instants, and the closed forms
of docs/spot.md against the simulator with 4-standard-error tolerances and fixed seeds."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sim import scenario_from_dict
from sim.engines import fast
from sim.errors import ScenarioError
from sim.experiment.api import choose_engine, simulate, simulate_with_events
from sim.model.spot import MONTH_S, mtbf_from_monthly_frequency_s

RATE_PER_H = 3.6  # $/h on demand: $0.001 per second
SPOT_DISCOUNT = 0.75  # spot: $0.00025 per second


def _raw(steps: list[dict], preemption: dict | None, strategies: dict, **extra: object) -> dict:
    raw = {
        "name": "spot",
        "pricing": {"gpu": {"h100": RATE_PER_H}, "spot": {"discount": SPOT_DISCOUNT},
                    "orchestration": {"per_million_actions_usd": 0.0}},
        "defaults": {"retry": {"initial_interval": 0}},
        "worker": {"capacity": "spot"},
        "steps": steps,
        "failures": {"preemption": preemption} if preemption is not None else {},
        "strategies": strategies,
        "temporal": {"sticky_schedule_to_start_timeout": "0s", "workflow_task_timeout": "0s"},
    }
    raw.update(extra)
    return raw


def _gpu(name: str, duration: object) -> dict:
    return {"name": name, "kind": "gpu", "gpu": "h100", "duration": duration}


SAVE = {"kind": "heartbeat", "save_on_notice": True, "checkpoint_cost": "30s"}


# --------------------------------------------------------------------------- exact, on traces


def test_save_on_notice_loses_only_the_save_time_per_preemption() -> None:
    """Kills at 100 s, 400 s and 700 s of a 15-min step; a 2-min notice, a 30-s save, no capacity
    wait: durable with saves finishes at 900 + 3 × 30 s, plain durable re-runs the step from 0 after
    each kill (finishing at 700 + 900 s), restart the same on one step."""
    sc = scenario_from_dict(_raw([_gpu("gen", "15m")], {"at": [100, 400, 700], "notice": "2m"},
                                 {"durable": {"kind": "durable"}, "saves": SAVE, "restart": {"kind": "restart"}}))
    df = simulate(sc, 3, seed=1).set_index("strategy")
    saves = df.loc["saves"].iloc[0]
    assert saves["makespan_s"] == pytest.approx(900 + 3 * 30)
    assert saves["wasted_compute_s"] == pytest.approx(3 * 30)
    assert saves["useful_compute_s"] == pytest.approx(900)
    assert saves["preemptions"] == 3 and saves["heartbeats"] == 3
    assert saves["compute_cost_usd"] == pytest.approx(990 * 0.001 * (1 - SPOT_DISCOUNT))
    for label in ("durable", "restart"):
        row = df.loc[label].iloc[0]
        assert row["makespan_s"] == pytest.approx(700 + 900)
        assert row["wasted_compute_s"] == pytest.approx(700)
        assert row["preemptions"] == 3


def test_a_kill_within_the_save_time_of_a_start_loses_what_ran() -> None:
    """A kill 10 s after an attempt starts, with a 30-s save: nothing to save, 10 s lost."""
    sc = scenario_from_dict(_raw([_gpu("gen", "10m")], {"at": [100, 110], "notice": "2m"}, {"saves": SAVE}))
    row = simulate(sc, 1, seed=1).iloc[0]
    assert row["makespan_s"] == pytest.approx(600 + 30 + 10)
    assert row["wasted_compute_s"] == pytest.approx(40)


def test_a_save_longer_than_the_notice_is_the_crash_model() -> None:
    """GCP's 30-s notice with a 45-s save: the save does not fit, the attempt is lost as in a crash."""
    save = {**SAVE, "checkpoint_cost": "45s"}
    sc = scenario_from_dict(_raw([_gpu("gen", "10m")], {"at": [300], "notice": "30s"},
                                 {"saves": save, "durable": {"kind": "durable"}}))
    df = simulate(sc, 1, seed=1).set_index("strategy")
    for label in ("saves", "durable"):
        assert df.loc[label, "makespan_s"] == pytest.approx(300 + 600)


def test_an_attempt_that_ends_within_the_notice_completes() -> None:
    """The kill at 620 s of a 10-min step: the step ended at 600 s, during the notice, and
    completed. The next step starts at once on the same instance (the model does not hold new work
    back during a notice), is killed at 620 s and runs again on a new instance after the 5-min
    capacity wait."""
    sc = scenario_from_dict(_raw([_gpu("a", "10m"), _gpu("b", "1m")],
                                 {"at": [620], "notice": "2m", "capacity_wait": "5m"},
                                 {"durable": {"kind": "durable"}}))
    row = simulate(sc, 1, seed=1).iloc[0]
    assert row["preemptions"] == 1
    assert row["wasted_compute_s"] == pytest.approx(20)
    assert row["makespan_s"] == pytest.approx(620 + 300 + 60)


def test_max_lifetime_makes_a_long_step_impossible_without_saves() -> None:
    """GCP preemptible's 24 h, scaled: instances live at most 1 h; a 90-min step never finishes
    without saves, and finishes at 90 min + one save with them."""
    pre = {"mtbf": "10000h", "max_lifetime": "1h", "notice": "30s"}
    sc = scenario_from_dict(_raw([_gpu("train", "90m")], pre, {"durable": {"kind": "durable"}, "saves": SAVE},
                                 simulation={"max_time": "10h"}))
    df = simulate(sc, 20, seed=3)
    assert not df[df.strategy == "durable"]["completed"].any()
    saves = df[df.strategy == "saves"]
    assert saves["completed"].all()
    assert np.allclose(saves["makespan_s"], 5400 + 30)


def test_mixed_placement_runs_only_the_spot_steps_on_spot() -> None:
    """Step a on demand, b on spot: a kill while a runs does nothing; b pays the spot price."""
    steps = [{**_gpu("a", "10m"), "capacity": "on_demand"}, _gpu("b", "10m")]
    sc = scenario_from_dict(_raw(steps, {"at": [300], "notice": "0s"}, {"durable": {"kind": "durable"},
                                 "all_on_demand": {"kind": "durable", "capacity": "on_demand"}}))
    df = simulate(sc, 1, seed=1).set_index("strategy")
    assert df.loc["durable", "makespan_s"] == pytest.approx(1200)
    assert df.loc["durable", "preemptions"] == 0
    assert df.loc["durable", "compute_cost_usd"] == pytest.approx(600 * 0.001 + 600 * 0.001 * (1 - SPOT_DISCOUNT))
    assert df.loc["all_on_demand", "compute_cost_usd"] == pytest.approx(1200 * 0.001)


def test_fallback_after_k_preemptions_moves_to_on_demand_for_good() -> None:
    """Kills every 5 min on a 10-min step; after 2 preemptions the run moves to on-demand (ready
    1 min later) and finishes there, paying on-demand for the last attempt."""
    sc = scenario_from_dict(_raw([_gpu("gen", "10m")], {"at": [300, 600, 900, 1200], "notice": "0s",
                                                          "on_demand_start": "1m"},
                                 {"fb": {"kind": "durable", "fallback_after": 2}}))
    row = simulate(sc, 1, seed=1).iloc[0]
    assert row["preemptions"] == 2 and row["on_demand_fallbacks"] == 1
    assert row["makespan_s"] == pytest.approx(600 + 60 + 600)
    assert row["compute_cost_usd"] == pytest.approx(600 * 0.001 * (1 - SPOT_DISCOUNT) + 600 * 0.001)


@pytest.mark.parametrize(("rule", "switches"), [("greedy", True), ("uniform_progress", True), ("none", False)])
def test_deadline_rules_on_a_hand_worked_case(rule: str, switches: bool) -> None:
    """A 40-min step, deadline 60 min, a kill at 15 min, mean capacity wait 10 min, on-demand start 2 min.
    Greedy: slack after the wait 60 - 25 - 40 = -5 min < 2 min: switch. Uniform progress: done 0 of
    40 min, behind 25/60 of the deadline: switch."""
    sc = scenario_from_dict(_raw([_gpu("gen", "40m")], {"at": [900], "notice": "0s", "capacity_wait": "10m",
                                                          "on_demand_start": "2m"},
                                 {"s": {"kind": "durable", "fallback_rule": rule}}, simulation={"deadline": "1h"}))
    row = simulate(sc, 1, seed=1).iloc[0]
    assert row["on_demand_fallbacks"] == int(switches)
    assert row["makespan_s"] == pytest.approx(900 + (120 if switches else 600) + 2400)


def test_greedy_stays_on_spot_while_the_slack_allows() -> None:
    """Same case with a 4-h deadline: 240 - 25 - 40 min of slack ≥ 2 min, stay on spot. Uniform
    progress with saves: 14.5 of 40 min done (36%) is ahead of 25/240 (10%): stay."""
    sc = scenario_from_dict(_raw([_gpu("gen", "40m")], {"at": [900], "notice": "1m", "capacity_wait": "10m",
                                                          "on_demand_start": "2m"},
                                 {"g": {"kind": "durable", "fallback_rule": "greedy"},
                                  "u": {**SAVE, "fallback_rule": "uniform_progress"}},
                                 simulation={"deadline": "4h"}))
    df = simulate(sc, 1, seed=1).set_index("strategy")
    assert (df["on_demand_fallbacks"] == 0).all()
    assert df.loc["u", "makespan_s"] == pytest.approx(900 + 600 + 2400 - 870)


# --------------------------------------------------------------------------- closed forms (docs/spot.md)


def _exp_restart_mean(rate: float, work_s: float, down_s: float) -> float:
    """(1/λ + D)(e^{λT} − 1): work T redone from scratch after each exponential failure, D down."""
    return (1.0 / rate + down_s) * math.expm1(rate * work_s)


@pytest.mark.parametrize(("unavailable", "wait"), [(0.0, {"capacity_wait": "2m"}),
                                                   (0.3, {"capacity_wait": "0s", "unavailable_wait": "10m"})])
def test_without_notice_a_preemption_is_the_crash_model(unavailable: float, wait: dict) -> None:
    """No notice (a save never fits): a spot step of T under exponential lives (mean M) with a
    capacity wait of mean D takes (M + D)(e^{T/M} − 1) on average, the crash model's closed form."""
    runs = 20_000
    work, mtbf = 600.0, 1200.0
    pre = {"mtbf": mtbf, "notice": "0s", "unavailable_probability": unavailable, **wait}
    sc = scenario_from_dict(_raw([_gpu("gen", work)], pre, {"saves": SAVE}))
    down = 120.0 if unavailable == 0 else unavailable * 600.0
    m = simulate(sc, runs, seed=11)["makespan_s"].to_numpy()
    expected = _exp_restart_mean(1 / mtbf, work, down)
    assert abs(m.mean() - expected) < 4 * m.std(ddof=1) / math.sqrt(runs)


def test_fallback_after_k_is_geometric() -> None:
    """A step of T on spot, exponential lives (rate λ), no saves: every attempt is preempted with
    p = 1 − e^{−λT}, independently (each runs on a new instance), so the run moves to on-demand
    with probability p^k, and E[preemptions] = p + p² + … + p^k."""
    runs, k = 20_000, 2
    work, mtbf = 900.0, 1200.0
    sc = scenario_from_dict(_raw([_gpu("gen", work)], {"mtbf": mtbf, "notice": "2m"},
                                 {"fb": {"kind": "durable", "fallback_after": k}}))
    df = simulate(sc, runs, seed=5)
    p = -math.expm1(-work / mtbf)
    fell = df["on_demand_fallbacks"].to_numpy()
    assert abs(fell.mean() - p**k) < 4 * math.sqrt(p**k * (1 - p**k) / runs)
    pre = df["preemptions"].to_numpy()
    assert abs(pre.mean() - sum(p**j for j in range(1, k + 1))) < 4 * pre.std(ddof=1) / math.sqrt(runs)
    assert pre.max() == k


def test_save_on_notice_makespan_is_work_plus_the_lost_saves_run_by_run() -> None:
    """With a notice ≥ the save and no wait, each preemption loses min(save, time since the attempt
    began), and nothing else: makespan = T + wasted compute ≤ T + save × preemptions, run by run."""
    work, save = 1800.0, 30.0
    sc = scenario_from_dict(_raw([_gpu("gen", work)], {"mtbf": "10m", "notice": "2m"}, {"saves": SAVE}))
    df = simulate(sc, 2000, seed=2)
    assert df["completed"].all()
    assert np.allclose(df["makespan_s"], work + df["wasted_compute_s"])
    assert (df["wasted_compute_s"] <= save * df["preemptions"] + 1e-9).all()
    assert df["preemptions"].mean() > 2  # the case is not trivial


def test_every_strategy_meets_the_same_preemptions() -> None:
    """Common random numbers: the first preemption of a replication is at the same instant for
    every strategy (the first instance's life is one draw)."""
    sc = scenario_from_dict(_raw([_gpu("gen", "30m")], {"mtbf": "20m", "notice": "2m"},
                                 {"durable": {"kind": "durable"}, "saves": SAVE, "restart": {"kind": "restart"}}))
    _, events = simulate_with_events(sc, 200, seed=4, event_log=True)
    first = events[events.outcome == "preempted"].groupby(["run", "strategy"], observed=True)["end_s"].min()
    by_run = first.unstack("strategy")
    assert len(by_run) > 100
    assert np.allclose(by_run.min(axis=1), by_run.max(axis=1))


def test_monthly_frequency_is_the_probability_of_a_kill_within_a_month() -> None:
    mtbf = mtbf_from_monthly_frequency_s(0.125)
    assert -math.expm1(-MONTH_S / mtbf) == pytest.approx(0.125)
    assert mtbf / 86400 == pytest.approx(30 / -math.log(0.875))


def test_spot_prices_without_preemptions() -> None:
    sc = scenario_from_dict(_raw([_gpu("gen", "10m")], None, {"spot": {"kind": "durable"},
                                 "od": {"kind": "durable", "capacity": "on_demand"}}))
    df = simulate(sc, 2, seed=1).set_index("strategy")
    assert df.loc["spot", "compute_cost_usd"].iloc[0] == pytest.approx(600 * 0.001 * (1 - SPOT_DISCOUNT))
    assert df.loc["od", "compute_cost_usd"].iloc[0] == pytest.approx(600 * 0.001)


# --------------------------------------------------------------------------- engines and bad input


def test_the_fast_path_declines_spot_scenarios() -> None:
    sc = scenario_from_dict(_raw([_gpu("gen", "10m")], None, {"d": {"kind": "durable"}}))
    assert "spot" in (fast.why_not(sc) or "")
    assert choose_engine(sc) == "des"
    sc = scenario_from_dict(_raw([_gpu("gen", "10m")], {"mtbf": "1h"}, {"d": {"kind": "durable"}},
                                 worker={"capacity": "on_demand"}))
    assert "preemption" in (fast.why_not(sc) or "")


@pytest.mark.parametrize(("change", "key", "words"), [
    ({"failures": {"preemption": {"mtbf": "1h", "at": [10]}}}, "failures.preemption", "exactly one of"),
    ({"failures": {"preemption": {"notice": "2m"}}}, "failures.preemption", "exactly one of"),
    ({"failures": {"preemption": {"monthly_frequency": 1.5}}}, "failures.preemption.monthly_frequency", "less than 1"),
    ({"pricing": {"gpu": {"h100": 3.6}}}, "pricing.spot", "no spot price"),
    ({"strategies": {"d": {"kind": "durable", "fallback_rule": "greedy"}}}, "strategies.d.fallback_rule", "deadline"),
    ({"strategies": {"d": {"kind": "durable", "capacity": {"gne": "spot"}}}}, "strategies.d.capacity.gne", "gen"),
])
def test_bad_spot_inputs_get_one_clear_message(change: dict, key: str, words: str) -> None:
    raw = _raw([_gpu("gen", "10m")], {"mtbf": "1h"}, {"d": {"kind": "durable"}})
    raw.update(change)
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(raw, file="s.toml")
    text = str(info.value)
    assert "s.toml" in text and key in text and words in text


def test_spot_on_a_graph_is_refused() -> None:
    steps = [_gpu("a", "1m"), {**_gpu("b", "1m"), "after": ["a"]}, {**_gpu("c", "1m"), "after": ["a"]}]
    with pytest.raises(ScenarioError, match="chains only"):
        scenario_from_dict(_raw(steps, {"mtbf": "1h"}, {"d": {"kind": "durable"}}), file="g.toml")


# --------------------------------------------------------------------------- outputs


def test_spot_table_pairs_each_spot_strategy_with_the_on_demand_reference() -> None:
    from sim.analysis.spot import spot_table

    sc = scenario_from_dict(_raw([_gpu("gen", "10m")], {"at": [300], "notice": "0s"},
                                 {"od": {"kind": "durable", "capacity": "on_demand"}, "d": {"kind": "durable"}},
                                 simulation={"deadline": "14m"}))
    table = spot_table(sc, simulate(sc, 5, seed=1))
    row = table.iloc[0]
    assert row["reference"] == "od" and row["strategy"] == "d"
    assert row["cost_saving_usd"] == pytest.approx(600 * 0.001 - 900 * 0.001 * (1 - SPOT_DISCOUNT))
    assert row["delay_s"] == pytest.approx(300)
    assert row["deadline_missed"] == 1.0 and row["reference_deadline_missed"] == 0.0


def test_the_spot_recommendation_meets_the_deadline_and_is_cheapest() -> None:
    from sim.analysis.optimize.spot import recommend_spot

    sc = scenario_from_dict(_raw([_gpu("a", "2m"), _gpu("gen", "20m")],
                                 {"mtbf": "15m", "notice": "2m", "unavailable_probability": 0.2,
                                  "unavailable_wait": "30m"},
                                 {"d": {"kind": "durable"}}, simulation={"deadline": "45m"}))
    rec = recommend_spot(sc, 400, seed=3)
    t = rec.table.set_index("candidate")
    best = t.loc[rec.best]
    assert best["deadline_missed"] <= rec.allowed_missed
    feasible = t[t["deadline_missed"] <= rec.allowed_missed]
    assert best["total_cost_usd"] <= feasible["total_cost_usd"].min() * 1.05
    assert rec.best != "on_demand"  # spot at a quarter of the price pays here


def test_a_notice_save_after_periodic_saves_keeps_both() -> None:
    """Saves every 5 min of work (30 s each) and on notice (30 s, 2-min notice); a kill at 400 s of a
    15-min step: one periodic save at 300 s of work (330 s), then work until the notice save at
    370 s: 340 s of work survive, 30 s are lost. The rest (560 s, one periodic save) runs
    400–990 s. Heartbeats: 1 periodic + 1 on notice, then 1."""
    hb = {"kind": "heartbeat", "every": "5m", "checkpoint_cost": "30s", "save_on_notice": True}
    sc = scenario_from_dict(_raw([_gpu("gen", "15m")], {"at": [400], "notice": "2m"}, {"hb": hb}))
    row = simulate(sc, 1, seed=1).iloc[0]
    assert row["makespan_s"] == pytest.approx(990)
    assert row["wasted_compute_s"] == pytest.approx(30)
    assert row["useful_compute_s"] == pytest.approx(960)
    assert row["heartbeats"] == 3


# --------------------------------------------------------------------------- commands


def test_sim_run_shows_spot_against_on_demand_and_pausing(tmp_path, capsys) -> None:
    from sim.cli import main

    assert main(["run", "video_spot", "--runs", "40", "--out", str(tmp_path / "a"), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "spot or on-demand? each strategy on spot against on_demand" in text
    assert "durable_save" in text and "deadline missed" in text
    assert main(["run", "research_off_peak", "--runs", "40", "--out", str(tmp_path / "b"), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "pausing for the cheaper hours" in text and "durable_pause  durable" in text


@pytest.mark.slow
def test_sim_breakeven_spot_gives_each_spot_strategy(tmp_path, capsys) -> None:
    from sim.cli import main

    assert main(["breakeven", "video_spot", "--vary", "failures.preemption.mtbf=log:5m:2h:3", "--spot", "--runs", "30",
                 "--refine", "0", "--boot", "100", "--out", str(tmp_path / "be"), "--quiet"]) in (0, 3)
    text = capsys.readouterr().out
    assert "spot against on_demand" in text
    for label in ("restart", "durable", "durable_save", "save_fallback", "save_greedy", "mixed"):
        assert f"  {label}: " in text


@pytest.mark.slow
def test_the_report_has_a_spot_or_on_demand_section(tmp_path, capsys) -> None:
    from sim.cli import main

    out = tmp_path / "rep"
    assert main(["report", "video_spot", "--quick", "--runs", "100", "--out", str(out), "--no-svg"]) in (0, 3)
    text = (out / "report.md").read_text()
    assert "## Spot or on-demand?" in text and "figures/spot.png" in text
    assert (out / "figures" / "spot.png").stat().st_size > 0
    table = pd.read_csv(out / "data" / "spot.csv")
    assert list(table["strategy"]) == ["restart", "durable", "durable_save", "save_fallback", "save_greedy", "mixed"]
