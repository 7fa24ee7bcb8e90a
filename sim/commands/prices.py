"""``sim prices [PROFILE ...]``: the pricing profiles with their plan, billed unit, monthly minimum,
source and dates (docs/costs.md explains each)."""

from __future__ import annotations

import argparse
import textwrap


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prices", help="list the bundled price lists: plan, billed unit, minimum, source and its date",
                       description="List the pricing profiles bundled with the package (or the ones named: bundled "
                       "names or TOML paths): which part of a scenario's prices each supplies, the vendor's plan, "
                       "what is billed, the plan's monthly minimum, the source, the date of the source and the date "
                       "it was read, and what the profile leaves out. Use a profile in a scenario with "
                       '[pricing] orchestration = "NAME" (or models = "NAME").')
    p.add_argument("profiles", nargs="*", metavar="PROFILE", help="profiles to show (default: every bundled one)")
    p.set_defaults(handler=handle)


def _part(table: dict) -> str:
    parts = [p for p, keys in (("models", ("gpu", "models")), ("orchestration", ("orchestration",)))
             if any(k in table for k in keys)]
    return " and ".join(parts) or "no prices"


def handle(args: argparse.Namespace) -> int:
    from sim.commands.run import UsageError
    from sim.errors import ScenarioError
    from sim.model.scenario import (
        bundled_pricing_profiles,
        load_pricing_profile,
        profile_date_problem,
    )

    names = list(args.profiles) or bundled_pricing_profiles()
    tables = []
    for name in names:
        try:
            table, _ = load_pricing_profile(name)
        except ScenarioError as exc:
            raise UsageError(f"{exc.problem}" + (f" ({exc.file})" if exc.file else "")) from None
        tables.append((name, table))
    wrap = textwrap.TextWrapper(width=110, initial_indent="    ", subsequent_indent="      ", break_on_hyphens=False)
    blocks = []
    for name, table in tables:
        orch = table.get("orchestration", {})
        minimum = orch.get("plan_minimum_usd") or orch.get("monthly_fixed_usd")
        head = f"{table.get('name', name)}  [{_part(table)}]  {table.get('plan', '') or 'plan not stated'}"
        lines = [head]
        fields = [("bills", table.get("unit", "") or "not stated")]
        if minimum:
            kind = "plan minimum" if orch.get("plan_minimum_usd") else "fixed cost"
            fields.append((kind, f"${float(minimum):,.0f} a month"))
        fields += [("source", table.get("source", "") or "not stated"),
                   ("date of the source", table.get("source_date", "") or "NONE"),
                   ("read", table.get("retrieved", "") or "not stated"),
                   ("not modelled", table.get("not_modelled", "") or "not stated")]
        problem = profile_date_problem(table)
        if problem is not None:
            fields.append(("WARNING", f"{problem}: a price list without a date is not evidence"))
        lines += [wrap.fill(f"{k}: {v}") for k, v in fields]
        blocks.append("\n".join(lines))
    print("\n\n".join(blocks))
    print(f"\n{len(tables)} profile{'s' if len(tables) != 1 else ''}; how each is billed: docs/costs.md")
    return 0
