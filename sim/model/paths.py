"""Dotted paths into a scenario (``failures.crash.mtbf``, ``steps.summary.output_tokens``) and
the value syntax they take (``30m``, ``2%``, ``0.05``): one grammar for ``--vary`` sweeps
(``sim.experiment.points``) and ``Scenario.replace``.

Paths follow the scenario file: ``failures.crash.mtbf``, ``failures.rate_limit.probability``,
``failures.deploy.every``, ``steps.summary.output_tokens`` (a step by name or by 0-based
index), ``strategies.durable.persist_latency``, ``pricing.orchestration.per_million_actions_usd``,
``pricing.models.gpt-5.4-mini.output_per_mtok``, ``defaults.retry.initial_interval``, a
distribution parameter ``steps.summary.duration.median``, or a whole duration
(``steps.summary.duration``: a fixed duration). A section missing from the file is created
(``failures.crash.mtbf`` on a scenario without crashes adds crashes).
"""

from __future__ import annotations

import copy
import difflib
import math
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from sim.errors import ScenarioError, SimError
from sim.model.distributions import DIST_PARAMETERS
from sim.model.units import parse_duration_s

# ``scenario`` arguments are ``sim.model.scenario.Scenario`` objects; this module reads their schema from
# the object's class instead of importing that module, which uses this one (``Scenario.replace``).
Scenario = BaseModel

__all__ = ["ParamPath", "ValueSyntaxError", "parse_value", "resolve_path", "set_path"]

ValueKind = Literal["duration", "int", "float"]


class ValueSyntaxError(SimError):
    """A parameter value that cannot be read (``--vary`` values, ``Scenario.replace`` values)."""


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


@dataclass(frozen=True)
class _Schema:
    """The scenario models a path walks through, read from the scenario's class (so that
    ``sim.model.scenario`` can use this module without an import cycle)."""

    root: type[BaseModel]
    defaults: type[BaseModel]
    retry: type[BaseModel]
    pricing: type[BaseModel]
    step: type[BaseModel]
    model_price: type[BaseModel]

    @classmethod
    def of(cls, scenario: Scenario) -> _Schema:
        root = type(scenario)
        fields = root.model_fields
        step = typing.get_args(fields["steps"].annotation)[0]
        pricing = _unwrap(fields["pricing"].annotation)[0]
        return cls(root=root, defaults=_unwrap(fields["defaults"].annotation)[0],
                   retry=_unwrap(step.model_fields["retry"].annotation)[0], pricing=pricing, step=step,
                   model_price=typing.get_args(pricing.model_fields["models"].annotation)[1])


def _resolve(scenario: Scenario, text: str) -> ParamPath:
    schema = _Schema.of(scenario)
    segs = [s for s in text.strip().split(".")]
    if not text.strip() or any(not s for s in segs):
        raise ScenarioError(f"cannot sweep '{text}': empty path segment")
    raw = scenario.raw
    model: type[BaseModel] | None = schema.root
    keys: list[str | int] = []
    i = 0
    while i < len(segs):
        seg = segs[i]
        assert model is not None
        fields = _fields(model)
        if model is schema.defaults and seg == "retry":
            keys.append(seg)
            model = schema.retry
            i += 1
            continue
        if seg not in fields:
            known = [k for k in fields if k not in ("name", "description", "kind")]
            raise _unknown(text, seg, known, "key", ".".join(segs[:i]))
        name, info = fields[seg]
        keys.append(seg)
        last = i == len(segs) - 1
        if model is schema.root and name == "steps":
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
            model = schema.step
            i += 1 + used
            if i == len(segs):
                raise ScenarioError(f"cannot sweep '{text}': name a key of the step")
            continue
        if model is schema.root and name == "strategies":
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
        if model is schema.pricing and name in ("gpu", "models"):
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
            model = schema.model_price
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
            allowed = sorted(DIST_PARAMETERS.get(dist, ()))
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
    if path.keys[:2] == ("failures", "preemption") and path.keys[-1] in PREEMPTION_RATES:
        for other in PREEMPTION_RATES:  # a preemption rate set here replaces the scenario's own
            if other != path.keys[-1]:
                node.pop(other, None)
    return out


#: the keys that give ``[failures.preemption]`` its rate: exactly one is allowed
PREEMPTION_RATES = ("mtbf", "monthly_frequency", "at")


# --------------------------------------------------------------------------- values


def parse_value(text: str, where: str, error: type[SimError] = ValueSyntaxError) -> float:
    """A number from ``0.05``, ``2%`` (= 0.02) or a duration (``30m``: seconds); raises ``error``."""
    t = text.strip()
    if not t:
        raise error(f"{where}: empty value")
    scale = 1.0
    if t.endswith("%"):
        t, scale = t[:-1], 0.01
    try:
        value = float(t) * scale
    except ValueError:
        try:
            value = parse_duration_s(t) * scale
        except ValueError as exc:
            raise error(f"{where}: {exc}") from None
        if scale != 1.0:
            raise error(f"{where}: a duration cannot be a percentage: {text!r}") from None
    if not math.isfinite(value):
        raise error(f"{where}: value must be finite, got {text!r}")
    return value
