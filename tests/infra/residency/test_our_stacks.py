"""Our own stacks against the pack: zero open findings, only the reasoned acknowledgements, a complete report."""

from __future__ import annotations

import json

import pytest

from regiongate.cli.commands.report import DATA_KINDS, stack_contexts
from regiongate.residency import ResidencyPolicy, evaluate_template
from regiongate.residency.engine import STILL_OPEN_PREFIX
from regiongate.residency.pack import PLUGIN_NAME
from regiongate.residency.report import build_report
from tests.fixtures.synth import SYNTH_GROUP

pytestmark = pytest.mark.xdist_group(SYNTH_GROUP)

STACKS = ("Eu", "Cn")  # examined in detail: one commercial stack and the China stack (with the console)
# (construct path below the stack, rule): every residency acknowledgement we accept on our regiongate.infra.
EXPECTED_ACKNOWLEDGEMENTS = {("Gateway/AccessLogs", "StoresEncryptedWithStackKey")}
# The example China entry and tenant acknowledge an unverified database connection (regions.yaml database_tls):
# acknowledged on each database client of those stacks only, with the operator's acknowledgement as the reason.
DATABASE_CLIENTS = ("Gateway/Function", "AuditPipeline/Writer", "AuditStoreRotation/Function", "Console/Task")
UNVERIFIED_TLS_STACKS = {"Cn", "Tenant-pekingbank"}
EXPECTED_ACKNOWLEDGEMENTS_UNVERIFIED = {(path, "DatabaseTlsVerified") for path in DATABASE_CLIENTS}


@pytest.fixture(scope="module")
def assembly(synthesized_app):
    # The session's one app of every stack (tests/fixtures/synth.py), synthesized into its outdir; its synth
    # raised on any unacknowledged residency (or AwsSolutions) finding.
    return synthesized_app.outdir, synthesized_app.catalogue, synthesized_app.stacks


def _residency_report(out) -> dict:
    document = json.loads((out / "validation-report.json").read_text())
    return next(p for p in document["pluginReports"] if p["pluginName"] == PLUGIN_NAME)


def test_no_open_residency_findings_and_only_expected_acknowledgements(assembly):
    out, _, stacks = assembly
    report = _residency_report(out)
    assert report["conclusion"] == "success" and report["violations"] == []
    found, unverified = set(), {}
    for suppressed in report["suppressedViolations"]:
        stack, path = suppressed["acknowledgedAt"].split("/", 1)
        assert stack in stacks
        assert len(suppressed["reason"]) >= 60, f"{path}: reason too short to be specific"
        if suppressed["ruleName"] == "DatabaseTlsVerified":
            assert "database_tls: unverified_acknowledged" in suppressed["reason"]
            assert suppressed["reason"].startswith(STILL_OPEN_PREFIX)  # the report lists it as open
            unverified.setdefault(stack, set()).add((path, suppressed["ruleName"]))
        else:
            found.add((path, suppressed["ruleName"]))
    assert found == EXPECTED_ACKNOWLEDGEMENTS
    assert unverified == {name: EXPECTED_ACKNOWLEDGEMENTS_UNVERIFIED for name in UNVERIFIED_TLS_STACKS}


def test_rules_on_the_templates_find_only_the_acknowledged_bucket(assembly):
    out, catalogue, _ = assembly
    for name in STACKS:
        template = json.loads((out / f"{name}.template.json").read_text())
        findings = evaluate_template(template, ResidencyPolicy.from_region(catalogue.by_stack_name(name)))
        tls = [f for f in findings if f.rule_id == "DatabaseTlsVerified"]
        assert [(f.rule_id, f.logical_id.startswith("GatewayAccessLogs")) for f in findings if f not in tls] == [
            ("StoresEncryptedWithStackKey", True)
        ]
        # Cn: its four database clients carry the acknowledged marker; Eu: every client verifies
        assert len(tls) == (4 if name in UNVERIFIED_TLS_STACKS else 0)
        assert all("DB_TLS=unverified-acknowledged" in f.message for f in tls)


def test_report_of_our_stacks(assembly):
    out, catalogue, _ = assembly
    report = build_report(out, list(STACKS), stack_contexts(catalogue), data_kinds=DATA_KINDS)
    by_name = {s.name: s for s in report.stacks}
    assert set(by_name) == set(STACKS)
    for stack in report.stacks:
        # An acknowledged unverified database connection is still open (open-acknowledged), one row per client.
        unverified = stack.name in UNVERIFIED_TLS_STACKS
        assert [(f.rule_id, f.state) for f in stack.open_findings] == (
            [("DatabaseTlsVerified", "open-acknowledged")] * len(DATABASE_CLIENTS) if unverified else []
        )
        assert len(stack.acknowledgements) == 1
        assert [f.rule_id for f in stack.acknowledgements] == ["StoresEncryptedWithStackKey"]
        assert stack.unclassified == [], "every stateful resource of our stacks says what it holds"
        kinds = {kind for item in stack.stored for kind in item.kinds}
        assert {"audit-metadata", "provider-credentials", "function-logs", "load-balancer-access-logs"} <= kinds
        database = next(i for i in stack.stored if "audit-metadata" in i.kinds)
        assert database.resource_type == "AWS::RDS::DBInstance"
        assert database.key.startswith(f"stack key alias/regiongate/{catalogue.by_stack_name(stack.name).code}")
        assert "automated backups 14 days" in database.retention
        # RDS Enhanced Monitoring's log group is created by RDS, not the template: listed, in the stack's region,
        # and said not to be under the stack key.
        (host_metrics,) = [i for i in stack.stored if "database-host-metrics" in i.kinds]
        assert host_metrics.logical_id == "RDSOSMetrics (of AuditStoreDatabase498C7B03)"
        assert host_metrics.region == stack.region and "not a key of this stack" in host_metrics.key
        # Memory content (the only content the product stores) is listed, on the database, exactly where the
        # region's configuration lets an org enable Memory-as-a-Service.
        memory_offered = catalogue.by_stack_name(stack.name).gateway.memory.available
        holders = [i.resource_type for i in stack.stored if "memory-content" in i.kinds]
        assert holders == (["AWS::RDS::DBInstance"] if memory_offered else []), stack.name
        labels = [[node.label for node in chain] for chain in stack.flow.chains]
        assert ["Client", "Application Load Balancer", "Gateway (Lambda)", "Providers"] in labels
        assert ["Gateway (Lambda)", "Queue (SQS)", "Writer (Lambda)", "Audit store (RDS)"] in labels
    assert [s.name for s in report.stacks if any("memory-content" in i.kinds for i in s.stored)] == ["Eu"]
    eu_providers = next(n for c in by_name["Eu"].flow.chains for n in c if n.id == "providers")
    assert eu_providers.detail.startswith("Bedrock eu-central-1")
    assert ["Client", "Application Load Balancer", "Console (ECS)", "Audit store (RDS)"] in [
        [node.label for node in chain] for chain in by_name["Cn"].flow.chains
    ]
