"""What a residency report holds: built by ``report.build_report``, drawn by ``render`` (neither imports the other's
callers, so the two modules depend on this one and not on each other).

Everything app-specific (how resources are labelled, the kinds' titles, the policies, the configured providers,
which test results to read) is given by the caller: the pack works in any CDK app.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from regiongate.residency.inventory import Flow, StoredItem
from regiongate.residency.junit import JUnitResults
from regiongate.residency.network_paths import NetworkPath
from regiongate.residency.policy import ResidencyPolicy

MARKDOWN_NAME = "residency-report.md"
HTML_NAME = "residency-report.html"


@dataclass(frozen=True)
class DataKinds:
    """How an app records what its resources hold.

    ``metadata_key`` is the template metadata key listing a resource's kinds; ``titles`` maps kinds to their
    titles, in display order (kinds found but not listed follow, sorted); ``never_stored`` are kinds no resource
    may hold, listed even when nothing is marked with them; ``where_to_mark`` tells a reader how to label an
    unclassified resource.
    """

    metadata_key: str
    titles: Mapping[str, str] = field(default_factory=dict)
    never_stored: tuple[str, ...] = ()
    where_to_mark: str = ""

    def title(self, kind: str) -> str:
        return self.titles.get(kind, kind)


@dataclass(frozen=True)
class Provider:
    """One configured inference provider: the templates show only Bedrock grants, so the caller names them."""

    name: str
    type: str
    where: str
    may_process_in: tuple[str, ...] = ()
    # Host names the provider is reached at (outside AWS): the network paths say where they end from this.
    hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class StackContext:
    """What the caller knows about a stack beyond its template: its policy, where that came from, its providers."""

    policy: ResidencyPolicy
    source: str = "given policy"
    providers: tuple[Provider, ...] = ()
    application_retention: str = ""


@dataclass(frozen=True)
class FindingRow:
    rule_id: str
    logical_id: str
    resource_type: str
    message: str
    acknowledged: bool = False
    reason: str = ""
    acknowledged_at: str = ""


@dataclass
class StackReport:
    name: str
    account: str
    region: str
    policy: ResidencyPolicy
    policy_source: str
    stored: list[StoredItem]
    unclassified: list[StoredItem]
    findings: list[FindingRow]
    flow: Flow
    providers: list[Provider] = field(default_factory=list)
    application_retention: str = ""
    network: list[NetworkPath] = field(default_factory=list)

    @property
    def open_findings(self) -> list[FindingRow]:
        return [f for f in self.findings if not f.acknowledged]

    @property
    def acknowledgements(self) -> list[FindingRow]:
        return [f for f in self.findings if f.acknowledged]


@dataclass
class Report:
    generated_at: str
    cdk_out: str
    stacks: list[StackReport]
    data_kinds: DataKinds
    test_results: JUnitResults | None
    validation_report_found: bool
    notes: list[str] = field(default_factory=list)

    def kinds(self) -> list[str]:
        present = {kind for stack in self.stacks for item in stack.stored for kind in item.kinds}
        listed = set(self.data_kinds.never_stored)
        ordered = [k for k in self.data_kinds.titles if k in present or k in listed]
        ordered += [k for k in self.data_kinds.never_stored if k not in ordered]
        return ordered + sorted(present - set(ordered))

    @property
    def open_finding_count(self) -> int:
        return sum(len(s.open_findings) for s in self.stacks)


def rows_for_kind(report: Report, kind: str) -> list[tuple[StackReport, StoredItem]]:
    return [(stack, item) for stack in report.stacks for item in stack.stored if kind in item.kinds]
