"""Replications in chunks, run serially, on local processes or on a Dask cluster.

Work is a list of chunks ``(point, chunk)``; chunk ``c`` holds replications
``c·chunk_size … (c+1)·chunk_size − 1`` (the last one may be shorter). The chunk size is a
fixed parameter, independent of the number of workers, and every random number is a pure
function of (seed, replication, source, index), so a replication gives the same numbers
whatever chunk, worker or backend computes it. Chunk aggregates are merged per point in
chunk order (never in completion order), so the final tables are bit-identical on every
backend. Only aggregates stay in memory; per-run rows go to the store (Parquet per chunk)
or, when asked, to an in-memory frame.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim import shutdown, stats
from sim.errors import SimError
from sim.experiment.api import ENGINES, simulate
from sim.experiment.eta import Progress
from sim.experiment.outdir import close_inherited_locks
from sim.experiment.points import points_frame
from sim.experiment.resources import ResourceError, check_memory, check_runs
from sim.experiment.store import METRICS, Aggregate, SweepStore, default_pairs
from sim.model.scenario import Scenario
from sim.stats.completion import incomplete_warnings

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "FAST_CHUNK_SIZE",
    "ChunkTask",
    "RunnerError",
    "StoppingOutcome",
    "StoppingRule",
    "SweepResult",
    "default_chunk_size",
    "default_workers",
    "plan_chunks",
    "run_sweep",
    "simulate_parallel",
    "sweep_identity",
]

DEFAULT_CHUNK_SIZE = 1000
#: The default chunk when every point runs on the fast path (without a stopping rule): its
#: per-chunk cost is a few milliseconds, so chunks of 1000 would be mostly overhead.
FAST_CHUNK_SIZE = 10_000
#: From this many replications in all, ``workers=None`` means every core.
MANY_RUNS = 20_000


class RunnerError(SimError):
    """Runner options that cannot be used (workers, scheduler, stopping rule)."""


@dataclass(frozen=True)
class ChunkTask:
    """Replications ``first_run … first_run + runs − 1`` of sweep point ``point``."""

    point: int
    chunk: int
    first_run: int
    runs: int


def plan_chunks(n_points: int, runs: int, chunk_size: int, first_chunk: int = 0) -> list[ChunkTask]:
    """Chunks of every point for runs ``first_chunk·chunk_size … runs − 1``, point-major."""
    if chunk_size < 1:
        raise RunnerError("chunk size must be at least 1")
    n_chunks = math.ceil(runs / chunk_size)
    return [
        ChunkTask(p, c, c * chunk_size, min(chunk_size, runs - c * chunk_size))
        for p in range(n_points) for c in range(first_chunk, n_chunks)
    ]


def default_chunk_size(points: Sequence[Any], engine: str = "auto", stopping: StoppingRule | None = None) -> int:
    """The chunk size of a sweep that gives none: ``FAST_CHUNK_SIZE`` when every point runs on
    the fast path, else ``DEFAULT_CHUNK_SIZE``; always the latter with a stopping rule (its
    rounds are whole chunks, so they stay fine-grained)."""
    from sim.experiment.api import choose_engine

    if stopping is not None:
        return DEFAULT_CHUNK_SIZE
    try:
        engines = {choose_engine(p.scenario, engine) for p in points}
    except ValueError:  # run_sweep reports it
        return DEFAULT_CHUNK_SIZE
    return FAST_CHUNK_SIZE if engines == {"fast"} else DEFAULT_CHUNK_SIZE


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def default_workers(total_replications: int) -> int:
    """Every core when the work is large, else 1 (process start-up would dominate)."""
    return available_cores() if total_replications >= MANY_RUNS else 1


def _check_runs(runs: int, option: str = "--runs") -> None:
    try:
        check_runs(runs, option)
    except ResourceError as exc:
        raise RunnerError(str(exc)) from None


# --------------------------------------------------------------------------- the work of one chunk


@dataclass(frozen=True)
class _Payload:
    scenario: Scenario
    seed: int
    engine: str
    task: ChunkTask
    values: dict[str, float]
    want_rows: bool
    plain: bool = False  # just the simulated rows: no aggregate, no sweep columns (``simulate_parallel``)


def _work(payload: _Payload) -> tuple[ChunkTask, Aggregate | None, pd.DataFrame | None]:
    """Simulate one chunk; return its aggregate and (when wanted) its rows with sweep columns."""
    sc = payload.scenario
    df = simulate(sc, payload.task.runs, payload.seed, first_run=payload.task.first_run, engine=payload.engine)
    if payload.plain:
        return payload.task, None, df
    labels = list(sc.strategies)
    agg = Aggregate.from_runs(df, labels, METRICS, default_pairs(labels), sc.simulation.max_time_s)
    rows = None
    if payload.want_rows:
        front = {"point": np.full(len(df), payload.task.point, dtype=np.int64)}
        for name, value in payload.values.items():
            front[name] = np.full(len(df), value, dtype=np.float64)
        rows = pd.concat([pd.DataFrame(front), df.reset_index(drop=True)], axis=1)
    return payload.task, agg, rows


# --------------------------------------------------------------------------- backends


class _Serial:
    name = "serial"
    slots = 1

    def submit(self, payload: _Payload) -> Future:
        fut: Future = Future()
        try:
            fut.set_result(_work(payload))
        except BaseException as exc:  # noqa: BLE001 - re-raised by result()
            if isinstance(exc, KeyboardInterrupt):
                raise
            fut.set_exception(exc)
        return fut

    def wait_any(self, pending: set) -> set:
        return set(pending)

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def _die_with_parent(parent_pid: int) -> None:
    """Worker initializer: the worker ends when the process that started it dies.

    On Linux the kernel sends SIGKILL on the parent's death (``prctl(PR_SET_PDEATHSIG)``); a
    daemon thread that polls the parent's pid covers other platforms and a parent that died
    before the prctl took effect. Lock descriptors inherited by fork are closed (the lock
    belongs to the command). Ctrl-C is the command's to handle: a worker ignores SIGINT (the
    terminal sends it to the whole process group) and is ended by the command."""
    close_inherited_locks()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform == "linux":
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl
            pass
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="sim-parent-watch", daemon=True).start()


class _Processes:
    name = "processes"

    def __init__(self, workers: int):
        # fork: workers start at once with sim imported and need no ``if __name__ == "__main__"``
        # guard in the caller's script; elsewhere the platform's default (spawn)
        method = "fork" if sys.platform == "linux" else None
        ctx = multiprocessing.get_context(method)
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_die_with_parent,
                                        initargs=(os.getpid(),))
        self.slots = workers

    def submit(self, payload: _Payload) -> Future:
        with shutdown.sigint_blocked():  # a worker forked now never sees the terminal's Ctrl-C
            return self.pool.submit(_work, payload)

    def wait_any(self, pending: set) -> set:
        return futures_wait(pending, return_when=FIRST_COMPLETED).done

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def abort(self) -> None:
        """End the workers now (an interrupt or an error): waiting for chunks in flight could take
        minutes, and their results would be thrown away."""
        for proc in list((getattr(self.pool, "_processes", None) or {}).values()):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                proc.kill()
        self.pool.shutdown(wait=False, cancel_futures=True)


class _Dask:
    name = "dask"

    def __init__(self, scheduler: str, workers: int | None):
        try:
            from distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover - optional dependency
            raise RunnerError("--scheduler needs dask.distributed: pip install 'sim[cluster]'") from None
        self.cluster = None
        if scheduler == "local":
            # its processes are this command's to end: they never get the terminal's Ctrl-C. They are
            # forked from a thread that blocks SIGINT and inherit the blocked signal; spawned (Dask's
            # default), they would not: a new interpreter starts with no signal blocked, and a Ctrl-C
            # while it imports printed its traceback. Their logs stop at CRITICAL: once the command
            # ends them, their lost connections to the scheduler are expected, not errors.
            def start() -> tuple[Any, Any]:
                import dask

                with dask.config.set({"distributed.worker.multiprocessing-method": "fork"}):
                    cluster = LocalCluster(n_workers=workers or available_cores(), threads_per_worker=1,
                                           processes=True, dashboard_address=None, silence_logs=logging.CRITICAL)
                return cluster, Client(cluster)

            self.cluster, self.client = shutdown.start_deaf_to_ctrl_c(start)
        else:
            try:
                self.client = Client(scheduler, timeout="10s")
            except OSError as exc:
                raise RunnerError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        self.slots = max(1, sum(self.client.nthreads().values()))

    def submit(self, payload: _Payload) -> Any:
        return self.client.submit(_work, payload, pure=False)

    def wait_any(self, pending: set) -> set:
        from distributed import wait

        return set(wait(list(pending), return_when="FIRST_COMPLETED").done)

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def abort(self) -> None:
        """End a local cluster's processes now, then let go of the client without waiting."""
        logging.getLogger("distributed").setLevel(logging.CRITICAL)  # closed connections are expected now
        if self.cluster is not None:
            shutdown.end_children()
        with contextlib.suppress(Exception):
            self.client.close(timeout=1)
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close(timeout=1)


