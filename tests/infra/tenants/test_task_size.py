"""The container gateway's task size (``sizing.gateway_task_vcpus``): its task definition's CPU and memory and the
number of server processes its container is told to run (``REGIONGATE_GATEWAY_PROCESSES``) follow the value.
The shipped example (Tenant-acme, the container runtime) keeps the default; a 2 vCPU acme is built on its own,
as tests/infra/tenants/test_task_architecture.py builds an arm64 one."""

from __future__ import annotations

import dataclasses

from aws_cdk import App
from aws_cdk.assertions import Template

from regiongate.config import tenants
from regiongate.config.regions import load_catalogue
from regiongate.contract.environment import GATEWAY_PROCESSES, REGION_DOCUMENT_JSON
from regiongate.infra.app import cdk_json_context
from regiongate.infra.region_stack import RegionStack
from regiongate.mirror.lock import load_lock
from tests.fixtures.synth import SYNTHESIZED_STACKS

_CATALOGUE = load_catalogue()
_DEPLOYMENTS = {
    region.stack_name: region
    for region in tenants.deployments(_CATALOGUE, tenants.DEFAULT_TENANTS_DIR, SYNTHESIZED_STACKS)
}
_ACME_LOCK = (
    "version: 1\ntarget_region: cn-north-1\nimages:\n"
    "  gateway:\n    repository: regiongate/gateway\n    source: registry.regiongate.example/gateway:1.0.0\n"
    f"    tag: 1.0.0\n    digest: sha256:{'cd' * 32}\n    platforms: [linux/amd64]\n"
    "    regions:\n      eu-west-1: [regiongate/tenant-acme/gateway]\n"
)


def _gateway_task(template_json: dict) -> dict:
    (task,) = [
        resource["Properties"]
        for logical, resource in template_json["Resources"].items()
        if resource["Type"] == "AWS::ECS::TaskDefinition" and logical.startswith("GatewayService")
    ]
    return task


def _environment(task: dict) -> dict[str, str]:
    (container,) = task["ContainerDefinitions"]
    return {entry["Name"]: entry["Value"] for entry in container["Environment"]}


def test_the_shipped_container_gateway_runs_one_vcpu_one_process(synthesized_app):
    acme = synthesized_app.stacks["Tenant-acme"].region_config
    assert acme.sizing.gateway_task_vcpus == 1
    task = _gateway_task(synthesized_app.template_json("Tenant-acme"))
    assert (task["Cpu"], task["Memory"]) == ("1024", "2048")  # today's size, unchanged by default
    assert _environment(task)[GATEWAY_PROCESSES] == "1"


def test_two_vcpus_give_a_2048_unit_4_gib_task_running_two_processes(tmp_path):
    acme = _DEPLOYMENTS["Tenant-acme"]
    acme = dataclasses.replace(acme, sizing=dataclasses.replace(acme.sizing, gateway_task_vcpus=2))
    path = tmp_path / "images.lock.yaml"
    path.write_text(_ACME_LOCK)
    stack = RegionStack(App(context=cdk_json_context()), acme.stack_name, region=acme, images_lock=load_lock(path))
    task = _gateway_task(Template.from_stack(stack).to_json())
    assert (task["Cpu"], task["Memory"]) == ("2048", "4096")
    env = _environment(task)
    assert env[GATEWAY_PROCESSES] == "2"
    assert REGION_DOCUMENT_JSON in env  # the rest of the contract is still there
