"""The layers of docs/architecture.md, checked on the source: every import (module-level or inside
a function) goes down the layer order or stays inside its own package, no import cycle at any
level, files and functions stay small. (That plots, report and results import without torch:
tests/sweeps/test_torch_free.py.)"""

from __future__ import annotations

import ast
from pathlib import Path

import relulab

SRC = Path(relulab.__file__).parent
# Lowest first: a module may import from its own layer or any layer below.
LAYERS: list[set[str]] = [
    {"config", "interrupts"},  # configs, presets, grids and their ids (torch-free)
    {"results"},  # the results folder: schema, store, query (torch-free)
    {"rng", "threads"},  # torch plumbing: generators, thread counts
    {"nets", "data", "metrics", "theory"},  # the maths on stacked tensors
    {"training"},  # the loop, the fused step, checkpoints, statistics callbacks
    {"experiments", "fidelity", "real"},  # what a paper measures
    {"sweeps"},  # many runs, resumable, on an executor
    {"plots", "report"},  # readers of a results folder (torch-free)
    {"api"},  # the library surface: train, load, sweep
    {"cli"},
]
# The top-level package of each layer must not import a package beside it, except these edges.
SIDEWAYS = {("real", "experiments"), ("fidelity", "experiments"), ("report", "plots"),
            ("metrics", "nets"), ("data", "nets"), ("theory", "nets"), ("theory", "metrics"),
            ("fidelity", "real")}
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, top_level_only: bool) -> set[str]:
    """``relulab.*`` modules imported by ``path`` (every import, or module-level ones)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out: set[str] = set()
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("relulab")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            if base.startswith("relulab"):
                subs = {f"{base}.{a.name}" for a in node.names if is_module(f"{base}.{a.name}")}
                out |= subs
                if len(subs) < len(node.names):  # names defined in ``base`` itself
                    out.add(base)
    return out


def is_module(name: str) -> bool:
    path = SRC.parent / name.replace(".", "/")
    return path.is_dir() or path.with_suffix(".py").exists()


def component(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def sources() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_every_component_has_a_layer():
    names = {component(module_name(p)) for p in sources()} - {""}
    assert names <= set(RANK), f"add to LAYERS: {sorted(names - set(RANK))}"


def test_no_upward_import():
    bad = []
    for path in sources():
        me = component(module_name(path))
        if not me:  # relulab/__init__.py: the lazy public facade
            continue
        for dep in imports(path, top_level_only=False):
            other = component(dep)
            if not other or other == me:
                continue
            if RANK[other] > RANK[me] or (RANK[other] == RANK[me]
                                          and (me, other) not in SIDEWAYS):
                bad.append(f"{module_name(path)} -> {dep}")
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_no_import_cycle():
    graph = {module_name(p): {d for d in imports(p, top_level_only=False)
                              if d != module_name(p)} for p in sources()}
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                return [*stack, node, nxt]
            if not state.get(nxt):
                cycle = visit(nxt, [*stack, node])
                if cycle:
                    return cycle
        state[node] = 2
        return None

    for node in sorted(graph):
        if not state.get(node):
            cycle = visit(node, [])
            assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_size_limits():
    long_files, long_functions = [], []
    for path in sources():
        text = path.read_text()
        if text.count("\n") > 400:
            long_files.append(f"{module_name(path)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                size = node.end_lineno - node.lineno + 1
                if size > 80:
                    long_functions.append(f"{module_name(path)}.{node.name}: {size} lines")
    assert not long_files and not long_functions, long_files + long_functions
