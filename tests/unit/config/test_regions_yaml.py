"""regions.yaml: the shipped catalogue is valid, and every mistake is a clear error naming file, key and fix."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from jsonschema import Draft7Validator

from regiongate.config import schema
from regiongate.config.regions import (
    DEFAULT_CONFIG_PATH,
    SIZING_RULES,
    ConfigError,
    Sizing,
    load_catalogue,
    parse_catalogue,
    partition_of,
)

SHIPPED = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())


def catalogue_with(change) -> dict:
    data = copy.deepcopy(SHIPPED)
    change(data)
    return data


def error_for(change, context=None) -> ConfigError:
    with pytest.raises(ConfigError, match=r"^regions\.yaml: [^:]+: ") as info:
        parse_catalogue(catalogue_with(change), "regions.yaml", context)
    return info.value


def test_shipped_catalogue_has_the_product_regions():
    catalogue = load_catalogue()
    got = {(r.code, r.stack_name, r.aws_region, r.partition, r.geography) for r in catalogue.regions}
    assert got == {
        ("eu", "Eu", "eu-central-1", "aws", "EU"),
        ("us", "Us", "us-east-1", "aws", "US"),
        ("sg", "Sg", "ap-southeast-1", "aws", "APAC"),
        ("cn", "Cn", "cn-north-1", "aws-cn", "CN"),
    }
    cn = catalogue.region("cn")
    assert cn.offerings == ("single_tenant",)
    assert cn.console is True
    assert cn.key_prefix == "rk-cn-"
    assert cn.display_name == "CN"


def test_config_is_frozen():
    region = load_catalogue().region("eu")
    with pytest.raises(AttributeError, match="cannot assign to field 'aws_region'"):
        region.aws_region = "us-east-1"


def test_sizing_defaults_and_overrides():
    data = catalogue_with(lambda d: d["regions"]["eu"].__setitem__("sizing", {"lambda_memory_mb": 2048}))
    eu = parse_catalogue(data).region("eu")
    assert eu.sizing.lambda_memory_mb == 2048
    assert eu.sizing.db_instance_class == SHIPPED["defaults"]["sizing"]["db_instance_class"]


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (
            lambda d: d["regions"]["eu"].__setitem__("multi_az", True),
            "regions.eu.multi_az",
            "unknown key; valid keys here",
        ),
        (
            lambda d: (
                d["regions"]["eu"]["sizing"].update(dbmulti_az=True)
                if "sizing" in d["regions"]["eu"]
                else d["regions"]["eu"].__setitem__("sizing", {"dbmulti_az": True})
            ),
            "regions.eu.sizing.dbmulti_az",
            "db_multi_az",
        ),
        (lambda d: d.__setitem__("region", {}), "region", "valid keys here: defaults, regions"),
        (
            lambda d: d["regions"]["eu"]["availability_zones"].__setitem__(1, "eu-west-1a"),
            "regions.eu.availability_zones[1]",
            "not an availability zone of eu-central-1; valid: eu-central-1a",
        ),
        (
            lambda d: d["regions"]["cn"]["availability_zones"].__setitem__(1, "cn-north-1c"),
            "regions.cn.availability_zones[1]",
            "valid: cn-north-1a, cn-north-1b, cn-north-1d",
        ),
        (
            lambda d: d["regions"]["eu"].__setitem__("availability_zones", ["eu-central-1a"]),
            "regions.eu.availability_zones",
            "at least two zones",
        ),
        (
            lambda d: d["regions"]["eu"].__setitem__(
                "certificate_arn", "arn:aws:acm:us-east-1:111111111111:certificate/abc"
            ),
            "regions.eu.certificate_arn",
            "certificate is in aws/us-east-1 but the stack is in aws/eu-central-1",
        ),
        (
            lambda d: d["regions"]["cn"].__setitem__(
                "certificate_arn", "arn:aws:acm:cn-north-1:444444444444:certificate/abc"
            ),
            "regions.cn.certificate_arn",
            "expected arn:aws-cn:acm:cn-north-1",
        ),
        (
            lambda d: d["regions"]["eu"].__setitem__("certificate_arn", "not-an-arn"),
            "regions.eu.certificate_arn",
            "not an ACM certificate ARN",
        ),
        (
            lambda d: d["regions"]["us"].__setitem__("stack_name", "Eu"),
            "regions.us.stack_name",
            "already used by regions.eu",
        ),
        (
            lambda d: d["regions"]["eu"]["inference_regions"].append("eu-west-2"),
            "regions.eu.inference_regions[6]",
            "outside geography EU",
        ),
        (
            lambda d: d["regions"]["eu"]["inference_regions"].append("us-east-1"),
            "regions.eu.inference_regions[6]",
            "outside geography EU",
        ),
        (
            lambda d: d["regions"]["cn"]["inference_regions"].append("ap-southeast-1"),
            "regions.cn.inference_regions[1]",
            "partition aws, not aws-cn",
        ),
        (
            lambda d: d["regions"]["eu"].__setitem__("inference_regions", ["eu-west-1"]),
            "regions.eu.inference_regions",
            "must include the home region eu-central-1",
        ),
        (
            lambda d: d["regions"]["eu"]["offerings"].append("dedicated"),
            "regions.eu.offerings[3]",
            "not an offering; valid: shared_cloud, single_tenant, private_deployment",
        ),
        (
            lambda d: d["regions"]["cn"]["offerings"].append("shared_cloud"),
            "regions.cn.offerings",
            "single_tenant only",
        ),
        (lambda d: d["regions"]["cn"].__setitem__("partition", "aws"), "regions.cn.partition", "in partition 'aws-cn'"),
        (
            lambda d: d["regions"]["eu"].__setitem__("geography", "EUROPE"),
            "regions.eu.geography",
            "valid: EU, US, APAC, CN",
        ),
        (lambda d: d["regions"]["eu"].__setitem__("geography", "US"), "regions.eu.geography", "not in geography US"),
        (lambda d: d["regions"]["eu"].__setitem__("account", "12345"), "regions.eu.account", "12-digit AWS account id"),
        (
            lambda d: d["regions"]["eu"].__setitem__("aws_region", "eu-centrall"),
            "regions.eu.aws_region",
            "not an AWS region",
        ),
        (lambda d: d["regions"]["eu"].pop("api_domain"), "regions.eu.api_domain", "is required"),
        (
            lambda d: d["regions"]["eu"].__setitem__("api_domain", "EU.Example"),
            "regions.eu.api_domain",
            "lower-case DNS name",
        ),
        (
            lambda d: d["defaults"]["sizing"].__setitem__("log_retention_days", 10),
            "defaults.sizing.log_retention_days",
            "not a CloudWatch Logs retention; valid: 1, 3, 5",
        ),
        (
            lambda d: d["defaults"]["sizing"].__setitem__("lambda_architecture", "arm"),
            "defaults.sizing.lambda_architecture",
            "valid: arm64, x86_64",
        ),
        (
            lambda d: d["defaults"]["sizing"].__setitem__("db_multi_az", "yes"),
            "defaults.sizing.db_multi_az",
            "must be true or false",
        ),
        (
            lambda d: d["defaults"]["sizing"].__setitem__("reserved_concurrency", 0),
            "defaults.sizing.reserved_concurrency",
            "out of range; valid: 1 to 10000",
        ),
        (
            lambda d: d["defaults"]["sizing"].__setitem__("db_instance_class", "t4g.medium"),
            "defaults.sizing.db_instance_class",
            "RDS instance class",
        ),
        (lambda d: d["regions"]["cn"].__setitem__("console", False), "regions.cn.console", "always serves its console"),
        (
            lambda d: (d["regions"]["us"].__setitem__("console", True), d["regions"]["us"].pop("console_domain")),
            "regions.us.console_domain",
            "required when the console is served",
        ),
        (lambda d: d["regions"].__setitem__("EU", d["regions"].pop("eu")), "regions.EU", "2 to 8 lower-case letters"),
        (lambda d: d.__setitem__("regions", {}), "regions", "at least one region"),
    ],
)
def test_mistake_is_a_clear_error(change, key, words):
    error = error_for(change)
    assert error.path == "regions.yaml"
    assert error.key == key
    assert words in error.problem
    assert str(error).startswith(f"regions.yaml: {key}: ")


def test_duplicate_region_code_is_refused_with_its_line(tmp_path):
    text = DEFAULT_CONFIG_PATH.read_text().replace("\nregions:\n", "\nregions:\n  eu:\n    stack_name: Eu2\n", 1)
    path = tmp_path / "regions.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="duplicate key 'eu'") as info:
        load_catalogue(path)
    assert "duplicate key 'eu'" in str(info.value)
    assert str(path) in str(info.value)


def test_invalid_yaml_names_the_file(tmp_path):
    path = tmp_path / "regions.yaml"
    path.write_text("regions: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_catalogue(path)


def test_missing_file_says_where_it_looked(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_catalogue(tmp_path / "nope.yaml")


def test_account_override_from_context_and_environment(monkeypatch):
    assert parse_catalogue(SHIPPED, context={"account.eu": "999999999999"}).region("eu").account == "999999999999"
    monkeypatch.setenv("REGIONGATE_ACCOUNT_US", "888888888888")
    assert parse_catalogue(SHIPPED).region("us").account == "888888888888"
    bad = error_for(lambda d: None, context={"account.eu": "abc"})
    assert bad.key == "regions.eu.account"


@pytest.mark.parametrize(
    ("region", "partition"),
    [("eu-central-1", "aws"), ("cn-north-1", "aws-cn"), ("cn-northwest-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")],
)
def test_partition_is_derived_from_the_region(region, partition):
    assert partition_of(region) == partition


def test_app_reports_a_config_error_as_one_clear_line(tmp_path, monkeypatch):
    """`cdk synth` with a broken regions.yaml exits with the sentence, not a traceback."""
    import subprocess
    import sys

    from regiongate.config.regions import PROJECT_DIR

    broken = tmp_path / "regions.yaml"
    broken.write_text(DEFAULT_CONFIG_PATH.read_text().replace("eu-central-1b", "eu-west-1b", 1))
    result = subprocess.run(
        [sys.executable, "-c", "import sys, app; sys.argv=['app']; app.main()"],
        cwd=PROJECT_DIR,
        env={**__import__("os").environ, "REGIONGATE_CONFIG": str(broken)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "regions.eu.availability_zones[1]: 'eu-west-1b' is not an availability zone of eu-central-1" in result.stderr
    assert "Traceback" not in result.stderr


# --- the JSON Schema editors validate regions.yaml with -----------------------------------------------------

SCHEMA_PATH = schema.SCHEMA_DIR / "regions.schema.json"


def schema_errors(data: dict) -> list[str]:
    document = json.loads(SCHEMA_PATH.read_text())
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in Draft7Validator(document).iter_errors(data)]


def test_checked_in_schemas_are_what_the_code_generates():
    for name, build in schema.DOCUMENTS.items():
        assert (schema.SCHEMA_DIR / name).read_text() == schema.render(build()), (
            f"{name} is stale: run python -m regiongate.config.schema"
        )
    assert schema.main(["--check"]) == 0


def test_schemas_are_valid_draft_7():
    for name in schema.DOCUMENTS:
        Draft7Validator.check_schema(json.loads((schema.SCHEMA_DIR / name).read_text()))


def test_shipped_catalogue_validates_against_the_schema():
    assert schema_errors(SHIPPED) == []


def test_regions_yaml_names_its_schema_relative_to_itself():
    first_line = DEFAULT_CONFIG_PATH.read_text().splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first_line.startswith(prefix)
    assert (DEFAULT_CONFIG_PATH.parent / first_line[len(prefix) :]).resolve() == SCHEMA_PATH.resolve()


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d.__setitem__("default", {}), ""),
        (lambda d: d["regions"]["eu"].__setitem__("multi_az", True), "regions.eu"),
        (lambda d: d["defaults"]["sizing"].__setitem__("dbmulti_az", True), "defaults.sizing"),
        (
            lambda d: d["regions"]["eu"]["gateway"]["models"][0].__setitem__("input_usd_per_mtoken", 1),
            "regions.eu.gateway.models.0",
        ),
        (lambda d: d["regions"]["eu"]["gateway"].__setitem__("guardrail", {}), "regions.eu.gateway"),
        (lambda d: d["single_tenant_regions"][0].__setitem__("zones", []), "single_tenant_regions.0"),
    ],
)
def test_typo_in_a_key_fails_schema_validation(change, where):
    errors = schema_errors(catalogue_with(change))
    assert len(errors) == 1
    assert errors[0].startswith(f"{where}: Additional properties are not allowed")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d["regions"]["eu"].__setitem__("geography", "EUROPE"), "is not one of ['EU', 'US', 'APAC', 'CN']"),
        (lambda d: d["defaults"]["sizing"].__setitem__("reserved_concurrency", 0), "less than the minimum of 1"),
        (lambda d: d["regions"]["eu"].__setitem__("account", "12345"), "is not valid under any of the given schemas"),
        (lambda d: d["regions"]["eu"].pop("api_domain"), "'api_domain' is a required property"),
        (lambda d: d["regions"].__setitem__("EU", d["regions"].pop("eu")), "does not match"),
    ],
)
def test_schema_checks_values_as_the_parser_does(change, words):
    errors = schema_errors(catalogue_with(change))
    assert len(errors) == 1 and words in errors[0]
    with pytest.raises(ConfigError, match=r"^regions\.yaml: [^:]+: "):
        parse_catalogue(catalogue_with(change), "regions.yaml")


def test_unquoted_account_is_valid_in_the_schema_as_in_the_parser():
    data = catalogue_with(lambda d: d["regions"]["eu"].__setitem__("account", 111111111111))
    assert schema_errors(data) == []
    assert parse_catalogue(data).region("eu").account == "111111111111"


def _schema_node(document: dict, path: tuple) -> dict:
    node = document
    for step in path:
        node = (
            node["items"] if step == "[]" else node["additionalProperties"] if step == "*" else node["properties"][step]
        )
    return node


def _keys_the_parser_allows(change) -> list[str]:
    problem = error_for(change).problem
    assert problem.startswith("unknown key; valid keys here: ")
    return problem.removeprefix("unknown key; valid keys here: ").split(", ")


def _add_typo(*path):
    def change(d):
        node = d
        for step in path:
            node = node[step]
        node["zz_typo"] = 1

    return change


@pytest.mark.parametrize(
    ("data_path", "schema_path"),
    [
        ((), ()),
        (("defaults",), ("defaults",)),
        (("defaults", "sizing"), ("defaults", "sizing")),
        (("regions", "eu"), ("regions", "*")),
        (("single_tenant_regions", 0), ("single_tenant_regions", "[]")),
        (("regions", "eu", "gateway"), ("regions", "*", "gateway")),
        (("regions", "eu", "gateway", "models", 0), ("regions", "*", "gateway", "models", "[]")),
        (("regions", "eu", "gateway", "guardrails"), ("regions", "*", "gateway", "guardrails")),
    ],
)
def test_schema_has_exactly_the_keys_the_parser_allows(data_path, schema_path):
    document = json.loads(SCHEMA_PATH.read_text())
    assert list(_schema_node(document, schema_path)["properties"]) == _keys_the_parser_allows(_add_typo(*data_path))


def test_schema_provider_and_detector_keys_are_those_the_parser_allows():
    document = json.loads(SCHEMA_PATH.read_text())
    gateway_node = _schema_node(document, ("regions", "*", "gateway"))
    provider_keys = set(gateway_node["properties"]["providers"]["items"]["properties"])
    allowed: set[str] = set()
    types = set()
    for code, region in SHIPPED["regions"].items():
        for i, provider in enumerate(region["gateway"]["providers"]):
            types.add(provider["type"])
            allowed |= set(_keys_the_parser_allows(_add_typo("regions", code, "gateway", "providers", i)))
    # The shipped catalogue uses every provider type, so the union is every key a provider may have.
    assert types == set(gateway_node["properties"]["providers"]["items"]["properties"]["type"]["enum"])
    assert allowed == provider_keys

    def add_detector(d):
        d["regions"]["eu"]["gateway"].setdefault("guardrails", {})["detectors"] = [
            {"type": "iban", "action": "block", "zz_typo": 1}
        ]

    detector_keys = gateway_node["properties"]["guardrails"]["properties"]["detectors"]["items"]["properties"]
    assert list(detector_keys) == _keys_the_parser_allows(add_detector)


def test_sizing_rules_cover_every_sizing_field():
    assert tuple(SIZING_RULES) == tuple(Sizing.__dataclass_fields__)