def _backend(workers: int, scheduler: str | None) -> _Serial | _Processes | _Dask:
    if scheduler:
        return _Dask(scheduler, workers)
    if workers <= 1:
        return _Serial()
    return _Processes(workers)


def simulate_parallel(scenario: Scenario, runs: int, seed: int = 0, *, engine: str = "auto",
                      workers: int | None = None, scheduler: str | None = None, chunk_size: int | None = None,
                      quiet: bool = True, desc: str | None = None) -> pd.DataFrame:
    """``sim.simulate`` in chunks of replications, serially, on local processes or on a Dask
    cluster: the same rows (strategies in scenario order, runs ascending) whatever the backend,
    the chunk size or the number of workers.

    ``workers``: as ``run_sweep`` (None = every core from 20 000 replications). ``chunk_size``:
    None = 2 000 replications on the DES engine, 50 000 on the fast path (whose per-chunk cost is
    small, so small chunks would be mostly overhead). Progress goes to stderr when it is a
    terminal and ``quiet`` is false.
    """
    from sim.experiment.api import choose_engine

    if isinstance(runs, bool) or not isinstance(runs, int | np.integer):
        raise RunnerError(f"--runs must be an integer, got {runs!r}")
    _check_runs(int(runs))
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise RunnerError(f"seed must be a non-negative integer, got {seed!r}")
    if workers is not None and workers < 1:
        raise RunnerError("--workers must be at least 1")
    try:
        used = choose_engine(scenario, engine)
    except ValueError as exc:
        raise RunnerError(f"--engine {engine}: {exc}") from None
    check_memory(scenario, int(runs), seed, used)  # the whole runs table is returned: refuse what cannot fit
    size = chunk_size or (50_000 if used == "fast" else 2_000)
    tasks = plan_chunks(1, runs, size)
    n_workers = min(workers if workers is not None else default_workers(runs), len(tasks))
    done: dict[int, pd.DataFrame] = {}
    backend = _backend(n_workers, scheduler)
    try:
        with Progress(int(runs), desc or scenario.name, enabled=not quiet) as bar:
            queue = iter(tasks)
            pending: dict[Any, ChunkTask] = {}
            window = 1 if isinstance(backend, _Serial) else max(2, 2 * backend.slots)
            while True:
                while len(pending) < window and (t := next(queue, None)) is not None:
                    pending[backend.submit(_Payload(scenario, seed, used, t, {}, True, plain=True))] = t
                if not pending:
                    break
                for fut in backend.wait_any(set(pending)):
                    t = pending.pop(fut)
                    done[t.chunk] = fut.result()[2]
                    bar.update(t.runs)
    except BaseException:
        backend.abort()
        raise
    backend.close()
    if len(done) == 1:
        return done[0]
    # each chunk is strategy-major with runs ascending: take strategy by strategy, chunk by chunk
    # (already in order, so no sort), one copy
    chunks = [(done[t.chunk], t.runs) for t in tasks]
    n_strategies = len(chunks[0][0]) // chunks[0][1]
    parts = [df.iloc[k * n:(k + 1) * n] for k in range(n_strategies) for df, n in chunks]
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- stopping rule


