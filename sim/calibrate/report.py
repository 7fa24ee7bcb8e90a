"""The fit report: a plain-text table of every fitted parameter, and diagnostic figures.

Figures (PNG, matplotlib object API on the Agg canvas, the project's report style):

* ``calibration_durations.png`` - per step, the ECDF of completed durations against the
  fitted lognormal CDF (log time axis);
* ``calibration_crashes.png`` - Kaplan-Meier survival of time to failure with censored
  attempts marked, against the fitted exponential and Weibull survival;
* ``calibration_qq.png`` - per step, the normal Q-Q plot of log durations (a straight line
  means lognormal).

The data drawn is prepared by :func:`ecdf`, :func:`kaplan_meier` and :func:`qq_points`, which
tests check; the drawing functions only draw.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from importlib import resources
from pathlib import Path

import matplotlib
import matplotlib.style as mplstyle
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from scipy import stats

from sim.calibrate.fits import Calibration, DurationFit, Estimate
from sim.calibrate.scenario_writer import format_window
from sim.calibrate.text import _dur, _interval, _num, _p
from sim.model.units import format_duration

matplotlib.use("Agg", force=False)

_BLUE, _ORANGE, _GREEN, _GREY = "#0072B2", "#E69F00", "#009E73", "#555555"


# --------------------------------------------------------------------------- text


def _dur_row(label: str, e: Estimate) -> tuple[str, str, str]:
    return (label, _dur(e.value), _interval(_dur(e.low), _dur(e.high), e.low, e.high))


def _num_row(label: str, e: Estimate, fmt: str = "{:.4g}") -> tuple[str, str, str]:
    return (label, _num(fmt, e.value), _interval(_num(fmt, e.low), _num(fmt, e.high), e.low, e.high))


def report_rows(cal: Calibration) -> list[tuple[str, str, str, str, str]]:
    """(parameter, estimate, 95% interval, data, test) for every fitted parameter."""
    rows: list[tuple[str, str, str, str, str]] = []
    for step, f in cal.durations.items():
        data = f"{f.n} completed" + (f" + {f.n_censored} censored" if f.n_censored else "")
        test = f"KS D={f.gof.statistic:.3g} p={_p(f.gof.p_value)}" if np.isfinite(
            f.gof.statistic) else f.gof.test
        if f.n == 1:
            rows.append((f"duration {step} (one observation, fixed)", _dur(f.median_s.value),
                         "n/a (one observation)", data, "none"))
            continue
        rows.append((*_dur_row(f"duration {step} median ({f.dist})", f.median_s), data, test))
        rows.append((*_dur_row(f"duration {step} p95", f.p95_s), data, ""))
        rows.append((*_dur_row(f"duration {step} empirical p95", f.empirical_p95_s), data,
                     "order statistics"))
    cr = cal.crashes
    if cr is None:
        rows.append(("crash MTBF", "n/a", "", "no attempt ran on a worker",
                     "only child workflows and waits"))
        return rows + _other_rows(cal)
    unit = "worker lives" if cr.age == "worker" else "attempts"
    data = f"{cr.n_crashes} crashes / {cr.n_attempts} {unit}, {_dur(cr.exposure_s)}"
    ex = cr.exponential
    mark = lambda m: " *" if cr.chosen == m else ""  # noqa: E731
    rows.append((*_dur_row("crash MTBF (exponential)" + mark("exponential"), ex.mttf_s), data,
                 f"AIC {_num('{:.1f}', ex.aic)}; Cox-Snell p={_p(ex.gof.p_value)}"))
    if cr.weibull is not None:
        w = cr.weibull
        rows.append((*_num_row("crash Weibull shape" + mark("weibull"), w.params["shape"],
                               "{:.3g}"), data,
                     f"AIC {_num('{:.1f}', w.aic)}; Cox-Snell p={_p(w.gof.p_value)}"))
        rows.append((*_dur_row("crash Weibull scale", w.params["scale_s"]), data, ""))
        rows.append((*_dur_row("crash Weibull mean time to failure", w.params["mttf_s"]), data,
                     f"LR shape=1 p={_p(cr.lr_test.p_value)}"))
    if cal.naive_crashes is not None:
        rows.append((*_dur_row("crash MTBF, naive (censored dropped)", cal.naive_crashes.mttf_s),
                     f"{cr.n_crashes} crashes only", "biased; not used"))
    return rows + _other_rows(cal)


def _other_rows(cal: Calibration) -> list[tuple[str, str, str, str, str]]:
    rows: list[tuple[str, str, str, str, str]] = []
    rl = cal.rate_limits
    if rl is not None:
        for s, pr in rl.per_step.items():
            rows.append((*_num_row(f"429 probability {s}", pr.p), f"{pr.k}/{pr.n} calls",
                         "Wilson"))
        for m, pr in rl.per_model.items():
            rows.append((*_num_row(f"429 probability model {m}", pr.p), f"{pr.k}/{pr.n} calls",
                         "Wilson"))
        rows.append((*_num_row("429 probability pooled", rl.pooled.p),
                     f"{rl.pooled.k}/{rl.pooled.n} calls",
                     f"homogeneity p={_p(rl.gof.p_value)}"))
        if rl.retry_after is not None:
            ra = rl.retry_after
            rows.append((*_dur_row("Retry-After median", ra.median_s), f"{ra.n} 429s", ra.dist))
            rows.append((*_dur_row("Retry-After p95", ra.p95_s), f"{ra.n} 429s", ""))
    dp = cal.deploys
    if dp is not None:
        data = f"{dp.n_deploys} deploys"
        rows.append((*_dur_row("deploy period" + (" *" if dp.mode == "periodic" else ""),
                               dp.period_s), data,
                     f"AIC {_num('{:.1f}', dp.aic_periodic)}; jitter sd {_dur(dp.jitter_s)}"))
        rows.append((*_dur_row("deploy Poisson mean interval" + (
            " *" if dp.mode == "poisson" else ""), dp.mean_interval_s), data,
                     f"AIC {_num('{:.1f}', dp.aic_poisson)}; CV {_num('{:.3g}', dp.cv)}"))
        d_text = f"D={dp.gof.statistic:.3g}" if np.isfinite(dp.gof.statistic) else "D n/a (too few deploys)"
        rows.append(("deploy gaps vs chosen model", d_text, "", data,
                     f"{dp.gof.test} p={_p(dp.gof.p_value)}"))
    return rows


def format_report(cal: Calibration) -> str:
    """The plain-text fit report."""
    head = [
        f"Calibration from {cal.source}",
        f"  {cal.n_attempts} attempts of {cal.n_workflows} workflows"
        + (f" ({cal.n_inferred} known only from Temporal's attempt counter: counted in "
           "probabilities, not in durations or times to failure)" if cal.n_inferred else ""),
        f"  window {format_window(cal.window)}",
        "  outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(cal.outcome_counts.items())),
        (f"  crash age: {'worker_id life' if cal.crashes.age == 'worker' else 'attempt running time'}"
         f"; chosen crash model: {cal.crashes.chosen} (by AIC)" if cal.crashes is not None else
         "  crashes: not fitted (no attempt ran on a worker)")
        + (f"; deployments: {cal.deploys.mode} (by AIC), window {format_window(cal.deploys.window, relative='seconds')}"
           if cal.deploys else ""),
        "",
    ]
    rows = [("parameter", "estimate", "95% interval", "data", "test"), *report_rows(cal)]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = []
    for k, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("(* = the model written to the scenario)")
    return "\n".join(head + lines) + "\n"


# --------------------------------------------------------------------------- plot data


def ecdf(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted values and the ECDF at each (i / n)."""
    xs = np.sort(np.asarray(x, dtype=float))
    return xs, np.arange(1, len(xs) + 1) / len(xs)


