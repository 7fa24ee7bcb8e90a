"""The heartbeat interval that minimises the makespan of one long GPU step, against Young and Daly.

One GPU step of ``work`` (10 h) runs under the ``heartbeat`` strategy: it saves its progress after
every H of work, each save taking C of worker time; a crash loses the segment in progress and the
retry resumes from the last save. Crashes are exponential with MTBF M, the worker is down for R
after each one, detection delay and retry backoff are zero. The sweep over H uses common random
numbers: replication r has the same crash instants at every H (with renewal and a fixed restart
time the k-th crash falls at X_1 + R + X_2 + ... whatever H is), so the makespan curve of the mean
is smooth and differences between two H are paired.

The simulated optimum is the vertex of a quadratic in log H fitted to the mean makespans within
``--fit-window`` (in log H) of the grid point with the lowest mean; its interval is a percentile
bootstrap over replications (resample the run indices, the same resample at every H, refit).
It is compared with Young's sqrt(2CM) and Daly's higher-order optimum (``sim.analysis.analytic``).

The grid is H = work/n for integers n (rounded up to the millisecond). A step with w of work
takes ceil(w/H) - 1 saves: the last segment needs no save, because the step's completion records
it. So for a fixed amount of work the expected makespan is a saw-tooth in H (a tooth of about C
each time work/H crosses an integer), and its lower envelope is reached exactly at H = work/n,
equal segments. That envelope is the curve Daly's model describes.

Two differences from Daly's model, neither of which moves the optimum beyond the interval:
* Daly lets failures strike during the restart R (a factor M·e^{R/M} per segment); the simulated
  worker does not fail while restarting (a factor M + R). Both factors are constants that do not
  depend on H, so the minimiser is the same.
* The last segment has no save, which moves the optimum of the envelope up by a fraction of a
  percent (printed as "model optimum": the exact minimiser of the simulator's expected makespan).

    PYTHONPATH=. python experiments/heartbeat_interval.py [--quick] [--out results/heartbeat_interval]
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import optimize

from sim import scenario_from_dict
from sim.analysis.analytic import daly_completion_time_s, daly_interval_s, young_interval_s
from sim.analysis.plots import save_figure, use_report_style
from sim.experiment.api import simulate
from sim.experiment.io import atomic_write_bytes, parquet_bytes
from sim.model.scenario import Scenario
from sim.stats import bounded_interval, t_half_width

NAME = "heartbeat_interval"


@dataclass(frozen=True)
class Setup:
    """One long GPU step under exponential crashes (all times in seconds)."""

    work_s: float = 36000.0  # 10 h of GPU work
    mtbf_s: float = 7200.0  # M = 2 h
    checkpoint_s: float = 60.0  # C: one save takes a minute of worker time
    restart_s: float = 120.0  # R: the worker is down 2 min after a crash
    price_per_hour: float = 2.5

    @property
    def young_s(self) -> float:
        return young_interval_s(self.checkpoint_s, self.mtbf_s)

    @property
    def daly_s(self) -> float:
        return daly_interval_s(self.checkpoint_s, self.mtbf_s)


# --------------------------------------------------------------------------- grid and model


def interval_for(work_s: float, segments: int) -> float:
    """H that splits ``work_s`` into ``segments`` equal segments, rounded up to the millisecond.

    Rounding up keeps ceil(work/H) = segments in floating point (H = work/n itself can land a
    hair below, and then the step takes one more save for a sub-nanosecond last segment).
    """
    return math.ceil(work_s / segments * 1000.0) / 1000.0


def segment_grid(setup: Setup, fine_span: float = 0.35, wide: Sequence[float] = (-1.2, -0.9, -0.6, 0.6, 0.9, 1.2),
                 fine_step: int = 1) -> list[int]:
    """Numbers of segments n to simulate (descending, so H = work/n ascends).

    Every ``fine_step``-th n whose H is within ``fine_span`` (in log H) of Daly's interval, plus
    the n nearest to Daly·e^u for each u in ``wide`` (the shape of the curve further out).
    """
    centre = setup.work_s / setup.daly_s
    lo = max(1, math.ceil(centre * math.exp(-fine_span)))
    hi = math.floor(centre * math.exp(fine_span))
    fine = set(range(lo, hi + 1, fine_step))
    fine.add(round(centre))
    far = {max(1, round(centre * math.exp(-u))) for u in wide}
    return sorted(fine | far, reverse=True)


def model_makespan_s(setup: Setup, every_s: float) -> float:
    """Exact expected makespan in the simulator's model.

    m = ceil(T/H) - 1 segments of H + C, then a last one of T - mH; a segment of length L takes
    (M + R)(e^{L/M} - 1) on average (exponential failures, a failure loses the segment, down R
    after each failure and no failure while down).
    """
    t, m_f, c, r = setup.work_s, setup.mtbf_s, setup.checkpoint_s, setup.restart_s
    m = max(math.ceil(t / every_s) - 1, 0)
    return (m_f + r) * (m * math.expm1((every_s + c) / m_f) + math.expm1((t - m * every_s) / m_f))


def model_optimum_s(setup: Setup) -> float:
    """Minimiser of the envelope of ``model_makespan_s`` (equal segments, n = T/H continuous)."""
    t, m_f, c, r = setup.work_s, setup.mtbf_s, setup.checkpoint_s, setup.restart_s

    def envelope(h: float) -> float:
        return (m_f + r) * ((t / h - 1.0) * math.expm1((h + c) / m_f) + math.expm1(h / m_f))

    res = optimize.minimize_scalar(envelope, bounds=(setup.daly_s / 4, min(4 * setup.daly_s, t)), method="bounded",
                                   options={"xatol": 1e-6})
    return float(res.x)


# --------------------------------------------------------------------------- simulation


def build_scenario(setup: Setup, intervals: Sequence[float]) -> tuple[Scenario, dict[str, float]]:
    """A scenario with one heartbeat strategy per interval (labels h00, h01, ...)."""
    labels = {f"h{i:02d}": float(h) for i, h in enumerate(intervals)}
    raw = {
        "name": NAME,
        "description": "one long GPU step, heartbeat saves every H, exponential crashes",
        "steps": [{"name": "train", "kind": "gpu", "price_per_hour": setup.price_per_hour, "duration": setup.work_s}],
        "defaults": {"retry": {"initial_interval": 0, "maximum_attempts": 0}},
        "failures": {"crash": {"mtbf": setup.mtbf_s, "restart_time": setup.restart_s, "detection_delay": 0,
                               "renew_on_restart": True}},
        "strategies": {label: {"kind": "heartbeat", "every": h, "checkpoint_cost": setup.checkpoint_s}
                       for label, h in labels.items()},
    }
    return scenario_from_dict(raw), labels


def simulate_makespans(setup: Setup, segments: Sequence[int], runs: int, seed: int) -> pd.DataFrame:
    """One row per (replication, H): makespan, saves, crashes, waste (``sim.simulate``, DES)."""
    intervals = [interval_for(setup.work_s, n) for n in segments]
    scenario, labels = build_scenario(setup, intervals)
    df = simulate(scenario, runs, seed, engine="des")
    df["every_s"] = df["strategy"].map(labels).astype(float)
    df["segments"] = df["every_s"].map(dict(zip(intervals, segments, strict=True))).astype(int)
    cols = ["run", "every_s", "segments", "completed", "makespan_s", "heartbeats", "crashes", "compute_s",
            "useful_compute_s", "wasted_compute_s", "total_cost_usd"]
    return df[cols].sort_values(["every_s", "run"], kind="stable").reset_index(drop=True)


def makespan_matrix(runs_df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(H ascending, matrix [replication, H] of makespans)."""
    wide = runs_df.pivot(index="run", columns="every_s", values="makespan_s").sort_index(axis=1)
    if wide.isna().any().any():
        raise ValueError("every replication must be simulated at every H")
    return wide.columns.to_numpy(dtype=float), wide.to_numpy(dtype=float)


