"""``python -m sim audit``: check every numeric claim of the article against the simulator."""

from __future__ import annotations

import argparse
from pathlib import Path

from sim.commands.common import add_overwrite_argument, results_folder


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("audit", help="audit the article's numeric claims (Markdown table)",
                              description="Recompute every numeric claim of the article (closed forms and "
                              "simulations) and write audit.md with a verdict per claim.")
    p.add_argument("--out", type=Path, default=Path("results") / "audit", help="folder for audit.md (default results/audit)")
    p.add_argument("--quick", action="store_true", help="few replications (seconds)")
    p.add_argument("--seed", type=int, default=2026)
    add_overwrite_argument(p)
    p.add_argument("--scenarios", type=Path, default=None, help="folder holding the scenario files the audit uses (default: the bundled ones)")
    p.set_defaults(handler=run, interrupted="nothing was written (audit.md is written only when every claim is "
                   "computed); run the command again")


def run(args: argparse.Namespace) -> int:
    from sim.analysis import audit

    with results_folder(args, "audit", args.out):  # before computing: an impossible --out fails at once
        return _audit_into(args, audit)


def _audit_into(args: argparse.Namespace, audit: object) -> int:
    from sim.experiment.io import atomic_write_text

    claims = audit.build_claims(quick=args.quick, seed=args.seed, scenario_dir=args.scenarios)
    text = audit.to_markdown(claims, args.quick, args.seed)
    target = args.out / "audit.md"
    atomic_write_text(target, text)
    counts = claims["verdict"].value_counts().to_dict()
    print(f"{len(claims)} claims: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + f"; wrote {target}")
    return 0
