"""The public entry point: ``simulate(scenario, runs, seed)`` → tidy DataFrame of runs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sim.costs import OrchestrationUsage, durable_actions, orchestration_cost_usd
from sim.failures import OUTCOMES
from sim.scenario import Scenario
from sim.strategies import Behaviour, behaviour

RUN_COLUMNS = [
    "scenario", "strategy", "run", "seed", "engine", "completed", "makespan_s", "compute_s",
    "useful_compute_s", "wasted_compute_s", "compute_cost_usd", "useful_cost_usd",
    "wasted_cost_usd", "orchestration_actions", "history_events", "orchestration_cost_usd",
    "total_cost_usd", "attempts", "crashes", "deploy_kills", "rate_limited", "pipeline_restarts",
    "heartbeats",
]
EVENT_COLUMNS = ["run", "strategy", "step", "step_index", "attempt", "start_s", "end_s", "outcome", "useful"]
ENGINES = ("auto", "des", "fast")


def behaviours_of(scenario: Scenario, strategies: Sequence[str] | None = None) -> list[Behaviour]:
    labels = list(scenario.strategies) if strategies is None else list(strategies)
    unknown = [s for s in labels if s not in scenario.strategies]
    if unknown:
        raise ValueError(f"unknown strategy {unknown[0]!r}; the scenario has {list(scenario.strategies)}")
    return [behaviour(label, scenario.strategies[label]) for label in labels]


def choose_engine(scenario: Scenario, engine: str = "auto") -> str:
    """'des' (reference) or 'fast' (exact vectorised path, where it applies)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    from sim import fastpath

    if engine == "auto":
        return "fast" if fastpath.supports(scenario) else "des"
    if engine == "fast" and not fastpath.supports(scenario):
        raise ValueError(f"the fast path does not support this scenario: {fastpath.why_not(scenario)}")
    return engine


