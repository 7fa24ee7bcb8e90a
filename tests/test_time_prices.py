"""Prices by time of day and pausing for the cheaper hours (docs/spot.md): exact cases and the
closed form "with no failures, the saving is the price difference times the deferred work"."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim import scenario_from_dict
from sim.engines import fast
from sim.errors import ScenarioError
from sim.experiment.api import simulate
from sim.model.time_prices import DAY_S, DailyPrice, TracePrice

H = 3600.0


def _raw(steps: list[dict], schedule: list[dict], strategies: dict, start: str = "14h", **extra: object) -> dict:
    raw = {
        "name": "tod",
        "pricing": {"gpu": {"h100": 3.6}, "models": {"m": {"input_per_mtok": 1.0, "output_per_mtok": 0.0}},
                    "orchestration": {"per_million_actions_usd": 1e6}, "schedule": schedule},  # $1 per action
        "simulation": {"start_time_of_day": start},
        "defaults": {"retry": {"initial_interval": 0}},
        "steps": steps,
        "strategies": strategies,
        "temporal": {"sticky_schedule_to_start_timeout": "0s", "workflow_task_timeout": "0s"},
    }
    raw.update(extra)
    return raw


def _gpu(name: str, duration: object) -> dict:
    return {"name": name, "kind": "gpu", "gpu": "h100", "duration": duration}


OFF_PEAK = [{"start": "22h", "end": "6h", "multiplier": 0.5}]


def test_daily_price_integral_and_next_lowest_by_hand() -> None:
    p = DailyPrice(((22 * H, 6 * H, 0.5),), 14 * H)  # time 0 is 14:00
    assert p.multiplier(0) == 1.0 and p.multiplier(8 * H) == 0.5 and p.multiplier(16 * H) == 1.0
    # 20:00 to 24:00: 2 h at 1, 2 h at 0.5
    assert p.integral(6 * H, 10 * H) == pytest.approx(2 * H + 0.5 * 2 * H)
    # a whole day: 16 h at 1, 8 h at 0.5, from any start
    for a in (0.0, 3 * H, 11.5 * H):
        assert p.integral(a, a + DAY_S) == pytest.approx(16 * H + 4 * H)
    assert p.next_lowest(0.0) == pytest.approx(8 * H)
    assert p.next_lowest(9 * H) == 9 * H
    peaks = DailyPrice(((1 * H, 4 * H, 2.0), (6 * H, 10 * H, 2.0)), 0.0)  # two peak windows: wait until each ends
    assert peaks.next_lowest(2 * H) == pytest.approx(4 * H)
    assert peaks.next_lowest(7 * H) == pytest.approx(10 * H)
    assert peaks.next_lowest(5 * H) == 5 * H


@pytest.mark.parametrize(("work_h", "wait_h"), [(1.0, 8 - 10 / 60), (3.0, 8 - 10 / 60)])
def test_no_failures_saving_is_the_price_difference_times_the_deferred_work(work_h: float, wait_h: float) -> None:
    """prep (10 min) then gen (work W) at 14:00; the off-peak window 22:00-06:00 halves the GPU
    price. Pausing gen defers W into the window: saving = (1 − 0.5) × rate × W, delay = the wait
    until 22:00; the timer adds one billable action ($1 here) and 5 history events."""
    work = work_h * H
    sc = scenario_from_dict(_raw([_gpu("prep", "10m"), _gpu("gen", work)], OFF_PEAK,
                                 {"durable": {"kind": "durable"},
                                  "pause": {"kind": "durable", "pause_for_off_peak": ["gen"]}}))
    df = simulate(sc, 2, seed=1).set_index("strategy")
    rate = 0.001
    now, paused = df.loc["durable"].iloc[0], df.loc["pause"].iloc[0]
    assert now["compute_cost_usd"] - paused["compute_cost_usd"] == pytest.approx(0.5 * rate * work)
    assert paused["makespan_s"] - now["makespan_s"] == pytest.approx(wait_h * H)
    assert paused["orchestration_actions"] - now["orchestration_actions"] == 1
    assert paused["history_events"] - now["history_events"] == 5


def test_an_attempt_across_the_window_pays_each_part_at_its_price() -> None:
    """A 2-h step from 21:00: 1 h at the full price, 1 h at half."""
    sc = scenario_from_dict(_raw([_gpu("gen", "2h")], OFF_PEAK, {"d": {"kind": "durable"}}, start="21h"))
    row = simulate(sc, 1, seed=1).iloc[0]
    assert row["compute_cost_usd"] == pytest.approx(0.001 * H + 0.0005 * H)


def test_an_llm_call_pays_the_price_at_its_start() -> None:
    sched = [{"start": "22h", "end": "6h", "multiplier": 0.25, "models": ["m"], "gpus": []}]
    step = {"name": "call", "kind": "llm", "model": "m", "input_tokens": 1_000_000, "duration": "1h"}
    for start, price in (("21h30m", 1.0), ("22h", 0.25)):
        sc = scenario_from_dict(_raw([step], sched, {"d": {"kind": "durable"}}, start=start))
        assert simulate(sc, 1, seed=1).iloc[0]["compute_cost_usd"] == pytest.approx(price)


def test_restart_holds_its_progress_in_memory_through_the_wait() -> None:
    """A deployment at 18:00 during the wait for 22:00: restart's pipeline (prep done, in memory)
    is lost and prep runs again; durable's prep is recorded and survives."""
    raw = _raw([_gpu("prep", "10m"), _gpu("gen", "1h")], OFF_PEAK,
               {"restart": {"kind": "restart", "pause_for_off_peak": ["gen"]},
                "durable": {"kind": "durable", "pause_for_off_peak": ["gen"]}})
    raw["failures"] = {"deploy": {"mode": "scheduled", "at": ["4h"]}}
    df = simulate(scenario_from_dict(raw), 1, seed=1).set_index("strategy")
    assert df.loc["durable", "wasted_compute_s"] == 0
    assert df.loc["restart", "wasted_compute_s"] == pytest.approx(600)
    assert df.loc["restart", "makespan_s"] == df.loc["durable", "makespan_s"] == pytest.approx(9 * H)


