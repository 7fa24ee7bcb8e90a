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
created (``failures.crash.mtbf`` on a scenario without crashes adds crashes).

Values: a list ``1h,2h,4h`` (``2%`` = 0.02), a linear range ``lin:START:STOP:N`` or a
geometric range ``log:START:STOP:N`` (both ends included, units allowed).
"""

from __future__ import annotations

import copy
import difflib
import itertools
import math
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel

from sim.errors import ScenarioError, SimError
from sim.model.scenario import (
    _DIST_KEYS,
    Defaults,
    ModelPrice,
    Pricing,
    RetryPolicy,
    Scenario,
    Step,
    scenario_from_dict,
)
from sim.model.units import parse_duration_s

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

ValueKind = Literal["duration", "int", "float"]


class SweepError(SimError):
    """A ``--vary`` specification that cannot be read."""


# --------------------------------------------------------------------------- paths


@dataclass(frozen=True)
class ParamPath:
    """A dotted path resolved against a scenario: the keys to set in its raw table."""

    text: str
    keys: tuple[str | int, ...]
    kind: ValueKind
    replaces_distribution: bool = False


def _unwrap(annotation: Any) -> list[Any]:
    """The members of an Optional/Union/Annotated annotation."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                out.extend(_unwrap(arg))
        return out
    return [annotation]


def _is_distribution(info: Any) -> bool:
    """Duration-distribution fields (``duration``, ``retry_after``) are typed Any + a validator."""
    return info.annotation is Any and bool(info.metadata)


def _unknown(text: str, seg: str, known: Sequence[str], what: str, under: str = "") -> ScenarioError:
    hint = difflib.get_close_matches(seg, list(known), n=1)
    extra = f" (did you mean '{hint[0]}'?)" if hint else ""
    listing = ", ".join(known) if known else "none"
    where = f" under '{under}'" if under else ""
    return ScenarioError(f"cannot sweep '{text}': unknown {what} '{seg}'{where}{extra}; known: {listing}")


def _match_name(segs: Sequence[str], i: int, names: Sequence[str]) -> tuple[str | None, int]:
    """The longest run of segments from ``i`` that joins (with dots) into a known name."""
    for j in range(len(segs), i, -1):
        candidate = ".".join(segs[i:j])
        if candidate in names:
            return candidate, j - i
    return None, 1


def _unknown_name(text: str, segs: Sequence[str], i: int, names: Sequence[str], what: str) -> ScenarioError:
    """Error for an unknown (possibly dotted) name at segment ``i``, with the closest hint."""
    for j in range(len(segs) - 1, i, -1):
        candidate = ".".join(segs[i:j])
        if difflib.get_close_matches(candidate, list(names), n=1):
            return _unknown(text, candidate, names, what)
    return _unknown(text, segs[i], names, what)


def _fields(model: type[BaseModel]) -> dict[str, tuple[str, Any]]:
    return {(info.alias or name): (name, info) for name, info in model.model_fields.items()}


def _leaf_kind(text: str, name: str, info: Any) -> ValueKind:
    if name.endswith("_s"):
        return "duration"
    members = _unwrap(info.annotation)
    if members and all(m is int for m in members):
        return "int"
    if members and all(m in (int, float) for m in members) and float in members:
        return "float"
    raise ScenarioError(f"cannot sweep '{text}': not a numeric parameter ({info.annotation})")


def resolve_path(scenario: Scenario, text: str) -> ParamPath:
    """Check a dotted path against the scenario schema; raise ScenarioError with a hint."""
    try:
        return _resolve(scenario, text)
    except ScenarioError as exc:
        raise ScenarioError(exc.problem, file=scenario.path) from None


