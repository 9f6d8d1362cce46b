"""The benchmarks' imports of the package resolve: `make bench` is not part of `make test`, so a name moved in the
package would otherwise break a benchmark unnoticed (bench_synth_scale imported `tenants` from the wrong module
until 4 Dec 2026). Imports inside functions are checked too: the benchmarks import the package where it is used."""

from __future__ import annotations

import ast
import importlib

import pytest

from tests.paths import REPO_ROOT

BENCH_SCRIPTS = sorted(REPO_ROOT.joinpath("bench").glob("*.py"))


def package_imports(source: str) -> list[tuple[str, str | None]]:
    """(module, name) for every `from regiongate… import name` and (module, None) for every `import regiongate…`."""
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "regiongate":
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names if alias.name.split(".")[0] == "regiongate"]
    return found


def unresolved(module_name: str, name: str | None) -> str | None:
    module = importlib.import_module(module_name)
    if name is None or hasattr(module, name):
        return None
    try:
        importlib.import_module(f"{module_name}.{name}")
    except ModuleNotFoundError:
        return f"from {module_name} import {name}"
    return None


def test_the_check_finds_a_name_the_module_does_not_have():
    [(module, name)] = package_imports("def f():\n    from regiongate.config.regions import tenants\n")
    assert unresolved(module, name) == "from regiongate.config.regions import tenants"
    assert unresolved("regiongate.config", "tenants") is None  # a submodule


@pytest.mark.parametrize("script", BENCH_SCRIPTS, ids=lambda path: path.name)
def test_every_package_import_of_a_benchmark_resolves(script):
    problems = [
        problem
        for module, name in package_imports(script.read_text(encoding="utf-8"))
        if (problem := unresolved(module, name)) is not None
    ]
    assert problems == []
