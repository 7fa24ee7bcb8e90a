"""The vectorised graph executor against the DES engine on the bundled graph scenarios.

For each bundled graph scenario (``experiments/scenarios/graph_*.toml``; graph_video_scenes
without its heartbeat strategy, which only the DES engine follows) at two crash MTBFs (4 h and
20 min; the scenario's other failures as bundled), ``simulate(..., engine="des")`` and
``simulate(..., engine="fast")`` run interleaved in one process; the figure is (replication,
strategy) runs per CPU second (user + system, ``getrusage``), the median over the repetitions,
and the ratio of the two. Both produce the same table, run by run (tests/test_fastpath_graph.py).

    python benchmarks/bench_graph_fast.py [--des-runs 300] [--fast-runs 6000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sim import Scenario, load_scenario, scenario_from_dict, simulate  # noqa: E402

from common import interleaved_medians  # noqa: E402

GRAPHS = sorted(Path("experiments/scenarios").glob("graph_*.toml"))
MTBFS = ("4h", "20m")


def graph_scenario(path: Path, mtbf: str) -> Scenario:
    raw = load_scenario(path).raw
    raw["strategies"] = {k: v for k, v in raw["strategies"].items() if v.get("kind", k) != "heartbeat"}
    raw["failures"]["crash"]["mtbf"] = mtbf
    return scenario_from_dict(raw, file=f"{path} (MTBF {mtbf})", base_dir=None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--des-runs", type=int, default=300)
    ap.add_argument("--fast-runs", type=int, default=6000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'scenario':<26} {'MTBF':>5} {'DES runs/s':>11} {'fast runs/s':>12} {'ratio':>7}")
    for path in GRAPHS:
        for mtbf in MTBFS:
            sc = graph_scenario(path, mtbf)
            strategies = len(sc.strategies)

            def des(sc: Scenario = sc) -> int:
                return len(simulate(sc, args.des_runs, 7, engine="des"))

            def fast(sc: Scenario = sc) -> int:
                return len(simulate(sc, args.fast_runs, 7, engine="fast"))

            rates = interleaved_medians({"des": des, "fast": fast}, args.repeats)
            print(f"{path.stem:<26} {mtbf:>5} {rates['des']:>11,.0f} {rates['fast']:>12,.0f} "
                  f"{rates['fast'] / rates['des']:>6.1f}x   ({strategies} strategies)", flush=True)


if __name__ == "__main__":
    main()
