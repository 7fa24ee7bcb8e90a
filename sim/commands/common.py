"""What several commands share: the results folder (identity, --overwrite) and the argument checks."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sim.errors import SimError
from sim.experiment.outdir import ResultsFolder, results_identity

#: Options that change how a command runs, never its numbers: not part of a results folder's identity.
NOT_IN_IDENTITY = {"workers", "scheduler", "quiet", "out", "handler", "interrupted", "overwrite", "force",
                   "command", "no_svg"}


class UsageError(SimError):
    """A command-line value that cannot be used."""


def add_overwrite_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--overwrite", action="store_true",
                   help="replace the results of another run of this command in --out (never another command's)")


def identity_of(args: argparse.Namespace, scenario: Any = None) -> str:
    """A hash of what determines a command's numbers: its options and the scenario's content."""
    parts = {k: v for k, v in vars(args).items() if k not in NOT_IN_IDENTITY and not callable(v)}
    if scenario is not None:  # the content, not the path it was read from
        parts.pop("scenario", None)
        parts["scenario_content"] = scenario.model_dump(mode="json", by_alias=True)
    return results_identity(parts)


def results_folder(args: argparse.Namespace, command: str, out: Path, scenario: Any = None,
                   at_end: bool = True) -> ResultsFolder:
    """The locked results folder of a command (``with results_folder(...)``), refused when it
    holds another command's results, or another run's without ``--overwrite``. ``at_end``: the
    command writes only at its end, and an error or Ctrl-C removes what it had written."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    return ResultsFolder(out, command, identity_of(args, scenario), getattr(args, "overwrite", False)
                         or getattr(args, "force", False), at_end=at_end)


def check_common(args: argparse.Namespace, min_runs: int = 1) -> None:
    """The checks every simulating command makes: --runs, --seed, --boot, --workers."""
    from sim.experiment.resources import ResourceError, check_runs

    runs = getattr(args, "runs", None)
    if runs is not None:
        if runs < min_runs:
            raise UsageError(f"--runs must be at least {min_runs}")
        try:
            check_runs(runs)
        except ResourceError as exc:
            raise UsageError(str(exc)) from None
    if getattr(args, "seed", 0) < 0:
        raise UsageError("--seed must not be negative")
    if getattr(args, "boot", 1000) < 100:
        raise UsageError("--boot must be at least 100")
    workers = getattr(args, "workers", None)
    if workers is not None and workers < 1:
        raise UsageError("--workers must be at least 1")
