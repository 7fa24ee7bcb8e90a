"""pydantic's validation errors → one line a user can act on: the key path as the file writes it
(``steps[2](render).duration``) and the problem, with a "did you mean" hint for unknown keys."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel

from sim.model.schema import (
    STRATEGY_KINDS,
    CheckpointStrategy,
    DurableStrategy,
    HeartbeatStrategy,
    RestartStrategy,
    RetryInPlaceStrategy,
    ScenarioSchema,
)

# pydantic reports an error inside a tagged strategy table as
# ("strategies", label, kind, key, ...): the kind is the discriminator's tag, not a key of the
# file. These helpers drop it from key paths and resolve the strategy's model for hints.


def _without_strategy_tag(loc: tuple) -> tuple:
    """``("strategies", "durable", "durable", "x")`` → ``("strategies", "durable", "x")``."""
    if len(loc) >= 3 and loc[0] == "strategies" and loc[2] in STRATEGY_KINDS:
        return loc[:2] + loc[3:]
    return loc


def _strategy_model(loc: tuple) -> tuple[Any, tuple] | None:
    """(strategy model, remaining loc) of an error inside a tagged strategy table, else None."""
    if len(loc) >= 4 and loc[0] == "strategies" and loc[2] in STRATEGY_KINDS:
        models = {m.model_fields["kind"].default: m for m in (
            RestartStrategy, DurableStrategy, RetryInPlaceStrategy, CheckpointStrategy, HeartbeatStrategy)}
        return models[loc[2]], loc[3:]
    return None



def _format_loc(loc: tuple, data: dict) -> str:
    loc = _without_strategy_tag(loc)
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            name = None
            if isinstance(node, list) and 0 <= item < len(node) and isinstance(node[item], dict):
                name = node[item].get("name")
            parts[-1:] = [f"{parts[-1] if parts else ''}[{item}]" + (f"({name})" if name else "")]
        else:
            parts.append(str(item))
        if isinstance(node, dict):
            node = node.get(item)
        elif isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
            node = node[item]
        else:
            node = None
    return ".".join(parts).replace(".[", "[")


def _known_fields(loc: tuple) -> list[str]:
    model: Any = ScenarioSchema
    tagged = _strategy_model(loc)
    if tagged is not None:
        model, loc = tagged
    for item in loc[:-1]:
        if isinstance(item, int):
            continue
        field = getattr(model, "model_fields", {}).get(item)
        if field is None:
            for cand in getattr(model, "model_fields", {}).values():
                if cand.alias == item:
                    field = cand
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        nxt = None
        for a in (ann, *args):
            if isinstance(a, type) and issubclass(a, BaseModel):
                nxt = a
                break
            for b in getattr(a, "__args__", ()):
                if isinstance(b, type) and issubclass(b, BaseModel):
                    nxt = b
        if nxt is None:
            return []
        model = nxt
    return [f.alias or n for n, f in model.model_fields.items()]


def explain_error(error: dict, data: dict) -> tuple[str, str]:
    loc = tuple(error["loc"])
    key = _format_loc(loc, data)
    kind = error["type"]
    msg = error["msg"]
    if kind == "extra_forbidden":
        known = _known_fields(loc)
        hint = difflib.get_close_matches(str(loc[-1]), known, n=1)
        extra = f" (did you mean '{hint[0]}'?)" if hint else (f" (known keys: {', '.join(known)})" if known else "")
        return key, f"unknown key{extra}"
    if kind == "union_tag_invalid":
        tag = error.get("ctx", {}).get("tag")
        hint = difflib.get_close_matches(str(tag), STRATEGY_KINDS, n=1)
        extra = f" (did you mean '{hint[0]}'?)" if hint else ""
        return key, f"unknown strategy kind '{tag}'{extra}; known: {', '.join(STRATEGY_KINDS)}"
    if kind == "missing":
        return key, "required key is missing"
    if kind == "too_short" and key == "steps":
        return key, "the pipeline has no steps: add at least one [[steps]] table"
    if kind == "too_short" and key == "strategies":
        return key, "no strategies to compare: add e.g. [strategies.restart] and [strategies.durable]"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return key, msg
