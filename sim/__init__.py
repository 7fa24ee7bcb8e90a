"""sim: Monte Carlo failure-injection simulator for multi-step AI pipelines."""

from sim.errors import ScenarioError, SimError
from sim.experiment.api import RUN_COLUMNS, simulate, simulate_with_events
from sim.model.scenario import Scenario, load_scenario, scenario_from_dict

__all__ = [
    "RUN_COLUMNS", "Scenario", "ScenarioError", "SimError", "load_scenario", "scenario_from_dict",
    "simulate", "simulate_with_events",
]
__version__ = "0.1.0"
