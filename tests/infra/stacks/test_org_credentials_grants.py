"""The grants of orgs' own provider credentials (#16): the gateway opens (kms:Decrypt) and the console seals
(kms:GenerateDataKey) only with this region's org-credential encryption context; the gateway assumes only roles
under /regiongate/; both runtimes are told the stack key's ARN."""

from __future__ import annotations

from regiongate.contract.environment import CREDENTIALS_KEY_ARN

CONTEXT_KEYS = ["org", "region", "provider"]


def resources(synth, type_name):
    return {k: r for k, r in synth.template_json["Resources"].items() if r["Type"] == type_name}


def statements_of(synth, role_prefix):
    (role_id,) = [k for k in resources(synth, "AWS::IAM::Role") if k.startswith(role_prefix)]
    return [
        s
        for p in resources(synth, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_gateway_function_opens_this_regions_org_credentials_and_assumes_only_org_roles(each_stack):
    check_gateway_statements(each_stack, statements_of(each_stack, "GatewayFunctionRole"))
    (function,) = [
        r for k, r in resources(each_stack, "AWS::Lambda::Function").items() if k.startswith("GatewayFunction")
    ]
    (key_id,) = resources(each_stack, "AWS::KMS::Key")
    assert function["Properties"]["Environment"]["Variables"][CREDENTIALS_KEY_ARN] == {"Fn::GetAtt": [key_id, "Arn"]}


def check_gateway_statements(synth, statements):
    (key_id,) = resources(synth, "AWS::KMS::Key")
    (opening,) = [s for s in statements if s.get("Sid") == "OpenOrgProviderCredentials"]
    assert opening["Action"] == "kms:Decrypt" and opening["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert opening["Condition"]["StringEquals"] == {"kms:EncryptionContext:region": synth.region.code}
    assert opening["Condition"]["ForAllValues:StringEquals"] == {"kms:EncryptionContextKeys": CONTEXT_KEYS}
    assert not [s for s in statements if s.get("Sid") == "SealOrgProviderCredentials"]
    (assume,) = [s for s in statements if s.get("Sid") == "AssumeOrgBedrockRoles"]
    assert assume["Action"] == "sts:AssumeRole"
    assert assume["Resource"] == {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::*:role/regiongate/*"]]}


def test_console_seals_and_never_opens(each_stack):
    if not each_stack.region.console:
        assert not [k for k in resources(each_stack, "AWS::IAM::Role") if k.startswith("ConsoleTaskRole")]
        return
    statements = statements_of(each_stack, "ConsoleTaskRole")
    (sealing,) = [s for s in statements if s.get("Sid") == "SealOrgProviderCredentials"]
    assert sealing["Action"] == "kms:GenerateDataKey"
    assert sealing["Condition"]["StringEquals"] == {"kms:EncryptionContext:region": each_stack.region.code}
    assert not [s for s in statements if "kms:Decrypt" in str(s.get("Action"))]
    (service,) = [r for k, r in resources(each_stack, "AWS::ECS::TaskDefinition").items() if k.startswith("Console")]
    names = {v["Name"] for c in service["Properties"]["ContainerDefinitions"] for v in c.get("Environment", [])}
    assert CREDENTIALS_KEY_ARN in names
