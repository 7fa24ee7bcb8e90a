"""Calibrate a scenario from a team's own data (docs/calibration.md).

    attempts = load_attempts("attempts.csv")        # or load_temporal("histories/")
    cal = calibrate(attempts, load_deploys("deploys.csv"))
    print(format_report(cal))
    text = scenario_toml(cal, attempts, template="experiments/scenarios/research_paper.toml")
"""

from sim.calibrate.attempts import attempts_from_event_log, load_attempts, validate_attempts
from sim.calibrate.deploys import load_deploys
from sim.calibrate.errors import DataError
from sim.calibrate.fits import (
    Calibration,
    calibrate,
    fit_crashes,
    fit_deploys,
    fit_durations,
    fit_rate_limits,
    naive_crash_fit,
)
from sim.calibrate.graph import format_shape, infer_shape
from sim.calibrate.report import format_report, write_plots
from sim.calibrate.scenario_writer import scenario_toml, validate_scenario_text
from sim.calibrate.temporal import load_temporal

__all__ = [
    "Calibration", "DataError", "attempts_from_event_log", "calibrate", "fit_crashes",
    "fit_deploys", "fit_durations", "fit_rate_limits", "format_report", "format_shape",
    "infer_shape", "load_attempts",
    "load_deploys", "load_temporal", "naive_crash_fit", "scenario_toml",
    "validate_attempts", "validate_scenario_text", "write_plots",
]
