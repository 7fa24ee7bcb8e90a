"""Headlines that hold: how many replications the report's headline (the paired saving of total
cost) rests on, chosen by a precision target.

The target is relative: the 95% interval's half-width at most ``target`` × |estimate| (10% by
default). After the first ``runs`` replications the number the target needs is estimated from
the standard error, n·(h / (target·|mean|))², rounded up to a thousand; the baseline is run again
with that many (the same seed: the first replications are the same ones), up to ``max_runs``.
Whether the target was reached, and if not how many replications it would need, is stated with
the headline. A saving whose estimate is 0 (or whose interval is degenerate) has no relative
target to reach.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DEFAULT_MAX_RUNS", "DEFAULT_TARGET", "Precision", "replications_for"]

DEFAULT_TARGET = 0.10
DEFAULT_MAX_RUNS = 100_000


def replications_for(mean: float, half_width: float, n: int, target: float) -> float:
    """Replications for a half-width of at most ``target``·|mean|, from ``n`` replications whose
    interval has ``half_width`` (the half-width shrinks as 1/√n); rounded up to a thousand;
    ``inf`` when the mean is 0 or not finite, ``n`` when already reached."""
    if not (math.isfinite(mean) and math.isfinite(half_width)) or mean == 0:
        return math.inf
    if half_width <= target * abs(mean):
        return float(n)
    need = n * (half_width / (target * abs(mean))) ** 2
    return float(math.ceil(need / 1000.0) * 1000)


@dataclass(frozen=True)
class Precision:
    """The headline's precision: ``runs`` replications, the half-width relative to |mean|, the
    target and whether it was met, and the replications it would need (``needed``)."""

    target: float
    max_runs: int
    first_runs: int
    runs: int
    mean: float
    half_width: float
    needed: float
    extended: bool  # more replications than ``first_runs`` were run for the headline
    quick: bool = False

    @property
    def relative(self) -> float:
        return self.half_width / abs(self.mean) if self.mean else math.inf

    @property
    def met(self) -> bool:
        return math.isfinite(self.relative) and self.relative <= self.target

    def sentence(self) -> str:
        """The precision in words, computed from the numbers (the report's conclusions)."""
        rel = f"{100 * self.relative:.3g}%" if math.isfinite(self.relative) else "unbounded"
        goal = f"{100 * self.target:.3g}%"
        if self.met:
            how = (f"{self.runs:,} replications (more than the {self.first_runs:,} of the other stages, chosen for "
                   "this target)" if self.extended else f"{self.runs:,} replications")
            return (f"Precision: the headline rests on {how}; its 95% interval's half-width is {rel} of the "
                    f"estimate, within the {goal} target.")
        if not math.isfinite(self.needed):
            return (f"Precision: at {self.runs:,} replications the saving's estimate is 0 or its interval undefined, "
                    f"so no number of replications brings the half-width within {goal} of it.")
        why = ("--quick runs no more" if self.quick else
               f"the cap of {self.max_runs:,} (--max-runs)" if self.needed > self.max_runs else "")
        return (f"Precision: the {goal} target is **not reached**: at {self.runs:,} replications the 95% interval's "
                f"half-width is {rel} of the estimate; about {self.needed:,.0f} replications would reach it"
                + (f" ({why})." if why else "."))
