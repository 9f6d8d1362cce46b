"""The console's single sign-on in the template: the client secret in the region's Secrets Manager (created
empty and encrypted with the stack key, or the operator's), readable by the console task only, the task's
CONSOLE_OIDC_* variables, and HTTPS to the issuer's host only from the console, by name behind the DNS firewall."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from regiongate.config.console_oidc import ConsoleOidc
from regiongate.config.regions import load_catalogue
from regiongate.contract import console_oidc as env
from regiongate.contract.console_oidc import ClaimMapping, RoleMapping
from regiongate.infra.app import cdk_json_context
from regiongate.infra.region_stack import RegionStack
from tests.infra.stacks.test_network_paths import OPEN, egress_of, group_id, resources

ISSUER = "https://login.example.cn/realms/cn"
SSO = ConsoleOidc(
    issuer=ISSUER,
    client_id="regiongate-console-cn",
    mapping=ClaimMapping(groups_claim="groups", roles=(RoleMapping(group="rg-acme", role="org_admin", org_id="acme"),)),
    extra_hosts=("keys.login.example.cn",),
)


def synth(sso: ConsoleOidc) -> dict:
    region = replace(load_catalogue().region("cn"), console_oidc=sso)
    app = App(context=cdk_json_context())
    return Template.from_stack(RegionStack(app, region.stack_name, region=region)).to_json()


@pytest.fixture(scope="module")
def template() -> dict:
    return synth(SSO)


def console_environment(template: dict) -> dict:
    (task,) = resources(template, "AWS::ECS::TaskDefinition").values()
    (container,) = [c for c in task["Properties"]["ContainerDefinitions"] if c["Name"] == "Console"]
    return {e["Name"]: e["Value"] for e in container["Environment"]}


def task_role(template: dict) -> str:
    (found,) = [k for k in resources(template, "AWS::IAM::Role") if k.startswith("ConsoleTaskRole")]
    return found


def readers_of(template: dict, secret) -> list[dict]:
    """The IAM policies with a statement that reads ``secret``."""

    def reads(statement: dict) -> bool:
        targets = statement.get("Resource")
        targets = targets if isinstance(targets, list) else [targets]
        return secret in targets and "secretsmanager:GetSecretValue" in statement["Action"]

    return [
        policy
        for policy in resources(template, "AWS::IAM::Policy").values()
        if any(reads(s) for s in policy["Properties"]["PolicyDocument"]["Statement"])
    ]


def test_the_stack_creates_an_empty_client_secret_encrypted_with_its_key(template):
    secrets = {k: v for k, v in resources(template, "AWS::SecretsManager::Secret").items() if "OidcClientSecret" in k}
    ((name, secret),) = secrets.items()
    properties = secret["Properties"]
    assert properties["Name"] == "regiongate/cn/console-oidc-client"
    assert json.loads(properties["SecretString"]) == {"client_secret": ""}
    assert "KmsKeyId" in properties and "ReplicaRegions" not in properties
    assert secret["DeletionPolicy"] == "Retain"
    assert secret["Metadata"]["regiongate:data"] == ["console-sso-client-secret"]
    variables = console_environment(template)
    assert variables[env.CLIENT_SECRET_ARN] == {"Ref": name}
    assert variables[env.ISSUER] == ISSUER and variables[env.CLIENT_ID] == "regiongate-console-cn"
    assert variables[env.REDIRECT_URI] == "https://cn.regiongate.example/login/sso/callback"
    assert json.loads(variables[env.MAPPING])["roles"] == [{"group": "rg-acme", "org": "acme", "role": "org_admin"}]
    # Only the console task reads it.
    readers = [policy["Properties"]["Roles"] for policy in readers_of(template, {"Ref": name})]
    assert readers == [[{"Ref": task_role(template)}]]


def test_only_the_console_reaches_the_issuer_by_name(template):
    (rule_list,) = [
        v for k, v in resources(template, "AWS::Route53Resolver::FirewallDomainList").items() if "Allowed" in k
    ]
    assert {"login.example.cn", "keys.login.example.cn"} <= set(rule_list["Properties"]["Domains"])
    assert (OPEN, 443) in egress_of(template, group_id(template, "ConsoleTaskSecurityGroup"))
    for prefix in ("AuditPipelineWriterSecurityGroup", "AuditStoreRotationFunctionSecurityGroup"):
        assert OPEN not in [d for d, _ in egress_of(template, group_id(template, prefix))]


def test_an_operator_secret_is_granted_not_created():
    arn = "arn:aws-cn:secretsmanager:cn-north-1:444444444444:secret:console-oidc-AbCdEf"
    template = synth(replace(SSO, client_secret_arn=arn))
    assert not [k for k in resources(template, "AWS::SecretsManager::Secret") if "OidcClientSecret" in k]
    assert console_environment(template)[env.CLIENT_SECRET_ARN] == arn
    readers = [policy["Properties"]["Roles"] for policy in readers_of(template, arn)]
    assert readers == [[{"Ref": task_role(template)}]]
