"""gateway.runtime and gateway.max_generation_seconds: in regions.yaml and in tenant files, their defaults per
runtime, the limits of each runtime (with what to do instead), the region document that carries the limit, and
what the stacks derive from it (ALB idle timeout, deregistration delay and SIGTERM drain)."""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from regiongate.config import gateway_runtime, tenants
from regiongate.config.gateway import deployment_runtime, runtime_config
from regiongate.config.reader import UniqueKeyLoader
from regiongate.config.regions import DEFAULT_CONFIG_PATH, ConfigError, parse_catalogue
from regiongate.contract.limits import (
    CONTAINER_MAX_GENERATION_SECONDS,
    DEFAULT_CONTAINER_GENERATION_SECONDS,
    GATEWAY_ANSWER_MARGIN_SECONDS,
    GATEWAY_TIMEOUT_SECONDS,
    UPSTREAM_DEADLINE_SECONDS,
)

RAW = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())


def eu_with(**keys):
    data = copy.deepcopy(RAW)
    gateway = data["regions"]["eu"]["gateway"]
    for name in gateway_runtime.RUNTIME_KEYS:
        gateway.pop(name, None)
    gateway.update(keys)
    return parse_catalogue(data, "regions.yaml").region("eu")


def eu_refusal(**keys) -> ConfigError:
    with pytest.raises(ConfigError, match=r"^regions\.yaml: regions\.eu\.gateway\.") as info:
        eu_with(**keys)
    return info.value


def test_the_default_is_the_lambda_with_its_deadline():
    runtime = deployment_runtime(eu_with())
    assert (runtime.runtime, runtime.max_generation_seconds) == ("lambda", UPSTREAM_DEADLINE_SECONDS)
    assert runtime.drain_seconds == GATEWAY_TIMEOUT_SECONDS  # the Lambda's timeout and ALB idle timeout


def test_container_defaults_to_a_longer_generation_and_drains_it_then_answers():
    runtime = deployment_runtime(eu_with(runtime="container"))
    assert runtime.container and runtime.max_generation_seconds == DEFAULT_CONTAINER_GENERATION_SECONDS
    assert runtime.drain_seconds == DEFAULT_CONTAINER_GENERATION_SECONDS + GATEWAY_ANSWER_MARGIN_SECONDS
    assert deployment_runtime(eu_with(runtime="container", max_generation_seconds=1800)).drain_seconds == 1820


def test_the_lambda_refuses_a_generation_above_its_timeout_and_says_to_use_the_container():
    error = eu_refusal(max_generation_seconds=UPSTREAM_DEADLINE_SECONDS + 1)
    assert error.key == "regions.eu.gateway.max_generation_seconds"
    assert "runtime: container" in error.problem and str(CONTAINER_MAX_GENERATION_SECONDS) in error.problem


def test_the_container_is_limited_by_the_longest_deregistration_delay():
    assert CONTAINER_MAX_GENERATION_SECONDS + GATEWAY_ANSWER_MARGIN_SECONDS == 3600  # a target group drains ≤ 1 h
    eu_with(runtime="container", max_generation_seconds=CONTAINER_MAX_GENERATION_SECONDS)
    error = eu_refusal(runtime="container", max_generation_seconds=CONTAINER_MAX_GENERATION_SECONDS + 1)
    assert error.key == "regions.eu.gateway.max_generation_seconds"


@pytest.mark.parametrize("value", [0, 9, True, "600", 60.5])
def test_a_generation_limit_must_be_a_whole_number_of_seconds_in_range(value):
    assert eu_refusal(runtime="container", max_generation_seconds=value).key.endswith("max_generation_seconds")


def test_an_unknown_runtime_is_refused_with_the_valid_ones():
    error = eu_refusal(runtime="fargate")
    assert error.key == "regions.eu.gateway.runtime"
    assert "valid: lambda, container" in error.problem


def test_the_region_document_carries_the_limit():
    region = eu_with(runtime="container", max_generation_seconds=900)
    assert runtime_config(region).max_generation_seconds == 900
    assert runtime_config(region).to_document()["max_generation_seconds"] == 900


# --- tenant files ---------------------------------------------------------------------------------------------


def generated(catalogue, tmp_path, **options) -> dict:
    _, text = tenants.new_tenant_file(catalogue, tmp_path, "acme", aws_region="eu-west-1", **options)
    return yaml.load(text, Loader=UniqueKeyLoader)


def parse(catalogue, tmp_path, data):
    return tenants.parse_tenant(data, tmp_path / "acme.yaml", catalogue).region


def test_tenant_add_spells_out_the_runtime_and_its_default_limit(catalogue, tmp_path):
    assert generated(catalogue, tmp_path)["gateway"] == {"runtime": "lambda", "max_generation_seconds": 100}
    assert generated(catalogue, tmp_path, runtime="container")["gateway"] == {
        "runtime": "container",
        "max_generation_seconds": DEFAULT_CONTAINER_GENERATION_SECONDS,
    }


def test_tenant_add_refuses_an_unknown_runtime(catalogue, tmp_path):
    with pytest.raises(ConfigError, match=r"gateway\.runtime \(--runtime\): 'ecs' is not one of lambda, container"):
        tenants.new_tenant_file(catalogue, tmp_path, "acme", aws_region="eu-west-1", runtime="ecs")


def test_a_tenant_chooses_its_own_runtime_not_its_geography_regions(catalogue, tmp_path):
    assert deployment_runtime(catalogue.region("eu")).runtime == "lambda"
    data = generated(catalogue, tmp_path)
    data["gateway"] = {"runtime": "container", "max_generation_seconds": 1200}
    region = parse(catalogue, tmp_path, data)
    assert (region.gateway.runtime, region.gateway.max_generation_seconds) == ("container", 1200)
    del data["gateway"]
    assert deployment_runtime(parse(catalogue, tmp_path, data)).runtime == "lambda"  # absent: the product default


@pytest.mark.parametrize("key", ["providers", "models", "guardrails"])
def test_a_tenant_file_cannot_redefine_the_catalogue_under_gateway(catalogue, tmp_path, key):
    data = generated(catalogue, tmp_path)
    data["gateway"][key] = []
    path = tmp_path / "acme.yaml"
    with pytest.raises(ConfigError, match=f"^{re.escape(str(path))}: gateway.{key}: ") as info:
        tenants.parse_tenant(data, path, catalogue)
    assert "unknown key" in info.value.problem


def test_a_tenant_files_lambda_limit_is_checked_as_in_regions_yaml(catalogue, tmp_path):
    data = generated(catalogue, tmp_path)
    data["gateway"]["max_generation_seconds"] = 600
    path = tmp_path / "acme.yaml"
    with pytest.raises(ConfigError, match=r": gateway\.max_generation_seconds: 600 is above what the Lambda"):
        tenants.parse_tenant(data, path, catalogue)


def test_the_cli_writes_the_chosen_runtime(catalogue, tmp_path, capsys):
    from regiongate.cli.main import main

    code = main(
        ["tenant", "--tenants-dir", str(tmp_path), "add", "acme", "--region", "eu-west-1", "--runtime", "container"]
    )
    assert code == 0
    data = yaml.safe_load((tmp_path / "acme.yaml").read_text())
    assert data["gateway"]["runtime"] == "container"
