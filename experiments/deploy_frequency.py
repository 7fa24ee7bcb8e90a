"""Deployment frequency versus waste, per strategy, for a fleet (experiments/scenarios/fleet_video.toml).

Each deployment drains every worker (30 s) and restarts it; an attempt still running at the
end of the drain is killed. The sweep varies ``failures.deploy.every`` (from every 15 minutes to
once a day) with the same arrivals, durations and crash clocks for every strategy at every
point (common random numbers). Reported per strategy with 95% intervals over replications:
wasted cost per completed workflow, the wasted share of GPU time, p95 latency and throughput.

    PYTHONPATH=. python experiments/deploy_frequency.py [--quick] [--out results/deploy_frequency]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sim.analysis.plots import save_figure, strategy_styles, use_report_style
from sim.engines.fleet import simulate_fleet
from sim.model.scenario import load_scenario, scenario_from_dict
from sim.stats import mean_interval

HERE = Path(__file__).resolve().parent
SCENARIO = HERE / "scenarios" / "fleet_video.toml"
EVERY_H = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 24.0)
METRICS = ("wasted_cost_per_completed_usd", "wasted_share", "latency_p90_s", "throughput_per_h", "deploy_kills")


def run(every_h: list[float], replications: int, seed: int, horizon: str | None) -> pd.DataFrame:
    base = load_scenario(SCENARIO)
    frames = []
    for every in every_h:
        raw = base.raw
        raw["failures"]["deploy"]["every"] = every * 3600.0
        if horizon is not None:
            raw["fleet"]["horizon"] = horizon
        scenario = scenario_from_dict(raw, file=str(SCENARIO), base_dir=SCENARIO.parent)
        _, fleet = simulate_fleet(scenario, replications, seed)
        fleet["deploy_every_h"] = every
        fleet["wasted_share"] = fleet["wasted_cost_usd"] / fleet["compute_cost_usd"]
        frames.append(fleet)
    return pd.concat(frames, ignore_index=True)


def summarise(fleet: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (every, strategy), g in fleet.groupby(["deploy_every_h", "strategy"], sort=True):
        row = {"deploy_every_h": every, "strategy": strategy, "replications": len(g)}
        for col in METRICS:
            x = g[col].to_numpy(dtype=float)
            # an interval within the metric's bounds (costs >= 0, shares in [0, 1]): sim.stats.bounds
            row[f"{col}_mean"], row[f"{col}_ci_low"], row[f"{col}_ci_high"] = mean_interval(x, col)
        rows.append(row)
    return pd.DataFrame(rows)


def _yerr(summary: pd.DataFrame, col: str) -> np.ndarray:
    """Asymmetric error bars (mean − low, high − mean) of the bounded intervals; 0 where undefined."""
    mean = summary[f"{col}_mean"].to_numpy()
    return np.nan_to_num(np.vstack([mean - summary[f"{col}_ci_low"].to_numpy(),
                                    summary[f"{col}_ci_high"].to_numpy() - mean]))


def plot(summary: pd.DataFrame, path: Path, scenario_note: str) -> None:
    strategies = list(dict.fromkeys(summary["strategy"]))
    styles = strategy_styles(strategies)
    panels = (
        ("wasted_cost_per_completed_usd", "Wasted GPU cost per completed video", "US cents (log scale)", 100.0),
        ("wasted_share", "Wasted share of GPU spend", "percent", 100.0),
        ("latency_p90_s", "p90 latency (arrival to done)", "minutes (log scale)", 1 / 60.0),
    )
    with use_report_style():
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
        for ax, (col, title, unit, scale) in zip(axes, panels, strict=True):
            for strategy in strategies:
                s = summary[summary["strategy"] == strategy]
                st = styles[str(strategy)]
                ax.errorbar(s["deploy_every_h"], s[f"{col}_mean"] * scale, yerr=_yerr(s, col) * scale,
                            capsize=3, label=str(strategy), color=st["color"], marker=st["marker"],
                            linestyle=st["linestyle"])
            ax.set_xscale("log")
            if "log" in unit:
                ax.set_yscale("log")
            ticks = sorted(summary["deploy_every_h"].unique())
            ax.set_xticks(ticks)
            ax.set_xticklabels([f"{t * 60:.0f}m" if t < 1 else f"{t:g}h" for t in ticks])
            ax.minorticks_off()
            ax.set_xlabel("time between deployments")
            ax.set_ylabel(unit)
            ax.set_title(title)
        axes[0].legend(fontsize=8, title="restart and retry_in_place coincide\n(no 429s in this scenario)",
                       title_fontsize=7)
        fig.suptitle(f"Deployment frequency vs waste in a fleet ({scenario_note})", fontsize=11)
        save_figure(fig, path, formats=("png",), dpi=150)
        plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer points, replications and a shorter horizon")
    parser.add_argument("--out", type=Path, default=Path("results") / "deploy_frequency")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--replications", type=int, default=None)
    args = parser.parse_args(argv)
    every_h = [0.25, 1.0, 4.0, 24.0] if args.quick else list(EVERY_H)
    replications = args.replications or (4 if args.quick else 20)
    horizon = "4h" if args.quick else None
    fleet = run(every_h, replications, args.seed, horizon)
    summary = summarise(fleet)
    args.out.mkdir(parents=True, exist_ok=True)
    fleet.to_parquet(args.out / "fleet_runs.parquet", index=False)
    summary.to_csv(args.out / "summary.csv", index=False)
    sc = load_scenario(SCENARIO)
    note = (f"{sc.fleet.workers} H100 workers, {sc.fleet.rate_per_hour:g} videos/h, "
            f"drain {sc.failures.deploy.drain_s:g} s, {replications} replications, 95% CI")
    plot(summary, args.out / "deploy_frequency", note)
    cols = ["deploy_every_h", "strategy", "wasted_cost_per_completed_usd_mean", "wasted_cost_per_completed_usd_ci_low",
            "wasted_cost_per_completed_usd_ci_high",
            "wasted_share_mean", "latency_p90_s_mean"]
    print(summary[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"wrote {args.out}/summary.csv, fleet_runs.parquet, deploy_frequency.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
