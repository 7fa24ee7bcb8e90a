"""`sim optimize` on a workflow graph with the most groupings it enumerates (2^10).

The graph: 11 LLM steps in a line (each ``after`` the one before; gpt-5.4-mini, lognormal
durations with median 20 s and p95 60 s), the sixth a fan-out of 3, crashes every 30 min on
average and 5% 429s with a 10-s Retry-After. Its 10 edges can each be an activity boundary or
not: 1,024 groupings, plus restart. The benchmark times ``recommend`` without the heartbeat
search (the graph has no GPU step), split into the candidates' simulation and the rest
(ranking and the summary table), in CPU seconds of this process.

    python benchmarks/bench_optimize_graph.py [--runs 4000]
"""

from __future__ import annotations

import argparse
import resource
import time

import sim.analysis.optimize.recommend as rec
from sim import Scenario, scenario_from_dict


def many_groupings_graph() -> Scenario:
    steps = []
    for i in range(11):
        step = {"name": f"s{i}", "kind": "llm", "model": "gpt-5.4-mini", "input_tokens": 2000, "output_tokens": 500,
                "duration": {"dist": "lognormal", "median": "20s", "p95": "60s"}}
        if i:
            step["after"] = [f"s{i - 1}"]
        if i == 5:
            step["count"] = 3
        steps.append(step)
    return scenario_from_dict({
        "name": "many-groupings", "pricing": {"profile": "article-2026-04"}, "steps": steps,
        "failures": {"crash": {"mtbf": "30m"}, "rate_limit": {"probability": 0.05, "retry_after": "10s"}},
        "strategies": {"restart": {}, "durable": {}},
    })


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=4000)
    args = ap.parse_args()
    sc = many_groupings_graph()
    spent = {"simulation": 0.0}
    simulate_candidates = rec.simulate_candidates

    def timed(*a, **k):
        t = cpu_s()
        try:
            return simulate_candidates(*a, **k)
        finally:
            spent["simulation"] += cpu_s() - t

    rec.simulate_candidates = timed
    t, wall = cpu_s(), time.perf_counter()
    r = rec.recommend(sc, runs=args.runs, heartbeat=False, quiet=True)
    total = cpu_s() - t
    print(f"{len(r.table)} candidates x {args.runs:,} replications: {total:.1f} CPU s "
          f"({time.perf_counter() - wall:.1f} s wall): simulation {spent['simulation']:.1f} s, "
          f"ranking and table {total - spent['simulation']:.1f} s; best: {r.best}")


if __name__ == "__main__":
    main()