# --------------------------------------------------------------------------- the optimum


def fit_vertex(every_s: np.ndarray, means: np.ndarray, window: float) -> tuple[float, np.ndarray]:
    """Vertex of a quadratic in log H fitted to the means within ``window`` of the lowest mean.

    Returns (H at the vertex, polynomial coefficients in u = log H); NaN when the fitted parabola
    does not open upwards or the window holds fewer than 4 points.
    """
    u = np.log(every_s)
    centre = u[int(np.argmin(means))]
    inside = np.abs(u - centre) <= window + 1e-12
    if inside.sum() < 4:
        return math.nan, np.full(3, np.nan)
    coef = np.polyfit(u[inside], means[inside], 2)
    if not coef[0] > 0:
        return math.nan, coef
    return float(np.exp(-coef[1] / (2.0 * coef[0]))), coef


def bootstrap_optimum(every_s: np.ndarray, matrix: np.ndarray, window: float, n_boot: int, seed: int,
                      batch: int = 100) -> np.ndarray:
    """Vertices of ``n_boot`` bootstrap resamples of the replications (the same resample at every H)."""
    rng = np.random.default_rng(seed)
    runs = matrix.shape[0]
    probs = np.full(runs, 1.0 / runs)
    out = np.empty(n_boot)
    done = 0
    while done < n_boot:
        size = min(batch, n_boot - done)
        counts = rng.multinomial(runs, probs, size=size).astype(np.float64)
        means = counts @ matrix / runs
        for row in means:
            out[done] = fit_vertex(every_s, row, window)[0]
            done += 1
    return out


