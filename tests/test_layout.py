"""The package's layout, read from its source (``ast``, nothing imported): no import loops between beatforge's
top-level packages and modules, nothing that generates or evaluates depends on training, and every import hidden
inside a function is either a heavy optional library or says why it is lazy (``# lazy: <why>``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "beatforge"

# Libraries the CLI imports only when a command needs them (start-up time): a function-local import of these (or of
# their submodules) needs no comment.
HEAVY = ("torch", "librosa", "gradio", "matplotlib", "diffusers", "lightning", "scipy", "madmom", "onnx",
         "onnxruntime", "safetensors")  # safetensors.torch is torch

# Loops between top-level units (beatforge.X) that this layout still has, each as its units in order (the first one
# repeated at the end is implied). Empty: there are none; add one here only with the reason it cannot go yet.
ALLOWED_CYCLES: list[tuple[str, ...]] = []


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, e.g. "beatforge.formats.osu"
    target: str  # the imported module (or module.name for ``from module import name``), e.g. "beatforge.audio"
    line: int
    function: ast.FunctionDef | ast.AsyncFunctionDef | None  # the innermost function holding it, None at module level
    path: Path


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _absolute(module: str | None, level: int, source: str, is_package: bool) -> str:
    if level == 0:
        return module or ""
    base = source.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _imports() -> list[Import]:
    found: list[Import] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _module_name(path)
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

        def visit(node: ast.AST, function, source=source, is_package=is_package, path=path) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                    visit(child, child)
                    continue
                if isinstance(child, ast.Import):
                    for alias in child.names:
                        found.append(Import(source, alias.name, child.lineno, function, path))
                elif isinstance(child, ast.ImportFrom):
                    module = _absolute(child.module, child.level, source, is_package)
                    for alias in child.names:
                        found.append(Import(source, f"{module}.{alias.name}", child.lineno, function, path))
                visit(child, function)

        visit(tree, None)
    return found


def _unit(module: str) -> str | None:
    """The top-level package or module of beatforge that ``module`` lies in (``beatforge.formats.osu`` ->
    ``beatforge.formats``); None outside beatforge or for the root package itself."""
    parts = module.split(".")
    if parts[0] != "beatforge" or len(parts) < 2:
        return None
    if not ((PACKAGE / parts[1]).is_dir() or (PACKAGE / f"{parts[1]}.py").is_file()):
        return None  # a name of the root package (``from beatforge import __version__``)
    return ".".join(parts[:2])


def _unit_graph() -> dict[str, dict[str, list[str]]]:
    """unit -> imported unit -> where ("path:line"), over every import (module level and inside functions)."""
    graph: dict[str, dict[str, list[str]]] = {}
    for imp in _imports():
        a, b = _unit(imp.source), _unit(imp.target)
        if a is None or b is None or a == b:
            continue
        where = f"{imp.path.relative_to(PACKAGE.parent)}:{imp.line}"
        graph.setdefault(a, {}).setdefault(b, []).append(where)
    return graph


def _cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """One cycle through each strongly connected component with more than one unit (Tarjan, then a path)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            connect(v)

    cycles = []
    for component in components:
        members = set(component)
        start = min(component)
        # shortest path back to start within the component (breadth first)
        previous: dict[str, str] = {}
        frontier = [start]
        seen = {start}
        end = None
        while frontier and end is None:
            following = []
            for v in frontier:
                for w in sorted(graph.get(v, {})):
                    if w == start:
                        end = v
                        break
                    if w in members and w not in seen:
                        seen.add(w)
                        previous[w] = v
                        following.append(w)
                if end is not None:
                    break
            frontier = following
        path = [end]
        while path[-1] != start:
            path.append(previous[path[-1]])
        cycles.append(path[::-1])
    return cycles


def _same_cycle(a: list[str] | tuple[str, ...], b: list[str] | tuple[str, ...]) -> bool:
    if len(a) != len(b) or not a:
        return False
    i = list(b).index(a[0]) if a[0] in b else -1
    return i >= 0 and list(b[i:]) + list(b[:i]) == list(a)


def test_no_import_loops_between_top_level_units() -> None:
    graph = _unit_graph()
    loops = [c for c in _cycles(graph) if not any(_same_cycle(c, allowed) for allowed in ALLOWED_CYCLES)]
    described = []
    for cycle in loops:
        steps = [f"  {a} -> {b}  ({', '.join(graph[a][b][:3])})" for a, b in zip(cycle, cycle[1:] + cycle[:1])]
        described.append("\n".join(steps))
    assert not loops, "import loops between beatforge's top-level units:\n" + "\n\n".join(described)


def test_generation_evaluation_and_ui_do_not_import_training() -> None:
    offending = [
        f"{imp.path.relative_to(PACKAGE.parent)}:{imp.line} imports {imp.target}"
        for imp in _imports()
        if _unit(imp.source) in ("beatforge.generation", "beatforge.evaluation", "beatforge.ui")
        and _unit(imp.target) == "beatforge.training"
    ]
    assert not offending, "\n".join(offending)


def _says_lazy(imp: Import) -> bool:
    lines = imp.path.read_text(encoding="utf-8").splitlines()
    function = imp.function
    body = lines[function.lineno - 1 : function.end_lineno]
    return any("# lazy:" in line for line in body)


def test_imports_inside_functions_are_heavy_or_say_why() -> None:
    by_statement: dict[str, list[str]] = {}  # "path:line function()" -> what it imports
    for imp in _imports():
        if imp.function is not None and imp.target.split(".")[0] not in HEAVY and not _says_lazy(imp):
            where = f"{imp.path.relative_to(PACKAGE.parent)}:{imp.line} {imp.function.name}()"
            by_statement.setdefault(where, []).append(imp.target)
    unexplained = [f"{where} imports {', '.join(targets)}" for where, targets in by_statement.items()]
    assert not unexplained, (
        "function-local imports that are not of a heavy library and whose function has no '# lazy: <why>' "
        "comment (move them to the top of the module, or say why they must stay):\n" + "\n".join(unexplained)
    )
