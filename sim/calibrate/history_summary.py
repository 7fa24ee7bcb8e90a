"""What a set of Temporal histories holds besides the fitted steps, counted.

``sim fit`` prints these lines in its report and writes them as comments of the fitted
scenario: how the workflows ended, the workflow time, the items that are counted but not
fitted (activities that never started, activities cancelled by the workflow, cancelled
timers, signals and updates the workflow did not wait for, continue-as-new runs joined), and
the per-run means of the billable items that are not steps (``timers_per_run``,
``signals_per_run``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sim.calibrate.temporal import NEVER_STARTED_REASONS, HistoryInfo
from sim.model.units import format_duration


@dataclass(frozen=True)
class HistorySummary:
    """Counts over the workflow executions of a set of histories."""

    n_workflows: int
    statuses: dict[str, int]  # how the workflows ended -> count
    workflow_times_s: np.ndarray  # start to close of each closed workflow
    orchestration_s: np.ndarray  # HistoryInfo.orchestration_s of each closed workflow
    never_started: dict[str, int]  # reason -> activities
    activities_cancelled: int
    timers_fired: int
    timers_cancelled: int
    timers_unfired: int  # still running when the workflow closed
    signals: int
    signal_waits: int
    updates: int
    update_waits: int
    local_activities: int
    child_workflows: int
    runs_joined: int  # continue-as-new runs beyond the first, joined into their execution

    @property
    def timers_per_run(self) -> float:
        """Timers started per workflow that are not wait steps (cancelled, or still running at
        the close): Temporal bills every timer; the wait steps are billed by the engines."""
        n = self.timers_cancelled + self.timers_unfired
        return n / self.n_workflows if self.n_workflows else 0.0

    @property
    def signals_per_run(self) -> float:
        """Signals per workflow that are not wait steps (the workflow was busy when they
        arrived): Temporal bills every signal; the wait steps are billed by the engines."""
        return (self.signals - self.signal_waits) / self.n_workflows if self.n_workflows else 0.0


def summarise(infos: Sequence[HistoryInfo]) -> HistorySummary:
    """Add up the :class:`HistoryInfo` of each workflow execution."""
    statuses: dict[str, int] = {}
    never: dict[str, int] = {}
    for i in infos:
        statuses[i.status] = statuses.get(i.status, 0) + 1
        for k, v in i.never_started.items():
            never[k] = never.get(k, 0) + v
    times = np.array([i.workflow_time_s for i in infos], dtype=float)
    orch = np.array([i.orchestration_s for i in infos], dtype=float)
    closed = np.isfinite(times)
    return HistorySummary(
        n_workflows=len(infos), statuses=statuses, workflow_times_s=times[closed],
        orchestration_s=orch[closed],
        never_started={k: never[k] for k in NEVER_STARTED_REASONS if k in never},
        activities_cancelled=sum(i.activities_cancelled for i in infos),
        timers_fired=sum(i.timers_fired for i in infos),
        timers_cancelled=sum(i.timers_cancelled for i in infos),
        timers_unfired=sum(i.timers_unfired for i in infos),
        signals=sum(i.signals for i in infos), signal_waits=sum(i.signal_waits for i in infos),
        updates=sum(i.updates for i in infos), update_waits=sum(i.update_waits for i in infos),
        local_activities=sum(i.local_activities for i in infos),
        child_workflows=sum(i.child_workflows for i in infos),
        runs_joined=sum(i.runs - 1 for i in infos))


def _n(k: int, one: str, many: str) -> str:
    return f"{k} {one if k == 1 else many}"


def summary_lines(s: HistorySummary) -> list[str]:
    """Plain lines (no comment marks) describing the histories: always the workflows and how
    they ended, then only the counts that are not zero."""
    ended = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(s.statuses.items()))
    lines = [f"histories: {_n(s.n_workflows, 'workflow execution', 'workflow executions')} "
             f"({ended})"]
    t = s.workflow_times_s
    if len(t) == 1:
        lines.append(f"  workflow time (start to close): {format_duration(float(t[0]))}, of "
                     f"which {format_duration(float(s.orchestration_s[0]))} with no step running "
                     "(workflow tasks, task queues)")
    elif len(t) > 1:
        lines.append(f"  workflow time (start to close): median "
                     f"{format_duration(float(np.median(t)))}, range "
                     f"{format_duration(float(t.min()))} to {format_duration(float(t.max()))}; "
                     "with no step running: median "
                     f"{format_duration(float(np.median(s.orchestration_s)))}")
    open_or_failed = sum(v for k, v in s.statuses.items() if k != "completed")
    if open_or_failed:
        lines.append(f"  {_n(open_or_failed, 'workflow', 'workflows')} did not complete: "
                     f"{'its' if open_or_failed == 1 else 'their'} attempts are fitted like the "
                     "others' (durations, failures)")
    if s.runs_joined:
        lines.append(f"  {_n(s.runs_joined, 'continue-as-new run', 'continue-as-new runs')} "
                     "joined into the execution they continue")
    for reason, k in s.never_started.items():
        lines.append(f"  {_n(k, 'activity', 'activities')} never started ({reason}): "
                     "no attempt, not counted in fan-out counts or durations")
    if s.activities_cancelled:
        lines.append(f"  {_n(s.activities_cancelled, 'activity', 'activities')} cancelled by "
                     "the workflow after starting: an attempt with outcome error, not a "
                     "duration")
    if s.local_activities:
        lines.append(f"  {_n(s.local_activities, 'local activity', 'local activities')} "
                     "(MarkerRecorded): steps like activities (docs/model.md, local "
                     "activities)")
    if s.child_workflows:
        lines.append(f"  {_n(s.child_workflows, 'child workflow', 'child workflows')}: one "
                     "step each, start to close (its own history holds its activities)")
    if s.timers_fired:
        lines.append(f"  {_n(s.timers_fired, 'timer', 'timers')} fired: wait steps "
                     "(wait = \"timer\")")
    if s.timers_cancelled or s.timers_unfired:
        parts = [f"{s.timers_cancelled} cancelled before firing"] if s.timers_cancelled else []
        if s.timers_unfired:
            parts.append(f"{s.timers_unfired} still running at the close")
        lines.append(f"  {_n(s.timers_cancelled + s.timers_unfired, 'timer', 'timers')} not "
                     f"fired ({', '.join(parts)}): not waits; billed as timers_per_run = "
                     f"{s.timers_per_run:.4g}")
    if s.signals:
        busy = s.signals - s.signal_waits
        lines.append(f"  {_n(s.signals, 'signal', 'signals')}: {s.signal_waits} waited for "
                     "(wait = \"signal\" steps)" + (
                         f", {busy} arrived while the workflow was busy (billed as "
                         f"signals_per_run = {s.signals_per_run:.4g})" if busy else ""))
    if s.updates:
        lines.append(f"  {_n(s.updates, 'update', 'updates')}: {s.update_waits} waited for "
                     f"(wait = \"signal\" steps), {s.updates - s.update_waits} not waited for "
                     "(not billed by the scenario)")
    return lines
