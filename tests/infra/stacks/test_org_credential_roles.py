"""The task roles and orgs' own provider credentials (#16), exactly: the container gateway's task role (Tenant-acme,
gateway.runtime: container) opens org credentials only with this region's encryption context and assumes only
roles under /regiongate/; the console's task role seals (kms:GenerateDataKey) and never opens, neither through its
own policies nor through the key's policy."""

from __future__ import annotations

import json

import pytest

from regiongate.contract.environment import CREDENTIALS_KEY_ARN
from regiongate.shared_constructs.region_key import CREDENTIAL_CONTEXT_KEYS, ORG_ROLE_PATH
from tests.fixtures.synth import SYNTHESIZED_STACKS, synthesized_stack

CONTAINER_STACK = "Tenant-acme"  # tenants/acme.yaml: gateway.runtime container


def resources(s, type_name: str) -> dict:
    return {k: r for k, r in s.template_json["Resources"].items() if r["Type"] == type_name}


def role_statements(s, role_id: str) -> list[dict]:
    """Every statement of the role's policies: attached AWS::IAM::Policy resources and inline ones."""
    statements = [
        st
        for p in resources(s, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for st in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    inline = s.template_json["Resources"][role_id]["Properties"].get("Policies", [])
    return statements + [st for p in inline for st in p["PolicyDocument"]["Statement"]]


def actions(statement: dict) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def key_ref(s) -> dict:
    (key_id,) = resources(s, "AWS::KMS::Key")
    return {"Fn::GetAtt": [key_id, "Arn"]}


def task_of(s, container_name: str) -> dict:
    (task,) = [
        r["Properties"]
        for r in resources(s, "AWS::ECS::TaskDefinition").values()
        if r["Properties"]["ContainerDefinitions"][0]["Name"] == container_name
    ]
    return task


def expected_statements(s) -> list[dict]:
    return [
        {
            "Sid": "OpenOrgProviderCredentials",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": key_ref(s),
            "Condition": {
                "StringEquals": {"kms:EncryptionContext:region": s.region.code},
                "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": list(CREDENTIAL_CONTEXT_KEYS)},
                "Null": {"kms:EncryptionContext:org": "false", "kms:EncryptionContext:provider": "false"},
            },
        },
        {
            "Sid": "AssumeOrgBedrockRoles",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":iam::*:role/{ORG_ROLE_PATH}*"]]},
        },
    ]


@pytest.fixture
def container_stack(synthesized_app):
    return synthesized_stack(synthesized_app, CONTAINER_STACK)


def test_container_gateway_task_role_carries_exactly_the_org_credential_statements(container_stack):
    task = task_of(container_stack, "Gateway")
    role_id = task["TaskRoleArn"]["Fn::GetAtt"][0]
    statements = role_statements(container_stack, role_id)
    org_statements = [
        st
        for st in statements
        if "kms:EncryptionContext:region" in json.dumps(st.get("Condition", {}))
        or any(a.startswith("sts:") for a in actions(st))
    ]
    # Exactly these two, once each, and nothing else that assumes a role or names an org credential's context.
    assert sorted(org_statements, key=lambda st: st["Sid"]) == sorted(
        expected_statements(container_stack), key=lambda st: st["Sid"]
    )
    # The task role is the one the gateway's container runs with, and its environment names the key to open with.
    (container,) = task["ContainerDefinitions"]
    environment = {v["Name"]: v["Value"] for v in container.get("Environment", [])}
    assert environment[CREDENTIALS_KEY_ARN] == key_ref(container_stack)
    # The execution role (pulls the image, writes logs) gets neither.
    execution_id = task["ExecutionRoleArn"]["Fn::GetAtt"][0]
    execution = json.dumps(role_statements(container_stack, execution_id))
    assert "sts:AssumeRole" not in execution and "EncryptionContext:region" not in execution


