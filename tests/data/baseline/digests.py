"""Digests of the runs tables of the bundled scenarios, recorded before the workflow-graph change.

The scenario files beside this one are frozen copies of ``experiments/scenarios/*.toml`` as they
were when the digests were recorded (commit ab6eade), so a later change to the bundled scenarios
themselves (for example their default prices) does not move them. The digests cover exactly the
columns the tables had then: a column added later is not part of the promise.

``python tests/data/baseline/digests.py --write`` records them again; the test
(tests/test_baseline_digests.py) recomputes them and compares.

The digests are kept per *math variant*. numpy computes log1p, exp and power (the inverse CDFs
of the crash, deployment and duration distributions) with different kernels on different CPUs:
on CPUs with AVX-512 it uses Intel's SVML routines, which differ from the C library's in the last
bit for a few percent of arguments; elsewhere it calls the C library. The same seed gives the
same tables on machines of the same variant, and tables equal to about 1e-16 relative between
variants. ``math_fingerprint`` names the variant of the running machine (a digest of numpy's
results on fixed arguments); each variant's digests were recorded by the code of commit ab6eade
(``--write`` adds or replaces the running machine's variant only).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "scenarios"
DIGESTS = HERE / "digests.json"
SEED = 20261202
RUNS = 400
FLEET_REPLICATIONS = 2

RUN_COLUMNS = [
    "scenario", "strategy", "run", "seed", "engine", "completed", "makespan_s", "compute_s",
    "useful_compute_s", "wasted_compute_s", "compute_cost_usd", "useful_cost_usd",
    "wasted_cost_usd", "orchestration_actions", "history_events", "orchestration_cost_usd",
    "total_cost_usd", "attempts", "crashes", "deploy_kills", "rate_limited", "pipeline_restarts",
    "heartbeats",
]


def frame_digest(df: pd.DataFrame, columns: list[str]) -> str:
    """sha256 over each column's name, and its values as strings (labels) or raw bytes (numbers)."""
    h = hashlib.sha256()
    h.update(str(len(df)).encode())
    for name in columns:
        col = df[name]
        h.update(name.encode())
        if isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == object or pd.api.types.is_string_dtype(col):
            h.update("\x1f".join(map(str, col.astype(object))).encode())
        else:
            values = np.ascontiguousarray(col.to_numpy())
            if values.dtype.kind == "f":
                values = values.astype("<f8")
            elif values.dtype.kind in "iu":
                values = values.astype("<i8")
            h.update(values.tobytes())
    return h.hexdigest()


def math_fingerprint() -> str:
    """A short digest of numpy's log1p, exp and power on fixed arguments: machines with the same
    fingerprint compute the random draws' inverse CDFs to the same bits."""
    u = np.arange(1, 4097, dtype=np.float64) / 4099.0
    h = hashlib.sha256()
    for values in (np.log1p(-u), np.exp(8.0 * u - 4.0), np.power(u, 0.7)):
        h.update(np.ascontiguousarray(values, dtype="<f8").tobytes())
    return h.hexdigest()[:16]


def compute(fleet_columns: tuple[list[str], list[str]] | None = None) -> dict[str, str]:
    from sim import load_scenario, simulate
    from sim.engines.fast import supports
    from sim.engines.fleet.api import simulate_fleet

    out: dict[str, str] = {}
    for path in sorted(SCENARIOS.glob("*.toml")):
        sc = load_scenario(path)
        if sc.fleet is not None:
            workflows, fleet = simulate_fleet(sc, FLEET_REPLICATIONS, seed=SEED)
            wcols, fcols = fleet_columns if fleet_columns else (list(workflows.columns), list(fleet.columns))
            out[f"{path.stem}/fleet-workflows"] = frame_digest(workflows, wcols)
            out[f"{path.stem}/fleet-metrics"] = frame_digest(fleet, fcols)
            continue
        engines = ["des", "fast"] if supports(sc) else ["des"]
        for engine in engines:
            df = simulate(sc, RUNS, seed=SEED, engine=engine)
            out[f"{path.stem}/{engine}"] = frame_digest(df, RUN_COLUMNS)
    return out


if __name__ == "__main__":
    if "--write" not in sys.argv:
        print(json.dumps({"math_fingerprint": math_fingerprint(), "digests": compute()}, indent=1))
        sys.exit(0)
    from sim.engines.fleet.metrics import FLEET_COLUMNS, WORKFLOW_COLUMNS

    record = json.loads(DIGESTS.read_text()) if DIGESTS.exists() else {}
    record.update({"seed": SEED, "runs": RUNS, "fleet_replications": FLEET_REPLICATIONS,
                   "workflow_columns": list(WORKFLOW_COLUMNS), "fleet_columns": list(FLEET_COLUMNS)})
    variants = record.setdefault("digests_by_math", {})
    variants[math_fingerprint()] = compute((list(WORKFLOW_COLUMNS), list(FLEET_COLUMNS)))
    DIGESTS.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {DIGESTS}: {len(variants[math_fingerprint()])} digests for math variant {math_fingerprint()}")
