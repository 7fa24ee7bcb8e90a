"""The package layout is the architecture: imports point down the layers, never back, no cycles.

Layers, top to bottom: commands (and cli) → analysis, calibrate, validate → experiment → stats →
engines → model. ``sim.stats`` is plain statistics (it imports nothing of ``sim`` above the model): both
the experiment layer (streaming aggregates, stopping rules) and the analysis layer use it.
Every ``from sim… import`` and ``import sim…`` counts, including those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import sim

ROOT = Path(sim.__file__).parent
LAYER = {"commands": 5, "cli": 5, "__main__": 5, "analysis": 4, "calibrate": 4, "validate": 4,
         "experiment": 3, "stats": 2.5, "engines": 2, "model": 1, "errors": 0, "shutdown": 0, "data": 0, "__init__": 6}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p) for p in ROOT.rglob("*.py")}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "sim")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "sim":
                continue
            # ``from sim import stats`` imports the module sim.stats
            submodules = {f"{mod}.{a.name}" for a in node.names} & MODULES
            found.update(submodules or {mod})
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        graph[name] = {m for m in _imports(path) if m in modules and m != name}
    return graph


def _layer(module: str) -> float:
    parts = module.split(".")
    return LAYER[parts[1]] if len(parts) > 1 else LAYER["__init__"]


def test_library_code_never_imports_the_commands():
    for module, deps in _graph().items():
        if _layer(module) < LAYER["commands"]:
            assert not [d for d in deps if d.startswith("sim.commands") or d == "sim.cli"], module


def test_imports_point_down_the_layers():
    wrong = [(m, d) for m, deps in _graph().items() for d in deps
             if _layer(d) > _layer(m) and d != "sim"]
    assert not wrong, wrong


def test_no_import_cycles():
    graph = _graph()
    # a package's __init__ re-exports its modules; an edge module → its own package is not a cycle
    edges = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in edges.get(m, ()):
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(d):] + [d]))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)


def test_the_experiment_layer_never_imports_the_analysis_layer():
    wrong = [(m, d) for m, deps in _graph().items() if m.startswith("sim.experiment")
             for d in deps if d.startswith("sim.analysis")]
    assert not wrong, wrong


def test_statistics_import_nothing_above_the_model():
    wrong = [(m, d) for m, deps in _graph().items() if m.startswith("sim.stats")
             for d in deps if not d.startswith(("sim.stats", "sim.model", "sim.errors"))]
    assert not wrong, wrong

