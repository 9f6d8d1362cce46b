"""How the parts fit together: no import cycles anywhere in the package, no import-path edits.

The direction of dependencies (runtimes never import synth-time code, nothing imports the CLI, the contract is a
leaf, the residency pack is generic) is enforced by the import-linter contracts in pyproject.toml, which
`make test` runs; this test adds what import-linter does not check: cycles between any two modules, including
imports made inside functions.
"""

from __future__ import annotations

import re

import grimp

from tests.paths import REPO_ROOT


def test_no_module_imports_itself_through_another():
    graph = grimp.build_graph("regiongate")
    cycles = sorted(
        {
            tuple(sorted((module, imported)))
            for module in graph.modules
            for imported in graph.find_modules_directly_imported_by(module)
            if graph.find_shortest_chain(importer=imported, imported=module)
        }
    )
    assert cycles == []


def test_nothing_edits_the_import_path():
    offenders = []
    for path in [
        *REPO_ROOT.joinpath("src").rglob("*.py"),
        *REPO_ROOT.joinpath("tests").rglob("*.py"),
        *REPO_ROOT.joinpath("bench").rglob("*.py"),
        REPO_ROOT / "app.py",
    ]:
        text = path.read_text(encoding="utf-8")
        if (
            re.search(r"sys\.path\.(insert|append|extend)|sys\.path\s*[+]?=", text)
            and path.name != "test_architecture.py"
        ):
            offenders.append(str(path.relative_to(REPO_ROOT)))
    assert offenders == []
