"""How calibration writes a number it could not compute: "n/a" (with the reason where there is
one), "unbounded" for +inf, never "nan". Used by the printed report and the fitted scenario's
comments alike."""

from __future__ import annotations

import numpy as np

from sim.model.units import format_duration


def _p(p: float) -> str:
    return "n/a" if not np.isfinite(p) else f"{p:.3g}"


def _dur(v: float) -> str:
    """A duration; "n/a" for a value that could not be computed, "unbounded" for +inf (never "nan")."""
    return format_duration(v) if np.isfinite(v) else ("unbounded" if v == np.inf else "n/a")


def _num(fmt: str, v: float) -> str:
    return fmt.format(v) if np.isfinite(v) else ("unbounded" if v == np.inf else "n/a")


def _interval(low_text: str, high_text: str, low: float, high: float) -> str:
    if np.isfinite(low) and np.isfinite(high):
        return f"[{low_text}, {high_text}]"
    if not np.isfinite(low) and not np.isfinite(high):
        return "n/a (too few observations)"
    return f"[{low_text}, {high_text}] (too few observations for a finite bound)"