def kaplan_meier(t: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier survival: (distinct event times, S just after each), starting (0, 1)."""
    t = np.asarray(t, dtype=float)
    event = np.asarray(event, dtype=bool)
    times = np.unique(t[event])
    if len(times) == 0:
        return np.array([0.0]), np.array([1.0])
    ts = np.sort(t)
    at_risk = len(t) - np.searchsorted(ts, times, side="left")
    deaths = np.bincount(np.searchsorted(times, t[event]), minlength=len(times))
    surv = np.cumprod(1.0 - deaths / at_risk)
    return np.concatenate([[0.0], times]), np.concatenate([[1.0], surv])


def qq_points(fit: DurationFit, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(theoretical normal quantiles of the fit, sorted observed log durations)."""
    y = np.sort(np.log(np.asarray(x, dtype=float)[np.asarray(x) > 0]))
    n = len(y)
    probs = (np.arange(1, n + 1) - 0.5) / n
    return fit.mu + fit.sigma * stats.norm.ppf(probs), y


# --------------------------------------------------------------------------- figures


def _style() -> object:
    try:
        ref = resources.files("sim").joinpath("styles", "report.mplstyle")
    except (ModuleNotFoundError, FileNotFoundError):
        return nullcontext()
    return mplstyle.context(str(ref)) if ref.is_file() else nullcontext()


def _grid(n: int, width: float = 4.2, height: float = 3.2) -> tuple[Figure, list]:
    ncols = min(2, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(width * ncols, height * nrows + 0.4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _plain_log_axis(axis: object) -> None:
    """Log axis labelled 10, 20, 50, 100 (no 2x10^1 minor labels that collide)."""
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _completed(attempts: pd.DataFrame, step: str) -> np.ndarray:
    rows = attempts[(attempts["step"] == step) & (attempts["outcome"] == "completed")
                    & ~attempts["inferred"]]
    x = rows["duration_s"].to_numpy(dtype=float)
    return x[x > 0]


def durations_figure(cal: Calibration, attempts: pd.DataFrame) -> Figure:
    """Per-step ECDF of completed durations vs the fitted lognormal CDF (steps with at least
    two observations: one value has no distribution to draw)."""
    fits = [f for f in cal.durations.values() if f.n >= 2]
    single = [f.step for f in cal.durations.values() if f.n < 2]
    fig, axes = _grid(max(1, len(fits)))
    if not fits:
        axes[0].text(0.5, 0.5, "every step has a single observation:\nno distribution to draw",
                     ha="center", va="center", transform=axes[0].transAxes)
        axes[0].set_axis_off()
    for ax, f in zip(axes, fits, strict=False):
        xs, ys = ecdf(_completed(attempts, f.step))
        ax.step(xs, ys, where="post", color=_BLUE, linewidth=3, alpha=0.6,
                label=f"data ECDF (n = {f.n})")
        if f.dist == "lognormal":
            grid = np.geomspace(xs[0] * 0.8, xs[-1] * 1.25, 300)
            ax.plot(grid, stats.norm.cdf((np.log(grid) - f.mu) / f.sigma), color=_ORANGE,
                    linestyle="--", label=f"lognormal fit\nmedian {format_duration(f.median_s.value)}"
                    f", p95 {format_duration(f.p95_s.value)}")
            ax.set_xscale("log")
            _plain_log_axis(ax.xaxis)
        ax.set_title(f"{f.step}\nKS p = {_p(f.gof.p_value)}", fontsize="medium")
        ax.set_xlabel("attempt duration (s)")
        ax.set_ylabel("fraction of attempts ≤ x")
        ax.set_ylim(0, 1.02)
        ax.legend(loc="upper left", fontsize="small")
    title = "Step durations: completed attempts vs fitted distribution"
    if single and fits:
        title += f"\n({len(single)} step{'s' if len(single) != 1 else ''} with one observation "\
                 "not drawn)"
    fig.suptitle(title)
    return fig


def crashes_figure(cal: Calibration, max_marks: int = 400) -> Figure:
    """Kaplan-Meier time-to-failure survival with censoring marks vs the fitted models."""
    cr = cal.crashes
    assert cr is not None, "no crash fit to draw"
    t, d = cr.ages_s, cr.events
    fig = Figure(figsize=(7.5, 4.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    km_t, km_s = kaplan_meier(t, d)
    tmax = float(t.max()) if len(t) else 1.0
    ax.step(np.append(km_t, tmax), np.append(km_s, km_s[-1]), where="post", color=_BLUE,
            label=f"Kaplan-Meier ({cr.n_crashes} crashes)")
    cens = np.sort(t[~d])
    if len(cens):
        pick = cens[np.unique(np.linspace(0, len(cens) - 1, min(max_marks, len(cens))).astype(int))]
        s_at = km_s[np.searchsorted(km_t, pick, side="right") - 1]
        ax.plot(pick, s_at, linestyle="none", marker="|", markersize=7, color=_GREY, alpha=0.7,
                label=f"censored ({len(cens)} attempts" + (f", {len(pick)} shown)" if len(pick)
                                                           < len(cens) else ")"))
    grid = np.linspace(0, tmax, 400)
    mtbf = cr.exponential.mttf_s.value
    if np.isfinite(mtbf):
        ax.plot(grid, np.exp(-grid / mtbf), color=_ORANGE, linestyle="--",
                label=f"exponential, MTBF {format_duration(mtbf)}"
                + (" (chosen)" if cr.chosen == "exponential" else ""))
    if cr.weibull is not None:
        k, lam = cr.weibull.params["shape"].value, cr.weibull.params["scale_s"].value
        ax.plot(grid, np.exp(-np.power(grid / lam, k)), color=_GREEN, linestyle=":",
                linewidth=2, label=f"Weibull, shape {k:.2f}, scale {format_duration(lam)}"
                + (" (chosen)" if cr.chosen == "weibull" else ""))
    low = min(float(km_s.min()), float(np.exp(-tmax / mtbf)) if np.isfinite(mtbf) else 1.0)
    ax.set_ylim(max(0.0, low - 0.15 * (1 - low) - 0.005), 1.0 + 0.05 * (1 - low) + 0.001)
    ax.set_xlim(0, tmax * 1.02)
    age = "worker age (s)" if cr.age == "worker" else "attempt running time (s)"
    ax.set_xlabel(age)
    ax.set_ylabel("P(no crash yet)")
    ax.set_title("Worker time to failure (right-censored)")
    ax.legend(loc="lower left", fontsize="small")
    return fig


def qq_figure(cal: Calibration, attempts: pd.DataFrame) -> Figure:
    """Per-step normal Q-Q plot of log durations against the fitted lognormal."""
    fits = [f for f in cal.durations.values() if f.dist == "lognormal"]
    fig, axes = _grid(max(1, len(fits)), width=3.8, height=3.4)
    for ax, f in zip(axes, fits, strict=False):
        theo, obs = qq_points(f, _completed(attempts, f.step))
        ax.plot(np.exp(theo), np.exp(obs), linestyle="none", marker=".", markersize=3,
                color=_BLUE, label=f"n = {len(obs)}")
        lims = [float(np.exp(min(theo.min(), obs.min()))),
                float(np.exp(max(theo.max(), obs.max())))]
        ax.plot(lims, lims, color=_ORANGE, linestyle="--", label="y = x")
        ax.set_xscale("log")
        ax.set_yscale("log")
        _plain_log_axis(ax.xaxis)
        _plain_log_axis(ax.yaxis)
        ax.set_title(f.step)
        ax.set_xlabel("fitted lognormal quantile (s)")
        ax.set_ylabel("observed quantile (s)")
        ax.legend(loc="upper left", fontsize="small")
    if not fits:
        axes[0].text(0.5, 0.5, "no lognormal fits (all durations fixed)", ha="center",
                     va="center", transform=axes[0].transAxes)
    fig.suptitle("Q-Q: log durations vs fitted lognormal")
    return fig


def write_plots(cal: Calibration, attempts: pd.DataFrame, out_dir: str | Path, *,
                prefix: str = "calibration_", dpi: int = 120) -> list[Path]:
    """Write the figures as PNG into out_dir (the crash figure only when crashes were
    fitted); returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with _style():
        figures = [("durations", lambda: durations_figure(cal, attempts)),
                   ("crashes", lambda: crashes_figure(cal)),
                   ("qq", lambda: qq_figure(cal, attempts))]
        for name, make in [f for f in figures if f[0] != "crashes" or cal.crashes is not None]:
            fig = make()
            path = out / f"{prefix}{name}.png"
            fig.savefig(path, dpi=dpi)
            paths.append(path)
    return paths