@dataclass(frozen=True)
class Optimum:
    young_s: float
    daly_s: float
    model_optimum_s: float
    simulated_s: float
    ci_low_s: float
    ci_high_s: float
    boot_failed: float  # share of resamples without a vertex
    best_grid_s: float
    replications: int
    window: float
    n_boot: int

    @property
    def daly_inside(self) -> bool:
        return self.ci_low_s <= self.daly_s <= self.ci_high_s

    @property
    def young_inside(self) -> bool:
        return self.ci_low_s <= self.young_s <= self.ci_high_s


def estimate_optimum(setup: Setup, runs_df: pd.DataFrame, window: float = 0.25, n_boot: int = 1000,
                     seed: int = 0, confidence: float = 0.95) -> tuple[Optimum, np.ndarray]:
    """The simulated optimum with its bootstrap percentile interval, and the bootstrap vertices."""
    every, matrix = makespan_matrix(runs_df)
    means = matrix.mean(axis=0)
    point, _ = fit_vertex(every, means, window)
    boot = bootstrap_optimum(every, matrix, window, n_boot, seed)
    ok = boot[np.isfinite(boot)]
    alpha = (1.0 - confidence) / 2.0
    low, high = (np.quantile(ok, [alpha, 1.0 - alpha]) if len(ok) else (math.nan, math.nan))
    return Optimum(
        young_s=setup.young_s, daly_s=setup.daly_s, model_optimum_s=model_optimum_s(setup), simulated_s=point,
        ci_low_s=float(low), ci_high_s=float(high), boot_failed=float(1.0 - len(ok) / n_boot),
        best_grid_s=float(every[int(np.argmin(means))]), replications=matrix.shape[0], window=window,
        n_boot=n_boot,
    ), boot


