"""Every database client the stacks create is told how to verify the audit store: the shipped commercial bundle
(in the code asset and the console image), a bundle named in regions.yaml (in the region-configuration layer), or
(acknowledged) the unverified marker with a synth warning."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest
import yaml
from aws_cdk import App

from regiongate.config.regions import DEFAULT_CONFIG_PATH, parse_catalogue
from regiongate.console.infrastructure import IMAGE_CA_DIR
from regiongate.infra import assets, database_tls
from regiongate.infra.app import cdk_json_context
from regiongate.infra.region_stack import RegionStack
from regiongate.mirror.lock import load_lock
from regiongate.store import tls
from tests.infra.stacks.test_region_stacks import resources

CLIENT_FUNCTIONS = ("GatewayFunction", "AuditPipelineWriter", "AuditStoreRotationFunction")


def clients(stack) -> dict[str, dict[str, object]]:
    """{logical id: database-related environment} of every function and container given a DB_HOST."""
    found = {}
    for logical_id, body in resources(stack, "AWS::Lambda::Function").items():
        variables = body["Properties"].get("Environment", {}).get("Variables", {})
        if "DB_HOST" in variables:
            found[logical_id] = {k: variables[k] for k in ("DB_CA_BUNDLE", "DB_TLS") if k in variables}
    for logical_id, body in resources(stack, "AWS::ECS::TaskDefinition").items():
        for container in body["Properties"]["ContainerDefinitions"]:
            pairs = {e["Name"]: e["Value"] for e in container.get("Environment", [])}
            if "DB_HOST" in pairs:
                found[logical_id] = {k: pairs[k] for k in ("DB_CA_BUNDLE", "DB_TLS") if k in pairs}
    return found


def test_commercial_clients_verify_against_the_shipped_bundle(synthesized):
    for name in ("Eu", "Us", "Sg"):
        found = clients(synthesized[name])
        assert {i for i in found if i.startswith(CLIENT_FUNCTIONS)} and len(found) == 3, found
        assert set(map(json.dumps, found.values())) == {
            json.dumps({"DB_CA_BUNDLE": "/var/task/regiongate/store/rds-ca/global-bundle.pem"})
        }


def test_the_function_path_is_where_the_code_asset_carries_the_bundle(synthesized_app):
    staged = assets.build_dir(synthesized_app.outdir) / "functions"
    bundle = staged / database_tls.FUNCTION_COMMERCIAL_BUNDLE.removeprefix(database_tls.LAMBDA_TASK_ROOT + "/")
    assert hashlib.sha256(bundle.read_bytes()).hexdigest() == tls.COMMERCIAL_BUNDLE_SHA256


def test_the_example_china_stack_acknowledges_an_unverified_connection_and_warns(synthesized):
    cn = synthesized["Cn"]
    found = clients(cn)
    assert len(found) == 4  # gateway, writer, rotation, console
    assert all(env == {"DB_TLS": "unverified-acknowledged"} for env in found.values()), found
    warnings = [m for m in cn.stack.node.metadata if m.type == "aws:cdk:warning"]
    assert any("database TLS is NOT verified in Cn" in str(w.data) for w in warnings)
    assert any("OPEN residency finding DatabaseTlsVerified (4 database client(s))" in str(w.data) for w in warnings)


@pytest.fixture(scope="module")
def cn_with_bundle(tmp_path_factory):
    """The Cn entry naming a bundle (a stand-in PEM: the shipped commercial one) beside its regions.yaml."""
    folder = tmp_path_factory.mktemp("cn-bundle")
    bundle = folder / "cn-north-1-bundle.pem"
    bundle.write_bytes(tls.COMMERCIAL_BUNDLE.read_bytes())
    data = copy.deepcopy(yaml.safe_load(Path(DEFAULT_CONFIG_PATH).read_text()))
    entry = data["regions"]["cn"]
    entry.pop("database_tls")
    entry["database_ca_bundle"] = bundle.name
    entry["database_ca_bundle_sha256"] = hashlib.sha256(bundle.read_bytes()).hexdigest()
    region = parse_catalogue(data, folder / "regions.yaml").region("cn")
    outdir = folder / "cdk.out"
    app = App(outdir=str(outdir), context=cdk_json_context())
    stack = RegionStack(app, "CnWithBundle", region=region, images_lock=load_lock())
    template = app.synth().get_stack_artifact(stack.artifact_id).template
    return stack, template, outdir


def test_a_named_bundle_is_in_the_layer_and_every_client_verifies_against_it(cn_with_bundle):
    stack, template, outdir = cn_with_bundle
    functions = {
        k: r["Properties"]["Environment"]["Variables"]
        for k, r in template["Resources"].items()
        if r["Type"] == "AWS::Lambda::Function"
        and "DB_HOST" in r["Properties"].get("Environment", {}).get("Variables", {})
    }
    assert len(functions) == 3
    for variables in functions.values():
        assert variables["DB_CA_BUNDLE"] == "/opt/regiongate/rds-ca/cn-north-1-bundle.pem" and "DB_TLS" not in variables
    layer = assets.build_dir(outdir) / "region-documents" / "cn" / database_tls.LAYER_CA_DIR / "cn-north-1-bundle.pem"
    assert layer.read_bytes() == tls.COMMERCIAL_BUNDLE.read_bytes()
    (task,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::ECS::TaskDefinition"]
    env = {e["Name"]: e["Value"] for e in task["Properties"]["ContainerDefinitions"][0]["Environment"]}
    assert env["DB_CA_BUNDLE"] == f"{IMAGE_CA_DIR}/cn-north-1-bundle.pem" and "DB_TLS" not in env
    assert not [m for m in stack.node.metadata if "database TLS is NOT verified" in str(m.data)]


def test_the_console_path_is_where_the_dockerfile_copies_the_bundles():
    from tests.e2e.console.test_dockerfile import instructions

    copies = [rest.split() for keyword, rest in instructions() if keyword == "COPY"]
    assert ["src/regiongate/store/rds-ca/", "./regiongate/store/rds-ca/"] in copies
    assert ("WORKDIR", "/app") in instructions()
    assert IMAGE_CA_DIR == "/app/regiongate/store/rds-ca"
