"""The public entry point: ``simulate(scenario, runs, seed)`` → tidy DataFrame of runs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sim.model.buffers import BlockPool
from sim.model.costs import OrchestrationUsage, durable_actions, orchestration_cost_usd
from sim.model.failures import OUTCOMES
from sim.model.scenario import Scenario
from sim.model.strategies import Behaviour, behaviours_of

RUN_COLUMNS = [
    "scenario", "strategy", "run", "seed", "engine", "completed", "makespan_s", "compute_s",
    "useful_compute_s", "wasted_compute_s", "compute_cost_usd", "useful_cost_usd",
    "wasted_cost_usd", "orchestration_actions", "history_events", "orchestration_cost_usd",
    "total_cost_usd", "attempts", "crashes", "deploy_kills", "rate_limited", "pipeline_restarts",
    "heartbeats", "preemptions", "on_demand_fallbacks",
]
EVENT_COLUMNS = ["run", "strategy", "step", "step_index", "attempt", "start_s", "end_s", "outcome", "useful"]
ENGINES = ("auto", "des", "fast")


def choose_engine(scenario: Scenario, engine: str = "auto") -> str:
    """'des' (reference) or 'fast' (exact vectorised path, where it applies)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    from sim.engines import fast as fastpath

    if engine == "auto":
        return "fast" if fastpath.supports(scenario) else "des"
    if engine == "fast" and not fastpath.supports(scenario):
        raise ValueError(f"the fast path does not support this scenario: {fastpath.why_not(scenario)}")
    return engine


FLOAT_COLUMNS = ("makespan_s", "compute_s", "useful_compute_s", "wasted_compute_s", "compute_cost_usd",
                 "useful_cost_usd", "wasted_cost_usd", "orchestration_cost_usd", "total_cost_usd")
INT_COLUMNS = ("run", "seed", "orchestration_actions", "history_events", "attempts", "crashes", "deploy_kills",
               "rate_limited", "pipeline_restarts", "heartbeats", "preemptions", "on_demand_fallbacks")
LABEL_COLUMNS = ("scenario", "strategy", "engine")
assert sorted((*FLOAT_COLUMNS, *INT_COLUMNS, *LABEL_COLUMNS, "completed")) == sorted(RUN_COLUMNS)


# the numeric columns written for every run by every engine (the fast path's first pass writes
# sim.engines.fast.CLEAN_FIELDS for every run) or by _results_frame; the others may be left at 0
WRITTEN_COLUMNS = ("makespan_s", "compute_s", "useful_compute_s", "compute_cost_usd", "useful_cost_usd",
                   "total_cost_usd", "run", "seed", "orchestration_actions", "history_events", "attempts")


_TABLE_BLOCKS = BlockPool(64 << 20)  # the runs table's blocks, reused once no table refers to them


class _RunBuffer:
    """The runs table's numeric columns, allocated once: one 2-D block per dtype for the columns
    written for every run (``WRITTEN_COLUMNS``: not zeroed first), one zero-filled block per dtype
    for the others, each column a row of a block. Engines write each strategy's rows in place
    (``fields``); the DataFrame is built on the same memory. (Blocks, not one array per column: a
    fresh allocation per column costs more in page faults than filling it. Blocks are recycled
    between calls once no table refers to them (``sim.model.buffers``): the columns written anyway
    are not cleared first.)"""

    def __init__(self, strategies: int, runs: int):
        self.runs = runs
        total = strategies * runs
        self.blocks: dict[str, tuple[np.ndarray, int]] = {}  # column → (its block, its row)
        for dtype, columns in ((np.float64, FLOAT_COLUMNS), (np.int64, INT_COLUMNS)):
            for written in (True, False):
                names = [c for c in columns if (c in WRITTEN_COLUMNS) == written]
                # (a reused zero-filled block is cleared: a table's owner may have written in it)
                block = _TABLE_BLOCKS.get(f"{np.dtype(dtype).name} {'written' if written else 'zeroed'}",
                                          (len(names), total), dtype, zeroed=not written, unreferenced=True)
                for i, name in enumerate(names):
                    self.blocks[name] = (block, i)
        self.completed = np.empty(total, dtype=bool)  # (a completed column is written for every run)

    def column(self, name: str) -> np.ndarray:
        if name == "completed":
            return self.completed
        block, row = self.blocks[name]
        return block[row]

    def fields(self, k: int) -> dict[str, np.ndarray]:
        """Writable views of strategy k's rows, by engine field name (``sim.engines.des.RUN_FIELDS``);
        ``unit_attempts`` is kept in the ``orchestration_actions`` column until costs are applied."""
        rows = slice(k * self.runs, (k + 1) * self.runs)
        from sim.engines.des import RUN_FIELDS, SPOT_FIELDS

        return {name: self.column("orchestration_actions" if name == "unit_attempts" else name)[rows]
                for name in (*RUN_FIELDS, *SPOT_FIELDS)}


