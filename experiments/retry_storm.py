"""Retry storms: N workflows hit a shared provider rate limit at once; each jitter mode compared.

The scenario (experiments/scenarios/fleet_retry_storm.toml) has one LLM call per workflow, one
worker per workflow and a 60 requests/minute limit with a 5-request burst; nothing fails except
429s. The storm is not scripted: it is what exponential backoff without jitter does when every
client was refused at the same instant (they all come back at the same instants). For each
fleet size N and jitter mode we record total calls (admitted + refused) and the time to drain
(last workflow done), with 95% intervals over replications, and draw one replication's calls
per second.

    PYTHONPATH=. python experiments/retry_storm.py [--quick] [--out results/retry_storm]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sim.analysis.plots import save_figure, use_report_style
from sim.engines.fleet import fleet_attempts, simulate_fleet
from sim.model.scenario import Scenario, load_scenario, scenario_from_dict
from sim.stats import mean_interval

HERE = Path(__file__).resolve().parent
SCENARIO = HERE / "scenarios" / "fleet_retry_storm.toml"
JITTERS = ("none", "full", "equal", "decorrelated")
COLORS = {"none": "#c0392b", "full": "#2471a3", "equal": "#229954", "decorrelated": "#8e44ad"}


def variant(base: Scenario, workflows: int, jitter: str, honor_retry_after: bool) -> Scenario:
    raw = base.raw
    raw["defaults"]["retry"]["jitter"] = jitter
    raw["fleet"]["workflows"] = workflows
    raw["fleet"]["workers"] = workflows
    raw["provider"]["honor_retry_after"] = honor_retry_after
    return scenario_from_dict(raw, file=str(SCENARIO), base_dir=SCENARIO.parent)


def run(sizes: list[int], replications: int, seed: int, honor_retry_after: bool) -> pd.DataFrame:
    base = load_scenario(SCENARIO)
    frames = []
    for n in sizes:
        for jitter in JITTERS:
            _, fleet = simulate_fleet(variant(base, n, jitter, honor_retry_after), replications, seed)
            fleet["jitter"] = jitter
            fleet["n_workflows"] = n
            frames.append(fleet)
    return pd.concat(frames, ignore_index=True)


def summarise(fleet: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (n, jitter), g in fleet.groupby(["n_workflows", "jitter"], sort=True):
        row = {"n_workflows": n, "jitter": jitter, "replications": len(g)}
        for col in ("calls", "provider_429s", "drain_time_s", "latency_p99_s"):
            x = g[col].to_numpy(dtype=float)
            # an interval within the metric's bounds (counts and times >= 0): sim.stats.bounds
            row[f"{col}_mean"], row[f"{col}_ci_low"], row[f"{col}_ci_high"] = mean_interval(x, col)
        rows.append(row)
    out = pd.DataFrame(rows)
    out["calls_per_workflow"] = out["calls_mean"] / out["n_workflows"]
    return out


def _yerr(summary: pd.DataFrame, col: str) -> np.ndarray:
    """Asymmetric error bars (mean − low, high − mean) of the bounded intervals; 0 where undefined."""
    mean = summary[f"{col}_mean"].to_numpy()
    return np.nan_to_num(np.vstack([mean - summary[f"{col}_ci_low"].to_numpy(),
                                    summary[f"{col}_ci_high"].to_numpy() - mean]))


def plot(summary: pd.DataFrame, timelines: dict[str, pd.DataFrame], n_timeline: int, path: Path) -> None:
    with use_report_style():
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
        for jitter in JITTERS:
            s = summary[summary["jitter"] == jitter]
            for ax, col in ((axes[0], "calls"), (axes[1], "drain_time_s")):
                scale = 60.0 if col == "drain_time_s" else 1.0
                ax.errorbar(s["n_workflows"], s[f"{col}_mean"] / scale, yerr=_yerr(s, col) / scale,
                            marker="o", capsize=3, color=COLORS[jitter], label=jitter)
        n_max = summary["n_workflows"].max()
        axes[0].plot([0, n_max], [0, n_max], color="grey", linestyle=":", label="1 call per workflow")
        axes[0].set_title("Total calls (admitted + 429)")
        axes[0].set_xlabel("workflows starting at once")
        axes[0].set_ylabel("calls")
        axes[1].set_title("Time to drain the fleet")
        axes[1].set_xlabel("workflows starting at once")
        axes[1].set_ylabel("minutes")
        rate_floor = summary[["n_workflows"]].drop_duplicates().sort_values("n_workflows")
        # the limit alone: 60/min after a burst of 5 → (N − 5) seconds plus the 2 s call
        axes[1].plot(rate_floor["n_workflows"], (rate_floor["n_workflows"] - 5 + 2) / 60.0, color="grey",
                     linestyle=":", label="rate-limit floor")
        ax = axes[2]
        for jitter in ("none", "full"):
            log = timelines[jitter]
            t_end = log["start_s"].max()
            bins = np.arange(0.0, t_end + 10.0, 10.0)
            counts, edges = np.histogram(log["start_s"], bins=bins)
            ax.step(edges[:-1] / 60.0, counts / 10.0, where="post", color=COLORS[jitter], label=f"{jitter} jitter")
        ax.axhline(1.0, color="grey", linestyle=":", label="limit: 1 call/s")
        ax.set_yscale("log")
        ax.set_title(f"Calls per second, N = {n_timeline} (one run)")
        ax.set_xlabel("minutes since the simultaneous start")
        ax.set_ylabel("calls per second (10 s bins)")
        for a in axes:
            a.legend(fontsize=8)
        fig.suptitle("Retry storm against a shared 60 requests/minute limit: exponential backoff 1 s × 2, cap 60 s",
                     fontsize=11)
        save_figure(fig, path, formats=("png",), dpi=150)
        plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and replications")
    parser.add_argument("--out", type=Path, default=Path("results") / "retry_storm")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--replications", type=int, default=None)
    parser.add_argument("--honor-retry-after", action="store_true",
                        help="clients wait at least the Retry-After (default: they ignore it)")
    args = parser.parse_args(argv)
    sizes = [25, 100, 200] if args.quick else [25, 50, 100, 200, 400]
    replications = args.replications or (5 if args.quick else 30)
    fleet = run(sizes, replications, args.seed, args.honor_retry_after)
    summary = summarise(fleet)
    args.out.mkdir(parents=True, exist_ok=True)
    fleet.to_parquet(args.out / "fleet_runs.parquet", index=False)
    summary.to_csv(args.out / "summary.csv", index=False)
    n_timeline = 200
    base = variant(load_scenario(SCENARIO), n_timeline, "none", args.honor_retry_after)
    timelines = {j: fleet_attempts(variant(base, n_timeline, j, args.honor_retry_after), "durable", 0, args.seed)
                 for j in ("none", "full")}
    plot(summary, timelines, n_timeline, args.out / "retry_storm")
    cols = ["n_workflows", "jitter", "calls_mean", "calls_ci_low", "calls_ci_high", "drain_time_s_mean",
            "drain_time_s_ci_low", "drain_time_s_ci_high"]
    print(summary[cols].to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    print(f"wrote {args.out}/summary.csv, fleet_runs.parquet, retry_storm.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