@dataclass(frozen=True)
class StoppingRule:
    """Add chunks until the t half-width of ``metric`` reaches ``target`` at every point.

    The estimate is each strategy's mean (or only ``strategy``), or the paired mean
    difference a − b when ``paired=(a, b)``. ``relative``: the target is a fraction of |mean|.
    All points get the same number of replications (common random numbers across the sweep).
    """

    metric: str
    target: float
    relative: bool = True
    paired: tuple[str, str] | None = None
    strategy: str | None = None
    min_runs: int = 1000
    max_runs: int = 100_000
    confidence: float = 0.95

    @staticmethod
    def parse_target(text: str) -> tuple[float, bool]:
        """``2%`` → (0.02, relative); ``0.001`` → (0.001, absolute)."""
        t = text.strip()
        relative = t.endswith("%")
        try:
            value = float(t[:-1]) / 100 if relative else float(t)
        except ValueError:
            raise RunnerError(f"--target-half-width {text!r}: expected a number or a percentage such as 2%") from None
        if not value > 0 or not math.isfinite(value):
            raise RunnerError(f"--target-half-width {text!r}: must be positive")
        return value, relative

    def describe(self) -> str:
        what = f"{self.paired[0]} - {self.paired[1]} " if self.paired else ""
        goal = f"{self.target:.3%} of |mean|" if self.relative else f"{self.target:g}"
        return f"half-width of mean {what}{self.metric} <= {goal}"


