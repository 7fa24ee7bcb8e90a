"""Report figures for design reviews (matplotlib object API, Agg-safe).

Every ``plot_*`` function takes result DataFrames (docs/model.md §3), draws on ``ax``
(or on a new figure in the report style), and returns the :class:`~matplotlib.figure.Figure`.
Nothing here calls ``plt.show()``. The numbers drawn come from :mod:`sim.analysis.plotdata`.

Conventions shared by all figures:

* Okabe–Ito colours; strategies also differ by marker (sweeps) or line style (CDFs), so
  the figures survive greyscale printing. ``restart`` is vermillion/circles/solid,
  ``durable`` blue/squares/dashed.
* Means are drawn with a shaded Student-t confidence band (95% by default).
* Legends sit outside the data area (right of the axes, or below for the timeline).
"""

from __future__ import annotations

from sim.analysis.plots.costs import plot_cost_breakdown
from sim.analysis.plots.distributions import plot_distributions
from sim.analysis.plots.sensitivity import plot_sensitivity
from sim.analysis.plots.style import (
    OKABE_ITO,
    report_style_path,
    save_figure,
    strategy_styles,
    use_report_style,
)
from sim.analysis.plots.sweeps import plot_breakeven, plot_waste_vs_failure_rate
from sim.analysis.plots.timeline import plot_timeline

__all__ = [
    "OKABE_ITO",
    "plot_breakeven",
    "plot_cost_breakdown",
    "plot_distributions",
    "plot_sensitivity",
    "plot_timeline",
    "plot_waste_vs_failure_rate",
    "report_style_path",
    "save_figure",
    "strategy_styles",
    "use_report_style",
]
