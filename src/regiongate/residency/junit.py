"""Test results as evidence: the outcomes of named test files, read from JUnit XML (``pytest --junitxml``).

A report quotes only what the file says: no file, an unreadable file or a file without the named tests is said
plainly, never read as a pass.
"""

from __future__ import annotations

import datetime as _dt
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
_SEVERITY = {PASSED: 0, SKIPPED: 1, FAILED: 2}


@dataclass(frozen=True)
class CaseOutcome:
    test_id: str  # <file>::[<class>::]<name>
    status: str  # passed, failed or skipped
    message: str = ""


@dataclass(frozen=True)
class JUnitResults:
    """The outcomes of the tests of ``test_files`` recorded in the JUnit XML file at ``path``."""

    path: str
    test_files: tuple[str, ...]
    how_to_run: str
    outcomes: tuple[CaseOutcome, ...] = ()
    recorded_at: str = ""  # when the results were recorded, and where that time comes from
    problem: str = ""  # why there are no outcomes to quote ("" when the file was read)

    def with_status(self, status: str) -> list[CaseOutcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def all_passed(self) -> bool:
        return bool(self.outcomes) and all(o.status == PASSED for o in self.outcomes)

    def summary(self) -> str:
        """One sentence: the counts and when they were recorded, or why there is nothing to quote."""
        if self.problem:
            return self.problem
        counts = ", ".join(f"{len(self.with_status(s))} {s}" for s in (PASSED, FAILED, SKIPPED))
        return f"{counts} (results in {self.path}, {self.recorded_at})"


def _module_of(test_file: str) -> str:
    """``tests/e2e/gateway/test_zero_retention.py`` -> ``tests.e2e.gateway.test_zero_retention`` (pytest's classname)."""
    return ".".join(PurePosixPath(test_file).with_suffix("").parts)


def _utc(moment: _dt.datetime) -> str:
    return moment.astimezone(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _recorded_at(root: ET.Element, path: Path) -> str:
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    stamp = next((s.get("timestamp") for s in suites if s.get("timestamp")), None)
    if stamp:
        try:
            moment = _dt.datetime.fromisoformat(stamp)
        except ValueError:
            return f"run started {stamp}"
        return f"run started {_utc(moment) if moment.tzinfo else stamp}"
    return f"file written {_utc(_dt.datetime.fromtimestamp(path.stat().st_mtime, _dt.UTC))}"


def _outcome(case: ET.Element) -> tuple[str, str]:
    for tag, status in (("failure", FAILED), ("error", FAILED), ("skipped", SKIPPED)):
        child = case.find(tag)
        if child is not None:
            message = child.get("message") or ""
            return status, message.splitlines()[0] if message else ""
    return PASSED, ""


def read_results(path: Path, test_files: Iterable[str], *, how_to_run: str) -> JUnitResults:
    """The outcomes of the tests in ``test_files`` (paths as in the test ids) recorded at ``path``.

    A test recorded twice (a failing teardown after a pass) keeps its worst outcome.
    """
    path = Path(path)
    files = tuple(test_files)
    base = JUnitResults(str(path), files, how_to_run)
    if not path.is_file():
        return replace(base, problem=f"no test results at {path}: {how_to_run}")
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        return replace(base, problem=f"the test results at {path} cannot be read ({exc}): {how_to_run}")
    recorded_at = _recorded_at(root, path)
    modules = {_module_of(f): f for f in files}
    found: dict[str, CaseOutcome] = {}
    for case in root.iter("testcase"):
        classname, name = case.get("classname", ""), case.get("name", "")
        test_file = case.get("file")
        if test_file not in files:
            test_file = next(
                (f for module, f in modules.items() if classname == module or classname.startswith(module + ".")),
                None,
            )
        if test_file is None:
            continue
        test_class = classname.removeprefix(_module_of(test_file)).lstrip(".")
        test_id = "::".join(part for part in (test_file, test_class, name) if part)
        status, message = _outcome(case)
        earlier = found.get(test_id)
        if earlier is None or _SEVERITY[status] > _SEVERITY[earlier.status]:
            found[test_id] = CaseOutcome(test_id, status, message)
    if not found:
        return replace(
            base,
            recorded_at=recorded_at,
            problem=f"the test results at {path} ({recorded_at}) hold none of {', '.join(files)}: {how_to_run}",
        )
    return replace(base, outcomes=tuple(found.values()), recorded_at=recorded_at)
