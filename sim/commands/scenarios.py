"""``sim scenarios``: the bundled scenarios, by name, with a one-line description each."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scenarios", help="list the bundled scenarios (use them by name: sim run video)",
                       description="List the scenarios bundled with the package. Every command that takes a "
                       "scenario accepts one of these names instead of a file; `sim init NAME` copies one out "
                       "to edit.")
    p.add_argument("--paths", action="store_true", help="also print where each file is installed")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from sim.model.bundled import bundled_scenarios

    found = bundled_scenarios()
    width = max(len(s.name) for s in found)
    for s in found:
        print(f"{s.name:<{width}}  {s.description or s.title}")
        if args.paths:
            print(f"{'':<{width}}  {s.path}")
    return 0
