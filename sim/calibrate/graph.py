"""The workflow's shape from an attempts table: fan-out counts and parallel branches.

* **Fan-out count.** A step's instances in one workflow are the distinct values of the
  ``instance`` column among its attempts (Temporal: one per scheduled activity); without the
  column every step runs once. The count distribution is over the workflows in which the step
  ran: fixed when every workflow had the same count, otherwise empirical (observed counts and
  their frequencies). A scheduled activity that never started (abandoned, or timed out before
  a worker took it) has no attempt and is not counted.
* **Concurrency.** A step's peak in one workflow is the largest number of its attempts with
  known times running at once. When every workflow that ran several instances ran fewer at once
  than it had instances, the data show a limit (a worker's slots, a semaphore): the largest peak
  becomes ``max_concurrency``. Otherwise no limit is written.
* **Predecessors.** With a ``batch`` column (Temporal: the workflow task that scheduled the
  activity), a step's predecessors in one workflow are the steps of the nearest earlier batch.
  Across workflows the most frequent predecessor set is kept (ties: the first seen), limited to
  steps earlier in the scenario's step order so that the graph has no cycle. Without the
  column the steps form a chain.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class StepShape:
    """One step: its instance counts over workflows and its predecessors."""

    step: str
    counts: dict[int, int]  # instances in a workflow -> number of workflows with that count
    after: tuple[str, ...]  # most frequent predecessor set (steps earlier in the order)
    after_support: int  # workflows whose predecessor set is `after`
    peak: int = 1  # most attempts of the step seen running at once in one workflow
    limited: bool = False  # every fan-out workflow ran fewer at once than its instances

    @property
    def n_workflows(self) -> int:
        return sum(self.counts.values())

    @property
    def fan_out(self) -> bool:
        """True when some workflow ran more than one instance."""
        return any(c != 1 for c in self.counts)

    def count_value(self) -> int | dict[str, object]:
        """The scenario's ``count``: a fixed number, or an empirical distribution."""
        if len(self.counts) == 1:
            return next(iter(self.counts))
        values = sorted(self.counts)
        n = self.n_workflows
        return {"dist": "empirical", "values": values,
                "weights": [self.counts[v] / n for v in values]}

    @property
    def max_concurrency(self) -> int | None:
        """The observed limit on instances running at once, or None when none is seen."""
        return self.peak if self.fan_out and self.limited else None


def peak_concurrency(start_s: np.ndarray, end_s: np.ndarray) -> int:
    """Most intervals [start, end) open at once (an end and a start at one instant: no overlap)."""
    times = np.concatenate([start_s, end_s])
    steps = np.concatenate([np.ones(len(start_s)), -np.ones(len(end_s))])
    order = np.lexsort((steps, times))  # at equal times the ends (-1) come first
    return int(np.cumsum(steps[order]).max(initial=0))


@dataclass(frozen=True)
class WorkflowShape:
    """Every step's shape, in the scenario's step order."""

    steps: dict[str, StepShape]
    order: tuple[str, ...]

    def default_after(self, step: str) -> tuple[str, ...]:
        """The predecessor a step gets without ``after``: the previous step of the list."""
        i = self.order.index(step)
        return (self.order[i - 1],) if i > 0 else ()

    def explicit_after(self, step: str) -> tuple[str, ...] | None:
        """``after`` to write for a step, or None when the default (a chain) says the same."""
        after = self.steps[step].after
        return None if after == self.default_after(step) else after

    @property
    def is_chain(self) -> bool:
        return not any(s.fan_out or self.explicit_after(s.step) is not None
                       for s in self.steps.values())


def infer_shape(attempts: pd.DataFrame, order: list[str]) -> WorkflowShape:
    """Fan-out counts and predecessors of the steps in ``order`` (see the module docstring)."""
    data = attempts[attempts["step"].astype(str).isin(order)]
    counts: dict[str, Counter[int]] = {s: Counter() for s in order}
    preds: dict[str, Counter[tuple[str, ...]]] = {s: Counter() for s in order}
    rank = {s: i for i, s in enumerate(order)}
    peaks: dict[str, int] = {s: 1 for s in order}
    limited: dict[str, bool | None] = {s: None for s in order}
    for _, wf in data.groupby("workflow_id", sort=False):
        steps = wf["step"].astype(str)
        if "instance" in wf.columns:
            per_step = wf.assign(_inst=wf["instance"].astype(str)).groupby(
                steps, sort=False)["_inst"].nunique()
        else:
            per_step = steps.value_counts().clip(upper=1)
        known = wf[~wf["inferred"]]
        for step, n in per_step.items():
            counts[str(step)][int(n)] += 1
            rows = known[known["step"].astype(str) == str(step)]
            peak = peak_concurrency(rows["start_s"].to_numpy(dtype=float),
                                    rows["end_s"].to_numpy(dtype=float))
            peaks[str(step)] = max(peaks[str(step)], peak)
            if n > 1:
                below = peak < n
                was = limited[str(step)]
                limited[str(step)] = below if was is None else (was and below)
        if "batch" not in wf.columns:
            continue
        batch_of = wf.groupby(steps, sort=False)["batch"].min()
        batches = sorted(set(batch_of))
        members = {b: tuple(sorted((s for s, bb in batch_of.items() if bb == b),
                                   key=rank.__getitem__)) for b in batches}
        for i, b in enumerate(batches):
            before = members[batches[i - 1]] if i > 0 else ()
            for step in members[b]:
                preds[step][tuple(p for p in before if rank[p] < rank[step])] += 1
    shapes: dict[str, StepShape] = {}
    for i, step in enumerate(order):
        if preds[step]:
            after, support = preds[step].most_common(1)[0]
        else:  # no batch information: a chain
            after = (order[i - 1],) if i > 0 else ()
            support = sum(counts[step].values())
        shapes[step] = StepShape(step, dict(sorted(counts[step].items())), after, support,
                                 peaks[step], bool(limited[step]))
    return WorkflowShape(shapes, tuple(order))


def format_shape(shape: WorkflowShape) -> str:
    """Text lines on the fan-out steps and parallel branches ('' for a chain)."""
    if shape.is_chain:
        return ""
    lines = ["workflow graph (fan-out counts and predecessors from the histories)"]
    for step in shape.order:
        s = shape.steps[step]
        after = shape.explicit_after(step)
        if not s.fan_out and after is None:
            continue
        parts = [f"  {step}:"]
        if s.fan_out:
            dist = ", ".join(f"{c} instances in {k} workflow{'s' if k != 1 else ''}"
                             for c, k in s.counts.items())
            parts.append(f"fan-out, {dist}")
            parts.append(f"at most {s.peak} running at once"
                         + (" (written as max_concurrency)" if s.max_concurrency else ""))
        if after is not None:
            parts.append("after " + (", ".join(after) if after else "nothing (a root)")
                         + f" ({s.after_support} of {s.n_workflows} workflows)")
        lines.append(" ".join(parts[:1]) + " " + "; ".join(parts[1:]))
    return "\n".join(lines) + "\n"
