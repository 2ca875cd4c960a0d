"""The house rules of ARCHITECTURE.md, checked on the source: imports only go down the layer
order (or sideways within a layer), module-level imports have no cycle, files and functions stay
small. (That plots and report import without torch: tests/sweep/test_torch_free.py.)"""

from __future__ import annotations

import ast
from pathlib import Path

import relulab

SRC = Path(relulab.__file__).parent
# Lowest first: a module may import from its own layer or any layer below.
LAYERS: list[set[str]] = [
    {"config", "presets", "grid", "schema", "ids", "interrupts"},  # torch-free basics
    {"store", "query"},  # torch-free storage
    {"rng", "threads", "networks", "passes", "teachers", "students", "constraints", "streams",
     "data", "metrics",
     "theory", "theory_suggested"},  # torch maths
    {"optim", "fused", "group", "checkpoint", "engine", "epoch_grads", "stats_context"},
    {"stats", "original_stats", "experiments", "fidelity", "real", "bn_bias"},  # measured, run
    {"executors", "executors_ray", "sweep"},  # many runs
    {"plots", "report", "report_fidelity"},  # readers of a results folder (torch-free)
    {"cli"},
]
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
            if other and RANK[other] > RANK[me]:
                bad.append(f"{module_name(path)} -> {dep}")
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_no_import_cycle_at_module_level():
    graph = {module_name(p): {d for d in imports(p, top_level_only=True)
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
        if text.count("\n") > 300:
            long_files.append(f"{module_name(path)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                size = node.end_lineno - node.lineno + 1
                if size > 60:
                    long_functions.append(f"{module_name(path)}.{node.name}: {size} lines")
    assert not long_files and not long_functions, long_files + long_functions
