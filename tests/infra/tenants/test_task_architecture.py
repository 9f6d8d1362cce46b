"""The CPU architecture of the ECS Fargate tasks (``sizing.container_architecture``): each stack's task
definitions run it, and synth refuses one the image pinned in images.lock.yaml does not hold (its ``platforms``),
naming the command that fixes it."""

from __future__ import annotations

import dataclasses

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from regiongate.config import tenants
from regiongate.config.regions import load_catalogue
from regiongate.infra.app import cdk_json_context
from regiongate.infra.region_stack import RegionStack
from regiongate.mirror.lock import LockError, load_lock
from tests.fixtures.synth import SYNTHESIZED_STACKS

CFN_ARCHITECTURE = {"x86_64": "X86_64", "arm64": "ARM64"}
_CATALOGUE = load_catalogue()
_DEPLOYMENTS = {
    region.stack_name: region
    for region in tenants.deployments(_CATALOGUE, tenants.DEFAULT_TENANTS_DIR, SYNTHESIZED_STACKS)
}
_HEAD = "version: 1\ntarget_region: cn-north-1\nimages:\n"


def _task_platforms(template_json: dict) -> dict[str, dict]:
    return {
        logical: resource["Properties"]["RuntimePlatform"]
        for logical, resource in template_json["Resources"].items()
        if resource["Type"] == "AWS::ECS::TaskDefinition"
    }


def _entry(name: str, platforms: str, regions: str = "") -> str:
    return (
        f"  {name}:\n    repository: regiongate/{name}\n    source: registry.regiongate.example/{name}:1.0.0\n"
        f"    tag: 1.0.0\n    digest: sha256:{'cd' * 32}\n    platforms: {platforms}\n{regions}"
    )


def _acme_lock(platforms: str) -> str:
    return _HEAD + _entry("gateway", platforms, "    regions:\n      eu-west-1: [regiongate/tenant-acme/gateway]\n")


def _cn_lock(platforms: str | None) -> str:
    listed = f"    platforms: {platforms}\n" if platforms else ""
    return _HEAD + (
        "  console:\n    repository: regiongate/console\n    source: registry.regiongate.example/console:1.0.0\n"
        f"    tag: 1.0.0\n    digest: sha256:{'ab' * 32}\n{listed}"
    )


def _stack(tmp_path, region, lock_text: str) -> RegionStack:
    path = tmp_path / "images.lock.yaml"
    path.write_text(lock_text)
    return RegionStack(App(context=cdk_json_context()), region.stack_name, region=region, images_lock=load_lock(path))


def _with_architecture(region, architecture: str):
    return dataclasses.replace(region, sizing=dataclasses.replace(region.sizing, container_architecture=architecture))


def test_every_stacks_tasks_run_its_configured_architecture(synthesized_app):
    seen = {}
    for name in SYNTHESIZED_STACKS:
        region = synthesized_app.stacks[name].region_config
        platforms = _task_platforms(synthesized_app.template_json(name))
        for platform in platforms.values():
            assert platform == {
                "CpuArchitecture": CFN_ARCHITECTURE[region.sizing.container_architecture],
                "OperatingSystemFamily": "LINUX",
            }, name
        if platforms:
            seen[name] = region.sizing.container_architecture
    # The shipped configuration keeps the default (x86_64) for the Cn console and acme's container gateway.
    assert seen["Cn"] == seen["Tenant-acme"] == "x86_64"


def test_arm64_tasks_run_arm64_for_both_services(tmp_path):
    acme = _with_architecture(_DEPLOYMENTS["Tenant-acme"], "arm64")
    stack = _stack(tmp_path, acme, _acme_lock("[linux/amd64, linux/arm64]"))
    (platform,) = _task_platforms(Template.from_stack(stack).to_json()).values()
    assert platform == {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"}
    cn = _with_architecture(_DEPLOYMENTS["Cn"], "arm64")
    (platform,) = _task_platforms(
        Template.from_stack(_stack(tmp_path, cn, _cn_lock("[linux/arm64]"))).to_json()
    ).values()
    assert platform == {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"}


def test_arm64_gateway_tasks_for_an_amd64_only_image_are_refused_with_the_command(tmp_path):
    acme = _with_architecture(_DEPLOYMENTS["Tenant-acme"], "arm64")
    with pytest.raises(LockError, match=r"images\.gateway\.platforms: .* holds linux/amd64, not linux/arm64") as error:
        _stack(tmp_path, acme, _acme_lock("[linux/amd64]"))
    message = str(error.value)
    assert "Set sizing.container_architecture: x86_64" in message
    assert (
        "regiongate mirror --source gateway=registry.regiongate.example/gateway:1.0.0 --target-region eu-west-1 "
        "--deployment tenant-acme --target-profile " in message
    )


def test_the_same_image_runs_when_the_deployment_chooses_x86_64(tmp_path):
    acme = _DEPLOYMENTS["Tenant-acme"]
    stack = _stack(tmp_path, acme, _acme_lock("[linux/amd64]"))
    (platform,) = _task_platforms(Template.from_stack(stack).to_json()).values()
    assert platform["CpuArchitecture"] == "X86_64"


def test_an_arm64_console_is_refused_for_an_image_whose_platforms_are_not_recorded(tmp_path):
    cn = _with_architecture(_DEPLOYMENTS["Cn"], "arm64")
    with pytest.raises(LockError, match=r"images\.console\.platforms: the lock does not record which platforms"):
        _stack(tmp_path, cn, _cn_lock(None))
    # The same lock keeps an x86_64 console running (what every task ran before platforms were recorded).
    stack = _stack(tmp_path, _DEPLOYMENTS["Cn"], _cn_lock(None))
    (platform,) = _task_platforms(Template.from_stack(stack).to_json()).values()
    assert platform["CpuArchitecture"] == "X86_64"
