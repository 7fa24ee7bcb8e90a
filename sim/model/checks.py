"""Checks across a scenario's tables that its schema alone cannot make: strategy groups against
the steps, heartbeat tables, prices for every step, and the workflow graph (predecessors, no
cycle, activities that can run). Each raises ScenarioError naming the file and key."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence

from sim.errors import ScenarioError
from sim.model.schema import CheckpointStrategy, HeartbeatStrategy, ScenarioSchema, Step
from sim.model.spot import placement, spot_rate_per_s, step_capacities
from sim.model.time_prices import applies, overlapping


def _check_partition(groups: list[list[str]], step_names: list[str]) -> str | None:
    """Why ``groups`` does not list every step exactly once, or None."""
    if not groups:
        return "'groups' is empty: list the steps of each activity, e.g. [[\"a\", \"b\"], [\"c\"]]"
    for j, group in enumerate(groups):
        if not group:
            return f"group {j} is empty: every activity needs at least one step"
    flat = [name for group in groups for name in group]
    for name in flat:
        if name not in step_names:
            hint = difflib.get_close_matches(name, step_names, n=1)
            extra = f" (did you mean '{hint[0]}'?)" if hint else ""
            return f"no step named '{name}'{extra}; steps: {', '.join(step_names)}"
    seen: set[str] = set()
    for name in flat:
        if name in seen:
            return f"step '{name}' is in more than one place: each step belongs to exactly one group"
        seen.add(name)
    missing = [name for name in step_names if name not in seen]
    if missing:
        return f"step(s) {', '.join(repr(m) for m in missing)} in no group: the groups must cover every step"
    return None


def check_groups(groups: list[list[str]], step_names: list[str]) -> str | None:
    """Why ``groups`` (step names per activity) is not a partition of the pipeline into runs of
    consecutive steps in order, or None if it is."""
    problem = _check_partition(groups, step_names)
    if problem is not None:
        return problem
    flat = [name for group in groups for name in group]
    if flat != step_names:
        return (f"the groups must list the steps in pipeline order ({', '.join(step_names)}), "
                f"got {', '.join(flat)}")
    return None


def check_heartbeat_steps(config: HeartbeatStrategy, steps: Sequence[Step]) -> tuple[str, str] | None:
    """(key, problem) of a per-step heartbeat table naming no step or a step that is not a GPU
    step, or None."""
    kinds = {s.name: s.kind for s in steps}
    names = [s.name for s in steps]
    for table in ("every_by_step", "checkpoint_cost_by_step"):
        for name in getattr(config, table):
            if name not in kinds:
                hint = difflib.get_close_matches(name, names, n=1)
                extra = f" (did you mean '{hint[0]}'?)" if hint else ""
                return f"{table}.{name}", f"no step named '{name}'{extra}; steps: {', '.join(names)}"
            if kinds[name] != "gpu":
                gpu = [n for n, k in kinds.items() if k == "gpu"]
                article = "an" if kinds[name][0] in "aeiou" else "a"
                return (f"{table}.{name}", f"step '{name}' is {article} {kinds[name]} step: only GPU steps save progress "
                        f"(GPU steps: {', '.join(gpu) or 'none'})")
    return None


def find_cycle(n: int, neighbours: Callable[[int], Iterable[int]]) -> list[int] | None:
    """A cycle of the directed graph on nodes 0…n−1 (edges i → ``neighbours(i)``), as its nodes
    in path order from the first one met again, or None. Depth-first, iterative."""
    state = [0] * n  # 0 new, 1 on the path, 2 done
    for root in range(n):
        if state[root]:
            continue
        stack = [(root, iter(neighbours(root)))]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif state[nxt] == 1:
                path = [m for m, _ in stack]
                return path[path.index(nxt):]
            elif state[nxt] == 0:
                state[nxt] = 1
                stack.append((nxt, iter(neighbours(nxt))))
    return None


def check_graph_groups(groups: list[list[str]], step_names: list[str], preds: list[list[int]],
                       is_wait: list[bool]) -> str | None:
    """Why ``groups`` are not activities of a workflow graph (docs/model.md, "Activities on
    graphs"), or None: every step in exactly one group; a wait step alone (a durable timer or
    signal, not work in a process); and no groups running after each other (so every group is
    convex: a path that leaves a group does not come back into it, and an activity can start
    once the activities before it are recorded). A group need not be connected: one activity
    may run independent branches in its process (the one activity of ``restart`` does)."""
    problem = _check_partition(groups, step_names)
    if problem is not None:
        return problem
    index = {name: i for i, name in enumerate(step_names)}
    of = {index[name]: j for j, group in enumerate(groups) for name in group}
    for group in groups:
        if len(group) > 1:
            for name in group:
                if is_wait[index[name]]:
                    return (f"step '{name}' is a wait (a durable timer or signal), which cannot share an activity: "
                            f"give it a group of its own")
    # groups as nodes: an edge h → j when a step of j runs after a step of h; it must have no cycle
    edges: dict[int, dict[int, tuple[int, int]]] = {j: {} for j in range(len(groups))}
    for i, ps in enumerate(preds):
        for p in ps:
            if of[p] != of[i]:
                edges[of[p]].setdefault(of[i], (p, i))
    found = find_cycle(len(groups), lambda g: sorted(edges[g]))
    if found is not None:
        cycle = [*found, found[0]]
        hops = ", ".join(f"{step_names[edges[a][b][0]]} → {step_names[edges[a][b][1]]}"
                         for a, b in zip(cycle, cycle[1:], strict=False))
        which = " and ".join(f"group {g} ({', '.join(groups[g])})" for g in found)
        return (f"{which} run after each other ({hops}): "
                f"an activity must be able to start once the activities before it are recorded "
                f"(a path that leaves a group must not come back into it)")
    return None



def cross_check(sc: ScenarioSchema, file: str) -> None:
    for i, step in enumerate(sc.steps):
        key = f"steps[{i}]({step.name})"
        if step.kind == "gpu" and step.price_per_hour is None and step.gpu not in sc.pricing.gpu:
            known = ", ".join(sorted(sc.pricing.gpu)) or "none"
            raise ScenarioError(f"unknown GPU kind '{step.gpu}' (pricing has: {known})", file=file, key=f"{key}.gpu")
        if step.kind == "llm" and step.model not in sc.pricing.models:
            known = sorted(sc.pricing.models)
            hint = difflib.get_close_matches(step.model or "", known, n=1)
            extra = f" (did you mean '{hint[0]}'?)" if hint else ""
            src = sc.pricing.models_profile.name
            where = (f"models profile {src}" if src else "no models profile: add [pricing] models = \"article-2026-04\" "
                     f"or [pricing.models.\"{step.model}\"]")
            raise ScenarioError(
                f"unknown model '{step.model}'{extra}; pricing has: {', '.join(known) or 'none'} ({where})",
                file=file,
                key=f"{key}.model",
            )
    for label, config in sc.strategies.items():
        if isinstance(config, CheckpointStrategy) and config.groups is not None:
            if "every" in config.model_fields_set:
                raise ScenarioError("give either 'every' or 'groups', not both", file=file, key=f"strategies.{label}")
            if sc.is_graph:
                continue  # graph groups are checked once the graph is (check_graph)
            problem = check_groups(config.groups, sc.step_names)
            if problem is not None:
                raise ScenarioError(problem, file=file, key=f"strategies.{label}.groups")
        if isinstance(config, HeartbeatStrategy):
            if config.every_s is None and not config.every_by_step and not config.save_on_notice:
                raise ScenarioError("missing: give 'every' (the save interval of every GPU step) or 'every_by_step' "
                                    "(e.g. every_by_step = { render = \"5m\" })", file=file,
                                    key=f"strategies.{label}.every")
            problem = check_heartbeat_steps(config, sc.steps)
            if problem is not None:
                key, message = problem
                raise ScenarioError(message, file=file, key=f"strategies.{label}.{key}")
    check_spot(sc, file)
    check_schedule(sc, file)
    orch = sc.pricing.orchestration
    if orch.needs_monthly_volume and orch.monthly_workflows is None:
        what = "a fixed monthly cost to amortise" if orch.monthly_fixed_usd else "a monthly plan minimum"
        raise ScenarioError(f"the orchestration profile ({sc.pricing.orchestration_profile.name or 'this scenario'}) "
                            f"has {what}: give the monthly volume", file=file, key="pricing.monthly_workflows")
    rl = sc.failures.rate_limit
    if rl is not None and rl.steps is not None:
        for j, name in enumerate(rl.steps):
            if name not in sc.step_names:
                raise ScenarioError(
                    f"no step named '{name}' (steps: {', '.join(sc.step_names)})",
                    file=file,
                    key=f"failures.rate_limit.steps[{j}]",
                )


def check_spot(sc: ScenarioSchema, file: str) -> None:
    """Spot capacity (docs/spot.md): only GPU steps run on it, each with a spot price; a deadline
    rule needs a deadline; chains on the DES engine only (not graphs, not fleets)."""
    gpu_names = [s.name for s in sc.steps if s.kind == "gpu"]
    for i, step in enumerate(sc.steps):
        if step.capacity == "spot" and step.kind != "gpu":
            raise ScenarioError(f"a {step.kind} step does not run on GPU capacity: only GPU steps can be on spot",
                                file=file, key=f"steps[{i}]({step.name}).capacity")
    uses_spot = False
    for label, config in sc.strategies.items():
        capacity, by_step = placement(config.capacity)
        for name in by_step:
            if name not in gpu_names:
                hint = difflib.get_close_matches(name, gpu_names, n=1)
                extra = f" (did you mean '{hint[0]}'?)" if hint else ""
                raise ScenarioError(f"no GPU step named '{name}'{extra}; GPU steps: {', '.join(gpu_names) or 'none'}",
                                    file=file, key=f"strategies.{label}.capacity.{name}")
        placed = step_capacities(sc, capacity, by_step)
        for step, where in zip(sc.steps, placed, strict=True):
            if where == "spot":
                uses_spot = True
                if spot_rate_per_s(sc, step) is None:
                    what = f"GPU '{step.gpu}'" if step.price_per_hour is None else "its price_per_hour"
                    raise ScenarioError(
                        f"step '{step.name}' runs on spot capacity under strategy '{label}' but the pricing has no spot "
                        f"price for {what}: give [pricing.spot] discount (a fraction off on-demand) or "
                        f"[pricing.spot.gpu] {step.gpu or 'NAME'} ($/hour)", file=file, key="pricing.spot")
        if config.fallback_rule != "none" and sc.simulation.deadline_s is None:
            raise ScenarioError(f"fallback_rule = \"{config.fallback_rule}\" needs a deadline: add [simulation] "
                                "deadline (e.g. \"1h\")", file=file, key=f"strategies.{label}.fallback_rule")
    spot = sc.failures.preemption is not None or uses_spot
    if spot and sc.is_graph:
        raise ScenarioError("spot capacity and preemptions are modelled on chains only, not on workflow graphs yet",
                            file=file, key="failures.preemption" if sc.failures.preemption is not None else "steps")
    if spot and sc.fleet is not None:
        raise ScenarioError("spot capacity and preemptions are modelled by sim run/compare (the DES engine), not by "
                            "the fleet engine yet", file=file, key="fleet")


def check_schedule(sc: ScenarioSchema, file: str) -> None:
    """Prices by time of day (docs/spot.md): known GPUs and models, no two windows on one price at
    once, paused steps that have a window; chains without heartbeat strategies on the DES engine."""
    windows, traces = sc.pricing.schedule, sc.pricing.traces
    for table, items in (("schedule", windows), ("traces", traces)):
        for j, w in enumerate(items):
            for key, names, known in (("gpus", w.gpus, sc.pricing.gpu), ("models", w.models, sc.pricing.models)):
                for name in names or []:
                    if name not in known:
                        raise ScenarioError(f"no {key[:-1]} '{name}' in the pricing (has: "
                                            f"{', '.join(sorted(known)) or 'none'})", file=file,
                                            key=f"pricing.{table}[{j}].{key}")
    for step in sc.steps:
        for spot in (False, True):
            mine = [j for j, tr in enumerate(traces) if applies(tr, step, spot)]
            if len(mine) > 1 or (mine and any(applies(w, step, spot) for w in windows)):
                raise ScenarioError(f"two price paths set the price of step '{step.name}': one trace, or daily "
                                    "windows, per price", file=file, key=f"pricing.traces[{mine[-1]}]")
    for step in sc.steps:
        for spot in (False, True):
            mine = [(j, w) for j, w in enumerate(windows) if applies(w, step, spot)]
            for a, (j, w) in enumerate(mine):
                for k, v in mine[a + 1:]:
                    if overlapping((w.start_s, w.end_s), (v.start_s, v.end_s)):
                        raise ScenarioError(f"windows {j} and {k} both set the price of step '{step.name}' at the "
                                            "same time of day: make them not overlap", file=file,
                                            key=f"pricing.schedule[{k}]")
    paused = False
    for label, config in sc.strategies.items():
        for name in config.pause_for_off_peak:
            key = f"strategies.{label}.pause_for_off_peak"
            step = next((s for s in sc.steps if s.name == name), None)
            if step is None:
                raise ScenarioError(f"no step named '{name}' (steps: {', '.join(sc.step_names)})", file=file, key=key)
            if not any(applies(w, step) or applies(w, step, spot=True) for w in (*windows, *traces)):
                raise ScenarioError(f"step '{name}' has one price all day: add a [[pricing.schedule]] window (or a "
                                    "[[pricing.traces]] path) for its "
                                    f"{'GPU' if step.kind == 'gpu' else 'model'}", file=file, key=key)
            paused = True
        if (windows or traces) and isinstance(config, HeartbeatStrategy):
            raise ScenarioError("prices by time of day are not modelled with heartbeat saves yet: use durable or "
                                "checkpoint", file=file, key=f"strategies.{label}.kind")
    windows = windows or traces
    if (windows or paused) and sc.is_graph:
        raise ScenarioError("prices by time of day are modelled on chains only, not on workflow graphs yet",
                            file=file, key="pricing.schedule")
    if (windows or paused) and sc.fleet is not None:
        raise ScenarioError("prices by time of day are modelled by sim run (the DES engine), not by the fleet engine "
                            "yet", file=file, key="pricing.schedule")


# ---- workflow graph validation (issue 12): predecessors exist, no cycle, strategies defined on graphs


def check_graph(sc: ScenarioSchema, file: str) -> None:
    names = sc.step_names
    for i, step in enumerate(sc.steps):
        for j, name in enumerate(step.after or []):
            if name not in names:
                hint = difflib.get_close_matches(name, names, n=1)
                extra = f" (did you mean '{hint[0]}'?)" if hint else ""
                raise ScenarioError(f"unknown predecessor '{name}'{extra}; steps: {', '.join(names)}",
                                    file=file, key=f"steps[{i}]({step.name}).after[{j}]")
            if name == step.name:
                raise ScenarioError("a step cannot run after itself", file=file, key=f"steps[{i}]({step.name}).after[{j}]")
    preds = sc.predecessors()
    found = find_cycle(len(preds), lambda i: preds[i])
    if found is not None:
        cycle = [sc.steps[n].name for n in found]
        node = found[-1]
        raise ScenarioError(f"the steps form a cycle: {' runs after '.join([*reversed(cycle), cycle[-1]])}",
                            file=file, key=f"steps[{node}]({sc.steps[node].name}).after")
    if not sc.is_graph:
        for key in ("max_concurrent_activities", "max_concurrent_workflow_tasks"):
            if sc.fleet is not None and getattr(sc.fleet, key) is not None:
                raise ScenarioError("slots per worker are for workflow graphs: in a chain fleet an attempt takes a "
                                    "whole worker (docs/fleet.md)", file=file, key=f"fleet.{key}")
        return
    for label, config in sc.strategies.items():
        if isinstance(config, CheckpointStrategy):
            if config.groups is None:
                raise ScenarioError("'every' k consecutive steps is defined on chains only; on a workflow graph give "
                                    "explicit activities, e.g. groups = [[\"a\", \"b\"], [\"c\"]]",
                                    file=file, key=f"strategies.{label}")
            problem = check_graph_groups(config.groups, names, preds, [s.kind == "wait" for s in sc.steps])
            if problem is not None:
                raise ScenarioError(problem, file=file, key=f"strategies.{label}.groups")
