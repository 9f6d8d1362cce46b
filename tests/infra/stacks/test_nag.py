"""cdk-nag AwsSolutions on every stack: zero unacknowledged findings, and every acknowledgement reasoned."""

from __future__ import annotations

from aws_cdk import Validations

# Every acknowledgement we accept, by rule, on the construct path it concerns (stack name stripped).
EXPECTED_ACKNOWLEDGEMENTS = {
    ("AuditPipeline/Writer", "AwsSolutions::AwsSolutions-L1"),
    ("Gateway/Function", "AwsSolutions::AwsSolutions-L1"),
    ("AuditStoreRotation/Function", "AwsSolutions::AwsSolutions-L1"),
    # secretsmanager:GetRandomPassword (CDK's rotation grant) has no resource-level permissions.
    ("AuditStoreRotation/Function", "AwsSolutions::AwsSolutions-IAM5[Resource::*]"),
    # Lambda VPC networking (lambda_factory.execution_role), as on the other function roles.
    ("AuditStoreRotation/FunctionRole", "AwsSolutions::AwsSolutions-IAM5[Resource::*]"),
    ("AuditPipeline/WriterRole", "AwsSolutions::AwsSolutions-IAM5[Resource::*]"),
    ("Gateway/FunctionRole", "AwsSolutions::AwsSolutions-IAM5[Resource::*]"),
    ("AuditPipeline/WriterRole", "AwsSolutions::AwsSolutions-IAM5[Action::kms:GenerateDataKey*]"),
    ("AuditPipeline/WriterRole", "AwsSolutions::AwsSolutions-IAM5[Action::kms:ReEncrypt*]"),
    ("Gateway/FunctionRole", "AwsSolutions::AwsSolutions-IAM5[Action::kms:GenerateDataKey*]"),
    ("Gateway/FunctionRole", "AwsSolutions::AwsSolutions-IAM5[Action::kms:ReEncrypt*]"),
    ("Gateway/LoadBalancerSecurityGroup", "AwsSolutions::AwsSolutions-EC23"),
    ("Gateway/AccessLogs", "AwsSolutions::AwsSolutions-S1"),
    ("AuditStore/Database", "AwsSolutions::AwsSolutions-RDS11"),
    ("Secrets/ProviderCredentials", "AwsSolutions::AwsSolutions-SMG4"),
}
CONSOLE_ACKNOWLEDGEMENTS = {
    ("Console/LoadBalancerSecurityGroup", "AwsSolutions::AwsSolutions-EC23"),
    ("Console/Task", "AwsSolutions::AwsSolutions-ECS2"),
    ("Console/ExecutionRole", "AwsSolutions::AwsSolutions-IAM5[Resource::*]"),
}
LOG_STREAM_ACKS = {"AuditPipeline/WriterRole", "Gateway/FunctionRole", "AuditStoreRotation/FunctionRole"}
# The orgs' own Bedrock roles, in their accounts, under one IAM path (shared_constructs.region_key).
ORG_ROLES_ACK = "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::*:role/regiongate/*]"
# RDS enhanced monitoring writes to log streams named after the instance's resource id (store/infrastructure.py).
MONITORING_ROLE = "AuditStore/MonitoringRole"


def acknowledgements(stack):
    found = []
    for construct in stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for rule, reason in entry.data.items():
                    # CDK acknowledges some of its own CloudFormation-Validate findings; ours are AwsSolutions.
                    if rule.startswith("AwsSolutions::"):
                        found.append((construct.node.path.split("/", 1)[1], rule, reason))
    return found


def test_synthesis_raised_no_unacknowledged_finding(each_stack):
    # The session fixture's app.synth() raises on any unacknowledged finding; reaching here means none.
    assert each_stack.template_json["Resources"]


def test_every_acknowledgement_is_expected_and_has_a_specific_reason(each_stack):
    found = acknowledgements(each_stack.stack)
    assert found, "no acknowledgements recorded: the metadata key may have changed"
    monitoring_acknowledged = False
    expected = EXPECTED_ACKNOWLEDGEMENTS | (CONSOLE_ACKNOWLEDGEMENTS if each_stack.region.console else set())
    for path, rule, reason in found:
        assert len(reason) >= 60, f"{path} {rule}: reason too short to be specific"
        if path == MONITORING_ROLE and rule.startswith("AwsSolutions::AwsSolutions-IAM5[Resource::arn:"):
            region = each_stack.region
            assert rule == (
                f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:{region.partition}:logs:{region.aws_region}:"
                f"{region.account}:log-group:RDSOSMetrics:log-stream:*]"
            )
            monitoring_acknowledged = True
            continue
        if rule == ORG_ROLES_ACK:  # sts:AssumeRole on the orgs' own Bedrock roles (#16): the gateway's role only
            assert path in ("Gateway/FunctionRole", "GatewayService/TaskRole")
            continue
        if rule.startswith("AwsSolutions::AwsSolutions-IAM5[Resource::arn:"):
            assert path in LOG_STREAM_ACKS
            assert f":log-group:/regiongate/{each_stack.region.deployment_id}/" in rule
            continue
        assert (path, rule) in expected, f"unexpected acknowledgement {rule} on {path}"
    assert {(p, r) for p, r, _ in found if (p, r) in expected} == expected
    assert monitoring_acknowledged, f"no acknowledgement of the RDSOSMetrics log streams on {MONITORING_ROLE}"
