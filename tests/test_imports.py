"""The house has no import cycles: walk every ``olkit`` module's imports (module and function
level, read with ``ast``, nothing executed) and fail on a cycle or a backward arrow.

An edge ``a -> b`` means module ``a`` imports ``b`` (``from olkit.x import y`` counts as
``olkit.x``, or ``olkit.x.y`` when that is a module; a package's ``__init__`` counts as the
package, and importing ``olkit.x.y`` from outside ``olkit.x`` also imports ``olkit.x``).  Function-level imports count too: deferring an import hides a cycle from Python, not
from the design.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "olkit"
#: the ledger is the bottom of the house: it may import shared helpers, never a stage
STAGES = ("olkit.ingest", "olkit.filters", "olkit.reputation", "olkit.sim", "olkit.train",
          "olkit.attribution", "olkit.rewards", "olkit.policy_lab", "olkit.widgets", "olkit.data")
#: edges the cycle check may ignore (none: keep it that way)
KNOWN_ELSEWHERE: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _walk_runtime(tree: ast.AST):
    """``ast.walk`` minus ``if TYPE_CHECKING:`` blocks (type-only imports never run)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        yield node
        todo.extend(ast.iter_child_nodes(node))


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The olkit modules ``name`` imports anywhere in its body (ast only)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _walk_runtime(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # olkit.x.func -> olkit.x
                target = target.rpartition(".")[0]
            if target.startswith("olkit") and target != name:
                found.add(target)
    # importing olkit.x.y runs olkit/x/__init__.py first: an edge to every package above the
    # target, except the importer's own packages (already being imported when it runs)
    own = {name.rsplit(".", k)[0] for k in range(1, name.count(".") + 1)} | {name}
    for target in list(found):
        parts = target.split(".")
        found |= {p for k in range(2, len(parts)) if (p := ".".join(parts[:k])) in known and p not in own}
    return found


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(name, path, set(mods)) for name, path in mods.items()}


def cycles(graph: dict[str, set[str]], ignore: set[tuple[str, str]] = frozenset()) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if (v, w) in ignore or w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_walker_sees_cycles_and_relative_imports(tmp_path):
    graph = {"olkit.a": {"olkit.b"}, "olkit.b": {"olkit.c"}, "olkit.c": {"olkit.a"}, "olkit.d": {"olkit.a"}}
    assert cycles(graph) == [["olkit.a", "olkit.b", "olkit.c"]]
    assert cycles(graph, ignore={("olkit.c", "olkit.a")}) == []
    pkg = tmp_path / "olkit" / "p"
    pkg.mkdir(parents=True)
    src = pkg / "m.py"
    src.write_text("from typing import TYPE_CHECKING\nfrom . import n\nfrom .n import f\ndef g():\n"
                   "    from olkit.q.r import h\nif TYPE_CHECKING:\n    from olkit.z import Z\n")
    known = {"olkit.p.m", "olkit.p.n", "olkit.q.r", "olkit.q", "olkit.z"}
    global ROOT
    old, ROOT = ROOT, tmp_path / "olkit"
    try:
        assert imports_of("olkit.p.m", src, known) == {"olkit.p.n", "olkit.q.r", "olkit.q"}
    finally:
        ROOT = old


def test_no_import_cycles_among_olkit_modules():
    graph = import_graph()
    assert len(graph) > 40 and "olkit.store" in graph
    found = cycles(graph, ignore=KNOWN_ELSEWHERE)
    assert not found, "import cycles (a module list per cycle): " + "; ".join(" <-> ".join(c) for c in found)


def test_store_imports_no_stage():
    bad = sorted(b for b in import_graph()["olkit.store"] if b.startswith(STAGES) and ("olkit.store", b) not in KNOWN_ELSEWHERE)
    assert not bad, f"olkit.store imports stage modules: {bad}"


def test_store_does_not_import_ingest_hashing():
    assert "olkit.ingest.hashing" not in import_graph()["olkit.store"]
