"""The article's four workflow patterns: AI cost, orchestration overhead % under each price list,
the article's table checked against its own arithmetic (and the action counts its Temporal costs
imply), and the failure rate at which each pattern breaks even (closed form per price list;
simulated with a bootstrap interval at the article's own Temporal cost).

Scenario assumptions (step counts, tokens, durations): experiments/scenarios/pattern_*.toml.

    PYTHONPATH=. python experiments/workflow_patterns.py [--quick] [--out results/workflow_patterns]
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
from sim.analysis.plots import save_figure, use_report_style

PROFILE_LABELS = {
    audit.ARTICLE_FLAT: "article's table (its Temporal cost, flat)",
    "article-2026-04": "article's prices: \\$0.50/M actions + \\$0.20/M action-minutes",
    "temporal-cloud-payg": "Temporal Cloud list: \\$50/M actions + storage + 10%",
}
COLORS = {audit.ARTICLE_FLAT: "#E69F00", "article-2026-04": "#56B4E9", "temporal-cloud-payg": "#009E73"}


def plot_overhead(table: pd.DataFrame, path: Path) -> None:
    patterns = list(dict.fromkeys(table["pattern"]))
    labels = list(dict.fromkeys(table["label"]))
    profiles = list(dict.fromkeys(table["profile"]))
    width = 0.8 / len(profiles)
    with use_report_style():
        fig, ax = plt.subplots(figsize=(12, 5.2))
        x = np.arange(len(patterns))
        for k, profile in enumerate(profiles):
            t = table[table["profile"] == profile].set_index("pattern").loc[patterns]
            bars = ax.bar(x + (k - (len(profiles) - 1) / 2) * width, t["overhead_pct"], width,
                          color=COLORS.get(profile), label=PROFILE_LABELS.get(profile, profile))
            for b, v in zip(bars, t["overhead_pct"], strict=True):
                ax.text(b.get_x() + b.get_width() / 2, v * 1.15, f"{v:.3g}%", ha="center", va="bottom", fontsize=8)
        ax.set_yscale("log")
        ax.set_xticks(x)
        ax.set_xticklabels([f"{lab}\n(AI \\${a:g} per run)" for lab, a in
                            zip(labels, table.drop_duplicates("pattern")["ai_cost_usd"], strict=True)])
        ax.set_ylabel("orchestration overhead, % of AI cost (log)")
        ymin = max(float(table["overhead_pct"].min()) / 5, 1e-5)
        ax.set_ylim(ymin, float(table["overhead_pct"].max()) * 8)
        ax.legend(fontsize=8, loc="upper left")
        ax.set_title("Durable orchestration overhead per run, by workflow pattern and price list (no failures)")
        save_figure(fig, path, formats=("png",), dpi=150)
        plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few replications (seconds)")
    parser.add_argument("--out", type=Path, default=Path("results") / "workflow_patterns")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--runs", type=int, default=None, help="replications per break-even sweep point")
    args = parser.parse_args(argv)
    runs = args.runs or (300 if args.quick else 10000)
    args.out.mkdir(parents=True, exist_ok=True)
    arithmetic = audit.article_table_arithmetic()
    table = audit.pattern_table(20, args.seed)
    simulated = audit.pattern_simulated_breakevens(runs, args.seed, args.quick)
    arithmetic.to_csv(args.out / "article_table_arithmetic.csv", index=False)
    table.to_csv(args.out / "overhead_by_profile.csv", index=False)
    simulated.to_csv(args.out / "breakeven_simulated.csv", index=False)
    plot_overhead(table, args.out / "overhead_by_profile")
    fmt = {"float_format": lambda v: f"{v:.4g}"}
    print(arithmetic.drop(columns="label").to_string(index=False, **fmt))
    print(table[["pattern", "profile", "ai_cost_usd", "orchestration_usd", "overhead_pct", "actions",
                 "breakeven_analytic", "failure_kind"]].to_string(index=False, **fmt))
    print(simulated.to_string(index=False, **fmt))
    print(f"wrote {args.out}/article_table_arithmetic.csv, overhead_by_profile.csv/.png, breakeven_simulated.csv")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
