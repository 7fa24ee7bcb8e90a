"""Every TOML block of the README and docs/**/*.md loads.

Convention for writers of documentation (the marker goes on the line right before the fence):

* a plain ```` ```toml ```` block is a complete scenario: it must pass ``scenario_from_dict``
  (pricing profiles and relative paths resolve from the repository root);
* ``<!-- fragment -->`` marks a deliberately partial scenario (a few tables): it is deep-merged
  over ``BASE`` below (one LLM step named "summary", one GPU step, restart and durable) and the
  result must validate, so its keys and values are checked all the same;
* ``<!-- fragment: PATH -->`` (PATH relative to the repository root, e.g.
  ``experiments/scenarios/research_paper.toml``) is deep-merged over that scenario file instead,
  for a fragment that names its steps. A fragment's ``[[steps]]`` replace the base's steps of
  the same name and are appended otherwise;
* ``<!-- toml-only -->`` marks TOML that is not a scenario at all (a pricing profile, another
  file format): it must parse as TOML.
"""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path

import pytest

from sim.model.scenario import deep_update, scenario_from_dict

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^(?P<marker>[^\n]*)\n```toml[^\n]*\n(?P<body>.*?)^```", re.M | re.S)
BASE = {
    "name": "docs-fragment",
    "pricing": {"models": {"m": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}}},
    "steps": [
        {"name": "summary", "kind": "llm", "model": "m", "input_tokens": 100, "output_tokens": 100,
         "duration": "10s"},
        {"name": "render", "kind": "gpu", "price_per_hour": 2.0, "duration": "1m"},
    ],
    "strategies": {"restart": {}, "durable": {}},
}


def _merge_fragment(base: dict, fragment: dict) -> dict:
    """``fragment`` deep-merged over ``base``; its steps replace same-named steps or are appended."""
    steps = fragment.pop("steps", None)
    out = deep_update(copy.deepcopy(base), fragment)
    if steps is not None:
        merged = list(out.get("steps", []))
        names = [st.get("name") for st in merged]
        for step in steps:
            if step.get("name") in names:
                merged[names.index(step.get("name"))] = step
            else:
                merged.append(step)
        out["steps"] = merged
    return out


def _blocks() -> list[tuple[str, int, str, str]]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    out = []
    for f in files:
        text = f.read_text()
        for m in BLOCK.finditer("\n" + text):
            line = ("\n" + text)[:m.start("body")].count("\n")
            marker = m["marker"].strip()
            kind = "scenario"
            if marker == "<!-- toml-only -->":
                kind = "toml-only"
            elif marker.startswith("<!-- fragment") and marker.endswith("-->"):
                base = marker[len("<!-- fragment"):-len("-->")].strip().lstrip(":").strip()
                kind = f"fragment:{base}" if base else "fragment"
            out.append((str(f.relative_to(ROOT)), line, kind, m["body"]))
    return out


BLOCKS = _blocks()


def test_the_docs_have_toml_blocks():
    assert len(BLOCKS) >= 4
    assert {b[0] for b in BLOCKS} >= {"README.md", "docs/model.md"}


@pytest.mark.parametrize(("file", "line", "kind", "body"), BLOCKS, ids=[f"{b[0]}:{b[1]}" for b in BLOCKS])
def test_toml_block_loads(file, line, kind, body):
    where = f"{file}:{line}"
    table = tomllib.loads(body)
    if kind == "toml-only":
        return
    if kind == "fragment":
        table = _merge_fragment(BASE, table)
    elif kind.startswith("fragment:"):
        table = _merge_fragment(tomllib.loads((ROOT / kind.split(":", 1)[1]).read_text()), table)
    scenario_from_dict(table, file=where, base_dir=ROOT)


def test_a_broken_block_is_caught(tmp_path):
    """The check can fail: model.md's old `restart_delay` is not a key."""
    from sim.errors import ScenarioError

    body = next(b for f, _, k, b in BLOCKS if f == "docs/model.md" and k == "scenario")
    broken = body.replace("[strategies.restart]", '[strategies.restart]\nrestart_delay = "0s"', 1)
    with pytest.raises(ScenarioError, match=r"strategies\.restart\.restart_delay': unknown key"):
        scenario_from_dict(tomllib.loads(broken), file="model.md", base_dir=ROOT)