def test_the_saving_holds_on_average_with_random_durations() -> None:
    """Uniform work between 30 min and 4 h (all of it fits before the window closes), no failures:
    the saving is 0.5 × rate × W run by run, and its mean 0.5 × rate × E[W] = 0.5 × rate × 2.25 h
    (4 standard errors)."""
    runs = 4000
    dur = {"dist": "uniform", "low": "30m", "high": "4h"}
    sc = scenario_from_dict(_raw([_gpu("prep", "10m"), _gpu("gen", dur)], OFF_PEAK,
                                 {"durable": {"kind": "durable"},
                                  "pause": {"kind": "durable", "pause_for_off_peak": ["gen"]}}))
    df = simulate(sc, runs, seed=7)
    cost = df.pivot(index="run", columns="strategy", values="compute_cost_usd")
    saving = (cost["durable"] - cost["pause"]).to_numpy()
    work = df[df.strategy == "durable"].sort_values("run")["compute_s"].to_numpy() - 600
    assert np.allclose(saving, 0.5 * 0.001 * work)
    assert abs(saving.mean() - 0.5 * 0.001 * 2.25 * H) < 4 * saving.std(ddof=1) / math.sqrt(runs)


def test_fast_path_declines() -> None:
    sc = scenario_from_dict(_raw([_gpu("gen", "1h")], OFF_PEAK, {"d": {"kind": "durable"}}))
    assert "time of day" in (fast.why_not(sc) or "")


@pytest.mark.parametrize(("change", "key", "words"), [
    ({"pricing.schedule": [{"start": "25h", "end": "6h", "multiplier": 0.5}]}, "pricing.schedule", "below 24h"),
    ({"pricing.schedule": [{"start": "22h", "end": "6h", "multiplier": 0.5},
                           {"start": "5h", "end": "7h", "multiplier": 2.0}]}, "pricing.schedule[1]", "overlap"),
    ({"pricing.schedule": [{"start": "22h", "end": "6h", "multiplier": 0.5, "gpus": ["a100"]}]},
     "pricing.schedule[0].gpus", "a100"),
    ({"strategies": {"p": {"kind": "durable", "pause_for_off_peak": ["gne"]}}}, "strategies.p.pause_for_off_peak",
     "no step named 'gne'"),
    ({"pricing.schedule": []}, "strategies.p.pause_for_off_peak", "one price all day"),
    ({"strategies": {"h": {"kind": "heartbeat", "every": "10m"}}}, "strategies.h.kind", "heartbeat"),
])
def test_bad_time_price_inputs_get_one_clear_message(change: dict, key: str, words: str) -> None:
    raw = _raw([_gpu("gen", "1h")], OFF_PEAK, {"p": {"kind": "durable", "pause_for_off_peak": ["gen"]}})
    for path, value in change.items():
        if path == "pricing.schedule":
            raw["pricing"]["schedule"] = value
        else:
            raw[path] = value
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(raw, file="s.toml")
    text = str(info.value)
    assert "s.toml" in text and key in text and words in text, text


