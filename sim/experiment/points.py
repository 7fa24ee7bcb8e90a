"""Scenario variants by dotted path: ``--vary failures.crash.mtbf=log:30m:1w:12``.

A *sweep* is the grid (Cartesian product) of one or more ``Vary`` specs applied to a base
scenario's raw TOML table. Each grid point is validated with ``scenario_from_dict`` (base
folder = the scenario file's folder), so a bad value fails before anything runs. The swept
values become numeric columns named by the path as typed (durations in seconds).

Paths follow the scenario file: ``failures.crash.mtbf``, ``failures.rate_limit.probability``,
``failures.deploy.every``, ``steps.summary.output_tokens`` (a step by name or by 0-based
index), ``strategies.durable.persist_latency``, ``pricing.orchestration.per_million_actions_usd``,
``pricing.models.gpt-5.4-mini.output_per_mtok``, ``defaults.retry.initial_interval``, a
distribution parameter ``steps.summary.duration.median``, or a whole duration
(``steps.summary.duration=30s,60s``: a fixed duration). A section missing from the file is
created (``failures.crash.mtbf`` on a scenario without crashes adds crashes). The path grammar
lives in ``sim.model.paths`` (``Scenario.replace`` uses the same one).

Values: a list ``1h,2h,4h`` (``2%`` = 0.02), a linear range ``lin:START:STOP:N`` or a
geometric range ``log:START:STOP:N`` (both ends included, units allowed).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import ScenarioError
from sim.model.paths import ParamPath, ValueSyntaxError, parse_value, resolve_path, set_path
from sim.model.scenario import Scenario, scenario_from_dict

__all__ = [
    "ParamPath",
    "SweepError",
    "SweepPoint",
    "Vary",
    "build_points",
    "parse_vary",
    "parse_vary_values",
    "points_frame",
    "resolve_path",
    "sweep_spec",
]


class SweepError(ValueSyntaxError):
    """A ``--vary`` specification that cannot be read."""


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Vary:
    """One swept parameter: the path as typed and its values (numbers; durations in s)."""

    path: str
    values: tuple[float, ...]
    spec: str = ""


def _number(text: str, where: str) -> float:
    return parse_value(text, where, SweepError)


def parse_vary_values(spec: str, path: str = "value") -> tuple[float, ...]:
    """``1h,2h,4h`` | ``lin:START:STOP:N`` | ``log:START:STOP:N`` → numbers (durations in s)."""
    where = f"--vary {path}={spec}"
    s = spec.strip()
    head = s.split(":", 1)[0].strip().lower()
    if head in ("lin", "log"):
        parts = s.split(":")
        if len(parts) != 4:
            raise SweepError(f"{where}: expected {head}:START:STOP:N")
        start, stop = _number(parts[1], where), _number(parts[2], where)
        try:
            n = int(parts[3])
        except ValueError:
            raise SweepError(f"{where}: N must be an integer, got {parts[3]!r}") from None
        if n < 1:
            raise SweepError(f"{where}: N must be at least 1")
        if head == "log":
            if start <= 0 or stop <= 0:
                raise SweepError(f"{where}: a log range needs positive ends")
            values = np.geomspace(start, stop, n)
        else:
            values = np.linspace(start, stop, n)
        return tuple(float(v) for v in values)
    items = [p for p in s.split(",")]
    if not s or any(not p.strip() for p in items):
        raise SweepError(f"{where}: expected a comma-separated list, lin:START:STOP:N or log:START:STOP:N")
    return tuple(_number(p, where) for p in items)


def parse_vary(text: str) -> Vary:
    """``PATH=VALUES`` → Vary (the path is checked later, against a scenario)."""
    if "=" not in text:
        raise SweepError(f"--vary {text!r}: expected PATH=VALUES, e.g. failures.crash.mtbf=1h,2h,4h")
    path, spec = text.split("=", 1)
    path = path.strip()
    if not path:
        raise SweepError(f"--vary {text!r}: missing path before '='")
    return Vary(path, parse_vary_values(spec, path), spec.strip())


def _has_unit(spec: str) -> bool:
    return any(ch.isalpha() and ch not in "eE" for ch in spec.replace("lin:", "").replace("log:", ""))


def _raw_value(path: ParamPath, value: float, vary: Vary) -> tuple[float, Any]:
    """(column value, value to write into the raw table)."""
    if path.kind == "int":
        rounded = round(value)
        if vary.spec.split(":", 1)[0].strip().lower() not in ("lin", "log") and rounded != value:
            raise SweepError(f"--vary {vary.path}: '{vary.path}' takes integers, got {value:g}")
        return float(rounded), int(rounded)
    return float(value), float(value)


# --------------------------------------------------------------------------- grid


@dataclass(frozen=True)
class SweepPoint:
    """One validated scenario variant of a sweep."""

    index: int
    values: dict[str, float]
    scenario: Scenario = field(repr=False)

    def label(self) -> str:
        return ", ".join(f"{k}={v:g}" for k, v in self.values.items()) or "base"


def build_points(scenario: Scenario, varies: Sequence[Vary]) -> list[SweepPoint]:
    """The grid of variants (first --vary outermost), each validated; no vary → the base."""
    paths: list[ParamPath] = []
    seen: dict[tuple, str] = {}
    for vary in varies:
        path = resolve_path(scenario, vary.path)
        if path.keys in seen:
            raise SweepError(f"--vary {vary.path}: the same parameter as --vary {seen[path.keys]}")
        seen[path.keys] = vary.path
        if path.kind != "duration" and vary.spec and _has_unit(vary.spec):
            raise SweepError(f"--vary {vary.path}={vary.spec}: '{vary.path}' is not a duration; give plain numbers")
        paths.append(path)
    per_path: list[list[tuple[float, Any]]] = []
    for path, vary in zip(paths, varies, strict=True):
        pairs = [_raw_value(path, v, vary) for v in vary.values]
        cols = [c for c, _ in pairs]
        if len(set(cols)) != len(cols):
            raise SweepError(f"--vary {vary.path}={vary.spec}: repeated values {cols} (after rounding to integers"
                             f" where the parameter needs them)" if path.kind == "int" else
                             f"--vary {vary.path}={vary.spec}: repeated values {cols}")
        per_path.append(pairs)
    file = scenario.path or "<scenario>"
    base_dir = Path(scenario.path).parent if scenario.path else None
    base_raw = scenario.raw
    points: list[SweepPoint] = []
    for index, combo in enumerate(itertools.product(*per_path)):
        raw = base_raw
        values: dict[str, float] = {}
        for path, (col, raw_value) in zip(paths, combo, strict=True):
            raw = set_path(raw, path, raw_value, scenario)
            values[path.text] = col
        if not paths:
            points.append(SweepPoint(index, values, scenario))
            continue
        try:
            variant = scenario_from_dict(raw, file=file, base_dir=base_dir)
        except ScenarioError as exc:
            desc = ", ".join(f"{k}={v:g}" for k, v in values.items())
            raise ScenarioError(f"{exc.problem} (sweep point {desc})", file=exc.file, key=exc.key) from None
        points.append(SweepPoint(index, values, variant))
    return points


def sweep_spec(varies: Sequence[Vary]) -> list[dict]:
    """A JSON-able description of the grid (for manifests and hashes)."""
    return [{"path": v.path, "values": list(v.values)} for v in varies]


def points_frame(points: Sequence[SweepPoint]) -> pd.DataFrame:
    """One row per point: ``point`` and one numeric column per swept path."""
    cols = list(points[0].values) if points else []
    data: dict[str, Any] = {"point": np.array([p.index for p in points], dtype=np.int64)}
    for c in cols:
        data[c] = np.array([p.values[c] for p in points], dtype=np.float64)
    return pd.DataFrame(data)