@dataclass(frozen=True)
class StoppingOutcome:
    """What the stopping rule reached: runs per point, whether every point met the target."""

    rule: StoppingRule
    runs: int
    rounds: int
    met: bool
    points: pd.DataFrame  # point, estimate, mean, half_width, goal, met

    def message(self) -> str:
        worst = self.points.sort_values("ratio", ascending=False).iloc[0] if len(self.points) else None
        state = "reached" if self.met else "NOT reached (stopped at --max-runs)"
        text = f"stopping rule: {self.rule.describe()}: {state} with {self.runs} replications per point"
        if worst is not None:
            text += (f" in {self.rounds} round(s); worst point {int(worst['point'])} ({worst['estimate']}): "
                     f"half-width {worst['half_width']:.4g} vs target {worst['goal']:.4g}")
        return text


def _evaluate(rule: StoppingRule, aggs: Sequence[Aggregate]) -> tuple[pd.DataFrame, int]:
    """Per point (and strategy) the half-width vs the goal, and the replications it projects."""
    rows = []
    need = 0
    for point, agg in enumerate(aggs):
        if rule.metric not in agg.metrics:
            raise RunnerError(f"--metric {rule.metric!r}: not a result column; known: {', '.join(agg.metrics)}")
        targets: list[tuple[str, str | None, tuple[str, str] | None]]
        if rule.paired is not None:
            targets = [(f"{rule.paired[0]} - {rule.paired[1]}", None, rule.paired)]
        elif rule.strategy is not None:
            targets = [(rule.strategy, rule.strategy, None)]
        else:
            targets = [(s, s, None) for s in agg.strategies]
        for label, strategy, pair in targets:
            mean, se, n = agg.estimate(rule.metric, strategy=strategy, pair=pair)
            half = float(stats.t_half_width(se, n, rule.confidence)) if n >= 2 else math.inf
            goal = rule.target * abs(mean) if rule.relative else rule.target
            met = bool(math.isfinite(half) and half <= goal)
            if not met:
                if goal > 0 and math.isfinite(se) and n >= 2:
                    need = max(need, stats.replications_needed(se, n, goal, rule.confidence))
                else:
                    need = max(need, 2 * max(n, 1))
            ratio = half / goal if goal > 0 else (0.0 if half == 0 else math.inf)
            rows.append((point, label, mean, half, goal, met, ratio))
    frame = pd.DataFrame(rows, columns=["point", "estimate", "mean", "half_width", "goal", "met", "ratio"])
    return frame, need