def _columns(scenario: Scenario, beh: Behaviour, cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One strategy's numeric result columns, with the orchestration cost model applied."""
    unit_attempts = np.asarray(cols["unit_attempts"], dtype=np.int64)
    history = np.asarray(cols["history_events"], dtype=np.int64)
    makespan = np.asarray(cols["makespan_s"], dtype=np.float64)
    heartbeats = np.asarray(cols["heartbeats"], dtype=np.int64)
    actions = durable_actions(unit_attempts, heartbeats) if beh.records_history else unit_attempts
    usage = OrchestrationUsage(actions=actions, history_events=history, open_time_s=makespan, pipeline_runs=unit_attempts)
    orch = orchestration_cost_usd(beh.records_history, usage, scenario.pricing.orchestration)
    compute_cost = np.asarray(cols["compute_cost_usd"], dtype=np.float64)
    out = {
        "run": np.asarray(cols["run"], dtype=np.int64),
        "completed": np.asarray(cols["completed"], dtype=bool),
        "makespan_s": makespan,
        "compute_s": np.asarray(cols["compute_s"], dtype=np.float64),
        "useful_compute_s": np.asarray(cols["useful_compute_s"], dtype=np.float64),
        "wasted_compute_s": np.asarray(cols["wasted_compute_s"], dtype=np.float64),
        "compute_cost_usd": compute_cost,
        "useful_cost_usd": np.asarray(cols["useful_cost_usd"], dtype=np.float64),
        "wasted_cost_usd": np.asarray(cols["wasted_cost_usd"], dtype=np.float64),
        "orchestration_actions": np.asarray(actions, dtype=np.int64),
        "history_events": history,
        "orchestration_cost_usd": np.asarray(orch, dtype=np.float64),
        "total_cost_usd": compute_cost + orch,
    }
    for name in ("attempts", "crashes", "deploy_kills", "rate_limited", "pipeline_restarts"):
        out[name] = np.asarray(cols[name], dtype=np.int64)
    out["heartbeats"] = heartbeats
    runs = out["run"]
    if runs.size > 1 and not (runs[1:] > runs[:-1]).all():
        order = np.argsort(runs, kind="stable")
        out = {name: values[order] for name, values in out.items()}
    return out


def _results_frame(scenario: Scenario, behaviours: list[Behaviour], outputs: dict, seed: int, engine: str) -> pd.DataFrame:
    """The tidy runs table: strategies in scenario order, runs ascending within each."""
    parts = [_columns(scenario, beh, outputs[beh.label]) for beh in behaviours]
    sizes = [len(p["run"]) for p in parts]
    total = sum(sizes)
    labels = list(scenario.strategies)
    codes = np.repeat(np.array([labels.index(b.label) for b in behaviours], dtype=np.int16), sizes)

    def constant(value: str, categories: list[str]) -> pd.Categorical:
        return pd.Categorical.from_codes(np.full(total, categories.index(value), dtype=np.int16), categories=categories)

    data = {
        "scenario": constant(scenario.name, [scenario.name]),
        "strategy": pd.Categorical.from_codes(codes, categories=labels),
        "seed": np.full(total, seed, dtype=np.int64),
        "engine": constant(engine, ["des", "fast"]),
    }
    for name in parts[0]:
        data[name] = np.concatenate([p[name] for p in parts]) if len(parts) > 1 else parts[0][name]
    # columns already in RUN_COLUMNS order and freshly allocated: no reindex, no second copy
    return pd.DataFrame({name: data[name] for name in RUN_COLUMNS}, copy=False)


def _check_args(runs: int, seed: int, first_run: int) -> None:
    for name, value in (("runs", runs), ("seed", seed), ("first_run", first_run)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise TypeError(f"{name} must be an integer, got {value!r}")
    if runs < 0 or first_run < 0 or seed < 0:
        raise ValueError("runs, first_run and seed must not be negative")


def simulate_with_events(scenario: Scenario, runs: int, seed: int = 0, *, first_run: int = 0,
                         engine: str = "auto", strategies: Sequence[str] | None = None,
                         event_log: bool = False) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Runs ``first_run … first_run+runs−1`` of every strategy; the event log is DES-only."""
    _check_args(runs, seed, first_run)
    behaviours = behaviours_of(scenario, strategies)
    used = "des" if event_log else choose_engine(scenario, engine)
    run_ids = np.arange(first_run, first_run + runs, dtype=np.int64)
    if used == "fast":
        from sim import fastpath

        outputs = fastpath.run_chunk(scenario, behaviours, run_ids, seed)
        log = None
    else:
        from sim import engine as des

        outputs, log = des.run_chunk(scenario, behaviours, run_ids, seed, event_log=event_log)
    df = _results_frame(scenario, behaviours, outputs, seed, used)
    events = None
    if log is not None:
        events = pd.DataFrame(log, columns=["run", "strategy", "step_index", "attempt", "start_s", "end_s", "outcome", "useful"])
        events["step"] = [scenario.steps[i].name for i in events["step_index"]]
        events["outcome"] = [OUTCOMES[o] if o >= 0 else "cut_by_horizon" for o in events["outcome"]]
        events = events.sort_values(["run", "strategy", "start_s", "end_s"], kind="stable").reset_index(drop=True)[EVENT_COLUMNS]
    return df, events


def simulate(scenario: Scenario, runs: int, seed: int = 0, *, first_run: int = 0, engine: str = "auto",
             strategies: Sequence[str] | None = None) -> pd.DataFrame:
    """Simulate ``runs`` replications of every strategy of ``scenario``.

    One row per (replication, strategy), columns ``RUN_COLUMNS`` (docs/model.md). Replication
    ``r`` under root ``seed`` is the same whatever ``first_run``, chunking or engine.
    """
    return simulate_with_events(scenario, runs, seed, first_run=first_run, engine=engine, strategies=strategies)[0]
