"""The graph executor of this checkout against its version at an earlier commit, in one process.

``sim/engines/fast/graph.py`` at ``--commit`` (read with ``git show``) is loaded beside this
checkout's, and ``simulate(..., engine="fast")`` runs with each in turn on every bundled graph
scenario at crash MTBFs 4 h and 20 min (as ``bench_graph_fast.py`` builds them), interleaved;
the figure is CPU seconds (``time.process_time``), the median of the repetitions, and their
ratio. Both tables must be equal (``equal=True``): the executor's changes are speed only.

    python benchmarks/bench_graph_against.py --commit e651026 [--runs 30000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_graph_fast import GRAPHS, MTBFS, graph_scenario  # noqa: E402

import sim.engines.fast as fast  # noqa: E402
from sim import simulate  # noqa: E402
from sim.engines.fast import graph as current  # noqa: E402


def executor_at(commit: str):
    """The graph executor module as it was at ``commit``."""
    source = subprocess.run(["git", "show", f"{commit}:sim/engines/fast/graph.py"], check=True,
                            capture_output=True, text=True).stdout
    with tempfile.TemporaryDirectory() as folder:  # (the module is loaded: its file is not needed after)
        path = Path(folder) / "graph_at_commit.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("sim.engines.fast.graph_at_commit", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commit", required=True)
    ap.add_argument("--runs", type=int, default=30000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    executors = {args.commit: executor_at(args.commit), "this checkout": current}
    print(f"{'scenario':<26} {'MTBF':>5} {args.commit:>14} {'this checkout':>14} {'speed-up':>9}")
    for path in GRAPHS:
        for mtbf in MTBFS:
            sc = graph_scenario(path, mtbf)
            seconds: dict[str, list[float]] = {name: [] for name in executors}
            tables = {}
            try:
                for _ in range(args.repeats):
                    for name, module in executors.items():
                        fast.graph = module  # (``sim.engines.fast.run_into`` dispatches through it)
                        start = time.process_time()
                        tables[name] = simulate(sc, args.runs, 7, engine="fast")
                        seconds[name].append(time.process_time() - start)
            finally:
                fast.graph = current
            old, new = (statistics.median(seconds[name]) for name in executors)
            equal = tables[args.commit].equals(tables["this checkout"])
            print(f"{path.stem:<26} {mtbf:>5} {old:>13.2f}s {new:>13.2f}s {old / new:>8.2f}x   equal={equal}",
                  flush=True)


if __name__ == "__main__":
    main()
