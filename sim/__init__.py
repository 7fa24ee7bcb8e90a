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
from typing import TYPE_CHECKING, Any

from sim.errors import ScenarioError, SimError

if TYPE_CHECKING:  # the names below are loaded on first use (see __getattr__)
    from sim.analysis.compare import Comparison, compare
    from sim.engines.fleet.api import simulate_fleet
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
    "compare", "load_scenario", "scenario_from_dict", "simulate", "simulate_fleet", "simulate_with_events",
]

# every public name but the errors is imported on first use, so that `import sim` (and the command
# line, which handles Ctrl-C only once it runs) starts at once, before numpy and pandas load
_LAZY = {
    "RUN_COLUMNS": "sim.experiment.api", "simulate": "sim.experiment.api",
    "simulate_with_events": "sim.experiment.api", "simulate_fleet": "sim.engines.fleet.api",
    "bundled_scenarios": "sim.model.bundled", "Scenario": "sim.model.scenario",
    "load_scenario": "sim.model.scenario", "scenario_from_dict": "sim.model.scenario",
    "compare": "sim.analysis.compare", "Comparison": "sim.analysis.compare",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
