"""The import rules of ARCHITECTURE.md, read off the source: no edge up a layer, none between the
client side and the sandbox, no cycle inside the sandbox."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ovo_nb"
SANDBOX_MAY_IMPORT = {"errors", "snap", "signing", "testbed", "_files", "_escape", "secretbox", "keys"}
"""L0 (the wire vocabulary) and L1 (files, keys): everything the sandbox may share with the client."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every ``ovo_nb`` module ``path`` imports, at any depth of the file (lazy imports count)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("ovo_nb")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if not target.startswith("ovo_nb"):
                continue
            modules = {f"{target}.{alias.name}" for alias in node.names if _is_module(f"{target}.{alias.name}")}
            found |= modules or {target}  # `from . import webview` names a module, not the package
    return found


def _is_module(dotted: str) -> bool:
    where = PACKAGE.parent / Path(*dotted.split("."))
    return where.with_suffix(".py").exists() or (where / "__init__.py").exists()


def graph() -> dict[str, set[str]]:
    return {module_name(path): imports_of(path) for path in PACKAGE.rglob("*.py")}


def test_the_sandbox_imports_only_the_shared_vocabulary() -> None:
    edges = graph()
    bad = sorted(
        f"{source} -> {target}"
        for source, targets in edges.items() if source.startswith("ovo_nb.sandbox")
        for target in targets
        if not target.startswith("ovo_nb.sandbox") and target.split(".")[1] not in SANDBOX_MAY_IMPORT
    )
    assert bad == [], "the sandbox may import only " + ", ".join(sorted(SANDBOX_MAY_IMPORT))


def test_no_import_cycle_inside_the_sandbox() -> None:
    edges = {source: {t for t in targets if t.startswith("ovo_nb.sandbox") and t != source}
             for source, targets in graph().items() if source.startswith("ovo_nb.sandbox")}
    # a package's own __init__ re-exports its modules: those edges go down, not round
    edges = {source: {t for t in targets if not source.startswith(t + ".")} for source, targets in edges.items()}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(edges.get(node, ())):
            if nxt in path:
                cycles.append(" -> ".join([*path[path.index(nxt):], nxt]))
            elif len(path) < 30:
                visit(nxt, [*path, nxt])

    for start in sorted(edges):
        visit(start, [start])
    assert cycles == []


def test_the_walker_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    edges = graph()
    assert "ovo_nb.sandbox.gateway" in edges["ovo_nb.sandbox.core"]
    assert "ovo_nb.sandbox.handlers.account" in edges["ovo_nb.sandbox.handlers"]
    assert "ovo_nb.snap" in edges["ovo_nb.sandbox.handlers.debit"]


def test_the_handler_table_serves_every_endpoint() -> None:
    from ovo_nb.sandbox.handlers import HANDLERS
    from ovo_nb.snap import ENDPOINTS

    assert set(HANDLERS) == set(ENDPOINTS)


LAYERS: dict[str, int] = {
    "errors": 0, "snap": 0, "signing": 0,
    "_files": 1, "_escape": 1, "storage": 1, "secretbox": 1, "keys": 1, "testbed": 1, "project": 1,
    "config": 2, "client": 2, "calllog": 2, "tokens": 2, "ledger": 2, "webview": 2, "models": 2, "sandbox": 2,
    "environments": 3, "flows": 3, "views": 3,
    "_recon_sql": 4, "doctor": 4, "reconciliation": 4, "reports": 4, "evidence": 4, "walkthrough": 4, "widgets": 4, "traffic": 4,
    "workbench": 4, "conformance": 4, "scaffold": 4, "outcome": 4, "migration": 4, "postman": 4, "finance": 4,
    "schedules": 4,
    "runner": 5, "cli": 5, "__main__": 5,
}
"""ARCHITECTURE.md's layers: L0 the wire vocabulary ... L5 the commands; the sandbox is L2b."""
SANDBOX_IMPORTERS = {"environments", "cli"}
"""The only modules outside the sandbox that may import it."""


def test_every_module_has_a_layer() -> None:
    tops = {name.split(".")[1] for name in graph() if name != "ovo_nb"}
    assert sorted(tops - set(LAYERS)) == []


def test_imports_go_down_the_layers_and_never_across_client_and_sandbox() -> None:
    bad = []
    for source, targets in graph().items():
        if source == "ovo_nb" or source.startswith("ovo_nb.sandbox"):
            continue  # the package's lazy re-exports; the sandbox has its own rule above
        here = source.split(".")[1]
        for target in targets:
            if target == "ovo_nb":
                continue
            there = target.split(".")[1]
            if there == "sandbox" and here not in SANDBOX_IMPORTERS:
                bad.append(f"{source} -> {target} (only {', '.join(sorted(SANDBOX_IMPORTERS))} import the sandbox)")
            elif LAYERS[there] > LAYERS[here]:
                bad.append(f"{source} (L{LAYERS[here]}) -> {target} (L{LAYERS[there]})")
    assert bad == []


def test_a_light_import(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = ("import sys, ovo_nb, ovo_nb.snap, ovo_nb.errors\n"
            "heavy = [m for m in ('pandas', 'ipywidgets', 'ovo_nb.sandbox', 'httpx') if m in sys.modules]\n"
            "print(heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_public_names_resolve_lazily() -> None:
    import ovo_nb

    assert set(ovo_nb.__all__) - {"__version__"} == set(ovo_nb._EXPORTS)
    for name in ovo_nb.__all__:
        assert getattr(ovo_nb, name) is not None, name


def test_notebooks_import_only_the_public_api() -> None:
    import json

    deep = []
    for path in sorted((PACKAGE.parent / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            deep += [f"{path.name}: {line.strip()}" for line in source.splitlines()
                     if line.lstrip().startswith(("from ovo_nb.", "import ovo_nb."))]
    assert deep == []
