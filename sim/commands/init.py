"""``sim init NAME [PATH]``: copy a bundled scenario out to edit it."""

from __future__ import annotations

import argparse
from pathlib import Path

from sim.errors import SimError


class InitError(SimError):
    """A bundled scenario that cannot be copied where asked."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="copy a bundled scenario to a file you can edit",
                       description="Copy the bundled scenario NAME (see `sim scenarios`) to PATH (default "
                       "./NAME.toml; a folder gets NAME.toml inside it). An existing file is kept unless "
                       "--force.")
    p.add_argument("name", help="a bundled scenario, e.g. video")
    p.add_argument("path", nargs="?", help="where to write it (default ./NAME.toml)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from sim.experiment.io import atomic_write_bytes
    from sim.model.bundled import bundled_scenarios

    by_name = {s.name: s for s in bundled_scenarios()}
    name = args.name.removesuffix(".toml")
    if name not in by_name:
        raise InitError(f"no bundled scenario '{args.name}' (bundled: {', '.join(by_name)})")
    source = by_name[name].path
    target = Path(args.path) if args.path else Path(f"{name}.toml")
    if target.is_dir():
        target = target / f"{name}.toml"
    if target.exists() and not args.force:
        raise InitError(f"{target}: file exists (use --force to overwrite it)")
    atomic_write_bytes(target, source.read_bytes())
    print(f"wrote {target} (a copy of the bundled '{name}'); run it with: sim run {target}")
    return 0
