"""The article's research-paper pipeline: AI cost per paper, waste per summary failure,
orchestration cost per paper under each price list, and the break-even failure rate
(simulated with a bootstrap interval, and in closed form) against the claim that the $0.0045
overhead "pays for itself even with a 15% failure rate".

    PYTHONPATH=. python experiments/research_paper.py [--quick] [--out results/research_paper]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from sim.analysis import audit
from sim.analysis.plots import plot_breakeven, save_figure, use_report_style


def key_figures(r: dict) -> pd.DataFrame:
    be, tc = r["breakeven_sim"], r["breakeven_sim_temporal_cloud"]
    rows = [
        ("ai_cost_per_paper_usd", r["ai_cost_usd"], r["ai_cost_sim"][1], r["ai_cost_sim"][2], "sum of the four calls"),
        ("wasted_per_summary_failure_usd", r["wasted_per_failure_analytic_usd"], r["wasted_per_failure_sim_usd"],
         r["wasted_per_failure_sim_usd"], "steps 1-3; simulated = wasted $ / 429s of restart"),
        ("restart_wasted_per_paper_usd_at_2pct", r["wasted_per_paper_analytic_usd"], r["wasted_per_paper_sim"][1],
         r["wasted_per_paper_sim"][2], "closed form C·p/(1-p); interval from simulation"),
        ("restart_minus_durable_usd_at_2pct", r["wasted_per_paper_analytic_usd"] - r["flat_overhead_usd"],
         r["gap_at_stated_rate"][1], r["gap_at_stated_rate"][2], "> 0: durable cheaper (flat $0.0045)"),
        ("restart_minus_durable_usd_at_15pct", r["gap_at_15_analytic"], r["gap_at_15"][1], r["gap_at_15"][2],
         "> 0: durable cheaper (flat $0.0045)"),
        ("breakeven_p_flat_0.0045", r["breakeven_analytic"], be.ci_low, be.ci_high,
         f"closed form; simulated estimate {be.estimate:.4f}"),
        ("breakeven_p_single_failure_approx", r["breakeven_single_failure"], float("nan"), float("nan"),
         "overhead / waste, ignores repeated failures"),
        ("breakeven_p_temporal_cloud_list", float(r["profiles"].set_index("profile").loc["temporal-cloud-payg",
                                                                                            "breakeven_p_analytic"]),
         tc.ci_low, tc.ci_high, f"closed form; simulated estimate {tc.estimate:.4f}"),
    ]
    return pd.DataFrame(rows, columns=["figure", "value", "ci_low", "ci_high", "note"])


def plot_profiles(profiles: pd.DataFrame, path: Path) -> None:
    with use_report_style():
        fig, ax = plt.subplots(figsize=(8.5, 4.2))
        y = range(len(profiles))
        cents = profiles["orchestration_usd_mean"] * 100
        ax.barh(list(y), cents, color=["#E69F00", "#56B4E9", "#009E73"][: len(profiles)])
        ax.set_xscale("log")
        ax.set_yticks(list(y))
        names = {audit.ARTICLE_FLAT: "article's quoted $0.0045 (flat)",
                 "article-2026-04": "article's prices ($0.50/M actions,\n$0.20/M action-minutes)",
                 "temporal-cloud-payg": "Temporal Cloud list ($50/M actions,\nstorage, 10% plan fee)"}
        names = {k: v.replace("$", "\\$") for k, v in names.items()}
        ax.set_yticklabels([f"{names.get(p, p)}\n{a:.1f} actions, {m:.1f} min open" for p, a, m in
                            zip(profiles["profile"], profiles["actions_mean"], profiles["open_min_mean"], strict=True)])
        for i, c in enumerate(cents):
            ax.text(c * 1.15, i, f"{c:.5f}¢" if c < 0.01 else f"{c:.3f}¢", va="center", fontsize=9)
        ax.set_xlim(cents.min() / 3, cents.max() * 6)
        ax.set_xlabel("durable orchestration cost per paper (US cents, log scale)")
        ax.set_title("Orchestration cost per paper by price list (2% 429s on the summary call)")
        save_figure(fig, path, formats=("png",), dpi=150)
        plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few replications (seconds)")
    parser.add_argument("--out", type=Path, default=Path("results") / "research_paper")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--runs", type=int, default=None, help="replications per sweep point")
    args = parser.parse_args(argv)
    runs = args.runs or (400 if args.quick else 20000)
    r = audit.research_paper(runs, args.seed, args.quick)
    args.out.mkdir(parents=True, exist_ok=True)
    figures = key_figures(r)
    figures.to_csv(args.out / "key_figures.csv", index=False)
    r["profiles"].to_csv(args.out / "orchestration_by_profile.csv", index=False)
    be = r["breakeven_sim"]
    be.result.points.to_csv(args.out / "breakeven_points.csv", index=False)
    be.runs.to_parquet(args.out / "breakeven_runs.parquet", index=False)
    r["breakeven_sim_temporal_cloud"].result.points.to_csv(args.out / "breakeven_points_temporal_cloud.csv", index=False)
    fig = plot_breakeven(be.runs, be.path, breakeven=be.result,
                         x_label="per-call 429 probability of the summary step",
                         title="Research paper: restart vs durable with a flat $0.0045 overhead")
    save_figure(fig, args.out / "breakeven", formats=("png",), dpi=150)
    plot_profiles(r["profiles"], args.out / "orchestration_by_profile")
    print(figures.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
    print(r["profiles"].to_string(index=False, float_format=lambda v: f"{v:.6g}"))
    print(f"wrote {args.out}/key_figures.csv, orchestration_by_profile.csv, breakeven_points*.csv, "
          "breakeven_runs.parquet, breakeven.png, orchestration_by_profile.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
