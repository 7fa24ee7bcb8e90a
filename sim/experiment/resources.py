"""What a command may ask of the machine: a bound on ``--runs`` and a memory estimate before running.

Commands that hold every run's row in memory (``sim run``, ``sim compare``, ``sim report``, the
notebook API's ``sim.compare``; all through ``simulate_parallel``) estimate the peak memory
before simulating: a short pilot of ``PILOT_RUNS`` replications gives the bytes per row of the
runs table and the seconds per run, and the peak is ``PEAK_FACTOR`` times the table (the chunks
and their concatenation, the summaries, the Parquet bytes; measured in docs/performance.md).
What cannot fit in the memory available is refused with one line before anything runs (exit
code 2). ``sim sweep`` and ``sim breakeven`` stream: only per-chunk aggregates stay in memory and
the rows go to disk chunk by chunk, so their peak stays flat whatever ``--runs``. ``sim fleet``
keeps one row per workflow: one pilot replication sizes its tables (``check_fleet_memory``).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

from sim.errors import SimError

__all__ = ["MAX_RUNS", "PEAK_FACTOR", "PILOT_RUNS", "Pilot", "ResourceError", "available_memory_bytes",
           "check_fleet_memory", "check_memory", "check_runs", "estimate"]

#: The largest ``--runs`` any command accepts (per sweep point): 10⁸ replications take days on
#: one core even on the fast path, and the half-width of a mean shrinks only as 1/√runs.
MAX_RUNS = 100_000_000
#: Peak memory of a command that keeps the runs table, as a multiple of the table's size.
PEAK_FACTOR = 3.0
#: Replications of the pilot that measures the bytes per row and the time per run.
PILOT_RUNS = 200
#: Below this many rows (runs × strategies) the check is skipped: the table is small anyway.
CHECK_FROM_ROWS = 200_000


class ResourceError(SimError):
    """A request that the machine cannot hold, or that exceeds a documented bound."""


def check_runs(runs: int, option: str = "--runs") -> None:
    """``runs`` must be an integer in 1 … ``MAX_RUNS``."""
    if isinstance(runs, bool) or not isinstance(runs, int) and not hasattr(runs, "__index__"):
        raise ResourceError(f"{option} must be an integer, got {runs!r}")
    if runs < 1:
        raise ResourceError(f"{option} must be at least 1, got {runs}")
    if runs > MAX_RUNS:
        raise ResourceError(f"{option} {runs:,} is above the limit of {MAX_RUNS:,} replications (a day or more "
                            "of CPU time; the confidence intervals shrink only as 1/sqrt(runs))")


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def available_memory_bytes() -> int | None:
    """Memory this process may still use: the kernel's MemAvailable, capped by a cgroup limit
    (containers) less what the cgroup already uses; None where neither can be read."""
    found: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
                break
    except (OSError, ValueError, IndexError):
        pass
    limit = _read_int("/sys/fs/cgroup/memory.max")  # cgroup v2 ("max" when unlimited → None)
    used = _read_int("/sys/fs/cgroup/memory.current")
    if limit is None:
        limit = _read_int("/sys/fs/cgroup/memory/memory.limit_in_bytes")  # cgroup v1
        used = _read_int("/sys/fs/cgroup/memory/memory.usage_in_bytes")
    if limit is not None and limit < 1 << 60:
        found.append(max(0, limit - (used or 0)))
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
            return None
    return min(found)


@dataclass(frozen=True)
class Pilot:
    """What a pilot measured, and the estimate for the whole request."""

    runs: int
    rows: int  # rows of the full runs table (runs × strategies)
    bytes_per_row: float
    seconds_per_run: float  # wall time of the pilot per replication (one process)
    peak_bytes: float
    available_bytes: int | None

    def describe(self) -> str:
        return (f"{self.runs:,} runs: ~{_gb(self.peak_bytes)} of memory at the peak "
                f"({self.rows:,} rows of ~{self.bytes_per_row:.0f} bytes, x{PEAK_FACTOR:g}), "
                f"~{self.seconds_per_run * self.runs:,.0f} s of CPU time")


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"


def estimate(scenario: object, runs: int, seed: int = 0, engine: str = "auto") -> Pilot:
    """Pilot ``PILOT_RUNS`` replications of ``scenario`` (with ``engine``) and scale to ``runs``."""
    from sim.experiment.api import simulate

    pilot_runs = min(PILOT_RUNS, runs)
    started = time.perf_counter()
    df = simulate(scenario, pilot_runs, seed, engine=engine)  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    bytes_per_row = float(df.memory_usage(deep=True).sum()) / max(len(df), 1)
    rows = runs * max(1, len(df) // pilot_runs)
    return Pilot(runs, rows, bytes_per_row, seconds / pilot_runs, PEAK_FACTOR * bytes_per_row * rows,
                 available_memory_bytes())


def check_memory(scenario: object, runs: int, seed: int = 0, engine: str = "auto",
                 strategies: int | None = None) -> Pilot | None:
    """Refuse (``ResourceError``) a runs table that cannot fit in the memory available.

    Small requests (fewer than ``CHECK_FROM_ROWS`` rows) are not piloted and return None."""
    n_strategies = strategies if strategies is not None else len(getattr(scenario, "strategies", {}) or {1: 1})
    if runs * max(1, n_strategies) < CHECK_FROM_ROWS:
        return None
    pilot = estimate(scenario, runs, seed, engine)
    _refuse(pilot.peak_bytes, pilot.available_bytes, runs, "the runs table", "or `sim sweep` (which keeps no runs "
            "table in memory)")
    return pilot


def _refuse(peak_bytes: float, available_bytes: int | None, runs: int, what: str, advice: str) -> None:
    if available_bytes is not None and peak_bytes > available_bytes:
        fit = max(1, math.floor(available_bytes / (peak_bytes / runs)))
        raise ResourceError(f"--runs {runs:,}: {what} needs ~{_gb(peak_bytes)} of memory at the peak and "
                            f"{_gb(available_bytes)} are available; use --runs {fit:,} or fewer" +
                            (f", {advice}" if advice else ""))


#: From this many fleet replications a pilot replication estimates the memory of the tables.
FLEET_CHECK_FROM = 100


def check_fleet_memory(scenario: object, replications: int, seed: int = 0,
                       strategies: list[str] | None = None) -> float | None:
    """Refuse (``ResourceError``) fleet tables (one row per workflow) that cannot fit in memory:
    one pilot replication gives their bytes per replication. Returns the estimated peak, or None
    below ``FLEET_CHECK_FROM`` replications (not piloted)."""
    if replications < FLEET_CHECK_FROM:
        return None
    from sim.engines.fleet.api import simulate_fleet

    workflows, fleet = simulate_fleet(scenario, 1, seed, strategies=strategies)  # type: ignore[arg-type]
    per_replication = float(workflows.memory_usage(deep=True).sum() + fleet.memory_usage(deep=True).sum())
    peak = PEAK_FACTOR * per_replication * replications
    _refuse(peak, available_memory_bytes(), replications, "the fleet's workflow table", "")
    return peak
