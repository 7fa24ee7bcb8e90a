"""Prices that change with the time of day, and pausing for the cheaper hours (docs/spot.md).

``[[pricing.schedule]]`` windows multiply GPU prices and model token prices during a daily
window (UTC time of day ``start`` to ``end``, wrapping past midnight when ``end`` < ``start``):
2.0 for a peak, 0.5 for an off-peak discount. A window applies to the GPU kinds in ``gpus`` and
the models in ``models`` (each default: every one), and to on-demand GPU prices, spot prices or
both (``capacity``, default on-demand). Windows that apply to the same price must not overlap.
Time 0 of a run is ``[simulation] start_time_of_day``.

A GPU attempt pays its rate times the integral of the multiplier over the attempt; an LLM call
pays its token price times the multiplier at the call's start.

A strategy that pauses a step (``pause_for_off_peak``) waits, before each attempt of that step
that would start above its price's lowest multiplier of the day, until that multiplier comes
back. Durable strategies wait on a timer (5 history events, 1 billable action); restart-style
strategies hold the pipeline in the worker's memory, where a crash or a deployment during the
wait loses it.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.model.schema import ScenarioSchema as Scenario
    from sim.model.schema import Step

DAY_S = 86400.0
TIMER_EVENTS = 5  # TimerStarted, TimerFired, WorkflowTask x3 (docs/model.md)


@dataclass(frozen=True)
class DailyPrice:
    """The multiplier of one price over the day: windows (start, end, multiplier) in seconds of
    the UTC day, not overlapping, and the time of day at a run's time 0."""

    windows: tuple[tuple[float, float, float], ...]
    offset_s: float

    def multiplier(self, t: float) -> float:
        tod = (self.offset_s + t) % DAY_S
        for start, end, m in self.windows:
            if (start <= tod < end) if start < end else (tod >= start or tod < end):
                return m
        return 1.0

    @property
    def lowest(self) -> float:
        return min([1.0 if self._uncovered_s() > 0 else math.inf, *(m for _, _, m in self.windows)])

    def _uncovered_s(self) -> float:
        return DAY_S - sum(_length(s, e) for s, e, _ in self.windows)

    def integral(self, a: float, b: float) -> float:
        """The integral of the multiplier over [a, b): the time, weighted by the price."""
        total = b - a
        for start, end, m in self.windows:
            total += (m - 1.0) * (self._open_until(b + self.offset_s, start, end)
                                  - self._open_until(a + self.offset_s, start, end))
        return total

    @staticmethod
    def _open_until(u: float, start: float, end: float) -> float:
        """Time the daily window [start, end) is open in [0, u) (u from midnight of day 0)."""
        days, r = divmod(u, DAY_S)
        if start < end:
            part = min(max(r - start, 0.0), end - start)
        else:
            part = min(r, end) + max(r - start, 0.0)
        return days * _length(start, end) + part

    def next_lowest(self, t: float) -> float:
        """The first instant >= t at which the multiplier is at its lowest of the day."""
        low = self.lowest
        if self.multiplier(t) <= low:
            return t
        tod = (self.offset_s + t) % DAY_S
        starts = [s for s, _, m in self.windows if m <= low]
        if low == 1.0:  # the uncovered hours are the cheapest: they begin where a window ends
            starts = [e for _, e, m in self.windows if m > 1.0 and self.multiplier(t + ((e - tod) % DAY_S)) <= low]
        waits = [(s - tod) % DAY_S for s in starts]
        return t + min(waits)


@dataclass(frozen=True)
class TracePrice:
    """The multiplier of one price along a run's time: ``multipliers[k]`` from ``at[k]`` (at[0] = 0)
    until the next instant, the last one holding on. The same interface as ``DailyPrice``."""

    at: tuple[float, ...]
    multipliers: tuple[float, ...]

    def _index(self, t: float) -> int:
        return bisect.bisect_right(self.at, t) - 1

    def multiplier(self, t: float) -> float:
        return self.multipliers[max(self._index(t), 0)]

    @property
    def lowest(self) -> float:
        return min(self.multipliers)

    def integral(self, a: float, b: float) -> float:
        total, k = 0.0, max(self._index(a), 0)
        x = a
        while x < b:
            end = self.at[k + 1] if k + 1 < len(self.at) else math.inf
            y = min(b, end)
            total += (y - x) * self.multipliers[k]
            x, k = y, k + 1
        return total

    def next_lowest(self, t: float) -> float:
        """The first instant >= t at which the price is at its lowest from t on."""
        k = max(self._index(t), 0)
        low = min(self.multipliers[k:])
        if self.multipliers[k] <= low:
            return t
        return next(self.at[j] for j in range(k + 1, len(self.at)) if self.multipliers[j] <= low)


def _length(start: float, end: float) -> float:
    return end - start if start < end else DAY_S - start + end


def overlapping(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Do two daily windows (start, end) share an instant?"""
    def pieces(w: tuple[float, float]) -> list[tuple[float, float]]:
        s, e = w
        return [(s, e)] if s < e else [(s, DAY_S), (0.0, e)]
    return any(x0 < y1 and y0 < x1 for x0, x1 in pieces(a) for y0, y1 in pieces(b))


def step_prices(scenario: Scenario, spot: bool = False) -> list[DailyPrice | TracePrice | None]:
    """Each step's price over time, on demand (or on spot capacity: ``spot``): its trace, else its
    daily windows; None: a constant price, or a wait step."""
    windows, traces = scenario.pricing.schedule, scenario.pricing.traces
    if not windows and not traces:
        return [None] * len(scenario.steps)
    offset = scenario.simulation.start_time_of_day_s
    out: list[DailyPrice | TracePrice | None] = []
    for step in scenario.steps:
        trace = next((tr for tr in traces if applies(tr, step, spot)), None)
        if trace is not None:
            out.append(TracePrice(tuple(trace.at_s), tuple(trace.multiplier)))
            continue
        mine = tuple((w.start_s, w.end_s, w.multiplier) for w in windows if applies(w, step, spot))
        out.append(DailyPrice(mine, offset) if mine else None)
    return out


def applies(window: object, step: Step, spot: bool = False) -> bool:
    """Does a ``[[pricing.schedule]]`` window apply to the price of ``step`` (on demand, or on
    spot capacity: ``spot``, GPU steps only)?"""
    if step.kind == "gpu":
        if window.capacity not in (("spot", "both") if spot else ("on_demand", "both")):  # type: ignore[attr-defined]
            return False
        if step.price_per_hour is not None:
            return window.gpus is None  # type: ignore[attr-defined]
        return window.gpus is None or step.gpu in window.gpus  # type: ignore[attr-defined]
    if step.kind == "llm":
        return not spot and (window.models is None or step.model in window.models)  # type: ignore[attr-defined]
    return False