def makespan_table(setup: Setup, runs_df: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per H: mean makespan with its t interval, the exact model value, Daly's T_w, and the paired
    difference to the grid point nearest Daly's interval (same crashes, so a much tighter interval)."""
    every, matrix = makespan_matrix(runs_df)
    n = matrix.shape[0]
    ref = int(np.argmin(np.abs(np.log(every / setup.daly_s))))
    diff = matrix - matrix[:, [ref]]
    mean = matrix.mean(axis=0)
    # makespans are >= 0: the interval stays within that bound (sim.stats.bounds)
    low, high = bounded_interval(mean, matrix.std(axis=0, ddof=1) / math.sqrt(n), n, (0.0, math.inf), confidence)
    d_mean = diff.mean(axis=0)
    d_half = t_half_width(diff.std(axis=0, ddof=1) / math.sqrt(n), n, confidence)
    extra = runs_df.groupby("every_s")[["heartbeats", "crashes", "wasted_compute_s"]].mean().sort_index()
    return pd.DataFrame({
        "every_s": every,
        "segments": [round(setup.work_s / h) for h in every],
        "replications": n,
        "makespan_mean_s": mean,
        "makespan_ci_low_s": low,
        "makespan_ci_high_s": high,
        "model_makespan_s": [model_makespan_s(setup, h) for h in every],
        "daly_model_makespan_s": [daly_completion_time_s(setup.work_s, h, setup.checkpoint_s, setup.restart_s,
                                                         setup.mtbf_s) for h in every],
        "diff_vs_daly_point_s": d_mean,
        "diff_ci_low_s": d_mean - np.nan_to_num(d_half),
        "diff_ci_high_s": d_mean + np.nan_to_num(d_half),
        "reference_every_s": every[ref],
        "heartbeats_mean": extra["heartbeats"].to_numpy(),
        "crashes_mean": extra["crashes"].to_numpy(),
        "wasted_compute_mean_s": extra["wasted_compute_s"].to_numpy(),
    })


# --------------------------------------------------------------------------- output


def report(setup: Setup, opt: Optimum, table: pd.DataFrame) -> str:
    lines = [
        f"One GPU step of {setup.work_s / 3600:g} h, exponential crashes MTBF {setup.mtbf_s / 3600:g} h, "
        f"save cost C = {setup.checkpoint_s:g} s, restart R = {setup.restart_s:g} s, "
        f"{opt.replications} replications (common random numbers)",
        "",
        f"  Young sqrt(2CM)            {opt.young_s:8.1f} s  ({opt.young_s / 60:.2f} min)",
        f"  Daly (higher order)        {opt.daly_s:8.1f} s  ({opt.daly_s / 60:.2f} min)",
        f"  model optimum (exact)      {opt.model_optimum_s:8.1f} s  (simulator's expected makespan, equal segments)",
        f"  simulated optimum          {opt.simulated_s:8.1f} s  95% CI [{opt.ci_low_s:.1f}, {opt.ci_high_s:.1f}] "
        f"(quadratic in log H within +/-{opt.window:g}, {opt.n_boot} bootstrap resamples)",
        f"  best grid point            {opt.best_grid_s:8.1f} s",
        "",
        f"  Daly inside the interval:  {'yes' if opt.daly_inside else 'NO'};  "
        f"Young inside: {'yes' if opt.young_inside else 'no'}",
        "",
        "  H (s)    n  mean makespan (h) [95% CI]        model (h)  Daly T_w (h)  vs H~Daly (s) [95% CI]",
    ]
    for row in table.itertuples():
        lines.append(
            f"  {row.every_s:7.1f} {row.segments:3d}  {row.makespan_mean_s / 3600:7.4f} "
            f"[{row.makespan_ci_low_s / 3600:7.4f}, {row.makespan_ci_high_s / 3600:7.4f}]  "
            f"{row.model_makespan_s / 3600:9.4f}  {row.daly_model_makespan_s / 3600:11.4f}  "
            f"{row.diff_vs_daly_point_s:+8.1f} [{row.diff_ci_low_s:+7.1f}, {row.diff_ci_high_s:+7.1f}]")
    return "\n".join(lines)


def plot(setup: Setup, opt: Optimum, table: pd.DataFrame, runs_df: pd.DataFrame, path: Path) -> None:
    every = table["every_s"].to_numpy() / 60.0
    lines = (
        (opt.young_s, "Young $\\sqrt{2CM}$", "#D55E00", (0, (6, 3))),
        (opt.daly_s, "Daly", "#009E73", "solid"),
        (opt.simulated_s, "simulated optimum", "#0072B2", (0, (2, 2))),
    )
    with use_report_style():
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
        # left: the whole grid, mean makespan with its 95% band and the exact model
        ax1.fill_between(every, table["makespan_ci_low_s"] / 3600, table["makespan_ci_high_s"] / 3600,
                         color="#56B4E9", alpha=0.35, lw=0, label="simulated mean, 95% CI")
        ax1.plot(every, table["makespan_mean_s"] / 3600, "o-", color="#0072B2", ms=3, lw=1.2)
        ax1.plot(every, table["model_makespan_s"] / 3600, color="black", lw=1, ls=(0, (1, 1.5)),
                 label="exact expectation (model)")
        ax1.set_xscale("log")
        ticks = [t for t in (3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90) if every.min() * 0.9 <= t <= every.max() * 1.1]
        ax1.set_xticks(ticks)
        ax1.set_xticklabels([f"{t:g}" for t in ticks])
        ax1.minorticks_off()
        ax1.set_xlabel("heartbeat interval H (minutes, log scale)")
        ax1.set_ylabel("makespan (hours)")
        ax1.set_title("Mean makespan of a 10 h GPU step")
        # right: zoom near the minimum, paired differences to the grid point nearest Daly
        zoom = np.abs(np.log(table["every_s"] / opt.daly_s)) <= opt.window + 0.12
        z = table[zoom]
        ze = z["every_s"].to_numpy() / 60.0
        ax2.fill_between(ze, z["diff_ci_low_s"], z["diff_ci_high_s"], color="#56B4E9", alpha=0.35, lw=0,
                         label="paired difference, 95% CI")
        ax2.plot(ze, z["diff_vs_daly_point_s"], "o", color="#0072B2", ms=3.5)
        every_all, matrix = makespan_matrix(runs_df)
        _, coef = fit_vertex(every_all, matrix.mean(axis=0), opt.window)
        ref_mean = float(matrix[:, int(np.argmin(np.abs(np.log(every_all / opt.daly_s))))].mean())
        if np.all(np.isfinite(coef)):
            u = np.linspace(math.log(opt.simulated_s) - opt.window, math.log(opt.simulated_s) + opt.window, 200)
            ax2.plot(np.exp(u) / 60.0, np.polyval(coef, u) - ref_mean, color="#0072B2", lw=1.2,
                     label=f"quadratic fit in log H (±{opt.window:g})")
        ax2.axvspan(opt.ci_low_s / 60.0, opt.ci_high_s / 60.0, color="#0072B2", alpha=0.12, lw=0,
                    label="simulated optimum, 95% CI")
        for ax in (ax1, ax2):
            for value, label, color, style in lines:
                ax.axvline(value / 60.0, color=color, ls=style, lw=1.4,
                           label=f"{label}: {value / 60:.2f} min" if ax is ax2 else None)
        ax2.set_xscale("log")
        zticks = np.arange(math.ceil(ze.min()), math.floor(ze.max()) + 1)
        ax2.set_xticks(zticks)
        ax2.set_xticklabels([f"{t:g}" for t in zticks])
        ax2.minorticks_off()
        ax2.set_xlabel("heartbeat interval H (minutes, log scale)")
        ax2.set_ylabel(f"Δ makespan vs H = {table['reference_every_s'].iloc[0] / 60:.2f} min (s)")
        ax2.set_title("Near the optimum (paired over replications)")
        ax1.legend(loc="upper center", fontsize=8)
        ax2.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=8, ncol=3, frameon=False)
        fig.suptitle(f"Heartbeat interval: MTBF {setup.mtbf_s / 3600:g} h, save {setup.checkpoint_s:g} s, "
                     f"restart {setup.restart_s:g} s, {opt.replications:,} replications, "
                     f"optimum {opt.simulated_s / 60:.2f} min [{opt.ci_low_s / 60:.2f}, {opt.ci_high_s / 60:.2f}]",
                     fontsize=11)
        save_figure(fig, path, formats=("png",), dpi=150)
        plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer replications, a coarser grid, fewer resamples")
    parser.add_argument("--out", type=Path, default=Path("results") / NAME)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--replications", type=int, default=None, help="default 20000 (quick: 3000)")
    parser.add_argument("--boot", type=int, default=None, help="bootstrap resamples (default 2000, quick: 400)")
    parser.add_argument("--fit-window", type=float, default=0.25, help="half-width of the fit in log H (default 0.25)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.replications is not None and args.replications < 10:
        parser.error("--replications must be at least 10")
    setup = Setup()
    runs = args.replications or (3000 if args.quick else 20000)
    n_boot = args.boot or (400 if args.quick else 2000)
    segments = segment_grid(setup, fine_step=2 if args.quick else 1)
    started = time.perf_counter()
    runs_df = simulate_makespans(setup, segments, runs, args.seed)
    opt, boot = estimate_optimum(setup, runs_df, window=args.fit_window, n_boot=n_boot, seed=args.seed)
    table = makespan_table(setup, runs_df)
    seconds = time.perf_counter() - started
    print(report(setup, opt, table))
    print(f"\n({len(segments)} intervals x {runs} replications, {seconds:.1f} s)")
    optimum = pd.DataFrame([{**asdict(opt), "daly_inside_ci": opt.daly_inside, "young_inside_ci": opt.young_inside,
                             **{f"setup_{k}": v for k, v in asdict(setup).items()}, "seed": args.seed}])
    meta = {"setup": asdict(setup), "seed": args.seed, "replications": runs}
    files = {
        "runs.parquet": parquet_bytes(runs_df, meta),
        "summary.csv": table.to_csv(index=False, float_format="%.10g").encode(),
        "optimum.csv": optimum.to_csv(index=False, float_format="%.10g").encode(),
        "bootstrap.parquet": parquet_bytes(pd.DataFrame({"optimum_s": boot}), meta),
    }
    for name, data in files.items():
        atomic_write_bytes(args.out / name, data)
    plot(setup, opt, table, runs_df, args.out / NAME)
    print(f"wrote {args.out}/: summary.csv, optimum.csv, runs.parquet, bootstrap.parquet, {NAME}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
