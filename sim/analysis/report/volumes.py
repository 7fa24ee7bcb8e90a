"""Text of the monthly view (``sim compare --monthly-workflows``, the report's price-list section):
the bills of ``sim.analysis.monthly`` as table cells and sentences."""

from __future__ import annotations

import math
from collections.abc import Sequence

from sim.analysis.monthly import MonthlyBill, volume_text
from sim.analysis.report.analysis import usd_interval
from sim.analysis.report.compare import verdict_word


def usd0(x: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"${x:,.0f}" if abs(round(x, 2)) >= 100 else f"${x:,.2f}"


def decider_text(m: MonthlyBill) -> str:
    if m.decided_by == "minimum":
        return f"the {usd0(m.minimum_usd)} minimum"
    return {"tiers": "the volume tiers", "usage": "usage", "free allowance": "free allowance",
            "fixed cost": "the fixed cost", "per-run price": "the per-run price"}.get(m.decided_by, m.decided_by)


def monthly_rows(bills: Sequence[MonthlyBill], a: str, b: str, per: int = 1000) -> list[dict[str, str]]:
    """One row of text cells per profile and volume (the CLI table and compare.md)."""
    rows = []
    for m in bills:
        if m.saving is None:
            rows.append({"profile": m.profile, "workflows/month": volume_text(m.workflows), f"{a} month's bill": "n/a",
                         "plan fee": "n/a", "decided by": m.decided_by, f"saving per {per:,} runs": "n/a",
                         "verdict": "cannot run" if m.decided_by == "cannot run" else "n/a", "note": m.note})
            continue
        mean, lo, hi = m.bill_usd
        half = (hi - lo) / 2
        bill = usd0(mean) + (f" ± {usd0(half)}" if math.isfinite(half) and half >= 0.005 else "")
        sm, slo, shi = m.saving.scaled(per)
        rows.append({"profile": m.profile, "workflows/month": volume_text(m.workflows), f"{a} month's bill": bill,
                     "plan fee": usd0(m.plan_fee_usd) if m.plan_fee_usd else "—", "decided by": decider_text(m),
                     f"saving per {per:,} runs": usd_interval(sm, slo, shi), "verdict": verdict_word(a, b, m.saving),
                     "note": m.note})
    return rows


def verdict_changes(bills: Sequence[MonthlyBill], a: str, b: str) -> list[str]:
    """Sentences for the profiles whose verdict differs between the volumes."""
    out = []
    for profile in dict.fromkeys(m.profile for m in bills):
        mine = [m for m in bills if m.profile == profile and m.saving is not None]
        words = [verdict_word(a, b, m.saving) for m in mine]
        if len(set(words)) > 1:
            runs: list[list] = []  # [verdict, first volume, last volume] of consecutive volumes alike
            for m, w in zip(mine, words, strict=True):
                if runs and runs[-1][0] == w:
                    runs[-1][2] = m.workflows
                else:
                    runs.append([w, m.workflows, m.workflows])
            steps = ", ".join(f"{w} at {volume_text(lo)}" if lo == hi else
                              f"{w} from {volume_text(lo)} to {volume_text(hi)}" for w, lo, hi in runs)
            out.append(f"{profile}: the verdict changes with volume (workflows a month): {steps}")
    return out


def monthly_notes(bills: Sequence[MonthlyBill], thresholds: dict[str, float], a: str, b: str) -> list[str]:
    """The rows' notes, the volume below which each plan's minimum is at least half the bill, and
    the profiles whose verdict changes with volume."""
    notes = list(dict.fromkeys(f"{m.profile}: {m.note}" for m in bills if m.note))
    notes += [f"{profile}: the plan's minimum is at least half the bill below {volume_text(below)} workflows a month"
              for profile, below in thresholds.items()]
    return notes + verdict_changes(bills, a, b)
