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
class SealedSecrets:
    """Secrets an app keeps in one of its own stores, each sealed (envelope encryption) with a data key of a KMS key
    of the stack: what to look for in the template, so the report can compute where they are (``residency.sealed``).

    ``kind``: the data kind marked on the store that holds them; ``key_variable``: the runtime environment variable
    naming the KMS key they are sealed with; ``seal_sid``/``open_sid``: the policy statements (Sids) that let a
    runtime seal (kms:GenerateDataKey) or open (kms:Decrypt) them; ``assume_sid``: the statement that lets a runtime
    assume the roles some of them name (``roles``: what those roles are), if any."""

    kind: str
    key_variable: str
    seal_sid: str
    open_sid: str
    assume_sid: str = ""
    roles: str = "roles"


@dataclass(frozen=True)
class SealedPlacement:
    """Where one ``SealedSecrets`` kind is in one stack, computed from its template (``residency.sealed``)."""

    kind: str
    stores: tuple[str, ...]  # "<logical id> (<type>) in <region>, at rest under <key>"
    key: str  # the KMS key they are sealed with, as the template names it
    key_region: str  # where that key is ("" where the template does not say)
    sealers: tuple[str, ...]  # roles (logical ids) that may seal
    openers: tuple[str, ...]
    context: str  # the encryption context the grants require, e.g. "region = eu"
    assumed_roles: str = ""  # the role ARNs the assume statement allows ("" if none)
    assumed_by: tuple[str, ...] = ()
    sts_region: str = ""  # where STS is reached (the stack's interface endpoint), "" if not in the template
    problems: tuple[str, ...] = ()  # what is not as a reader would expect (a key elsewhere, no store found, ...)


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
    # Secrets the app seals into its own stores: the report says where they are and who may open them.
    sealed: tuple[SealedSecrets, ...] = ()
    # Stores AWS creates outside the template (inventory.service_created_items), by id: the app's kind for each.
    service_created: Mapping[str, str] = field(default_factory=dict)

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
class ModelProcessing:
    """Where one configured model may be processed, and under which promise: the stack's inference regions
    (``area`` empty) or a wider area the operator opted the model into, by its name and regions."""

    name: str
    provider: str
    processing_regions: tuple[str, ...]
    area: str = ""
    area_regions: tuple[str, ...] = ()


@dataclass(frozen=True)
class StackContext:
    """What the caller knows about a stack beyond its template: its policy, where that came from, its providers."""

    policy: ResidencyPolicy
    source: str = "given policy"
    providers: tuple[Provider, ...] = ()
    application_retention: str = ""
    models: tuple[ModelProcessing, ...] = ()


OPEN = "open"
ACKNOWLEDGED = "acknowledged"
OPEN_ACKNOWLEDGED = "open-acknowledged"


@dataclass(frozen=True)
class FindingRow:
    rule_id: str
    logical_id: str
    resource_type: str
    message: str
    acknowledged: bool = False
    reason: str = ""
    acknowledged_at: str = ""
    # Acknowledged so synthesis passes, but not fixed (pack.acknowledge(..., still_open=True)): listed as open.
    still_open: bool = False

    @property
    def state(self) -> str:
        if not self.acknowledged:
            return OPEN
        return OPEN_ACKNOWLEDGED if self.still_open else ACKNOWLEDGED


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
    models: list[ModelProcessing] = field(default_factory=list)
    sealed: list[SealedPlacement] = field(default_factory=list)

    @property
    def open_findings(self) -> list[FindingRow]:
        """Every finding not closed: unacknowledged ones and those acknowledged as still open."""
        return [f for f in self.findings if f.state != ACKNOWLEDGED]

    @property
    def acknowledgements(self) -> list[FindingRow]:
        """Findings closed by a reasoned acknowledgement (still-open ones are listed with the open findings)."""
        return [f for f in self.findings if f.state == ACKNOWLEDGED]


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

    @property
    def unacknowledged_finding_count(self) -> int:
        """Open findings nobody acknowledged: what fails synthesis (and `regiongate report`)."""
        return sum(1 for s in self.stacks for f in s.findings if f.state == OPEN)


def rows_for_kind(report: Report, kind: str) -> list[tuple[StackReport, StoredItem]]:
    return [(stack, item) for stack in report.stacks for item in stack.stored if kind in item.kinds]
