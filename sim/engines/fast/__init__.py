"""The vectorised executors ("fast" engine): the same model as the DES engine, over arrays of replications.

* ``chain``: chains (one pipeline on its own worker), a state machine stepped in lock-step;
* ``graph``: workflow graphs (fan-out, waits, concurrency limits), the workflow model in lock-step;
* ``common``: what they share (random access to a chunk's draws, scenario constants, back-off).

Each reads the very same random numbers as the engine (draws are pure functions of (seed,
replication, source, index), ``sim.model.rng``) and equals it run by run.
"""

from __future__ import annotations

import numpy as np

from sim.engines.fast import chain, graph
from sim.engines.fast.chain import CLEAN_FIELDS
from sim.model.scenario import Scenario
from sim.model.strategies import Behaviour

__all__ = ["CLEAN_FIELDS", "run_into", "supports", "why_not"]


def why_not(scenario: Scenario) -> str | None:
    """Why the fast engine cannot run this scenario (None if it can)."""
    if scenario.is_graph:
        return graph.why_not(scenario)
    return chain.why_not(scenario)


def supports(scenario: Scenario) -> bool:
    return why_not(scenario) is None


def run_into(scenario: Scenario, behaviours: list[Behaviour], runs: np.ndarray, seed: int,
             outs: list[dict[str, np.ndarray]]) -> None:
    """Simulate replications ``runs`` of every strategy into ``outs`` (``chain.run_into``,
    ``graph.run_into``)."""
    reason = why_not(scenario)
    if reason is not None:
        raise ValueError(f"the fast path does not support this scenario: {reason}")
    if scenario.is_graph:
        graph.run_into(scenario, behaviours, runs, seed, outs)
    else:
        chain.run_into(scenario, behaviours, runs, seed, outs)
