"""``sim notebooks DIR [--force]``: copy the bundled notebooks out to run them."""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

from sim.errors import SimError


class NotebooksError(SimError):
    """A folder the notebooks cannot be copied into."""


def bundled_notebooks() -> list[Path]:
    """The notebooks installed with the package, in their order (01_…, 02_…)."""
    folder = Path(str(resources.files("sim").joinpath("data", "notebooks")))
    return sorted(folder.glob("*.ipynb"))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("notebooks", help="copy the bundled notebooks (quickstart, break-even, results, optimiser) "
                       "into a folder",
                       description="Copy the notebooks installed with the package into DIR, to open in Jupyter or "
                       "run with papermill: a quickstart, a break-even study, a results explorer and the optimiser. "
                       "Each starts with a parameters cell (papermill --help-notebook lists them). Existing files "
                       "are kept unless --force; nothing is copied if any would be overwritten.")
    p.add_argument("dir", metavar="DIR", help="the folder to copy them into (created if missing)")
    p.add_argument("--force", action="store_true", help="overwrite notebooks of the same name in DIR")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from sim.experiment.io import atomic_write_bytes

    out = Path(args.dir)
    if out.exists() and not out.is_dir():
        raise NotebooksError(f"{out}: exists and is not a folder")
    sources = bundled_notebooks()
    if not sources:  # pragma: no cover - an installation without its data files
        raise NotebooksError("no notebooks are installed with this package")
    clash = [out / s.name for s in sources if (out / s.name).exists()]
    if clash and not args.force:
        raise NotebooksError(f"{clash[0]}: file exists (use --force to overwrite the notebooks in {out})")
    for source in sources:
        atomic_write_bytes(out / source.name, source.read_bytes())
    names = ", ".join(s.name for s in sources)
    print(f"wrote {out}/: {names}")
    print(f"open them with Jupyter (pip install jupyterlab; jupyter lab {out}), or run one with papermill: "
          f"papermill {out / sources[0].name} out.ipynb -p RUNS 500")
    return 0
