"""What the vectorised executors share: random access to a chunk's draws, the scenario's
constants over arrays, the back-off rule over arrays (``sim.model.strategies.backoff_s``), and
compiling loops with numba."""

from __future__ import annotations

import functools

import numpy as np

from sim.model.failures import identity
from sim.model.rng import Source, index_hashes, replication_keys, splitmix, uniform_of, uniforms
from sim.model.scenario import RetryPolicy, Scenario

INF = np.inf
_LANE = np.uint64(1 << 32)
_JITTER_CODES = {"none": 0, "full": 1, "equal": 2, "decorrelated": 3}
CUT = -2  # an attempt cut by the simulation horizon


class _Draws:
    """Random access to one source's stream for a chunk: value(rows, index, lane)."""

    def __init__(self, seed: int, source: Source, runs: np.ndarray, ppf):
        self.keys = replication_keys(seed, source, runs)
        self.ppf = ppf

    def __call__(self, rows: np.ndarray, index: np.ndarray, lane: np.ndarray | int = 0) -> np.ndarray:
        idx = np.asarray(lane, dtype=np.uint64) * _LANE + np.asarray(index, dtype=np.uint64)
        return self.ppf(uniforms(self.keys[rows], idx))


class _Chunk:
    """Scenario constants and random sources shared by every strategy of a chunk."""

    def __init__(self, scenario: Scenario, runs: np.ndarray, seed: int):
        f = scenario.failures
        steps = scenario.steps
        self.n = len(steps)
        self.size = len(runs)
        self.max_t = scenario.simulation.max_time_s
        self.is_gpu = np.array([s.kind == "gpu" for s in steps])
        self.rate_per_s = np.array([scenario.step_price_per_s(s) if s.kind == "gpu" else 0.0 for s in steps])
        self.call_cost = np.array([scenario.step_attempt_cost_usd(s) if s.kind == "llm" else 0.0 for s in steps])
        self.limited = np.array(scenario.rate_limited_steps())
        rl = f.rate_limit
        self.p429 = rl.probability if rl is not None else 0.0
        self.response_s = rl.response_time_s if rl is not None else 0.0
        self.rate_u = _Draws(seed, Source.RATE_LIMIT, runs, identity) if self.limited.any() else None
        self.retry_after_fixed = None
        self.retry_after = None
        if rl is not None:
            if rl.retry_after.is_random:
                self.retry_after = _Draws(seed, Source.RETRY_AFTER, runs, rl.retry_after.ppf)
            else:
                self.retry_after_fixed = rl.retry_after.mean()
        self.fixed_duration = np.array([0.0 if s.duration.is_random else s.duration.mean() for s in steps])
        self.random_duration = [s.duration.is_random for s in steps]
        self.dur_draws = _Draws(seed, Source.DURATION, runs, identity) if any(self.random_duration) else None
        self.duration_ppf = [s.duration.ppf for s in steps]
        crash = f.crash
        self.crash = None
        if crash is not None:
            self.crash = _Draws(seed, Source.CRASH, runs, crash.time_to_failure.ppf)
            self.renew = crash.renew_on_restart
            self.restart_crash = crash.restart_time_s
            self.detect_s = crash.detection_delay_s
        else:
            self.renew, self.restart_crash, self.detect_s = True, 0.0, 0.0
        deploy = f.deploy
        self.deploy_mode = None if deploy is None else deploy.mode
        if deploy is not None:
            self.every = deploy.every_s or 0.0
            self.drain = deploy.drain_s
            self.restart_deploy = deploy.restart_time_s
            self.at = np.array(deploy.at_s + [INF]) if deploy.mode == "scheduled" else None
            if deploy.mode == "periodic":
                self.deploy = _Draws(seed, Source.DEPLOY, runs, identity)
            elif deploy.mode == "poisson":
                mean = self.every
                self.deploy = _Draws(seed, Source.DEPLOY, runs, lambda u: -mean * np.log1p(-u))
            else:
                self.deploy = None
        else:
            self.every = self.drain = self.restart_deploy = 0.0
        self.sticky_s = scenario.temporal.sticky_schedule_to_start_timeout_s
        self.task_timeout_s = scenario.temporal.workflow_task_timeout_s
        self.step_policies = [s.retry for s in steps]
        needs_jitter = any(p.jitter != "none" for p in self.step_policies) or any(
            getattr(getattr(c, "retry", None), "jitter", "none") != "none" for c in scenario.strategies.values())
        self.jitter = _Draws(seed, Source.JITTER, runs, identity) if needs_jitter else None
        self.per_attempt_draws = any(self.random_duration) or self.rate_u is not None


