"""Tenant files: every refusal of `tenant add` and of the loader, the generated files, and the CLI.

No synthesis here: these run in any xdist worker.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator

from regiongate.cli import main as cli
from regiongate.config import schema, tenants
from regiongate.config.reader import UniqueKeyLoader
from regiongate.config.regions import ConfigError

OFFERED = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1", "ap-southeast-2", "cn-north-1")
# A China tenant in an account of its own (it may also share the Cn stack's: each has its own image repository).
CHINA_TENANT_ACCOUNT = "555555555555"


def generated(catalogue, directory: Path, slug: str = "acme", **options) -> dict:
    """A tenant file as `tenant add` would write it, parsed back into a dict."""
    options.setdefault("aws_region", "eu-west-1")
    if options["aws_region"].startswith("cn-"):
        options.setdefault("account", CHINA_TENANT_ACCOUNT)
    _, text = tenants.new_tenant_file(catalogue, directory, slug, **options)
    return yaml.load(text, Loader=UniqueKeyLoader)


def refusal(catalogue, data: dict, path: Path) -> ConfigError:
    with pytest.raises(ConfigError, match=f"^{re.escape(str(path))}: ") as info:
        tenants.parse_tenant(data, path, catalogue)
    return info.value


# --- the region table -----------------------------------------------------------------------------------------


def test_region_table_is_the_products_single_tenant_table(catalogue):
    rows = {row.aws_region: (row.name, row.geography) for row in catalogue.single_tenant_regions}
    assert rows == {
        "us-east-1": ("US East", "US"),
        "us-west-2": ("US West", "US"),
        "eu-west-1": ("EU West", "EU"),
        "eu-central-1": ("EU Central", "EU"),
        "ap-southeast-1": ("APAC Southeast", "APAC"),
        "ap-southeast-2": ("APAC Southeast", "APAC"),
        "cn-north-1": ("China Beijing", "CN"),
    }


@pytest.mark.parametrize("aws_region", OFFERED)
def test_every_offered_region_can_be_added(catalogue, tmp_path, aws_region):
    path = write(catalogue, tmp_path, "acme", aws_region)
    tenant = tenants.load_tenant(path, catalogue)
    assert tenant.region.aws_region == aws_region
    assert tenant.region.availability_zones == catalogue.single_tenant_region(aws_region).availability_zones


# --- refusals of `tenant add` --------------------------------------------------------------------------------


@pytest.mark.parametrize("aws_region", ["eu-west-9", "frankfurt", "EU-WEST-1", ""])
def test_unknown_region_is_refused(catalogue, tmp_path, aws_region):
    with pytest.raises(ConfigError, match=rf"aws_region \(--region\): {aws_region!r} is not an AWS region") as info:
        tenants.new_tenant_file(catalogue, tmp_path, "acme", aws_region=aws_region)
    assert info.value.key == "aws_region (--region)"
    assert "is not an AWS region" in info.value.problem
    assert "eu-west-1 (EU West)" in info.value.problem  # names what is offered


@pytest.mark.parametrize("aws_region", ["eu-west-2", "ap-northeast-1", "us-east-2", "cn-northwest-1", "sa-east-1"])
def test_region_not_offered_for_single_tenant_is_refused(catalogue, tmp_path, aws_region):
    with pytest.raises(ConfigError, match=f"{aws_region} is not offered for Single-Tenant Cloud") as info:
        tenants.new_tenant_file(catalogue, tmp_path, "acme", aws_region=aws_region)
    assert f"{aws_region} is not offered for Single-Tenant Cloud" in info.value.problem
    assert "single_tenant_regions" in info.value.problem


@pytest.mark.parametrize(
    "slug", ["Acme", "acme_corp", "-acme", "acme-", "1acme", "acme--bank", "acme.example", "a" * 33, "", "ac me"]
)
def test_slug_that_is_not_dns_safe_is_refused(catalogue, tmp_path, slug):
    with pytest.raises(ConfigError, match=r": slug \(the tenant name\): ") as info:
        tenants.new_tenant_file(catalogue, tmp_path, slug, aws_region="eu-west-1")
    assert info.value.key.startswith("slug")


@pytest.mark.parametrize("slug", ["a", "acme", "acme-bank", "bank2", "a" * 32])
def test_dns_safe_slugs_are_accepted(catalogue, tmp_path, slug):
    path, _ = tenants.new_tenant_file(catalogue, tmp_path, slug, aws_region="eu-west-1")
    assert path == tmp_path / f"{slug}.yaml"


def test_slug_already_used_is_refused(catalogue, tmp_path):
    (tmp_path / "acme.yaml").write_text("slug: acme\n")
    with pytest.raises(ConfigError, match=r"acme\.yaml: slug: tenant 'acme' already exists") as info:
        tenants.new_tenant_file(catalogue, tmp_path, "acme", aws_region="eu-west-1")
    assert info.value.path == str(tmp_path / "acme.yaml")
    assert "already exists" in info.value.problem


@pytest.mark.parametrize("account", ["12345", "1234567890123", "12345678901a", "acme-prod", ""])
def test_account_of_the_wrong_shape_is_refused(catalogue, tmp_path, account):
    with pytest.raises(ConfigError, match=rf"account \(--account\): {account!r} is not an AWS account id") as info:
        tenants.new_tenant_file(catalogue, tmp_path, "acme", aws_region="eu-west-1", account=account)
    assert info.value.key == "account (--account)"
    assert "12 digits" in info.value.problem


def test_domain_that_is_not_a_dns_name_is_refused(catalogue, tmp_path):
    with pytest.raises(ConfigError, match=r": api_domain: 'https://Acme\.example' ") as info:
        tenants.new_tenant_file(catalogue, tmp_path, "acme", aws_region="eu-west-1", domain="https://Acme.example")
    assert info.value.key == "api_domain"


# --- generated files -------------------------------------------------------------------------------------------


# Optional keys whose default follows from other keys; the generated file explains them in comments.
# Written as comments: defaults the file states without setting (database TLS: the shipped bundle in commercial regions).
DERIVED_KEYS = (
    "console_certificate_arn",
    "hosted_zone",
    "database_ca_bundle",
    "database_ca_bundle_sha256",
    "database_tls",
    "alarms",  # default: nobody is subscribed; the file shows how to add e-mail addresses
)


def test_generated_file_spells_out_every_key(catalogue, tmp_path):
    data = generated(catalogue, tmp_path, console=True)
    assert list(data) == [k for k in tenants.TENANT_KEYS if k not in DERIVED_KEYS]
    assert data["sizing"] == catalogue.default_sizing.__dict__
    assert data["console_availability_zones"] == ["eu-west-1a", "eu-west-1b"]


def test_generated_file_without_console_has_no_console_zones(catalogue, tmp_path):
    assert "console_availability_zones" not in generated(catalogue, tmp_path)


def test_generated_china_file_explains_the_fargate_zone_ids(catalogue, tmp_path):
    _, text = tenants.new_tenant_file(
        catalogue, tmp_path, "pekingbank", aws_region="cn-north-1", account=CHINA_TENANT_ACCOUNT
    )
    assert "cnn1-az1" in text and "console_availability_zones: [cn-north-1a, cn-north-1b]" in text


def test_generated_file_defaults(catalogue, tmp_path):
    data = generated(catalogue, tmp_path)
    eu = catalogue.region("eu")
    assert data["slug"] == "acme"
    assert data["aws_region"] == "eu-west-1" and data["partition"] == "aws" and data["geography"] == "EU"
    assert data["account"] == eu.account  # the geography's region account unless --account
    assert data["availability_zones"] == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    assert data["inference_regions"] == ["eu-west-1"]  # the home region only: wider is an explicit opt-in
    assert data["models"] == ["titan-embed-text-v2"]  # what can be processed in eu-west-1 alone
    assert data["api_domain"] == f"acme.{eu.api_domain}"
    assert (
        data["certificate_arn"]
        == f"arn:aws:acm:eu-west-1:{eu.account}:certificate/{tenants.PLACEHOLDER_CERTIFICATE_ID}"
    )
    assert data["console"] is False


def test_generated_file_takes_the_options(catalogue, tmp_path):
    data = generated(catalogue, tmp_path, account="123456789012", domain="api.acme.example", console=True)
    assert data["account"] == "123456789012"
    assert data["api_domain"] == "api.acme.example"
    assert data["certificate_arn"].startswith("arn:aws:acm:eu-west-1:123456789012:certificate/")
    assert data["console"] is True


def test_generated_china_file_is_in_the_china_partition_with_console(catalogue, tmp_path):
    data = generated(catalogue, tmp_path, "pekingbank", aws_region="cn-north-1")
    assert data["partition"] == "aws-cn" and data["geography"] == "CN"
    assert data["certificate_arn"].startswith("arn:aws-cn:acm:cn-north-1:")
    assert data["inference_regions"] == ["cn-north-1"]
    assert data["console"] is True  # always served in country


def test_generated_file_is_reviewable_text(catalogue, tmp_path):
    _, text = tenants.new_tenant_file(catalogue, tmp_path, "acme", aws_region="eu-west-1")
    assert "PLACEHOLDER" in text  # the certificate must be replaced before deploying
    assert "npx cdk deploy Tenant-acme -c stacks=Tenant-acme" in text
    assert "rk-eu-" in text


@pytest.mark.parametrize(
    ("slug", "options"),
    [
        ("acme", {"aws_region": "eu-west-1", "domain": "api.acme.example", "runtime": "container"}),
        ("pekingbank", {"aws_region": "cn-north-1", "account": "555555555555"}),
    ],
)
def test_example_tenant_files_are_what_tenant_add_writes(catalogue, tmp_path, slug, options):
    _, text = tenants.new_tenant_file(catalogue, tmp_path, slug, **options)
    assert (tenants.DEFAULT_TENANTS_DIR / f"{slug}.yaml").read_text() == text


def test_example_tenants_load(catalogue):
    loaded = {t.slug: t for t in tenants.load_tenants(tenants.DEFAULT_TENANTS_DIR, catalogue)}
    assert set(loaded) >= {"acme", "pekingbank"}
    acme, peking = loaded["acme"].region, loaded["pekingbank"].region
    assert (acme.stack_name, acme.deployment_id, acme.code, acme.key_prefix) == (
        "Tenant-acme",
        "tenant-acme",
        "eu",
        "rk-eu-",
    )
    assert (peking.stack_name, peking.partition, peking.code, peking.console) == (
        "Tenant-pekingbank",
        "aws-cn",
        "cn",
        True,
    )
    # The geography's models and guardrails, served from the tenant's own region (never regions.eu's gateway).
    eu = catalogue.region("eu").gateway
    assert [m.name for m in acme.gateway.models] == ["titan-embed-text-v2"]
    assert {m.name for m in acme.gateway.models} <= {m.name for m in eu.models}
    assert [(p.type, p.aws_region) for p in acme.gateway.providers] == [("bedrock", "eu-west-1")]
    assert acme.gateway.guardrails == eu.guardrails and acme.provider_regions == ("eu-west-1",)
    assert acme.offerings == ("single_tenant",)


# --- refusals of the loader (tenant files are as strict as regions.yaml) ---------------------------------------


@pytest.fixture
def valid(catalogue, tmp_path) -> dict:
    return generated(catalogue, tmp_path)


@pytest.fixture
def path(tmp_path) -> Path:
    return tmp_path / "acme.yaml"


def test_valid_file_loads(catalogue, valid, path):
    assert tenants.parse_tenant(valid, path, catalogue).stack_name == "Tenant-acme"


def test_unknown_key_is_refused(catalogue, valid, path):
    valid["multi_az"] = False
    error = refusal(catalogue, valid, path)
    assert (error.path, error.key) == (str(path), "multi_az")
    assert "unknown key" in error.problem and "sizing" in error.problem


def test_unknown_sizing_key_is_refused(catalogue, valid, path):
    valid["sizing"]["multi_az"] = False
    assert refusal(catalogue, valid, path).key == "sizing.multi_az"


@pytest.mark.parametrize("key", ["slug", "aws_region", "account", "certificate_arn", "sizing", "inference_regions"])
def test_missing_key_is_refused(catalogue, valid, path, key):
    del valid[key]
    error = refusal(catalogue, valid, path)
    assert (error.key, error.problem) == (key, "is required")


def test_slug_must_match_file_name(catalogue, valid, tmp_path):
    error = refusal(catalogue, valid, tmp_path / "other.yaml")
    assert error.key == "slug" and "other.yaml" in error.problem


def test_region_not_offered_is_refused_in_a_file(catalogue, valid, path):
    valid["aws_region"] = "eu-west-2"
    error = refusal(catalogue, valid, path)
    assert error.key == "aws_region" and "not offered" in error.problem


def test_wrong_partition_is_refused(catalogue, valid, path):
    valid["partition"] = "aws-cn"
    error = refusal(catalogue, valid, path)
    assert error.key == "partition" and "'aws'" in error.problem


def test_wrong_geography_is_refused(catalogue, valid, path):
    valid["geography"] = "US"
    error = refusal(catalogue, valid, path)
    assert error.key == "geography" and "set it to EU" in error.problem


def test_unquoted_account_is_refused(catalogue, valid, path):
    valid["account"] = 111111111111
    error = refusal(catalogue, valid, path)
    assert error.key == "account" and "quoted" in error.problem


def test_zone_of_another_region_is_refused(catalogue, valid, path):
    valid["availability_zones"] = ["eu-west-1a", "eu-central-1b"]
    assert refusal(catalogue, valid, path).key == "availability_zones[1]"


def test_single_zone_is_refused(catalogue, valid, path):
    valid["availability_zones"] = ["eu-west-1a"]
    assert "at least two" in refusal(catalogue, valid, path).problem


def test_inference_outside_the_geography_is_refused(catalogue, valid, path):
    valid["inference_regions"] = [*valid["inference_regions"], "eu-west-2"]  # London: outside the EU
    error = refusal(catalogue, valid, path)
    assert error.key.startswith("inference_regions[") and "outside geography EU" in error.problem


def test_inference_must_include_home_region(catalogue, valid, path):
    valid["inference_regions"] = ["eu-central-1"]
    assert "home region eu-west-1" in refusal(catalogue, valid, path).problem


def test_certificate_of_another_region_is_refused(catalogue, valid, path):
    valid["certificate_arn"] = valid["certificate_arn"].replace("eu-west-1", "eu-central-1")
    error = refusal(catalogue, valid, path)
    assert error.key == "certificate_arn" and "own region" in error.problem


def test_certificate_of_another_account_is_refused(catalogue, valid, path):
    valid["certificate_arn"] = valid["certificate_arn"].replace(valid["account"], "999999999999")
    error = refusal(catalogue, valid, path)
    assert error.key == "certificate_arn" and "999999999999" in error.problem and "tenant's account" in error.problem


def test_china_certificate_in_the_global_partition_is_refused(catalogue, tmp_path):
    data = generated(catalogue, tmp_path, "pekingbank", aws_region="cn-north-1")
    data["certificate_arn"] = data["certificate_arn"].replace("arn:aws-cn:", "arn:aws:")
    error = refusal(catalogue, data, tmp_path / "pekingbank.yaml")
    assert error.key == "certificate_arn" and "aws-cn/cn-north-1" in error.problem


def test_china_console_cannot_be_turned_off(catalogue, tmp_path):
    data = generated(catalogue, tmp_path, "pekingbank", aws_region="cn-north-1")
    data["console"] = False
    assert refusal(catalogue, data, tmp_path / "pekingbank.yaml").key == "console"


def test_console_zone_outside_the_tenants_zones_is_refused(catalogue, valid, path):
    valid["console"] = True
    valid["console_availability_zones"] = ["eu-west-1a", "eu-west-1d"]
    assert refusal(catalogue, valid, path).key == "console_availability_zones[1]"


def test_console_certificate_of_another_account_is_refused(catalogue, valid, path):
    valid["console_certificate_arn"] = valid["certificate_arn"].replace(valid["account"], "999999999999")
    assert refusal(catalogue, valid, path).key == "console_certificate_arn"


def test_hosted_zone_must_contain_the_domains(catalogue, valid, path):
    valid["hosted_zone"] = "acme.example"
    assert refusal(catalogue, valid, path).key == "hosted_zone"
    valid["hosted_zone"] = "regiongate.example"
    assert tenants.parse_tenant(valid, path, catalogue).region.hosted_zone == "regiongate.example"


def test_optional_console_keys_are_taken(catalogue, valid, path):
    valid["console"] = True
    valid["console_availability_zones"] = ["eu-west-1b", "eu-west-1c"]
    valid["console_certificate_arn"] = valid["certificate_arn"].replace("00000000-0000", "11111111-0000")
    region = tenants.parse_tenant(valid, path, catalogue).region
    assert region.console_availability_zones == ("eu-west-1b", "eu-west-1c")
    assert region.console_certificate_arn.endswith("/11111111-0000-0000-0000-000000000000")


def test_alarm_subscribers_of_a_tenant_stack_are_taken_and_checked(catalogue, valid, path):
    assert tenants.parse_tenant(valid, path, catalogue).region.alarms.email == ()  # default: nobody
    valid["alarms"] = {"email": ["oncall@acme.example", "sre@acme.example"]}
    region = tenants.parse_tenant(valid, path, catalogue).region
    assert region.alarms.email == ("oncall@acme.example", "sre@acme.example")
    valid["alarms"] = {"email": ["not-an-address"]}
    error = refusal(catalogue, valid, path)
    assert (error.key, error.problem) == ("alarms.email[0]", "'not-an-address' is not an e-mail address")
    valid["alarms"] = {"pager": ["x"]}
    assert refusal(catalogue, valid, path).key == "alarms.pager"
    valid["alarms"] = {"email": ["oncall@acme.example"]}
    Draft7Validator(schema.tenant_document()).validate(valid)  # the published schema takes it too
    valid["alarms"] = {"email": ["oncall@acme.example"], "sms": []}
    assert list(Draft7Validator(schema.tenant_document()).iter_errors(valid))


def test_bad_sizing_is_refused(catalogue, valid, path):
    valid["sizing"]["log_retention_days"] = 42
    assert refusal(catalogue, valid, path).key == "sizing.log_retention_days"


def test_duplicate_key_is_refused(catalogue, tmp_path):
    path, text = tenants.new_tenant_file(catalogue, tmp_path, "acme", aws_region="eu-west-1")
    path.write_text(text + "console: true\n")
    with pytest.raises(ConfigError, match=r"acme\.yaml: \(syntax\): not valid YAML: duplicate key 'console'") as info:
        tenants.load_tenant(path, catalogue)
    assert info.value.key == "(syntax)" and "duplicate key 'console'" in info.value.problem


def test_domain_used_by_a_region_is_refused(catalogue, tmp_path):
    path, text = tenants.new_tenant_file(
        catalogue, tmp_path, "acme", aws_region="eu-west-1", domain="eu.api.regiongate.example"
    )
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"acme\.yaml: api_domain: .*regions\.eu") as info:
        tenants.load_tenants(tmp_path, catalogue)
    assert (info.value.path, info.value.key) == (str(path), "api_domain")
    assert "regions.eu" in info.value.problem


def test_domain_used_by_another_tenant_is_refused(catalogue, tmp_path):
    for slug in ("acme", "bcme"):
        path, text = tenants.new_tenant_file(
            catalogue, tmp_path, slug, aws_region="eu-west-1", domain="api.shared.example"
        )
        path.write_text(text)
    with pytest.raises(ConfigError, match=r"bcme\.yaml: api_domain: .*acme\.yaml") as info:
        tenants.load_tenants(tmp_path, catalogue)
    assert info.value.key == "api_domain" and "acme.yaml" in info.value.problem


# --- selection: only the selected tenant files are read ------------------------------------------------------


def write(catalogue, directory: Path, slug: str, aws_region: str = "eu-west-1", **options) -> Path:
    if aws_region.startswith("cn-"):
        options.setdefault("account", CHINA_TENANT_ACCOUNT)
    path, text = tenants.new_tenant_file(catalogue, directory, slug, aws_region=aws_region, **options)
    path.write_text(text)
    return path


def test_china_tenant_may_live_in_the_cn_stacks_account(catalogue, tmp_path):
    """Each deployment has its own image repository (regiongate/<deployment>/console): no account of its own needed."""
    cn_account = catalogue.region("cn").account
    path, text = tenants.new_tenant_file(catalogue, tmp_path, "pekingbank", aws_region="cn-north-1")
    path.write_text(text)
    tenant = tenants.load_tenant(path, catalogue)
    assert (tenant.region.account, tenant.region.aws_region, tenant.region.console) == (cn_account, "cn-north-1", True)
    assert tenants.image_deployment(tenant.region) == "tenant-pekingbank"
    assert tenants.image_deployment(catalogue.region("cn")) is None


def test_two_console_tenants_may_share_an_account_and_region(catalogue, tmp_path):
    write(catalogue, tmp_path, "alpha", "eu-west-1", account="123456789012", console=True)
    write(catalogue, tmp_path, "beta", "eu-west-1", account="123456789012", console=True)
    loaded = tenants.load_tenants(tmp_path, catalogue)
    assert [tenants.image_deployment(t.region) for t in loaded] == ["tenant-alpha", "tenant-beta"]


def test_tenants_without_a_console_may_share_an_account(catalogue, tmp_path):
    write(catalogue, tmp_path, "alpha", "eu-west-1", account="123456789012")
    write(catalogue, tmp_path, "beta", "eu-west-1", account="123456789012")
    assert [t.slug for t in tenants.load_tenants(tmp_path, catalogue)] == ["alpha", "beta"]


def test_selection_reads_only_the_selected_tenant_file(catalogue, tmp_path):
    write(catalogue, tmp_path, "acme")
    (tmp_path / "broken.yaml").write_text("slug: broken\nnot_a_key: 1\n")
    configs = tenants.deployments(catalogue, tmp_path, ["Tenant-acme"])
    assert [c.stack_name for c in configs] == ["Tenant-acme"]
    with pytest.raises(ConfigError, match="not_a_key"):  # the whole app does validate every file
        tenants.deployments(catalogue, tmp_path, None)


def test_selection_of_regions_and_tenants_keeps_the_given_order(catalogue, tmp_path):
    write(catalogue, tmp_path, "acme")
    configs = tenants.deployments(catalogue, tmp_path, ["Tenant-acme", "Cn", "Eu"])
    assert [c.stack_name for c in configs] == ["Tenant-acme", "Cn", "Eu"]


def test_no_selection_builds_regions_then_every_tenant(catalogue, tmp_path):
    write(catalogue, tmp_path, "zeta")
    write(catalogue, tmp_path, "acme", "cn-north-1")
    names = [c.stack_name for c in tenants.deployments(catalogue, tmp_path, None)]
    assert names == [*(r.stack_name for r in catalogue.regions), "Tenant-acme", "Tenant-zeta"]


@pytest.mark.parametrize("name", ["Tenant-nobody", "Europe", "tenant-acme"])
def test_selecting_an_unknown_stack_is_refused(catalogue, tmp_path, name):
    write(catalogue, tmp_path, "acme")
    with pytest.raises(ConfigError, match=f"^-c stacks: {name}: ") as info:
        tenants.deployments(catalogue, tmp_path, [name])
    assert (info.value.path, info.value.key) == ("-c stacks", name)
    assert "Eu" in info.value.problem and "Tenant-acme" in info.value.problem


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("Tenant-acme", ["Tenant-acme"]),
        (" Eu, Tenant-acme ,", ["Eu", "Tenant-acme"]),
        (["Eu", "Cn"], ["Eu", "Cn"]),
    ],
)
def test_selection_context(value, expected):
    context = {} if value is None else {"stacks": value}
    assert tenants.selected_stacks(context) == expected


def test_tenants_dir_from_context_then_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(tenants.TENANTS_DIR_ENV, raising=False)
    assert tenants.tenants_dir({}) == tenants.DEFAULT_TENANTS_DIR
    monkeypatch.setenv(tenants.TENANTS_DIR_ENV, str(tmp_path / "env"))
    assert tenants.tenants_dir({}) == tmp_path / "env"
    assert tenants.tenants_dir({"tenants_dir": str(tmp_path / "ctx")}) == tmp_path / "ctx"


# --- the command line ------------------------------------------------------------------------------------------


def run(capsys, tmp_path, *argv) -> tuple[int, str, str]:
    code = cli.main(["tenant", "--tenants-dir", str(tmp_path), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_add_list_remove(capsys, tmp_path):
    code, out, _ = run(
        capsys, tmp_path, "add", "acme", "--region", "eu-west-1", "--account", "123456789012", "--console"
    )
    assert code == 0 and "Tenant-acme" in out and (tmp_path / "acme.yaml").exists()
    code, out, _ = run(
        capsys, tmp_path, "add", "pekingbank", "--region", "cn-north-1", "--account", CHINA_TENANT_ACCOUNT
    )
    assert code == 0

    code, out, _ = run(capsys, tmp_path, "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:2] == ["tenant", "stack"]
    assert any(line.startswith("acme ") and "EU West (eu-west-1)" in line and "123456789012" in line for line in lines)
    assert any(line.startswith("pekingbank ") and "aws-cn" in line and "rk-cn-" in line for line in lines)

    code, out, _ = run(capsys, tmp_path, "remove", "acme")
    assert code == 0 and not (tmp_path / "acme.yaml").exists()
    assert "cdk destroy Tenant-acme" in out and "snapshot" in out


@pytest.mark.parametrize(
    ("argv", "key"),
    [
        (["add", "acme", "--region", "eu-west-9"], "aws_region (--region)"),
        (["add", "acme", "--region", "eu-west-2"], "aws_region (--region)"),
        (["add", "Acme!", "--region", "eu-west-1"], "slug (the tenant name)"),
        (["add", "acme", "--region", "eu-west-1", "--account", "42"], "account (--account)"),
        (["remove", "nobody"], "(file)"),
        (["plan", "nobody"], "(file)"),
    ],
)
def test_cli_refusals_name_file_key_and_exit_2(capsys, tmp_path, argv, key):
    code, _, err = run(capsys, tmp_path, *argv)
    assert code == 2
    assert err.startswith(f"regiongate: {tmp_path}/") and f": {key}: " in err


def test_cli_add_refuses_an_existing_tenant_and_keeps_the_file(capsys, tmp_path):
    assert run(capsys, tmp_path, "add", "acme", "--region", "eu-west-1")[0] == 0
    before = (tmp_path / "acme.yaml").read_text()
    code, _, err = run(capsys, tmp_path, "add", "acme", "--region", "us-east-1")
    assert code == 2 and "already exists" in err
    assert (tmp_path / "acme.yaml").read_text() == before


def test_cli_list_of_an_empty_directory(capsys, tmp_path):
    code, out, _ = run(capsys, tmp_path, "list")
    assert code == 0 and "no tenants" in out


# --- the JSON Schema editors validate tenant files with ------------------------------------------------------

TENANT_SCHEMA = schema.SCHEMA_DIR / "tenant.schema.json"


def schema_errors(data: dict) -> list[str]:
    document = json.loads(TENANT_SCHEMA.read_text())
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in Draft7Validator(document).iter_errors(data)]


def test_checked_in_tenant_schema_is_what_the_code_generates():
    assert TENANT_SCHEMA.read_text() == schema.render(schema.tenant_document())


@pytest.mark.parametrize("slug", ["acme", "pekingbank"])
def test_example_tenant_files_validate_against_the_schema(slug):
    assert schema_errors(yaml.safe_load((tenants.DEFAULT_TENANTS_DIR / f"{slug}.yaml").read_text())) == []


@pytest.mark.parametrize("aws_region", OFFERED)
def test_every_generated_file_validates_against_the_schema(catalogue, tmp_path, aws_region):
    assert schema_errors(generated(catalogue, tmp_path, aws_region=aws_region, console=True)) == []


def test_generated_file_names_the_schema_relative_to_the_tenants_directory(catalogue, tmp_path):
    _, text = tenants.new_tenant_file(catalogue, tmp_path, "acme", aws_region="eu-west-1")
    first_line = text.splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first_line.startswith(prefix)
    assert (tenants.DEFAULT_TENANTS_DIR / first_line[len(prefix) :]).resolve() == TENANT_SCHEMA.resolve()


@pytest.mark.parametrize(("where", "typo"), [((), "multi_az"), (("sizing",), "dbmulti_az")])
def test_typo_in_a_key_fails_schema_validation(valid, where, typo):
    node = valid
    for step in where:
        node = node[step]
    node[typo] = True
    errors = schema_errors(valid)
    assert len(errors) == 1
    assert errors[0].startswith(f"{'.'.join(where)}: Additional properties are not allowed ('{typo}' was unexpected)")


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("account", 111111111111, "is not of type 'string'"),  # a tenant's account is quoted
        ("slug", "acme--bank", "does not match"),
        ("slug", "a" * 33, "is too long"),
        ("console", "yes", "is not of type 'boolean'"),
    ],
)
def test_schema_checks_values_as_the_parser_does(catalogue, valid, path, key, value, words):
    valid[key] = value
    errors = schema_errors(valid)
    assert len(errors) == 1 and words in errors[0]
    refusal(catalogue, valid, path)


@pytest.mark.parametrize("where", [(), ("sizing",)])
def test_schema_has_exactly_the_keys_the_parser_allows(catalogue, valid, path, where):
    node = valid
    for step in where:
        node = node[step]
    node["zz_typo"] = 1
    problem = refusal(catalogue, valid, path).problem
    assert problem.startswith("unknown key; valid keys here: ")
    document = json.loads(TENANT_SCHEMA.read_text())
    for step in where:
        document = document["properties"][step]
    assert list(document["properties"]) == problem.removeprefix("unknown key; valid keys here: ").split(", ")
