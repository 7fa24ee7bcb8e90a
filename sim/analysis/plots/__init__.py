"""Report figures for design reviews (matplotlib object API, Agg-safe).

Every ``plot_*`` function takes result DataFrames (docs/model.md §3) and either

* creates a figure of its own in the report style (``ax=None``, the default) and returns that
  :class:`~matplotlib.figure.Figure`, legends outside the data area; or
* draws into the ``ax`` it is given and returns that :class:`~matplotlib.axes.Axes` (for
  ``plot_distributions``, the Axes or list of Axes given). Then every artist stays inside that
  axes' part of the figure: the legend inside the data area (``ax.get_legend()``, to move or
  remove it), long titles wrapped, nothing drawn at figure level; so plots can share a grid,
  also with ``layout="constrained"`` (tests/test_plot_layout.py).

Nothing here calls ``plt.show()``. The numbers drawn come from :mod:`sim.analysis.plotdata`.
Log axes of durations choose their ticks at draw time so that labels never overlap.

Conventions shared by all figures:

* Okabe–Ito colours; strategies also differ by marker (sweeps) or line style (CDFs), so
  the figures survive greyscale printing. ``restart`` is vermillion/circles/solid,
  ``durable`` blue/squares/dashed.
* Means are drawn with a shaded Student-t confidence band (95% by default).
* On a figure of their own, legends sit outside the data area (right of the axes, or below for
  the timeline).
"""

from __future__ import annotations

from sim.analysis.plots.costs import plot_cost_breakdown
from sim.analysis.plots.distributions import plot_distributions, plot_saving_distribution
from sim.analysis.plots.fleet import plot_backlog
from sim.analysis.plots.sensitivity import plot_sensitivity
from sim.analysis.plots.spot import plot_spot
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
    "plot_backlog",
    "plot_breakeven",
    "plot_cost_breakdown",
    "plot_distributions",
    "plot_saving_distribution",
    "plot_sensitivity",
    "plot_spot",
    "plot_timeline",
    "plot_waste_vs_failure_rate",
    "report_style_path",
    "save_figure",
    "strategy_styles",
    "use_report_style",
]
