"""Benchmark: simulated SimPy events per second for a fleet of 1,000 concurrent workflows.

The research-paper fleet (experiments/scenarios/fleet_research.toml: four LLM calls per
workflow, worker crashes, rolling deployments, a shared 60 requests/minute and 300k
tokens/minute provider with outages) with 1,000 workflows starting together on 1,000 workers,
so all of them compete for the provider at once. Reports the median over repetitions of
events / wall-clock second for each strategy (an event is one SimPy event a workflow waited
on: an attempt, a backoff, a wait for a worker, a worker's return to the pool).

    PYTHONPATH=. python benchmarks/bench_fleet.py [--repeat 5] [--workflows 1000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from sim.engines.fleet import simulate_fleet
from sim.model.scenario import load_scenario, scenario_from_dict

SCENARIO = Path(__file__).resolve().parent.parent / "experiments" / "scenarios" / "fleet_research.toml"


def bench(workflows: int, repeat: int, strategy: str) -> dict[str, float]:
    raw = load_scenario(SCENARIO).raw
    raw["fleet"] = {"workers": workflows, "arrival": "batch", "workflows": workflows}
    scenario = scenario_from_dict(raw, file=str(SCENARIO), base_dir=SCENARIO.parent)
    rates, seconds, events = [], [], 0
    for rep in range(repeat):
        start = time.perf_counter()
        _, fleet = simulate_fleet(scenario, 1, seed=rep, strategies=[strategy])
        elapsed = time.perf_counter() - start
        events = int(fleet["events"].iloc[0])
        rates.append(events / elapsed)
        seconds.append(elapsed)
    return {"events": events, "median_s": statistics.median(seconds), "median_events_per_s": statistics.median(rates)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workflows", type=int, default=1000)
    parser.add_argument("--strategies", nargs="+", default=["durable", "restart", "retry_in_place", "checkpoint"])
    args = parser.parse_args(argv)
    print(f"fleet of {args.workflows} concurrent workflows on {args.workflows} workers, median of {args.repeat}")
    for strategy in args.strategies:
        r = bench(args.workflows, args.repeat, strategy)
        print(f"{strategy:>15}: {r['events']:>7d} events in {r['median_s']:.3f} s -> "
              f"{r['median_events_per_s']:,.0f} events/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
