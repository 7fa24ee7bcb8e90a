"""Command line: ``sim <command> …`` or ``python -m sim <command> …`` (``sim --help`` lists the
commands; usage lines show the name the program was invoked by).

Each command lives in ``sim/commands/<name>.py`` with ``register(subparsers)``. Errors that
users can fix (a bad scenario, a missing file) are printed as one line, exit code 2, no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from sim.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, SimError

COMMANDS = [
    "run",
    "fit",
    "sweep",
    "breakeven",
    "fleet",
    "audit",
    "report",
    "optimize",
    "compare",
    "prices",
    "scenarios",
    "init",
    "validate",
    "notebooks",
    "docs",
]


class _OneLineParser(argparse.ArgumentParser):
    """A bad flag is bad input like any other: one line on stderr, exit code 2 (no usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"error: {self.prog}: {message} (see --help)\n")


def program_name() -> str:
    """How the user invoked us: ``sim`` (the console script), ``python -m sim``, or the script's name."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "sim"
    return "python -m sim" if name in ("__main__.py", "-m", "-c", "") else name


def version_text() -> str:
    from sim import DISTRIBUTION, __version__

    return f"{DISTRIBUTION} {__version__} (import name: sim)"


def build_parser(only: str | None = None, prog: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command, or with command ``only`` (whose module alone is imported:
    each command imports what it needs, from pandas to matplotlib, at registration)."""
    parser = _OneLineParser(
        prog=prog or program_name(),
        description="Monte Carlo failure-injection simulator for multi-step AI pipelines: "
        "restart-from-scratch vs durable execution under crashes, deployments and rate limits.",
    )
    parser.add_argument("--version", action="version", version=version_text())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS if only is None else [only]:
        importlib.import_module(f"sim.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run one command; ``prog``: the name shown in usage lines (default: as invoked)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # a known command first: register it alone (start-up); anything else gets the full parser
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None, prog)
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except SimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0
    except KeyboardInterrupt:
        # each command says what an interruption keeps (set_defaults(interrupted=...))
        print(f"interrupted: {getattr(args, 'interrupted', 'nothing may have been written')}", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
