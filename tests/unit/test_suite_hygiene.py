"""The test suite's own rules, checked on its source: every ``pytest.raises`` names the message it expects.

A bare ``pytest.raises(ConfigError)`` passes for any ConfigError, including one raised for an unrelated
mistake before the code under test is reached; ``match=`` pins the refusal the test is about.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.paths import REPO_ROOT

TESTS_DIR = REPO_ROOT / "tests"
# Types so broad that a match on the message is the only thing left to say what was expected.
TOO_BROAD = {"Exception", "BaseException"}


def _raises_names(tree: ast.Module) -> set[str]:
    """Local names bound to pytest.raises by ``from pytest import raises [as name]``."""
    return {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "pytest"
        for alias in node.names
        if alias.name == "raises"
    }


def _is_raises(call: ast.Call, local_names: set[str]) -> bool:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr == "raises" and isinstance(func.value, ast.Name) and func.value.id == "pytest"
    return isinstance(func, ast.Name) and func.id in local_names


def raises_problems(source: str, filename: str = "<test>") -> list[str]:
    """``file:line: problem`` for every pytest.raises call without a non-empty match=, or on a too-broad type."""
    tree = ast.parse(source, filename)
    local_names = _raises_names(tree)
    problems = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and _is_raises(node, local_names)):
            continue
        match = next((k.value for k in node.keywords if k.arg == "match"), None)
        if match is None:
            problems.append(f"{filename}:{node.lineno}: pytest.raises without match=")
        elif isinstance(match, ast.Constant) and not match.value:
            problems.append(f"{filename}:{node.lineno}: pytest.raises with an empty match=, which matches anything")
        expected = node.args[0] if node.args else None
        if isinstance(expected, ast.Name) and expected.id in TOO_BROAD:
            problems.append(f"{filename}:{node.lineno}: pytest.raises({expected.id}): name the exception type")
    return problems


def test_every_pytest_raises_in_the_suite_matches_its_message():
    problems = []
    for path in sorted(TESTS_DIR.rglob("*.py")):
        problems += raises_problems(path.read_text(encoding="utf-8"), str(path.relative_to(REPO_ROOT)))
    assert problems == []


def test_the_check_finds_each_kind_of_unpinned_raises():
    source = "\n".join(
        [
            "import pytest",
            "from pytest import raises as refuses",
            "with pytest.raises(ValueError):",  # line 3: no match
            "    pass",
            "with pytest.raises(",  # line 5: a multi-line call, still no match
            "    ValueError,",
            "):",
            "    pass",
            "with refuses(KeyError):",  # line 9: imported under another name
            "    pass",
            "with pytest.raises(KeyError, match=''):",  # line 11: empty pattern
            "    pass",
            "with pytest.raises(Exception, match='boom'):",  # line 13: too broad a type
            "    pass",
            "with pytest.raises(ValueError, match='must be positive'):",  # line 15: fine
            "    pass",
        ]
    )
    problems = raises_problems(source, "t.py")
    assert [p.split(": ", 1)[0] for p in problems] == ["t.py:3", "t.py:5", "t.py:9", "t.py:11", "t.py:13"]


def test_the_check_reads_the_files_it_claims_to():
    # Guards the suite-wide test above: an empty or wrong directory would make it pass vacuously.
    files = list(TESTS_DIR.rglob("test_*.py"))
    assert Path(__file__) in files and len(files) > 20
    assert sum("pytest.raises(" in f.read_text(encoding="utf-8") for f in files) > 10