@pytest.mark.parametrize("stack_name", SYNTHESIZED_STACKS)
def test_console_task_role_seals_and_never_decrypts(synthesized_app, stack_name):
    s = synthesized_stack(synthesized_app, stack_name)
    consoles = [
        r["Properties"]
        for r in resources(s, "AWS::ECS::TaskDefinition").values()
        if r["Properties"]["ContainerDefinitions"][0]["Name"] != "Gateway"
    ]
    if not s.region.console:
        assert consoles == []
        return
    (task,) = consoles
    role_id = task["TaskRoleArn"]["Fn::GetAtt"][0]
    statements = role_statements(s, role_id)
    (sealing,) = [st for st in statements if "kms:GenerateDataKey" in actions(st)]
    assert sealing == {
        "Sid": "SealOrgProviderCredentials",
        "Effect": "Allow",
        "Action": "kms:GenerateDataKey",
        "Resource": key_ref(s),
        "Condition": {
            "StringEquals": {"kms:EncryptionContext:region": s.region.code},
            "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": list(CREDENTIAL_CONTEXT_KEYS)},
            "Null": {"kms:EncryptionContext:org": "false", "kms:EncryptionContext:provider": "false"},
        },
    }
    # No kms:Decrypt (nor a wildcard that covers it) in the role's policies...
    assert not [a for st in statements for a in actions(st) if a in ("kms:Decrypt", "kms:*", "*") or "Decrypt*" in a]
    assert not [st for st in statements if any(a.startswith("sts:") for a in actions(st))]
    # ...and in the key's policy for this role only through Secrets Manager (the console reads its database secret,
    # which the stack key encrypts): kms:ViaService lets Secrets Manager decrypt secrets for it, never the console
    # decrypt an org credential's data key itself.
    (key,) = resources(s, "AWS::KMS::Key").values()
    for statement in key["Properties"]["KeyPolicy"]["Statement"]:
        if role_id in json.dumps(statement.get("Principal", {})):
            if [a for a in actions(statement) if "Decrypt" in a or a in ("kms:*", "*")]:
                ((operator, condition),) = statement["Condition"].items()
                assert operator == "StringEquals" and list(condition) == ["kms:ViaService"], statement
                assert condition["kms:ViaService"].startswith(f"secretsmanager.{s.region.aws_region}."), statement


def gateway_role_ids(s) -> list[str]:
    """The roles gateway code runs with: the Lambda function's execution role, or the container's task role."""
    functions = [
        r["Properties"]["Role"]["Fn::GetAtt"][0]
        for k, r in resources(s, "AWS::Lambda::Function").items()
        if k.startswith("GatewayFunction")
    ]
    tasks = [
        task_of(s, "Gateway")["TaskRoleArn"]["Fn::GetAtt"][0]
        for r in resources(s, "AWS::ECS::TaskDefinition").values()
        if r["Properties"]["ContainerDefinitions"][0]["Name"] == "Gateway"
    ][:1]
    return functions + tasks


@pytest.mark.parametrize("stack_name", SYNTHESIZED_STACKS)
def test_the_gateway_uses_the_stack_key_only_under_an_encryption_context_or_through_secrets_manager(
    synthesized_app, stack_name
):
    # Otherwise the Decrypt-with-context condition of OpenOrgProviderCredentials would mean nothing: a role that may
    # decrypt with the stack key unconditionally opens any org's sealed credential of any region context.
    s = synthesized_stack(synthesized_app, stack_name)
    (role_id,) = gateway_role_ids(s)
    key = key_ref(s)
    on_key = [
        st
        for st in role_statements(s, role_id)
        if st["Resource"] == key or (isinstance(st["Resource"], list) and key in st["Resource"])
    ]
    assert on_key, "the gateway sends audit events through the encrypted queue: it needs the key"
    for statement in on_key:
        condition = json.dumps(statement.get("Condition", {}))
        assert "kms:EncryptionContext:" in condition or "kms:ViaService" in condition, statement
    (queue_statement,) = [st for st in on_key if "aws:sqs:arn" in json.dumps(st.get("Condition", {}))]
    assert sorted(actions(queue_statement)) == ["kms:Decrypt", "kms:GenerateDataKey"]
