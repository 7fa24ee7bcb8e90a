"""A scenario, a strategy and a replication as the plan that the real workflow runs.

Times in a plan's Temporal settings are *real* seconds: the scenario's seconds divided by the
time compression ``speed`` (simulated seconds per real second). The activities read the
scenario themselves (its durations and failure draws) and scale them the same way.
"""

from __future__ import annotations

from typing import Any

from sim.errors import SimError
from sim.model.scenario import RetryPolicy, Scenario
from sim.model.strategies import Behaviour
from sim.model.workflow import Graph, GraphDraws, activities

# Temporal notices a dead worker when no heartbeat came for the heartbeat timeout H. The SDK sends
# heartbeats at most every 0.8 H, so the last one before a kill is 0 to 0.8 H old, and Temporal
# notices the death 0.2 H to H after it: 0.6 H on average. The scenario's detection delay is that
# mean, so H = detection delay / 0.6 (docs/validation.md).
MEAN_DETECTION_PER_TIMEOUT = 0.6
MIN_HEARTBEAT_TIMEOUT_REAL_S = 0.5  # shorter timeouts expire on a loaded machine with no crash at all
# With neither crashes nor deployments no worker dies, and there is nothing for the heartbeat timeout
# to notice: a generous one keeps a heartbeat that a loaded machine sends late from failing an attempt
# that completes (the history would show a crash that never happened).
NO_DEATHS_HEARTBEAT_TIMEOUT_REAL_S = 30.0


def policy_dict(p: RetryPolicy) -> dict[str, Any]:
    return {"initial_s": p.initial_interval_s, "coefficient": p.backoff_coefficient,
            "maximum_s": p.max_interval_s, "maximum_attempts": p.maximum_attempts}


def scaled_policy(p: RetryPolicy, speed: float) -> dict[str, Any]:
    d = policy_dict(p)
    d["initial_s"] /= speed
    d["maximum_s"] /= speed
    return d


def unsupported(scenario: Scenario, beh: Behaviour) -> str | None:
    """Why this strategy of the scenario cannot run on the real server, or None."""
    if beh.kind == "checkpoint" and not beh.group_steps and beh.checkpoint_every != 1:
        return "checkpoint strategies need explicit 'groups' to run on the real server"
    jitters = {s.retry.jitter for s in scenario.steps}
    if beh.pipeline_retry is not None:
        jitters.add(beh.pipeline_retry.jitter)
    if jitters - {"none"}:
        return "Temporal's retry policy has no jitter: use jitter = \"none\""
    return None


def build_plan(scenario: Scenario, scenario_path: str, beh: Behaviour, draws: GraphDraws, *, seed: int,
               run: int, speed: float, log_path: str, task_queue: str, member: int | None = None) -> dict[str, Any]:
    """The workflow's input for one replication of one strategy (in a fleet, of its workflow ``member``)."""
    why = unsupported(scenario, beh)
    if why:
        raise SimError(f"strategy '{beh.label}': {why}")
    graph = Graph(scenario)
    acts = activities(graph, beh)
    crash = scenario.failures.crash
    detect_s = crash.detection_delay_s if crash is not None else 0.0
    if crash is None and scenario.failures.deploy is None:
        hb_timeout = NO_DEATHS_HEARTBEAT_TIMEOUT_REAL_S
    else:
        hb_timeout = max(detect_s / MEAN_DETECTION_PER_TIMEOUT / speed, MIN_HEARTBEAT_TIMEOUT_REAL_S)
    horizon_real = scenario.simulation.max_time_s / speed
    steps = []
    for i, s in enumerate(scenario.steps):
        wait = s.wait if s.kind == "wait" else None
        steps.append({
            "name": s.name, "preds": list(graph.preds[i]), "count": int(draws.counts[i]),
            "max_concurrency": int(s.max_concurrency or 0), "wait": wait,
            "wait_s": draws.duration(i, 0, 0) / speed if wait else 0.0,
        })
    specs = []
    group_policies = []
    for members in acts:
        if not beh.records_history:
            policy = beh.pipeline_retry or scenario.steps[members[0]].retry
        else:
            policy = scenario.steps[members[0]].retry
        group_policies.append(policy)
        names = [scenario.steps[i].name for i in members]
        specs.append({"retry": scaled_policy(policy, speed), "heartbeat_timeout_s": hb_timeout,
                      "start_to_close_s": horizon_real,
                      "type": "pipeline" if len(members) == graph.n and len(members) > 1 else "+".join(names)})
    context = {
        "scenario": scenario_path, "seed": seed, "run": run, "speed": speed, "log": log_path,
        "task_queue": task_queue, "heartbeat_every_real_s": min(hb_timeout / 4, 1.0), "member": member,
        "policies": {str(i): policy_dict(s.retry) for i, s in enumerate(scenario.steps)},
        "group_policy": policy_dict(group_policies[0]), "in_place_429": beh.retry_429_in_place,
        # heartbeat strategies: the GPU steps that save progress, (every, cost) in simulated s
        "saves": {str(i): (every, beh.heartbeat_costs_s[i])
                  for i, every in enumerate(beh.heartbeat_intervals_s)
                  if every > 0.0 and scenario.steps[i].kind == "gpu"},
    }
    return {"steps": steps, "activities": [list(m) for m in acts], "activity_specs": specs,
            "records": beh.records_history, "context": context}
