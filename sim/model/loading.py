"""Scenario files: TOML → validated, frozen ``Scenario``, and changed copies of one.

Validation is done once, here: pricing profiles are resolved, ``[defaults.retry]`` is merged,
the pydantic schema (``sim.model.schema``) forbids unknown keys and the cross-table checks
(``sim.model.checks``) run; every problem is reported as ``file: key 'a.b.c': problem``."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from sim.errors import ScenarioError
from sim.model.bundled import resolve_scenario_path
from sim.model.checks import check_graph, cross_check
from sim.model.explain import explain_error
from sim.model.paths import ValueSyntaxError, parse_value, resolve_path, set_path
from sim.model.profiles import read_toml, resolve_pricing
from sim.model.schema import RetryPolicy, ScenarioSchema


class Scenario(ScenarioSchema):
    """A validated, frozen scenario (built by ``scenario_from_dict`` / ``load_scenario``)."""

    def replace(self, changes: Mapping[str, object]) -> Scenario:
        """A new validated scenario with ``changes`` applied: ``{"failures.crash.mtbf": "30m"}``.

        Paths and values are those of ``--vary`` (``sim.model.paths``): a value is a number, or a
        string such as ``"30m"``, ``"2%"``, ``"0.05"``. Raises ScenarioError naming the path."""
        return replace_values(self, changes)


# [defaults.retry] is the retry policy of every restart / retry_in_place strategy that gives none
_RETRYING_KINDS = ("restart", "retry_in_place")


def _apply_default_retry_to_strategies(strategies: dict, default_retry: object) -> None:
    """Merge ``[defaults.retry]`` under the ``retry`` table of every restart and retry_in_place
    strategy (keys the strategy gives win), as it is merged under every step's."""
    if not isinstance(default_retry, dict) or not default_retry:
        return
    for table in strategies.values():
        if isinstance(table, dict) and table.get("kind") in _RETRYING_KINDS:
            own = table.get("retry")
            table["retry"] = {**default_retry, **own} if isinstance(own, dict) else (
                own if own is not None else dict(default_retry))



def _prepare(raw: dict, base_dir: Path | None, file: str) -> dict:
    """Resolve the pricing profile and merge default retry policies, on a copy of raw."""
    data = copy.deepcopy(raw)
    data["pricing"] = resolve_pricing(data.get("pricing", {}), data, base_dir, file)
    defaults = data.get("defaults", {})
    default_retry = defaults.get("retry", {}) if isinstance(defaults, dict) else {}
    if isinstance(default_retry, dict) and default_retry:
        try:
            RetryPolicy.model_validate(default_retry)
        except ValidationError as exc:
            err = exc.errors()[0]
            key, msg = explain_error({**err, "loc": ("defaults", "retry", *err["loc"])}, data)
            raise ScenarioError(msg, file=file, key=key) from None
    steps = data.get("steps")
    if isinstance(steps, list) and default_retry:
        for step in steps:
            if isinstance(step, dict):
                step["retry"] = {**default_retry, **(step.get("retry") or {})}
    strategies = data.setdefault("strategies", {"restart": {}, "durable": {}})
    if isinstance(strategies, dict):
        for label, table in strategies.items():
            if isinstance(table, dict) and "kind" not in table:
                table["kind"] = label
        _apply_default_retry_to_strategies(strategies, default_retry)
    return data



def scenario_from_dict(raw: dict, *, file: str = "<scenario>", base_dir: Path | None = None) -> Scenario:
    """Validate a scenario table (as read from TOML). Raises ScenarioError."""
    if not isinstance(raw, dict):
        raise ScenarioError("a scenario must be a table", file=file)
    data = _prepare(raw, base_dir, file)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            key, msg = explain_error(error, data)
            lines.append((key, msg))
        key, msg = lines[0]
        more = "".join(f"\n  also: key '{k}': {m}" for k, m in lines[1:6])
        raise ScenarioError(msg + more, file=file, key=key) from None
    cross_check(scenario, file)
    check_graph(scenario, file)
    scenario._raw = copy.deepcopy(raw)
    scenario._path = None if file.startswith("<") else file
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file, or a bundled scenario by name (``"video"``; see
    ``sim.model.bundled``). Raises ScenarioError naming file, key and problem."""
    path = resolve_scenario_path(path)
    raw = read_toml(path, "scenario")
    return scenario_from_dict(raw, file=str(path), base_dir=path.parent)


# --------------------------------------------------------------------------- changed copies by dotted path


def replace_values(scenario: Scenario, changes: Mapping[str, object]) -> Scenario:
    """``scenario.replace(changes)``: set each dotted path (``--vary`` paths and value syntax) in a
    copy of the scenario's table and validate the result once."""
    if not isinstance(changes, Mapping):
        raise ScenarioError(f"replace() takes a mapping of dotted paths to values, got {type(changes).__name__}",
                            file=scenario.path)
    raw = scenario.raw
    seen: dict[tuple, str] = {}
    for text, value in changes.items():
        path = resolve_path(scenario, str(text))
        if path.keys in seen:
            raise ScenarioError(f"'{text}' sets the same parameter as '{seen[path.keys]}'", file=scenario.path)
        seen[path.keys] = str(text)
        where = f"replace {text}={value!r}"
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ScenarioError(f"{where}: expected a number or a string such as \"30m\" or \"2%\"",
                                file=scenario.path, key=str(text))
        if isinstance(value, str):
            try:
                number = parse_value(value, where)
            except ValueSyntaxError as exc:
                raise ScenarioError(str(exc), file=scenario.path, key=str(text)) from None
            if path.kind != "duration" and any(ch.isalpha() and ch not in "eE" for ch in value):
                raise ScenarioError(f"{where}: not a duration; give a plain number", file=scenario.path,
                                    key=str(text))
        else:
            number = float(value)
        if path.kind == "int":
            if number != round(number):
                raise ScenarioError(f"{where}: takes an integer", file=scenario.path, key=str(text))
            raw = set_path(raw, path, int(round(number)), scenario)
        else:
            raw = set_path(raw, path, float(number), scenario)
    base_dir = Path(scenario.path).parent if scenario.path else None
    return scenario_from_dict(raw, file=scenario.path or "<scenario>", base_dir=base_dir)
