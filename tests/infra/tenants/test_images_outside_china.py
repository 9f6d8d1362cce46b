"""One images.lock.yaml for every stack: a stack outside the lock's target region (cn-north-1) runs its
tasks only once the pinned digest is recorded in that region's repository, and otherwise names the
`regiongate mirror` command for exactly that region and deployment."""

from __future__ import annotations

import dataclasses

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from regiongate.config import tenants
from regiongate.config.regions import load_catalogue
from regiongate.gateway.container_infrastructure import MIN_TASKS
from regiongate.infra.app import cdk_json_context
from regiongate.infra.region_stack import CONSOLE_TASKS, RegionStack
from regiongate.mirror.lock import LockError, load_lock
from tests.fixtures.synth import SYNTHESIZED_STACKS

_CATALOGUE = load_catalogue()
_DEPLOYMENTS = {
    region.stack_name: region
    for region in tenants.deployments(_CATALOGUE, tenants.DEFAULT_TENANTS_DIR, SYNTHESIZED_STACKS)
}
# The Eu stack with `console: true` (regions.yaml ships it off outside China).
_EU = dataclasses.replace(next(r for r in _CATALOGUE.regions if r.code == "eu"), console=True)
_HEAD = "version: 1\ntarget_region: cn-north-1\nimages:\n"


def _entry(name: str, digest_byte: str, regions: str = "") -> str:
    return (
        f"  {name}:\n    repository: regiongate/{name}\n    source: registry.regiongate.example/{name}:1.0.0\n"
        f"    tag: 1.0.0\n    digest: sha256:{digest_byte * 32}\n{regions}"
    )


def _stack(tmp_path, region, lock_text: str) -> RegionStack:
    path = tmp_path / "images.lock.yaml"
    path.write_text(lock_text)
    return RegionStack(App(context=cdk_json_context()), region.stack_name, region=region, images_lock=load_lock(path))


def _service_and_warnings(stack: RegionStack, child: str) -> tuple[dict, list[str]]:
    template = Template.from_stack(stack).to_json()
    services = {
        logical: r["Properties"] for logical, r in template["Resources"].items() if r["Type"] == "AWS::ECS::Service"
    }
    (service,) = [p for logical, p in services.items() if logical.startswith(child)]
    warnings = [str(m.data) for m in stack.node.find_child(child).node.metadata if m.type == "aws:cdk:warning"]
    return service, warnings


def test_acme_in_eu_west_1_is_in_the_china_lock_as_a_region_and_runs_its_tasks(tmp_path):
    acme = _DEPLOYMENTS["Tenant-acme"]
    assert acme.aws_region == "eu-west-1"
    stack = _stack(
        tmp_path,
        acme,
        _HEAD + _entry("gateway", "cd", "    regions:\n      eu-west-1: [regiongate/tenant-acme/gateway]\n"),
    )
    service, warnings = _service_and_warnings(stack, "GatewayService")
    assert service["DesiredCount"] == MIN_TASKS >= 2
    assert warnings == []


@pytest.mark.parametrize(
    "regions",
    [
        "",  # mirrored into China only
        "    regions:\n      eu-west-1: [regiongate/gateway]\n",  # the Eu region stack's repository, not acme's
        "    regions:\n      eu-central-1: [regiongate/tenant-acme/gateway]\n",  # another region
    ],
    ids=["china-only", "other-repository", "other-region"],
)
def test_acme_without_the_digest_in_its_repository_runs_no_tasks_and_names_its_command(tmp_path, regions):
    stack = _stack(tmp_path, _DEPLOYMENTS["Tenant-acme"], _HEAD + _entry("gateway", "cd", regions))
    service, warnings = _service_and_warnings(stack, "GatewayService")
    assert service["DesiredCount"] == 0
    (warning,) = warnings
    assert (
        "regiongate mirror --source gateway=registry.regiongate.example/gateway:1.0.0 --target-region eu-west-1 "
        "--deployment tenant-acme --target-profile " in warning
    )


def test_a_gateway_image_missing_from_the_lock_names_the_eu_command_with_the_deployment(tmp_path):
    with pytest.raises(LockError, match=r"not mirrored into ECR in eu-west-1 \(no image 'gateway' in it") as refused:
        _stack(tmp_path, _DEPLOYMENTS["Tenant-acme"], _HEAD + _entry("console", "ab"))
    message = str(refused.value)
    assert "--target-region eu-west-1 --deployment tenant-acme --target-profile" in message
    assert "China" not in message


@pytest.mark.parametrize(
    ("regions", "tasks"),
    [("", 0), ("    regions:\n      eu-central-1: [regiongate/console]\n", CONSOLE_TASKS)],
    ids=["china-only", "mirrored-to-eu-central-1"],
)
def test_the_eu_console_runs_only_once_the_digest_is_in_eu_central_1(tmp_path, regions, tasks):
    assert _EU.aws_region == "eu-central-1"
    stack = _stack(tmp_path, _EU, _HEAD + _entry("console", "ab", regions))
    service, warnings = _service_and_warnings(stack, "Console")
    assert service["DesiredCount"] == tasks
    command = (
        "regiongate mirror --source console=registry.regiongate.example/console:1.0.0 --target-region eu-central-1 "
    )
    assert any(command in w for w in warnings) is (tasks == 0)
