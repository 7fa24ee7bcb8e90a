"""Vectorised fast path (placeholder until implemented: never chosen)."""
from __future__ import annotations

from sim.scenario import Scenario


def supports(scenario: Scenario) -> bool:
    return False


def why_not(scenario: Scenario) -> str:
    return "not implemented yet"