# --------------------------------------------------------------------------- results


@dataclass
class SweepResult:
    """Per point × strategy summaries, paired differences and (optionally) run rows."""

    points: pd.DataFrame
    summary: pd.DataFrame
    paired: pd.DataFrame
    runs_per_point: int
    runs: pd.DataFrame | None = None
    stopping: StoppingOutcome | None = None
    out: Path | None = None
    backend: str = "serial"
    workers: int = 1
    seconds: float = 0.0
    chunks_run: int = 0
    chunks_reused: int = 0
    engines: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)  # warnings about runs that did not complete

    @property
    def target_met(self) -> bool:
        """False when the stopping rule was not reached or some runs did not complete."""
        return not self.incomplete and (self.stopping is None or self.stopping.met)

    def read_runs(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The run rows: in memory if collected, else from the store's Parquet files."""
        if self.runs is not None:
            return self.runs if columns is None else self.runs[list(columns)]
        if self.out is None:
            raise RunnerError("run rows were neither collected nor stored (pass collect_runs=True or out=...)")
        from sim.experiment.store import StoreError

        try:
            files = sorted((self.out / "runs").glob("p*-c*.parquet"))
            if not files:
                raise StoreError(f"{self.out}/runs holds no run rows (was the sweep run with --no-runs?)")
            cols = list(columns) if columns is not None else None
            df = pd.concat([pd.read_parquet(f, columns=cols) for f in files], ignore_index=True)
        except FileNotFoundError as exc:  # pragma: no cover - folder removed meanwhile
            raise StoreError(str(exc)) from None
        return _sort_runs(df, self.summary["strategy"].drop_duplicates().tolist())


def _sort_runs(df: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    keys = [k for k in ("point", "strategy", "run") if k in df.columns]
    order = {label: i for i, label in enumerate(labels)}

    def key(col: pd.Series) -> pd.Series:
        return col.map(order) if col.name == "strategy" else col

    return df.sort_values(keys, kind="stable", key=key).reset_index(drop=True)


def _tables(points: pd.DataFrame, aggs: Sequence[Aggregate], confidence: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    summaries, paired = [], []
    for i, agg in enumerate(aggs):
        front = points.iloc[[i]].reset_index(drop=True)
        s = agg.summary(confidence)
        summaries.append(pd.concat([pd.concat([front] * len(s), ignore_index=True), s], axis=1))
        p = agg.paired(confidence)
        if len(p):
            paired.append(pd.concat([pd.concat([front] * len(p), ignore_index=True), p], axis=1))
    summary = pd.concat(summaries, ignore_index=True)
    paired_df = pd.concat(paired, ignore_index=True) if paired else pd.DataFrame(
        columns=[*points.columns, "a", "b", "metric"])
    return summary, paired_df


# --------------------------------------------------------------------------- the loop


def sweep_identity(points: Sequence[Any], seed: int, runs: int, engine: str, chunk_size: int,
                   spec: list[dict] | None, stopping: StoppingRule | None, keep_runs: bool) -> dict[str, Any]:
    """What makes two sweeps the same: validated scenario(s), spec, seed, runs, engine, chunking."""
    from sim.experiment.api import choose_engine

    scenarios = [p.scenario.model_dump(mode="json", by_alias=True) for p in points]
    used = []
    for p in points:  # "auto" resolved per point: a new fast path must not mix with stored DES chunks
        try:
            used.append(choose_engine(p.scenario, engine))
        except ValueError:
            used.append(engine)
    identity: dict[str, Any] = {
        "scenario": scenarios[0] if len(scenarios) == 1 else scenarios,
        "sweep": spec or [],
        "seed": seed,
        "runs": None if stopping is not None else runs,
        "engine": {"requested": engine, "per_point": used},
        "chunk_size": chunk_size,
        "keep_runs": keep_runs,
    }
    if stopping is not None:
        identity["stopping"] = {
            "metric": stopping.metric, "target": stopping.target, "relative": stopping.relative,
            "paired": list(stopping.paired) if stopping.paired else None, "strategy": stopping.strategy,
            "min_runs": stopping.min_runs, "max_runs": stopping.max_runs, "confidence": stopping.confidence,
        }
    return identity


def run_sweep(
    points: Sequence[Any],
    runs: int,
    seed: int = 0,
    *,
    engine: str = "auto",
    out: str | Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    chunk_size: int | None = None,
    keep_runs: bool = True,
    collect_runs: bool = False,
    collect_columns: Sequence[str] | None = None,
    overwrite: bool = False,
    quiet: bool = True,
    spec: list[dict] | None = None,
    stopping: StoppingRule | None = None,
    confidence: float = 0.95,
    on_chunk: Callable[[ChunkTask], None] | None = None,
    publish_paired: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> SweepResult:
    """Run every point of a sweep (``sim.experiment.sweep.SweepPoint`` objects) for ``runs`` replications.

    ``workers``: 1 = serial in this process, k > 1 = k local processes, None = every core when
    points × runs ≥ 20 000 (else serial). ``scheduler="tcp://host:8786"`` uses a Dask
    distributed cluster, ``"local"`` starts a LocalCluster of ``workers`` processes. With
    ``out`` every finished chunk is stored there atomically and a rerun skips it; a folder of
    another sweep is refused (``overwrite=True`` discards it). ``collect_runs`` keeps the run
    rows in memory (only ``collect_columns`` if given). ``stopping`` replaces ``runs`` by a
    stopping rule. ``on_chunk`` is called after each new chunk is merged (and stored).
    ``chunk_size=None``: ``default_chunk_size(points, engine, stopping)``. ``publish_paired``:
    how the paired table is written to ``out`` (e.g. ``sim.analysis.saving.advantages``, the
    published sign); the result's ``paired`` stays the a − b table.
    Progress goes to stderr when it is a terminal and ``quiet`` is false.
    """
    started = time.perf_counter()
    if not points:
        raise RunnerError("nothing to run: no sweep points")
    if engine not in ENGINES:
        raise RunnerError(f"--engine must be one of {', '.join(ENGINES)}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise RunnerError(f"seed must be a non-negative integer, got {seed!r}")
    if chunk_size is None:
        chunk_size = default_chunk_size(points, engine, stopping)
    if chunk_size < 1:
        raise RunnerError("chunk size must be at least 1")
    if stopping is None:
        _check_runs(runs)
    else:
        _check_runs(stopping.max_runs, "--max-runs")
    if workers is not None and workers < 1:
        raise RunnerError("--workers must be at least 1")
    labels = list(points[0].scenario.strategies)
    from sim.experiment.api import choose_engine

    engines: set[str] = set()
    for p in points:
        try:
            engines.add(choose_engine(p.scenario, engine))
        except ValueError as exc:
            raise RunnerError(f"--engine {engine}: {exc}" + (f" (sweep point {p.label()})" if p.values else "")) from None
    if stopping is not None:
        if stopping.metric not in METRICS:
            raise RunnerError(f"--metric {stopping.metric!r}: not a result column; known: {', '.join(METRICS)}")
        for label in (stopping.paired or ()) + ((stopping.strategy,) if stopping.strategy else ()):
            if label not in labels:
                raise RunnerError(f"unknown strategy {label!r}; the scenario has {', '.join(labels)}")
        if stopping.paired is not None and stopping.paired not in default_pairs(labels):
            a, b = stopping.paired
            if (b, a) in default_pairs(labels):
                raise RunnerError(f"paired difference {a} - {b}: use {b} - {a} (the later strategy minus the "
                                  f"earlier one in the scenario)")
        min_runs = max(chunk_size, math.ceil(max(stopping.min_runs, 2) / chunk_size) * chunk_size)
        if stopping.max_runs < min_runs:
            raise RunnerError(f"--max-runs {stopping.max_runs} is below the first round of {min_runs} "
                              f"replications (a whole number of chunks of {chunk_size})")
        target_runs = min_runs
        expected_total = len(points) * target_runs
    else:
        target_runs = runs
        expected_total = len(points) * runs
    n_workers = workers if workers is not None else default_workers(
        len(points) * stopping.max_runs if stopping is not None else expected_total)

    if collect_runs and stopping is None:  # the rows of every point are returned in one frame
        check_memory(points[0].scenario, len(points) * runs, seed, sorted(engines)[0])
    pts = points_frame(points)
    store = None
    if out is not None:
        identity = sweep_identity(points, seed, runs, engine, chunk_size, spec, stopping, keep_runs)
        store = SweepStore(out, identity, keep_runs=keep_runs, overwrite=overwrite,
                           extra={"points": pts.to_dict(orient="list"), "strategies": labels,
                                  "metrics": list(METRICS)})
    try:
        result = _run_sweep_into(store, points, pts, labels, engines, runs, seed, engine, out, n_workers, scheduler,
                                 chunk_size, keep_runs, collect_runs, collect_columns, quiet, stopping,
                                 confidence, on_chunk, target_runs, expected_total, started)
        if store is not None and publish_paired is not None:  # still locked: the published form replaces it
            store.write_tables({"paired": publish_paired(result.paired)})
        return result
    finally:
        if store is not None:
            store.close()


def _run_sweep_into(store: SweepStore | None, points: Sequence[Any], pts: pd.DataFrame, labels: list[str],
                    engines: set[str], runs: int, seed: int, engine: str, out: str | Path | None, n_workers: int,
                    scheduler: str | None, chunk_size: int, keep_runs: bool, collect_runs: bool,
                    collect_columns: Sequence[str] | None, quiet: bool, stopping: StoppingRule | None,
                    confidence: float, on_chunk: Callable[[ChunkTask], None] | None, target_runs: int,
                    expected_total: int, started: float) -> SweepResult:
    """The loop of ``run_sweep`` once the store (if any) is open and locked."""
    aggs: list[Aggregate | None] = [None] * len(points)
    collected: list[pd.DataFrame] = []
    want_rows = (store is not None and keep_runs) or collect_runs
    counters = {"run": 0, "reused": 0}

    bar = Progress(expected_total, "sweep", enabled=not quiet)
    backend = None
    rounds = 0
    done_runs = 0
    outcome = None
    try:
        while True:
            rounds += 1
            tasks = plan_chunks(len(points), target_runs, chunk_size, first_chunk=math.ceil(done_runs / chunk_size))
            reuse = store is not None and not (collect_runs and not keep_runs)
            todo = [t for t in tasks if not reuse or not store.has(t.point, t.chunk, t.runs)]
            if todo and backend is None:
                backend = _backend(n_workers, scheduler)
            _execute(tasks, todo, points, seed, engine, backend, store, aggs, collected,
                     want_rows, collect_runs, collect_columns, bar, on_chunk, counters)
            done_runs = target_runs
            if stopping is None:
                break
            frame, need = _evaluate(stopping, [a for a in aggs if a is not None])
            frame["estimate"] = [points[p].label() + f" {e}" if points[p].values else str(e)
                                 for p, e in zip(frame["point"], frame["estimate"], strict=True)]
            met = bool(frame["met"].all())
            if met or done_runs >= stopping.max_runs:
                outcome = StoppingOutcome(stopping, done_runs, rounds, met, frame)
                break
            more = max(need - done_runs, 1)
            target_runs = min(done_runs + math.ceil(more / chunk_size) * chunk_size, stopping.max_runs)
            bar.set_total(len(points) * target_runs)
    except BaseException:
        bar.close()
        if backend is not None:
            backend.abort()
        raise
    bar.close()
    if backend is not None:
        backend.close()

    final_aggs = [a for a in aggs if a is not None]
    summary, paired = _tables(pts, final_aggs, confidence)
    incomplete: list[str] = []
    for p, agg in zip(points, final_aggs, strict=True):
        counts = {label: (int(agg.cut[s]), int(agg.gave_up[s])) for s, label in enumerate(agg.strategies)}
        totals = {label: done_runs for label in agg.strategies}
        where = f"point {p.label()}: " if p.values else ""
        incomplete += incomplete_warnings(counts, totals, p.scenario.simulation.max_time_s, where)
    runs_df = None
    if collect_runs:
        runs_df = _sort_runs(pd.concat(collected, ignore_index=True), labels) if collected else None
    result = SweepResult(
        points=pts, summary=summary, paired=paired, runs_per_point=done_runs, runs=runs_df,
        stopping=outcome, out=Path(out) if out is not None else None,
        backend=backend.name if backend is not None else "none",
        workers=backend.slots if backend is not None else n_workers,
        seconds=time.perf_counter() - started, chunks_run=counters["run"], chunks_reused=counters["reused"],
        engines=sorted(engines), incomplete=incomplete,
    )
    if store is not None:
        extra = {}
        if outcome is not None:
            extra["stopping.json"] = {"rule": outcome.rule.describe(), "runs": outcome.runs, "met": outcome.met,
                                      "rounds": outcome.rounds, "points": outcome.points.to_dict(orient="records")}
        store.write_tables({"summary": summary, "paired": paired, "points": pts}, extra)
    return result


def _execute(tasks: list[ChunkTask], todo: list[ChunkTask], points: Sequence[Any], seed: int, engine: str,
             backend: Any, store: SweepStore | None, aggs: list[Aggregate | None], collected: list[pd.DataFrame],
             want_rows: bool, collect_runs: bool, collect_columns: Sequence[str] | None, bar: Progress,
             on_chunk: Callable[[ChunkTask], None] | None, counters: dict[str, int]) -> None:
    """Run ``todo`` (a subset of ``tasks``), merging every task's aggregate in chunk order."""
    to_run = {(t.point, t.chunk) for t in todo}
    ready: dict[tuple[int, int], tuple[Aggregate, pd.DataFrame | None]] = {}
    cursor = 0  # index into tasks of the next chunk to merge

    def keep(rows: pd.DataFrame | None) -> None:
        if collect_runs and rows is not None:
            collected.append(rows if collect_columns is None else rows[list(collect_columns)])

    def merge_ready() -> None:
        nonlocal cursor
        while cursor < len(tasks):
            t = tasks[cursor]
            key = (t.point, t.chunk)
            if key in ready:
                agg, rows = ready.pop(key)
                keep(rows)
            elif key not in to_run and store is not None:
                agg = store.load(t.point, t.chunk)
                if collect_runs:
                    keep(_stored_rows(store, t, collect_columns))
                counters["reused"] += 1
                bar.update(t.runs)
            else:
                break
            aggs[t.point] = agg if aggs[t.point] is None else aggs[t.point].merge(agg)
            cursor += 1

    merge_ready()
    if not todo:
        return
    window = 1 if isinstance(backend, _Serial) else max(2, 4 * backend.slots)
    queue: Iterator[ChunkTask] = iter(todo)
    pending: dict[Any, ChunkTask] = {}

    def fill() -> None:
        while len(pending) + len(ready) < window:
            t = next(queue, None)
            if t is None:
                return
            p = points[t.point]
            fut = backend.submit(_Payload(p.scenario, seed, engine, t, dict(p.values), want_rows))
            pending[fut] = t

    fill()
    while pending:
        for fut in backend.wait_any(set(pending)):
            t = pending.pop(fut)
            _, agg, rows = fut.result()
            if store is not None:
                store.save(t.point, t.chunk, agg, rows, t.runs)
            ready[(t.point, t.chunk)] = (agg, rows if collect_runs else None)
            counters["run"] += 1
            bar.update(t.runs)
            merge_ready()
            if on_chunk is not None:
                on_chunk(t)
        fill()
    merge_ready()
    if cursor != len(tasks) or ready:  # pragma: no cover - a bug, not a user error
        raise RuntimeError("chunks left unmerged")


def _stored_rows(store: SweepStore, task: ChunkTask, columns: Sequence[str] | None) -> pd.DataFrame:
    path = store.root / "runs" / f"{store.chunk_name(task.point, task.chunk)}.parquet"
    return pd.read_parquet(path, columns=list(columns) if columns is not None else None)

