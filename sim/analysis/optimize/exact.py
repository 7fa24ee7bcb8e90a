"""Exact expected cost of an activity grouping of a chain, and the dynamic program over boundaries.

The regime where the simulator's model has a closed form: one chain of steps on one worker,
exponential crashes (rate λ; either failure clock), per-call 429s with probability p_i, no
deployments, unlimited retries. Attempts are then independent: a worker that is alive has the
same chance of surviving the next t seconds whatever happened before (memorylessness), and each
call draws its 429 and its duration afresh.

One attempt of step i (``StepTerms``):

* it is a 429 with probability p_i: the call lasts the response time r and, if no crash strikes
  first, fails; otherwise it lasts its duration D_i (drawn per attempt);
* it succeeds with probability s_i = (1 − p_i)·E[e^{−λD_i}];
* its expected compute cost e_i is, for a GPU step at ρ $/s, ρ·(p_i·(1 − e^{−λr})/λ +
  (1 − p_i)·E[(1 − e^{−λD})/λ]) (busy time until the end or the crash), and for an LLM call of
  price c, (1 − p_i)·c·E[(1 − e^{−λD})/(λD)] (a completed call costs c, a killed one c·X/D pro
  rata, a 429 nothing).

An activity g of steps a…b is attempted until one attempt runs all its steps; an attempt reaches
step i with probability Π_{a≤j<i} s_j, so (Wald's identity, attempts i.i.d.)

    E[compute cost of g] = Σ_{i=a..b} (Π_{a≤j<i} s_j)·e_i / S_g,   S_g = Π_{i=a..b} s_i,
    E[activity attempts of g] = 1/S_g (each is a billable action).

A grouping's history has 5 + 6G events (G activities). Restart is one group of every step,
without history. Cross-checks: one group of GPU steps with fixed durations and no 429s gives
ρ(e^{λT} − 1)/λ, singleton groups Σ ρ_k(e^{λt_k} − 1)/λ, and with 429s only Σ c_k Q_k/Q_n
(``sim.analysis.analytic``; tests/test_optimize.py checks all three).

Time, for the prices charged per minute open (action-minutes, active storage) and for the
expected makespan: an activity takes E[busy per attempt]/S_g, plus after the j-th failure the
wait of the failing step's retry policy (max(detection delay + backoff_j, restart time) after a
crash, max(backoff_j, Retry-After) after a 429; the j-th failure happens with probability
(1 − S_g)^j), plus 6 persistence latencies. Exact with jitter "none" and a fixed Retry-After,
except that it neglects crashes during the waits between attempts (an idle worker that crashes
delays the next start by its restart time): the relative error of the time is of order
λ × (mean wait), e.g. 1e-4 for waits of a minute and an MTBF of 4 hours. With jitter or a random
Retry-After the time is not computed (NaN), and a scenario whose orchestration is priced per
minute open is then outside the exact regime.

Every orchestration dollar comes from ``sim.model.costs.orchestration_cost_usd``. For a fixed
number of activities G the cost is affine in the expected attempts and time (history is then
fixed), so a grouping's cost is a sum over its activities plus a constant, and a dynamic program
over the boundaries finds the best grouping with G activities in O(n²) (Toueg and Babaoglu's
program, 1984). Keeping the best of every G (O(n³) in all) gives the curve "cost against the
number of activities", and lets the per-minute history storage (history × time, which couples G
and time) be exact too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import integrate

from sim.model.costs import OrchestrationUsage, orchestration_cost_usd
from sim.model.scenario import (
    CheckpointStrategy,
    DurableStrategy,
    HeartbeatStrategy,
    RestartStrategy,
    RetryPolicy,
    Scenario,
)
from sim.model.strategies import EVENTS_AT_START, EVENTS_PER_ACTIVITY, backoff_s

Grouping = tuple[tuple[int, ...], ...]  # step indices per activity, in order


def why_not_exact(scenario: Scenario) -> str | None:
    """Why the closed form does not hold for this scenario (None if it does)."""
    f = scenario.failures
    if f.crash is not None and f.crash.distribution != "exponential":
        return "crashes are not exponential (Weibull): the failure clock has a memory"
    if f.deploy is not None:
        return "deployments (drain windows, periodic or scheduled instants) have no closed form here"
    if scenario.fleet is not None or scenario.provider is not None:
        return "a fleet or a shared provider couples the workflows"
    if any(s.retry.maximum_attempts for s in scenario.steps):
        return "a step has a finite maximum_attempts: runs can be abandoned"
    if any(isinstance(c, RestartStrategy) and c.retry.maximum_attempts for c in scenario.strategies.values()):
        return "the restart strategy has a finite maximum_attempts: runs can be abandoned"
    time_reason = _why_not_time(scenario)
    if time_reason is not None and _time_priced(scenario):
        return f"{time_reason}, and the orchestration is priced per minute open"
    return None


def _time_priced(scenario: Scenario) -> bool:
    p = scenario.pricing.orchestration
    return bool(p.per_million_action_minutes_usd or p.restart_per_run_minute_usd
                or (p.active_storage_per_gb_hour_usd and p.bytes_per_history_event))


def why_not_exact_time(scenario: Scenario) -> str | None:
    """Why the expected time is not available in closed form (None if it is, up to idle crashes)."""
    return why_not_exact(scenario) or _why_not_time(scenario)


def _why_not_time(scenario: Scenario) -> str | None:
    if any(s.retry.jitter != "none" for s in scenario.steps):
        return "a retry policy has jitter"
    rl = scenario.failures.rate_limit
    if rl is not None and rl.retry_after.is_random:
        return "Retry-After is random"
    if any(isinstance(c, RestartStrategy) and c.retry.jitter != "none" for c in scenario.strategies.values()):
        return "the restart strategy's retry policy has jitter"
    return None


def _expect(dist, fn) -> float:
    """E[fn(D)] for a duration distribution (quadrature over its quantile function)."""
    if not dist.is_random:
        return float(fn(np.asarray(dist.mean())))
    value, _ = integrate.quad(lambda u: float(fn(dist.ppf(np.asarray(u)))), 0.0, 1.0, limit=200)
    return float(value)


def _survive_time(lam: float, t: np.ndarray) -> np.ndarray:
    """E[min(t, X)] for X ~ Exp(λ): (1 − e^{−λt})/λ, = t at λ = 0."""
    return t if lam == 0 else -np.expm1(-lam * t) / lam


@dataclass(frozen=True)
class StepTerms:
    """One attempt of one step (see the module docstring)."""

    success: float  # s_i
    cost_usd: float  # e_i, expected compute cost of one attempt
    busy_s: float  # expected time of one attempt (until its end or the crash)
    crash: float  # probability that the attempt ends in a crash
    limited: float  # probability that it ends in a 429


def step_terms(scenario: Scenario) -> list[StepTerms]:
    f = scenario.failures
    lam = 1.0 / f.crash.mtbf_s if f.crash is not None else 0.0
    rl = f.rate_limit
    limited = scenario.rate_limited_steps()
    response = rl.response_time_s if rl is not None else 0.0
    out = []
    for step, is_limited in zip(scenario.steps, limited, strict=True):
        p = rl.probability if is_limited else 0.0
        d = step.duration
        alive = _expect(d, lambda t: np.exp(-lam * t))
        busy_work = _expect(d, lambda t: _survive_time(lam, t))
        busy_429 = float(_survive_time(lam, np.asarray(response)))
        if step.kind == "gpu":
            cost = scenario.step_price_per_s(step) * (p * busy_429 + (1.0 - p) * busy_work)
        else:
            c = scenario.step_attempt_cost_usd(step)
            share = 1.0 if lam == 0 else _expect(d, lambda t: np.where(t > 0, -np.expm1(-lam * t) / (lam * np.maximum(t, 1e-300)), 1.0))
            cost = (1.0 - p) * c * share
        limited_end = p * math.exp(-lam * response)
        success = (1.0 - p) * alive
        out.append(StepTerms(success=success, cost_usd=cost, busy_s=p * busy_429 + (1.0 - p) * busy_work,
                             crash=1.0 - success - limited_end, limited=limited_end))
    return out


@dataclass(frozen=True)
class GroupTerms:
    """Expectations for one activity (a run of consecutive steps)."""

    compute_cost_usd: float
    attempts: float  # 1/S_g
    time_s: float  # busy time and waits, without persistence latency
    success: float  # S_g


@dataclass(frozen=True)
class ChainModel:
    """A scenario reduced to what the closed form needs."""

    scenario: Scenario
    names: tuple[str, ...]
    terms: tuple[StepTerms, ...]
    policies: tuple[RetryPolicy, ...]  # per step (activities retry with the failing step's policy)
    restart_policy: RetryPolicy
    detect_s: float
    restart_s: float
    retry_after_s: float
    persist_latency_s: float
    time_exact: bool

    @property
    def n(self) -> int:
        return len(self.terms)

    # ------------------------------------------------------------------ one activity
    def _waits_s(self, steps: Sequence[int], policy: RetryPolicy | None, reach: Sequence[float], success: float) -> float:
        """E[Σ waits] of an activity: Σ_j (1 − S)^{j−1} Σ_i P(fail at i)·wait_ij."""
        fail = 1.0 - success
        if fail <= 0.0 or not self.time_exact:
            return 0.0
        weights = [(reach[k] * self.terms[i].crash, reach[k] * self.terms[i].limited, policy or self.policies[i])
                   for k, i in enumerate(steps)]

        def wait(j: int) -> float:
            total = 0.0
            for p_crash, p_limit, pol in weights:
                w = backoff_s(pol, j, 0.0, 0.0)
                total += p_crash * max(self.detect_s + w, self.restart_s) + p_limit * max(w, self.retry_after_s)
            return total

        expected, j, q = 0.0, 1, 1.0  # q = (1 − S)^{j−1}
        while True:
            expected += q * wait(j)
            capped = all(backoff_s(pol, j, 0.0, 0.0) >= pol.max_interval_s or pol.backoff_coefficient == 1.0
                         or pol.initial_interval_s == 0.0 for _, _, pol in weights)
            q *= fail
            j += 1
            if capped:  # every later wait equals wait(j): a geometric tail
                return expected + q * wait(j) / success
            if q < 1e-18:
                return expected

    def group(self, steps: Sequence[int], policy: RetryPolicy | None = None) -> GroupTerms:
        """Expectations of an activity made of ``steps`` (``policy``: restart's pipeline policy)."""
        reach, r = [], 1.0
        cost = busy = 0.0
        for i in steps:
            reach.append(r)
            cost += r * self.terms[i].cost_usd
            busy += r * self.terms[i].busy_s
            r *= self.terms[i].success
        return GroupTerms(compute_cost_usd=cost / r, attempts=1.0 / r,
                          time_s=busy / r + self._waits_s(steps, policy, reach, r), success=r)

    # ------------------------------------------------------------------ orchestration prices
    def _orchestration_usd(self, durable: bool, attempts: float, history: float, time_s: float) -> float:
        usage = OrchestrationUsage(actions=np.asarray(1.0 + attempts if durable else attempts),
                                   history_events=np.asarray(float(history)), open_time_s=np.asarray(time_s),
                                   pipeline_runs=np.asarray(attempts))
        return float(orchestration_cost_usd(durable, usage, self.scenario.pricing.orchestration))

    def affine_prices(self, activities: int) -> tuple[float, float, float]:
        """(constant, $ per activity attempt, $ per second open) of a durable run with G activities."""
        history = EVENTS_AT_START + EVENTS_PER_ACTIVITY * activities
        base = self._orchestration_usd(True, 0.0, history, 0.0)
        per_attempt = self._orchestration_usd(True, 1.0, history, 0.0) - base
        per_s = self._orchestration_usd(True, 0.0, history, 1.0) - base
        return base, per_attempt, per_s


@dataclass(frozen=True)
class Expected:
    """Expected figures of one strategy under the closed form."""

    label: str
    groups: Grouping | None  # None: restart
    total_cost_usd: float
    compute_cost_usd: float
    orchestration_cost_usd: float
    makespan_s: float  # NaN when the time has no closed form here
    activity_attempts: float
    history_events: int


def chain_model(scenario: Scenario, persist_latency_s: float | None = None) -> ChainModel:
    """The closed-form view of ``scenario``; raises ValueError outside the exact regime."""
    reason = why_not_exact(scenario)
    if reason is not None:
        raise ValueError(f"no closed form for '{scenario.name}': {reason}")
    restart = next((c for c in scenario.strategies.values() if isinstance(c, RestartStrategy)), RestartStrategy())
    if persist_latency_s is None:
        persist_latency_s = durable_latency_s(scenario)
    crash = scenario.failures.crash
    rl = scenario.failures.rate_limit
    return ChainModel(
        scenario=scenario, names=tuple(scenario.step_names), terms=tuple(step_terms(scenario)),
        policies=tuple(s.retry for s in scenario.steps), restart_policy=restart.retry,
        detect_s=crash.detection_delay_s if crash is not None else 0.0,
        restart_s=crash.restart_time_s if crash is not None else 0.0,
        retry_after_s=rl.retry_after.mean() if rl is not None else 0.0,
        persist_latency_s=persist_latency_s, time_exact=why_not_exact_time(scenario) is None,
    )


def durable_latency_s(scenario: Scenario) -> float:
    """The persistence latency of the scenario's durable strategies (the first one found; 0 if none)."""
    for config in scenario.strategies.values():
        if isinstance(config, DurableStrategy | CheckpointStrategy | HeartbeatStrategy):
            return config.persist_latency_s
    return 0.0


def grouping_expected(model: ChainModel, groups: Grouping, label: str = "") -> Expected:
    """The closed-form expectations of one grouping, computed from scratch (no table)."""
    terms = [model.group(g) for g in groups]
    attempts = sum(t.attempts for t in terms)
    history = EVENTS_AT_START + EVENTS_PER_ACTIVITY * len(groups)
    time_s = sum(t.time_s for t in terms) + history * model.persist_latency_s
    compute = sum(t.compute_cost_usd for t in terms)
    orch = model._orchestration_usd(True, attempts, history, time_s)
    return Expected(label, tuple(tuple(g) for g in groups), compute + orch, compute, orch,
                    time_s if model.time_exact else math.nan, attempts, history)


def restart_expected(model: ChainModel, label: str = "restart") -> Expected:
    """Restart from scratch: one unit of every step, the restart strategy's retry policy, no history."""
    t = model.group(range(model.n), policy=model.restart_policy)
    orch = model._orchestration_usd(False, t.attempts, 0, t.time_s)
    return Expected(label, None, t.compute_cost_usd + orch, t.compute_cost_usd, orch,
                    t.time_s if model.time_exact else math.nan, t.attempts, 0)


def all_groupings(n: int) -> list[Grouping]:
    """Every way to cut a chain of n steps into runs of consecutive steps: 2^(n−1) of them."""
    out = []
    for k in range(n):
        for cuts in combinations(range(1, n), k):
            edges = (0, *cuts, n)
            out.append(tuple(tuple(range(a, b)) for a, b in zip(edges, edges[1:], strict=False)))
    return out


def brute_force(model: ChainModel) -> Expected:
    """The cheapest grouping by evaluating all 2^(n−1) of them (for tests and small chains)."""
    return min((grouping_expected(model, g) for g in all_groupings(model.n)), key=lambda e: e.total_cost_usd)


@dataclass(frozen=True)
class Optimum:
    """The dynamic program's answer: the best grouping overall and for every number of activities."""

    best: Expected
    by_activities: tuple[Expected, ...]  # index G − 1


def optimal_grouping(model: ChainModel) -> Optimum:
    """Minimise the expected total cost over groupings by dynamic programming on the boundaries.

    For each number of activities G: best[G][b] = min_a best[G−1][a] + w_G(a, b), where w_G is the
    activity's compute cost plus its attempts and time at the prices of a run with G activities.
    The table of activity terms is filled once, extending each start a step at a time (O(n²)).
    """
    n = model.n
    table: dict[tuple[int, int], GroupTerms] = {}
    for a in range(n):
        for b in range(a + 1, n + 1):
            table[(a, b)] = model.group(range(a, b))
    lat = model.persist_latency_s
    results = []
    for groups_count in range(1, n + 1):
        const, per_attempt, per_s = model.affine_prices(groups_count)
        per_s_eff = per_s if model.time_exact else 0.0

        def weight(a: int, b: int, per_attempt=per_attempt, per_s_eff=per_s_eff) -> float:
            t = table[(a, b)]
            return t.compute_cost_usd + per_attempt * t.attempts + per_s_eff * (t.time_s + EVENTS_PER_ACTIVITY * lat)

        best = [math.inf] * (n + 1)
        best[0] = 0.0
        arg: list[list[int]] = [[-1] * (n + 1)]
        layer = best
        for _ in range(groups_count):
            new = [math.inf] * (n + 1)
            back = [-1] * (n + 1)
            for b in range(1, n + 1):
                for a in range(b):
                    if layer[a] < math.inf:
                        v = layer[a] + weight(a, b)
                        if v < new[b]:
                            new[b], back[b] = v, a
            arg.append(back)
            layer = new
        edges = [n]
        for k in range(groups_count, 0, -1):
            edges.append(arg[k][edges[-1]])
        edges.reverse()
        groups = tuple(tuple(range(a, b)) for a, b in zip(edges, edges[1:], strict=False))
        results.append(grouping_expected(model, groups, label=f"{groups_count} activities"))
        del const  # the constant is the same for every grouping with G activities
    best = min(results, key=lambda e: e.total_cost_usd)
    return Optimum(best=best, by_activities=tuple(results))


def describe(model_or_names: ChainModel | Sequence[str], groups: Grouping) -> str:
    """'a + b | c | d': the steps of each activity."""
    names = model_or_names.names if isinstance(model_or_names, ChainModel) else tuple(model_or_names)
    return " | ".join(" + ".join(names[i] for i in g) for g in groups)


def names_of(names: Sequence[str], groups: Grouping) -> list[list[str]]:
    return [[names[i] for i in g] for g in groups]