def test_pause_table_and_recommendation_on_a_hand_worked_case() -> None:
    """prep (10 min, constant price) then gen (1 h, half price 22:00-06:00) at 14:00: pausing gen
    saves 0.5 × $0.001/s × 3600 s = $1.80 minus the timer's $1 action, 7 h 50 min later."""
    from sim.analysis.optimize.spot import recommend_pauses
    from sim.analysis.spot import pause_table

    sched = [{"start": "22h", "end": "6h", "multiplier": 0.5, "gpus": ["h100"]}]
    steps = [{"name": "prep", "kind": "gpu", "price_per_hour": 3.6, "duration": "10m"}, _gpu("gen", "1h")]
    sc = scenario_from_dict(_raw(steps, sched, {"durable": {"kind": "durable"},
                                                "pause": {"kind": "durable", "pause_for_off_peak": ["gen"]}}))
    row = pause_table(sc, simulate(sc, 3, seed=1)).iloc[0]
    assert (row["strategy"], row["reference"]) == ("pause", "durable")
    assert row["cost_saving_usd"] == pytest.approx(1.8 - 1.0)
    assert row["delay_s"] == pytest.approx(7 * H + 50 * 60)
    rec = recommend_pauses(sc, 3, seed=1)
    assert list(rec.table["steps"]) == ["gen"] and rec.best == "gen"


def test_spot_prices_follow_their_own_windows() -> None:
    """A window for spot prices only: a step on spot pays it, the same step on demand does not."""
    sched = [{"start": "22h", "end": "6h", "multiplier": 0.5, "capacity": "spot"}]
    raw = _raw([_gpu("gen", "1h")], sched, {"spot": {"kind": "durable", "capacity": "spot"},
                                            "od": {"kind": "durable"}}, start="23h")
    raw["pricing"]["spot"] = {"discount": 0.6}
    df = simulate(scenario_from_dict(raw), 1, seed=1).set_index("strategy")
    assert df.loc["spot", "compute_cost_usd"] == pytest.approx(3600 * 0.001 * 0.4 * 0.5)
    assert df.loc["od", "compute_cost_usd"] == pytest.approx(3600 * 0.001)


@pytest.mark.slow
def test_the_report_has_a_waiting_section(tmp_path) -> None:
    from sim.cli import main

    out = tmp_path / "rep"
    assert main(["report", "research_off_peak", "--quick", "--runs", "100", "--out", str(out), "--no-svg"]) in (0, 3)
    text = (out / "report.md").read_text()
    assert "## Waiting for the cheaper hours" in text and "| durable_pause | durable |" in text


def test_a_price_trace_by_hand() -> None:
    """A trace: ×2 for the first 2 h, ×0.5 from 2 h to 5 h, ×1 after. A 4-h step from 0 pays
    2 h × 2 + 2 h × 0.5; paused, it waits until 2 h and pays 3 h × 0.5 + 1 h × 1."""
    trace = {"at": ["0s", "2h", "5h"], "multiplier": [2.0, 0.5, 1.0]}
    raw = _raw([_gpu("gen", "4h")], [], {"now": {"kind": "durable"},
                                         "wait": {"kind": "durable", "pause_for_off_peak": ["gen"]}})
    raw["pricing"]["traces"] = [trace]
    df = simulate(scenario_from_dict(raw), 1, seed=1).set_index("strategy")
    rate = 0.001
    assert df.loc["now", "compute_cost_usd"] == pytest.approx(rate * (2 * H * 2 + 2 * H * 0.5))
    assert df.loc["wait", "compute_cost_usd"] == pytest.approx(rate * (3 * H * 0.5 + 1 * H))
    assert df.loc["wait", "makespan_s"] == pytest.approx(6 * H)
    p = TracePrice((0.0, 2 * H, 5 * H), (2.0, 0.5, 1.0))
    assert p.next_lowest(3 * H) == 3 * H and p.next_lowest(6 * H) == 6 * H and p.lowest == 0.5


def test_a_trace_and_windows_on_the_same_price_are_refused() -> None:
    raw = _raw([_gpu("gen", "1h")], OFF_PEAK, {"d": {"kind": "durable"}})
    raw["pricing"]["traces"] = [{"at": ["0s"], "multiplier": [1.5]}]
    with pytest.raises(ScenarioError, match="pricing.traces"):
        scenario_from_dict(raw, file="s.toml")
