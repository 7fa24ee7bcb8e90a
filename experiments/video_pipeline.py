"""The article's video pipeline (2 min + 30 s + 15 min + 45 s on one GPU worker).

1. One deployment during the thumbnail step (scheduled at 17m55s, no drain): restart re-runs
   the whole 18.25 minutes, durable only the 45-second step (simulated, with the timeline).
2. Random deployments (periodic, random phase, no drain) and worker crashes (exponential) over
   a range of frequencies: expected wasted GPU-minutes per video per strategy with 95% t
   intervals (common random numbers), next to the closed forms.

    PYTHONPATH=. python experiments/video_pipeline.py [--quick] [--out results/video_pipeline]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sim.analysis import audit
from sim.analysis.plots import plot_timeline, save_figure, strategy_styles, use_report_style
from sim.experiment.points import Vary
from sim.experiment.sweep import sweep
from sim.model.scenario import load_scenario

HOUR = 3600.0
FREQUENCIES_H = (0.5, 1.0, 2.0, 4.0, 8.0, 24.0, 72.0, 168.0)


def random_failures(runs: int, seed: int, every_h: list[float]) -> pd.DataFrame:
    """Sweep deploy interval (no crashes) and crash MTBF (no deploys); one row per point × strategy."""
    base = load_scenario(audit.scenario_path("video.toml"))
    steps_s = [s.duration.mean() for s in base.steps]
    rows = []
    for source, path in (("deploy", "failures.deploy.every"), ("crash", "failures.crash.mtbf")):
        raw = base.raw
        if source == "deploy":
            raw["failures"] = {"deploy": {"mode": "periodic", "every": "1d", "drain": "0s", "restart_time": "20s"}}
        else:
            raw["failures"] = {"crash": dict(base.raw["failures"]["crash"])}
        sc = audit.rebuild(base, raw)
        df = sweep(sc, [Vary(path, tuple(h * HOUR for h in every_h))], runs, seed, workers=1, quiet=True)
        restart_s = 20.0
        for (x, strategy), g in df.groupby([path, "strategy"], sort=True):
            m, lo, hi = audit.mean_ci(g["wasted_compute_s"] / 60.0)
            closed = audit.video_analytic_wasted_s(steps_s, source, float(x), restart_s)[str(strategy)]
            rows.append({"source": source, "every_h": float(x) / HOUR, "strategy": strategy, "runs": len(g),
                         "wasted_gpu_min_mean": m, "ci_low": lo, "ci_high": hi,
                         "analytic_wasted_gpu_min": closed / 60.0,
                         "wasted_cost_usd_mean": float(g["wasted_cost_usd"].mean()),
                         "makespan_min_mean": float(g["makespan_s"].mean() / 60.0)})
    return pd.DataFrame(rows)


def plot_random(table: pd.DataFrame, path: Path) -> None:
    styles = strategy_styles(list(dict.fromkeys(table["strategy"])))
    titles = {"deploy": "Periodic deployments (no drain)", "crash": "Worker crashes (exponential)"}
    xlabels = {"deploy": "time between deployments", "crash": "mean time between crashes (MTBF)"}
    with use_report_style():
        fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharey=True)
        for ax, source in zip(axes, ("deploy", "crash"), strict=True):
            t = table[table["source"] == source]
            for strategy, g in t.groupby("strategy", sort=False):
                st = styles[str(strategy)]
                yerr = np.vstack([g["wasted_gpu_min_mean"] - g["ci_low"], g["ci_high"] - g["wasted_gpu_min_mean"]])
                ax.errorbar(g["every_h"], g["wasted_gpu_min_mean"], yerr=np.nan_to_num(yerr), capsize=3,
                            color=st["color"], marker=st["marker"], linestyle="none", label=f"{strategy}: simulated, 95% CI")
                ok = g["analytic_wasted_gpu_min"].notna()
                ax.plot(g["every_h"][ok], g["analytic_wasted_gpu_min"][ok], color=st["color"], linestyle="-",
                        linewidth=1.2, alpha=0.8, label=f"{strategy}: closed form")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ticks = sorted(t["every_h"].unique())
            ax.set_xticks(ticks)
            ax.set_xticklabels([f"{v * 60:.0f}m" if v < 1 else (f"{v / 24:g}d" if v >= 24 else f"{v:g}h") for v in ticks])
            ax.minorticks_off()
            ax.set_xlabel(xlabels[source])
            ax.set_title(titles[source])
        axes[0].set_ylabel("expected wasted GPU-minutes per video (log)")
        axes[1].legend(fontsize=8, loc="upper right")
        n = int(table["runs"].iloc[0])
        fig.suptitle(f"Video pipeline (18.25 GPU-minutes): wasted GPU time vs failure frequency, {n} videos per point",
                     fontsize=11)
        save_figure(fig, path, formats=("png",), dpi=150)
        plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 frequencies, few replications (seconds)")
    parser.add_argument("--out", type=Path, default=Path("results") / "video_pipeline")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--runs", type=int, default=None)
    args = parser.parse_args(argv)
    runs = args.runs or (300 if args.quick else 20000)
    every_h = [1.0, 8.0, 72.0] if args.quick else list(FREQUENCIES_H)
    args.out.mkdir(parents=True, exist_ok=True)

    case = audit.video_deploy_case()
    single = pd.DataFrame([{
        "strategy": s, "deploy_at_s": case["deploy_s"], "reexecuted_gpu_s": case[f"{s}_reexecuted_s"],
        "wasted_gpu_s": case[f"{s}_wasted_s"], "wasted_cost_usd": case[f"{s}_wasted_usd"],
        "makespan_s": case[f"{s}_makespan_s"]} for s in ("restart", "durable")])
    single.to_csv(args.out / "deploy_during_thumbnail.csv", index=False)
    case["events"].to_csv(args.out / "deploy_during_thumbnail_events.csv", index=False)
    fig = plot_timeline(case["events"], run=0, title="One deployment at 17m55s, during the thumbnail step (no drain)")
    save_figure(fig, args.out / "deploy_during_thumbnail", formats=("png",), dpi=150)

    table = random_failures(runs, args.seed, every_h)
    table.to_csv(args.out / "wasted_vs_frequency.csv", index=False)
    plot_random(table, args.out / "wasted_vs_frequency")
    print(single.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"wrote {args.out}/deploy_during_thumbnail.csv/.png, wasted_vs_frequency.csv/.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