def _apply_costs(scenario: Scenario, beh: Behaviour, f: dict[str, np.ndarray], orch_out: np.ndarray,
                 total_out: np.ndarray) -> None:
    """The orchestration cost model over one strategy's rows, written in place."""
    unit_attempts = f["unit_attempts"]
    actions = durable_actions(unit_attempts, f["heartbeats"]) if beh.records_history else unit_attempts
    usage = OrchestrationUsage(actions=actions, history_events=f["history_events"], open_time_s=f["makespan_s"],
                               pipeline_runs=unit_attempts)
    # (the column is zero-filled; it is left untouched if nothing is charged)
    orchestration_cost_usd(beh.records_history, usage, scenario.pricing.orchestration, out=orch_out)
    np.add(f["compute_cost_usd"], orch_out, out=total_out)
    if actions is not unit_attempts:
        unit_attempts[:] = actions  # the column becomes orchestration_actions


def _copy_engine_output(cols: dict, f: dict[str, np.ndarray]) -> None:
    """The DES engine's columns (lists, runs in completion order) → one strategy's views, by run.
    A column the engine does not give (spot capacity's, on a scenario without it) stays 0."""
    order = np.argsort(np.asarray(cols["run"], dtype=np.int64), kind="stable")
    for name, view in f.items():
        if name in cols:
            view[:] = np.asarray(cols[name], dtype=view.dtype)[order]


def _results_frame(scenario: Scenario, behaviours: list[Behaviour], buf: _RunBuffer, run_ids: np.ndarray,
                   seed: int, engine: str) -> pd.DataFrame:
    """The tidy runs table: strategies in the given order, runs ascending within each."""
    total = len(behaviours) * buf.runs
    labels = list(scenario.strategies)
    for k, beh in enumerate(behaviours):
        rows = slice(k * buf.runs, (k + 1) * buf.runs)
        _apply_costs(scenario, beh, buf.fields(k), buf.column("orchestration_cost_usd")[rows],
                     buf.column("total_cost_usd")[rows])
        buf.column("run")[rows] = run_ids
    buf.column("seed")[:] = seed
    code_type = np.int8 if len(labels) < 128 else np.int16  # pandas' own code type: no conversion
    codes = np.repeat(np.array([labels.index(b.label) for b in behaviours], dtype=code_type), buf.runs)

    def constant(value: str, categories: list[str]) -> pd.Categorical:
        return pd.Categorical.from_codes(np.full(total, categories.index(value), dtype=np.int8), categories=categories,
                                         validate=False)  # (valid codes by construction: not checked)

    data = {
        "scenario": constant(scenario.name, [scenario.name]),
        "strategy": pd.Categorical.from_codes(codes, categories=labels, validate=False),
        "engine": constant(engine, ["des", "fast"]),
    }
    # every column a view of the buffer, in RUN_COLUMNS order: no consolidation, no copy
    return pd.DataFrame({name: data[name] if name in data else buf.column(name) for name in RUN_COLUMNS}, copy=False)


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
    buf = _RunBuffer(len(behaviours), runs)
    if used == "fast":
        from sim.engines import fast as fastpath

        fastpath.run_into(scenario, behaviours, run_ids, seed, [buf.fields(k) for k in range(len(behaviours))])
        log = None
    else:
        from sim.engines import des

        outputs, log = des.run_chunk(scenario, behaviours, run_ids, seed, event_log=event_log)
        for k, beh in enumerate(behaviours):
            _copy_engine_output(outputs[beh.label], buf.fields(k))
    df = _results_frame(scenario, behaviours, buf, run_ids, seed, used)
    events = None
    if log is not None:
        names = ["run", "strategy", "step_index", "attempt", "start_s", "end_s", "outcome", "useful"]
        graph = bool(log) and len(log[0]) == len(names) + 1  # workflow graphs also log the fan-out instance
        events = pd.DataFrame(log, columns=[*names, "instance"] if graph else names)
        events["step"] = [scenario.steps[i].name for i in events["step_index"]]
        if graph:
            events["kind"] = [scenario.steps[i].kind for i in events["step_index"]]  # waits have no compute
        events["outcome"] = [OUTCOMES[o] if o >= 0 else "cut_by_horizon" for o in events["outcome"]]
        events = events.sort_values(["run", "strategy", "start_s", "end_s"], kind="stable").reset_index(drop=True)[
            [*EVENT_COLUMNS, "instance", "kind"] if graph else EVENT_COLUMNS]
    return df, events


def simulate(scenario: Scenario, runs: int, seed: int = 0, *, first_run: int = 0, engine: str = "auto",
             strategies: Sequence[str] | None = None) -> pd.DataFrame:
    """Simulate ``runs`` replications of every strategy of ``scenario``.

    One row per (replication, strategy), columns ``RUN_COLUMNS`` (docs/model.md). Replication
    ``r`` under root ``seed`` is the same whatever ``first_run``, chunking or engine.
    """
    return simulate_with_events(scenario, runs, seed, first_run=first_run, engine=engine, strategies=strategies)[0]
