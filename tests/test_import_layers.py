"""The package's import graph: folders form layers, imports only go down, and no module imports
itself in a circle. Read from the source with ``ast`` (module-level and function-level imports
alike; the registry's lazy ``importlib.import_module`` of the modules that hold its entries is
by design and not an import statement)."""
from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Lower layers never import higher ones; folders of one layer do not import each other.
LAYERS: dict[str, int] = {
    "registry": 0, "utils": 0,          # sadp/registry.py, sadp/utils/
    "snn": 1, "data": 1,                # the substrate and the datasets
    "pruning": 2,                       # methods, sampler, monitor
    "train": 3,                         # the trainer
    "diagnostics": 4, "experiments": 4,
    "cli": 5,
    "": 6,                              # the package root: sadp/__init__.py, sadp/__main__.py
}

# (importing module, imported module) pairs allowed to break the layering, each with the reason.
# Empty: keep it that way (an entry that no longer applies fails test_allowed_exceptions_still_exist).
ALLOWED: dict[tuple[str, str], str] = {}


def module_files(src: Path = SRC) -> dict[str, Path]:
    """``{"sadp.snn.fused": path, "sadp.snn": .../snn/__init__.py, ...}``."""
    out = {}
    for f in sorted((src / "sadp").rglob("*.py")):
        parts = list(f.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = f
    return out


def imports(src: Path = SRC) -> dict[str, set[str]]:
    """Each module's imports of package modules (``from pkg import name`` counts as ``pkg.name``
    when that is a module, else as ``pkg``), anywhere in the file."""
    modules = module_files(src)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name in modules}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolve against this module's package
                    anchor = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                for a in node.names:
                    target = f"{base}.{a.name}"
                    found.add(target if target in modules else base)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


@functools.lru_cache(maxsize=1)
def package_imports() -> dict[str, frozenset[str]]:
    """:func:`imports` of this repository's package, parsed once per test session."""
    return {m: frozenset(t) for m, t in imports().items()}


def folder(module: str) -> str:
    """``sadp.snn.models.base`` -> ``snn``; ``sadp.registry`` -> ``registry``; ``sadp`` -> ``""``."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "__main__":
        return ""
    return parts[1]


def layering_violations(graph: dict[str, set[str]] | dict[str, frozenset[str]]) -> list[tuple[str, str]]:
    bad = []
    for importer, targets in graph.items():
        for target in targets:
            a, b = folder(importer), folder(target)
            if a != b and LAYERS[b] >= LAYERS[a]:
                bad.append((importer, target))
    return sorted(bad)


def cycles(graph: dict[str, set[str]] | dict[str, frozenset[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
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
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def folder_graph(graph: dict[str, set[str]] | dict[str, frozenset[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for importer, targets in graph.items():
        out.setdefault(folder(importer), set()).update(folder(t) for t in targets if folder(t) != folder(importer))
    return out


def test_every_folder_has_a_layer() -> None:
    missing = sorted({folder(m) for m in module_files()} - set(LAYERS))
    assert not missing, f"add the new package folder(s) {missing} to LAYERS in {Path(__file__).name}"


def test_imports_only_go_down_the_layers() -> None:
    bad = [pair for pair in layering_violations(package_imports()) if pair not in ALLOWED]
    assert not bad, "imports up or across the layers (" + " < ".join(
        "/".join(sorted(f or "sadp" for f, r in LAYERS.items() if r == rank)) for rank in sorted(set(LAYERS.values()))
    ) + "): " + "; ".join(f"{a} imports {b}" for a, b in bad)


def test_allowed_exceptions_still_exist() -> None:
    stale = sorted(set(ALLOWED) - set(layering_violations(package_imports())))
    assert not stale, f"these imports are gone: delete their entries from ALLOWED in {Path(__file__).name}: {stale}"


def test_no_import_cycles_between_folders() -> None:
    # The allowed exceptions are left out: today's pruning -> diagnostics arrow closes a circle.
    graph = {a: {t for t in targets if (a, t) not in ALLOWED} for a, targets in package_imports().items()}
    assert cycles(folder_graph(graph)) == []


def test_no_import_cycles_between_modules() -> None:
    assert cycles(package_imports()) == [], (
        "modules that import each other in a circle (move what they share to a lower module)")


@pytest.mark.parametrize("source, expected", [
    # the checks themselves: an upward arrow and a circle on a throw-away package are found
    ({"sadp/__init__.py": "", "sadp/snn/__init__.py": "", "sadp/snn/a.py": "def f():\n    from sadp.train import t\n",
      "sadp/train/__init__.py": "", "sadp/train/t.py": "import sadp.snn.a\n"},
     {"violations": [("sadp.snn.a", "sadp.train.t")], "cycles": [["sadp.snn.a", "sadp.train.t"]]}),
    ({"sadp/__init__.py": "", "sadp/snn/__init__.py": "", "sadp/snn/a.py": "from sadp.snn import b\n",
      "sadp/snn/b.py": "from . import a\n", "sadp/registry.py": ""},
     {"violations": [], "cycles": [["sadp.snn.a", "sadp.snn.b"]]}),
])
def test_the_checks_find_what_they_look_for(tmp_path: Path, source: dict[str, str], expected: dict) -> None:
    for rel, text in source.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    graph = imports(tmp_path)
    assert layering_violations(graph) == expected["violations"]
    assert cycles(graph) == expected["cycles"]
