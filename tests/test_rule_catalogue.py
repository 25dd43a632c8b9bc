"""Every rule of the sandbox's catalogue has a test, and docs/FIDELITY.md says which.

Tests declare what they check with ``@pytest.mark.rule("ID", ...)`` (on a test, or on a
``pytest.param`` case). Regenerate the document after adding rules or tests with
``python tests/test_rule_catalogue.py``.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

from ovo_nb.sandbox.rules import RULES

ROOT = Path(__file__).resolve().parent.parent
FIDELITY = ROOT / "docs" / "FIDELITY.md"


def _is_rule_marker(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "rule"
            and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "mark")


def _ids(call: ast.Call) -> list[str]:
    return [arg.value for arg in call.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]


def rule_tests() -> dict[str, list[str]]:
    """Rule id -> the tests that declare it (``file::test`` or ``file::test[case]``)."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for decorator in node.decorator_list:
                    if _is_rule_marker(decorator):
                        for rule_id in _ids(decorator):  # type: ignore[arg-type]
                            found[rule_id].append(f"{path.name}::{node.name}")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "param"
                  and node.args and isinstance(node.args[0], ast.Name)):
                for keyword in node.keywords:
                    if keyword.arg == "marks" and _is_rule_marker(keyword.value):
                        for rule_id in _ids(keyword.value):  # type: ignore[arg-type]
                            found[rule_id].append(f"{path.name}::[{node.args[0].id}]")
    return dict(found)


def fidelity_markdown() -> str:
    tests = rule_tests()
    lines = [
        "# Sandbox fidelity: the rules it enforces",
        "",
        "Generated from `ovo_nb/sandbox/rules.py` and the tests' `@pytest.mark.rule` markers by",
        "`python tests/test_rule_catalogue.py`; a test fails when this file is stale or a rule has no test.",
        f"{len(RULES)} rules, {sum(r.assumed for r in RULES)} of them *assumed* (one named constant each; README, "
        "\"Assumed\").",
        "",
        "| id | rule | source | where | tests |",
        "|---|---|---|---|---|",
    ]
    for r in RULES:
        cell = "<br>".join(f"`{t}`" for t in tests.get(r.id, []))
        name = f"{r.id} *(assumed)*" if r.assumed else r.id
        lines.append(f"| {name} | {r.rule} | {r.source} | `{r.implemented_by}` | {cell} |".replace("\n", " "))
    return "\n".join(lines) + "\n"


def test_every_rule_has_a_test() -> None:
    tests = rule_tests()
    assert [r.id for r in RULES if not tests.get(r.id)] == []


def test_every_marker_names_a_rule() -> None:
    known = {r.id for r in RULES}
    assert sorted(set(rule_tests()) - known) == []
    assert len(known) == len(RULES)  # ids are unique


def test_the_fidelity_document_is_current() -> None:
    assert FIDELITY.exists() and FIDELITY.read_text() == fidelity_markdown(), (
        "docs/FIDELITY.md is stale: run python tests/test_rule_catalogue.py")


def test_the_scanner_sees_both_marker_forms() -> None:
    tests = rule_tests()
    assert "test_sandbox_negative.py::[malformed_json]" in tests["GW-BODY-JSON"]
    assert any("::test_" in t for ts in tests.values() for t in ts)


def test_the_readme_counts_the_rules() -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"lists them ({len(RULES)} rules)" in readme


if __name__ == "__main__":
    FIDELITY.write_text(fidelity_markdown())
    print(f"wrote {FIDELITY}", file=sys.stderr)
