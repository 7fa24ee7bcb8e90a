"""``python -m sim fit DATA --out scenario.toml``: calibrate a scenario from a team's own data.

DATA is an attempts table (CSV or Parquet, docs/calibration.md), the simulator's own event log
(same formats, recognised by its columns), or Temporal histories (a ``.json`` file written by
``temporal workflow show --output json``, or a folder of them). Everything is read, fitted and
validated before anything is written: bad data exits with status 2, one line naming the file,
the row or event id and the problem, and no output files. In a folder of histories, a history
with an attempt of zero duration is skipped with a warning naming it; parallel activities
become fan-out steps (``count``) and parallel branches (``after``); local activities and child
workflows become steps, fired timers and signal waits become wait steps (``kind = "wait"``);
what is counted but not fitted (activities that never started, cancelled timers, signals the
workflow did not wait for, failed or cancelled workflows, continue-as-new runs) is listed in
the report and the scenario's comments, see docs/calibration.md. Histories: ``.json`` or
``.json.gz``, from ``temporal workflow show --output json``, the SDK's
``WorkflowHistory.to_json()`` or the Web UI's JSON view.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from sim.calibrate.attempts import load_attempts
from sim.calibrate.deploys import load_deploys
from sim.calibrate.errors import DataError
from sim.calibrate.fits import calibrate
from sim.calibrate.graph import format_shape, infer_shape
from sim.calibrate.history_summary import summarise, summary_lines
from sim.calibrate.report import format_report, write_plots
from sim.calibrate.scenario_writer import (
    graph_format_supported,
    scenario_toml,
    step_order,
    uses_graph_keys,
    validate_scenario_text,
)
from sim.calibrate.temporal import load_temporal, looks_like_temporal
from sim.experiment.io import atomic_write_text


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fit",
        help="fit a scenario's failure and duration parameters from your own data",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("data", metavar="DATA",
                   help="attempts table (.csv/.parquet), simulator event log, or Temporal "
                        "history .json file / folder")
    p.add_argument("--out", required=True, metavar="SCENARIO.toml",
                   help="where to write the calibrated scenario")
    p.add_argument("--template", metavar="SCENARIO.toml",
                   help="take steps (kinds, prices, tokens, retry), pricing, strategies and "
                        "unfitted failure settings from this scenario (a file or a bundled name)")
    p.add_argument("--deploys", metavar="FILE.csv",
                   help="deployment timestamps, one per line (ISO-8601 or seconds)")
    p.add_argument("--plot", metavar="DIR", help="write diagnostic PNG figures into DIR")
    p.add_argument("--strategy", help="for a simulator event log: which strategy's attempts")
    p.add_argument("--age", choices=("auto", "attempt", "worker"), default="auto",
                   help="crash clock: attempt running time, or worker_id life (auto: worker "
                        "when every attempt has a worker_id)")
    p.add_argument("--name", help="scenario name (default: template name + '-calibrated')")
    p.add_argument("--report", metavar="FILE", help="also write the text report to FILE")
    p.set_defaults(handler=run, interrupted="the scenario was not written (figures already saved under --plot "
                   "may remain); run the command again")


def load_data(path: str | Path, *, strategy: str | None = None) -> pd.DataFrame:
    """The normalised attempts table from any supported input."""
    if looks_like_temporal(path):
        return load_temporal(path)
    if Path(path).is_dir():
        raise DataError("a folder must hold Temporal histories (*.json)", file=str(path))
    return load_attempts(path, strategy=strategy)


def _atomic_write(path: Path, text: str) -> None:
    atomic_write_text(path, text)


def run(args: argparse.Namespace) -> int:
    if args.template:
        from sim.model.bundled import resolve_scenario_path
        from sim.model.scenario import load_scenario

        load_scenario(args.template)  # a broken template fails here, before any fitting
        args.template = str(resolve_scenario_path(args.template))  # a bundled name: its file
    attempts = load_data(args.data, strategy=args.strategy)
    warnings = [f"warning: {w}" for w in attempts.attrs.get("warnings", [])]
    for line in warnings:
        print(line, file=sys.stderr)
    deploys = load_deploys(args.deploys) if args.deploys else None
    cal = calibrate(attempts, np.asarray(deploys) if deploys is not None else None, age=args.age)
    out = Path(args.out)
    notes: list[str] = []
    text = scenario_toml(cal, attempts, template=args.template, out_path=out, name=args.name,
                         warnings=notes)
    validate_scenario_text(text, file=str(out), base_dir=out.resolve().parent)
    for note in notes:
        line = f"warning: {note}"
        warnings.append(line)
        print(line, file=sys.stderr)
    report = format_report(cal)
    if attempts.attrs.get("histories"):
        report += "\n" + "\n".join(summary_lines(summarise(attempts.attrs["histories"]))) + "\n"
    shape_text = format_shape(infer_shape(attempts, step_order(attempts)))
    if shape_text:
        report += "\n" + shape_text
    if uses_graph_keys(text) and not graph_format_supported():
        report += ("note: the scenario's steps use the workflow-graph keys (count, after); this "
                   "build's scenario loader does not read them yet, so the file was checked "
                   "without them\n")
    if args.plot:
        for path in write_plots(cal, attempts, args.plot):
            report += f"figure: {path}\n"
    _atomic_write(out, text)
    if args.report:
        _atomic_write(Path(args.report), "".join(f"{w}\n" for w in warnings) + report)
    print(report, end="")
    print(f"scenario written: {out}")
    return 0
