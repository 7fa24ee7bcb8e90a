"""Activity groupings of a workflow graph: which steps share an activity (docs/optimize.md, "Graphs").

A grouping is valid under the workflow model's rules (``sim.model.scenario.check_graph_groups``:
every step in one group, a wait step alone, no groups running after each other). The candidate
boundaries are the graph's edges between steps that may share an activity (neither is a wait):
merging along a set of such edges joins the steps they connect, so every grouping searched is
made of groups connected along edges (the validity check then drops those whose groups would run
after each other, e.g. two ends of a path without its middle).

* ``enumerate_groupings``: every valid grouping reachable by merging along a subset of the
  mergeable edges, when there are few enough edges (``max_edges``), else None;
* ``greedy_groupings``: from one activity per step, each round evaluates every valid grouping
  that merges two activities joined by a mergeable edge and keeps the best; it stops when no
  merge lowers the objective. ``evaluate`` simulates a list of groupings on common random numbers
  and returns their objective values (lower is better).

The chain's dynamic program does not apply (a graph's activities run in parallel and wait for
each other), so graph candidates are ranked by simulation only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import combinations

from sim.model.scenario import Scenario, check_graph_groups

Grouping = tuple[tuple[int, ...], ...]  # step indices per activity, sorted by first step
MAX_EDGES = 10  # 2^10 subsets of boundaries at most are enumerated


def mergeable_edges(scenario: Scenario) -> list[tuple[int, int]]:
    """(predecessor, step) index pairs along which two steps may share an activity."""
    wait = [s.kind == "wait" for s in scenario.steps]
    return [(p, i) for i, ps in enumerate(scenario.predecessors()) for p in ps if not wait[p] and not wait[i]]


def singletons(n: int) -> Grouping:
    return tuple((i,) for i in range(n))


def merged(n: int, edges: Sequence[tuple[int, int]]) -> Grouping:
    """The grouping that joins the steps connected by ``edges`` (union–find)."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in edges:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    return tuple(sorted(tuple(g) for g in groups.values()))


def is_valid(scenario: Scenario, grouping: Grouping) -> bool:
    names = scenario.step_names
    return check_graph_groups([[names[i] for i in g] for g in grouping], names, scenario.predecessors(),
                              [s.kind == "wait" for s in scenario.steps]) is None


def enumerate_groupings(scenario: Scenario, max_edges: int = MAX_EDGES) -> list[Grouping] | None:
    """Every valid grouping made by merging along a subset of the mergeable edges (one activity
    per step included), in order of decreasing number of activities; None beyond ``max_edges``."""
    edges = mergeable_edges(scenario)
    if len(edges) > max_edges:
        return None
    n = len(scenario.steps)
    seen: dict[Grouping, None] = {}
    for k in range(len(edges) + 1):
        for subset in combinations(edges, k):
            g = merged(n, subset)
            if g not in seen and is_valid(scenario, g):
                seen[g] = None
    return sorted(seen, key=lambda g: (-len(g), g))


def greedy_groupings(scenario: Scenario, evaluate: Callable[[list[Grouping]], list[float]]) -> list[Grouping]:
    """The greedy path from one activity per step (module docstring): the grouping kept at each
    round, the first one being one activity per step."""
    n = len(scenario.steps)
    edges = mergeable_edges(scenario)
    current = singletons(n)
    value = evaluate([current])[0]
    path = [current]
    while True:
        of = {i: k for k, g in enumerate(current) for i in g}
        frontier: dict[Grouping, None] = {}
        for a, b in edges:
            if of[a] != of[b]:
                joined = tuple(sorted([*(g for k, g in enumerate(current) if k not in (of[a], of[b])),
                                       tuple(sorted(current[of[a]] + current[of[b]]))]))
                if joined not in frontier and is_valid(scenario, joined):
                    frontier[joined] = None
        if not frontier:
            return path
        options = list(frontier)
        values = evaluate(options)
        best = min(range(len(options)), key=lambda k: (values[k], k))
        if not values[best] < value:
            return path
        current, value = options[best], values[best]
        path.append(current)
