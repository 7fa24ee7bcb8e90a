"""sim: Monte Carlo failure-injection simulator for multi-step AI pipelines.

The API in five lines::

    import sim
    scenario = sim.load_scenario("video").replace({"failures.crash.mtbf": "30m"})
    result = sim.compare(scenario, runs=2000, seed=1)
    print(result.verdict())
    result.plot_costs()

Distribution name ``durable-sim``; import name ``sim``.
"""

from __future__ import annotations

from importlib import metadata as _metadata
from typing import Any

from sim.errors import ScenarioError, SimError
from sim.experiment.api import RUN_COLUMNS, simulate, simulate_with_events
from sim.model.bundled import bundled_scenarios
from sim.model.scenario import Scenario, load_scenario, scenario_from_dict

DISTRIBUTION = "durable-sim"

try:
    __version__ = _metadata.version(DISTRIBUTION)
except _metadata.PackageNotFoundError:  # imported from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "DISTRIBUTION", "RUN_COLUMNS", "Comparison", "Scenario", "ScenarioError", "SimError", "bundled_scenarios",
    "compare", "load_scenario", "scenario_from_dict", "simulate", "simulate_with_events",
]


def __getattr__(name: str) -> Any:
    # the analysis layer (statistics, the report's wording, plots) is loaded on first use, so that
    # `import sim` and the command line start fast
    if name in ("compare", "Comparison"):
        from sim.analysis import compare as _compare

        return getattr(_compare, name)
    raise AttributeError(f"module 'sim' has no attribute {name!r}")