def _policy_arrays(policies: list[RetryPolicy]) -> tuple[np.ndarray, ...]:
    return (np.array([p.initial_interval_s for p in policies]), np.array([p.backoff_coefficient for p in policies]),
            np.array([p.max_interval_s for p in policies]), np.array([p.maximum_attempts for p in policies]),
            np.array([_JITTER_CODES[p.jitter] for p in policies]))


def _backoff(base, coef, cap, failures, code, u, prev):
    """sim.model.strategies.backoff_s over arrays."""
    return _jittered(_interval(base, coef, cap, failures), base, cap, code, u, prev)


def _interval(base, coef, cap, failures):
    """The capped exponential interval before retry number ``failures`` (``backoff_s``)."""
    exponent = (failures - 1).astype(np.float64)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        flat = (coef == 1.0) | (base == 0.0)
        huge = exponent * np.log(coef) > np.log(np.maximum(cap, 1e-300) / base) + 1
        interval = np.where(flat, base, np.where(huge, cap, np.minimum(base * coef**exponent, cap)))
    return np.broadcast_to(interval, np.shape(failures)).astype(np.float64)


def _jittered(interval, base, cap, code, u, prev):
    """The back-off from its ``interval`` under jitter ``code`` (``_JITTER_CODES``: one for all,
    or one per failure) with uniform draws ``u`` and previous sleeps ``prev`` (``backoff_s``)."""
    if np.ndim(code) == 0:  # one jitter for all
        if code == 0:
            return interval
        if code == 1:
            return u * interval
        if code == 2:
            return 0.5 * interval * (1.0 + u)
        return np.minimum(cap, base + u * (np.maximum(3.0 * prev, base) - base))
    if not np.any(code):  # no jitter anywhere: the capped exponential interval
        return interval
    upper = np.maximum(3.0 * prev, base)
    return np.select(
        [code == 0, code == 1, code == 2],
        [interval, u * interval, 0.5 * interval * (1.0 + u)],
        np.minimum(cap, base + u * (upper - base)),
    )


@functools.cache
def compile_cached(fn):
    """``fn`` compiled by numba (once per process), its machine code kept on disk beside its module
    (or in the user's cache folder where that is read-only), so that a new process loads it rather
    than compiling it again. Numba's cache notices changes to ``fn``'s own file only: ``fn`` must read nothing from
    other modules but its arguments."""
    import numba

    try:
        return numba.njit(cache=True, nogil=True)(fn)
    except RuntimeError:  # no cache folder anywhere writable: compiled in each process
        return numba.njit(nogil=True)(fn)


@functools.cache
def _rng_compilable() -> None:
    """``sim.model.rng``'s ``splitmix`` and ``uniform_of`` made callable from compiled code (once)."""
    from numba.extending import register_jitable

    register_jitable(splitmix)
    register_jitable(uniform_of)


@functools.cache
def compile_with_rng(fn):
    """``fn`` compiled by numba, once per process and not kept on disk: ``fn`` calls
    ``sim.model.rng``'s own ``splitmix`` and ``uniform_of``, whose changes numba's cache would not
    notice."""
    import numba

    _rng_compilable()
    return numba.njit(nogil=True)(fn)


def index_table(table: np.ndarray, need: int) -> np.ndarray:
    """``index_hashes`` of 0, 1, …: ``table`` if it holds the first ``need``, else a table twice
    that long (draw indices looked up rather than hashed each time)."""
    if need <= table.size:
        return table
    return index_hashes(np.arange(2 * need, dtype=np.uint64))


def keyed_uniforms(keys, rows, hashed, out):
    """``out[j]``: the uniform of run ``rows[j]`` (key ``keys[rows[j]]``) for the index hash
    ``hashed[j]`` (``sim.model.rng.hashed_uniforms``), compiled by ``compile_with_rng``."""
    for j in range(rows.size):
        out[j] = uniform_of(keys[rows[j]], hashed[j])
