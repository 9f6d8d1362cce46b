"""regions.yaml: the shipped catalogue is valid, and every mistake is a clear error naming file, key and fix."""

from __future__ import annotations

import copy

import pytest
import yaml

from regiongate.config.regions import DEFAULT_CONFIG_PATH, ConfigError, load_catalogue, parse_catalogue, partition_of

SHIPPED = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())


def catalogue_with(change) -> dict:
    data = copy.deepcopy(SHIPPED)
    change(data)
    return data


def error_for(change, context=None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
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
    with pytest.raises(AttributeError):
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
            "regions.eu.inference_regions[4]",
            "outside geography EU",
        ),
        (
            lambda d: d["regions"]["eu"]["inference_regions"].append("us-east-1"),
            "regions.eu.inference_regions[4]",
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
    with pytest.raises(ConfigError) as info:
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
