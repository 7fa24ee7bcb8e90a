"""``sim docs [NAME]``: the documentation installed with the package (docs/NAME.md)."""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

from sim.errors import SimError


class DocsError(SimError):
    """A documentation page that is not installed."""


def installed_docs() -> dict[str, Path]:
    """The installed pages by name (``costs`` for docs/costs.md)."""
    folder = Path(str(resources.files("sim").joinpath("data", "docs")))
    return {p.stem: p for p in sorted(folder.glob("*.md"))}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("docs", help="where the installed documentation is (docs/NAME.md), or one page's text",
                       description="The pages that outputs and help texts cite as docs/NAME.md are installed with "
                       "the package. Without NAME: every page with its path. With NAME: that page's text "
                       "(--path: only its path).")
    p.add_argument("name", nargs="?", help="a page, e.g. costs for docs/costs.md")
    p.add_argument("--path", action="store_true", help="print the page's installed path instead of its text")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    pages = installed_docs()
    if args.name is None:
        width = max((len(n) for n in pages), default=0)
        for name, path in pages.items():
            print(f"{name:<{width}}  {path}")
        return 0
    name = args.name.removeprefix("docs/").removesuffix(".md")
    if name not in pages:
        raise DocsError(f"no installed page docs/{name}.md (installed: {', '.join(pages)})")
    print(pages[name] if args.path else pages[name].read_text(encoding="utf-8"), end="" if not args.path else "\n")
    return 0
