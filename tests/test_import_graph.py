"""The dependency rule of DESIGN.md, checked on the source: every static import of every module of the package.

Imports inside functions count (a lazy import is still a dependency), and so do ``TYPE_CHECKING`` blocks.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import janus_eval

PACKAGE = Path(janus_eval.__file__).resolve().parent
METRICS_MAY_IMPORT = ("janus_eval.metrics", "janus_eval.io", "janus_eval.errors", "janus_eval.protocol", "janus_eval.hints",
                      "janus_eval.contract")
"""Everything of the package that ``janus_eval.metrics`` may import: metrics are pure pieces, no run state, no CLI
(``protocol``: the frameworks' post-processing rules and prompt constants; ``hints``: what-to-fetch messages;
``contract``: the shared types, which import nothing of ours)."""
METRICS_EXCEPTIONS = {("janus_eval.metrics.geneval_models", "janus_eval.model.tiny")}
"""The untrained stand-in CLIP (GenEval without weights) reuses the tiny Janus's offline byte tokenizer."""
RESULTS_MUST_NOT_IMPORT = ("janus_eval.tasks", "janus_eval.registry", "janus_eval.model", "janus_eval.runner", "janus_eval.run_options",
                           "janus_eval.work", "janus_eval.understanding", "janus_eval.generation", "janus_eval.task",
                           "janus_eval.protocol", "torch")  # fmt: skip
"""``janus_eval.results`` reads run directories only."""


@dataclass(frozen=True)
class Edge:
    """``module`` imports ``target`` (a module of the package, or a top-level outside one), ``names`` from it."""

    module: str
    target: str
    names: tuple[str, ...]
    line: int

    def __str__(self) -> str:
        names = f" ({', '.join(self.names)})" if self.names else ""
        return f"{self.module}:{self.line} imports {self.target}{names}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _base(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` reads from (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    package = package[: len(package) - node.level + 1]
    return ".".join(package + ([node.module] if node.module else []))


def imports(module: str) -> list[Edge]:
    """Every import statement anywhere in ``module``; ``from pkg import sub`` counts as importing ``pkg.sub``."""
    path = MODULES[module]
    edges = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            edges += [Edge(module, alias.name, (), node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _base(module, path, node)
            submodules = [a.name for a in node.names if f"{base}.{a.name}" in MODULES]
            edges += [Edge(module, f"{base}.{name}", (), node.lineno) for name in submodules]
            rest = tuple(a.name for a in node.names if a.name not in submodules)
            if rest:
                edges.append(Edge(module, base, rest, node.lineno))
    return edges


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def edges_of(package: str) -> list[Edge]:
    return [edge for module in MODULES if within(module, package) for edge in imports(module)]


def breaches(package: str, forbidden) -> list[str]:
    """The imports of ``package``'s modules that ``forbidden(edge)`` rejects."""
    return [str(e) for e in edges_of(package) if forbidden(e)]


def test_the_scanner_sees_lazy_relative_and_submodule_imports():
    edges = {(e.target, e.names) for e in imports("janus_eval.commands.data")}
    assert ("janus_eval.registry", ("SUITE", "get_task")) in edges  # inside a function
    assert ("janus_eval.errors", ("JanusEvalError",)) in edges
    assert any(e.target == "janus_eval.model.memory" for e in imports("janus_eval.model.adapter"))  # from pkg import sub
    assert len(MODULES) > 50 and "janus_eval.results.rundir" in MODULES


def test_tasks_never_import_the_model():
    assert breaches("janus_eval.tasks", lambda e: within(e.target, "janus_eval.model")) == []


def test_model_never_imports_tasks_or_registry():
    forbidden = ("janus_eval.tasks", "janus_eval.registry")
    assert breaches("janus_eval.model", lambda e: any(within(e.target, f) for f in forbidden)) == []


def test_metrics_import_only_metrics_io_and_errors():
    def forbidden(edge: Edge) -> bool:
        inside = within(edge.target, "janus_eval")
        allowed = any(within(edge.target, m) for m in METRICS_MAY_IMPORT) or (edge.module, edge.target) in METRICS_EXCEPTIONS
        return inside and not allowed

    assert breaches("janus_eval.metrics", forbidden) == []


def test_results_read_run_directories_only():
    def forbidden(edge: Edge) -> bool:
        return any(within(edge.target, m) for m in RESULTS_MUST_NOT_IMPORT)

    assert breaches("janus_eval.results", forbidden) == []


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of ``graph`` (module -> modules it imports): its strongly connected components of two
    or more modules, each sorted (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def package_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere (lazy imports inside functions and TYPE_CHECKING too)."""
    return {module: {e.target for e in imports(module) if e.target in MODULES and e.target != module} for module in MODULES}


def test_the_cycle_finder_finds_circles_and_only_circles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"f"}, "f": set(), "g": {"h"}, "h": {"g"}}
    assert cycles(graph) == [["a", "b", "c"], ["g", "h"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_of_the_package_imports_itself_through_others():
    """A circle makes import order matter and hides which module is the lower one; contract types live in
    ``janus_eval.contract``, which imports nothing of ours."""
    assert cycles(package_graph()) == []


def test_the_contract_imports_nothing_of_ours():
    """``janus_eval.contract`` is the bottom of the graph: everything may import it, so it may import nothing."""
    assert [str(e) for e in imports("janus_eval.contract") if within(e.target, "janus_eval")] == []


def test_the_two_pipelines_stand_apart():
    """A run hands each task to one pipeline; neither knows the other, nor the run that drives it."""
    pipelines = ("janus_eval.understanding", "janus_eval.generation")
    for pipeline in pipelines:
        others = [p for p in pipelines if p != pipeline] + ["janus_eval.runner"]
        assert breaches(pipeline, lambda e: any(within(e.target, o) for o in others)) == []


def test_the_pipelines_reach_the_model_only_for_its_errors():
    """Pipelines call the model through their typed protocols; they load nothing of ``janus_eval.model``."""
    for module in ("janus_eval.understanding", "janus_eval.generation", "janus_eval.work"):
        names = [n for e in imports(module) if within(e.target, "janus_eval.model") for n in e.names]
        assert set(names) <= {"NonFiniteLogits", "ModelCall"}, (module, names)