def _resolve(scenario: Scenario, text: str) -> ParamPath:
    segs = [s for s in text.strip().split(".")]
    if not text.strip() or any(not s for s in segs):
        raise ScenarioError(f"cannot sweep '{text}': empty path segment")
    raw = scenario.raw
    model: type[BaseModel] | None = Scenario
    keys: list[str | int] = []
    i = 0
    while i < len(segs):
        seg = segs[i]
        assert model is not None
        fields = _fields(model)
        if model is Defaults and seg == "retry":
            keys.append(seg)
            model = RetryPolicy
            i += 1
            continue
        if seg not in fields:
            known = [k for k in fields if k not in ("name", "description", "kind")]
            raise _unknown(text, seg, known, "key", ".".join(segs[:i]))
        name, info = fields[seg]
        keys.append(seg)
        last = i == len(segs) - 1
        if model is Scenario and name == "steps":
            if last:
                raise ScenarioError(f"cannot sweep '{text}': name a step (by name or index) and a key")
            ref = segs[i + 1]
            names = scenario.step_names
            found, used = _match_name(segs, i + 1, names)
            if found is not None:
                index = names.index(found)
            elif ref.isdigit() and int(ref) < len(names):
                index, used = int(ref), 1
            else:
                raise _unknown_name(text, segs, i + 1, names, "step")
            keys.append(index)
            model = Step
            i += 1 + used
            if i == len(segs):
                raise ScenarioError(f"cannot sweep '{text}': name a key of the step")
            continue
        if model is Scenario and name == "strategies":
            if last:
                raise ScenarioError(f"cannot sweep '{text}': name a strategy and a key")
            label, used = _match_name(segs, i + 1, list(scenario.strategies))
            if label is None:
                raise _unknown_name(text, segs, i + 1, list(scenario.strategies), "strategy")
            keys.append(label)
            model = type(scenario.strategies[label])
            i += 1 + used
            if i == len(segs):
                raise ScenarioError(f"cannot sweep '{text}': name a key of the strategy")
            continue
        if model is Pricing and name in ("gpu", "models"):
            if last:
                raise ScenarioError(f"cannot sweep '{text}': name a {'GPU kind' if name == 'gpu' else 'model'}")
            table = scenario.pricing.gpu if name == "gpu" else scenario.pricing.models
            item, used = _match_name(segs, i + 1, sorted(table))
            if item is None:
                raise _unknown_name(text, segs, i + 1, sorted(table), "GPU kind" if name == "gpu" else "model")
            keys.append(item)
            i += 1 + used
            if name == "gpu":
                if i != len(segs):
                    raise ScenarioError(f"cannot sweep '{text}': a GPU price is a number ($/hour)")
                return ParamPath(text, tuple(keys), "float")
            model = ModelPrice
            if i == len(segs):
                raise ScenarioError(f"cannot sweep '{text}': name input_per_mtok or output_per_mtok")
            continue
        if _is_distribution(info):
            if last:
                return ParamPath(text, tuple(keys), "duration", replaces_distribution=True)
            node = _get(raw, keys)
            if not isinstance(node, dict):
                raise ScenarioError(f"cannot sweep '{text}': '{'.'.join(map(str, segs[:i + 1]))}' is a fixed "
                                    f"duration, not a distribution table; sweep it as a whole")
            dist = node.get("dist")
            allowed = sorted(_DIST_KEYS.get(dist, ()))
            param = segs[i + 1]
            if param not in allowed or i + 2 != len(segs):
                raise _unknown(text, param, allowed, "parameter", f"dist '{dist}'")
            keys.append(param)
            return ParamPath(text, tuple(keys), "float" if param == "shape" else "duration")
        nested = [m for m in _unwrap(info.annotation) if isinstance(m, type) and issubclass(m, BaseModel)]
        if nested:
            if last:
                raise ScenarioError(f"cannot sweep '{text}': a table, not a value; name one of its keys: "
                                    f"{', '.join(_fields(nested[0]))}")
            model = nested[0]
            i += 1
            continue
        if not last:
            raise ScenarioError(f"cannot sweep '{text}': '{'.'.join(segs[:i + 1])}' is a value, not a table")
        return ParamPath(text, tuple(keys), _leaf_kind(text, name, info))
    raise ScenarioError(f"cannot sweep '{text}'")  # pragma: no cover - loop always returns


def _get(raw: Any, keys: Sequence[str | int]) -> Any:
    node = raw
    for key in keys:
        if isinstance(node, dict):
            node = node.get(key)
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            return None
    return node


def set_path(raw: dict, path: ParamPath, value: Any, scenario: Scenario) -> dict:
    """A deep copy of ``raw`` with ``value`` at ``path`` (missing tables are created)."""
    out = copy.deepcopy(raw)
    if path.keys[0] == "strategies" and not isinstance(out.get("strategies"), dict):
        out["strategies"] = {label: {} for label in scenario.strategies}
    node: Any = out
    for key in path.keys[:-1]:
        if isinstance(key, int):
            node = node[key]
            continue
        current = node.get(key)
        if isinstance(current, str) and node is out.get("pricing") and key in ("models", "orchestration"):
            node[key] = {"profile": current}  # a named price profile: the field overrides one of its prices
        elif not isinstance(current, dict | list):
            node[key] = {}
        node = node[key]
    node[path.keys[-1]] = value
    return out


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Vary:
    """One swept parameter: the path as typed and its values (numbers; durations in s)."""

    path: str
    values: tuple[float, ...]
    spec: str = ""


def _number(text: str, where: str) -> float:
    t = text.strip()
    if not t:
        raise SweepError(f"{where}: empty value")
    scale = 1.0
    if t.endswith("%"):
        t, scale = t[:-1], 0.01
    try:
        value = float(t) * scale
    except ValueError:
        try:
            value = parse_duration_s(t) * scale
        except ValueError as exc:
            raise SweepError(f"{where}: {exc}") from None
        if scale != 1.0:
            raise SweepError(f"{where}: a duration cannot be a percentage: {text!r}") from None
    if not math.isfinite(value):
        raise SweepError(f"{where}: value must be finite, got {text!r}")
    return value


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
