"""Design-review report: everything ``python -m sim report`` computes, draws and writes.

Four stages, all on common random numbers (replication ``r`` faces the same failures in
every stage and for every strategy):

1. **baseline** — the scenario as written: run rows, summaries, the paired difference of the
   two compared strategies (durable vs restart), and the event log of a few replications for
   the timeline;
2. **sensitivity** — each input (failure rates, step durations, prices, orchestration
   overheads) at its low and high value (×1/2 and ×2 by default), one at a time, with the
   paired saving restart − durable per 1,000 runs and its interval (the tornado);
3. **sweep** — the scenario's main failure intensity (crash MTBF, deployment interval or
   429 probability; by default the failure source with the largest swing in stage 2) over a
   log range around its current value, for the waste chart and the break-even
   (``sim.stats.breakeven``, bootstrap interval), refined once around a crossing;
4. **closed forms** — ``sim.analysis.analytic`` curves for the waste chart and the break-even where the
   scenario fits their assumptions.

:func:`compute_report` does the work and returns a :class:`ReportData`;
:func:`report_files` turns it into the bytes of every output file (Markdown, HTML, figures,
CSV/JSON tables); :func:`write_report` writes them atomically. Nothing is written before
everything is computed. :func:`verdict` is the headline sentence on its own (the saving of one
strategy over another, naming the prices), for any paired table; the sign convention of every
saving lives in ``sim.analysis.saving``.
"""

from sim.analysis.report.analysis import (
    DEFAULT_RUNS,
    FIGURES,
    MAX_PIPELINE_ATTEMPTS,
    PER,
    QUICK_RUNS,
    SUMMARY_METRICS,
    SWEEP_COLUMNS,
    Intensity,
    ReportData,
    ReportError,
    ReportOptions,
    SensitivityInput,
    analytic_breakeven_value,
    analytic_waste,
    compare_pair,
    compute_report,
    duration_text,
    failure_intensities,
    intensity_grid,
    run_sensitivity,
    sensitivity_inputs,
    usd,
)
from sim.analysis.report.document import (
    beyond_range_sentence,
    breakeven_sentence,
    breakeven_text,
    build_figures,
    closed_form_gap,
    closed_form_position,
    conclusions,
    document_blocks,
    figure_bytes,
    price_assumption,
    pricing_sentence,
    reason_text,
    render_figures,
    render_html,
    render_markdown,
    report_files,
    saving_sentence,
    verdict,
    write_report,
)

__all__ = [
    "DEFAULT_RUNS",
    "FIGURES",
    "QUICK_RUNS",
    "SUMMARY_METRICS",
    "SWEEP_COLUMNS",
    "PER",
    "ReportError",
    "ReportOptions",
    "duration_text",
    "usd",
    "Intensity",
    "MAX_PIPELINE_ATTEMPTS",
    "failure_intensities",
    "intensity_grid",
    "compare_pair",
    "SensitivityInput",
    "sensitivity_inputs",
    "run_sensitivity",
    "analytic_waste",
    "analytic_breakeven_value",
    "ReportData",
    "compute_report",
    "saving_sentence",
    "verdict",
    "price_assumption",
    "pricing_sentence",
    "closed_form_gap",
    "breakeven_sentence",
    "breakeven_text",
    "beyond_range_sentence",
    "closed_form_position",
    "conclusions",
    "build_figures",
    "figure_bytes",
    "render_figures",
    "document_blocks",
    "reason_text",
    "render_markdown",
    "render_html",
    "report_files",
    "write_report",
]
