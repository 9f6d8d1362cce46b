"""The console never presents a certificate for another name: console_certificate_arn when it is not covered."""

from __future__ import annotations

import copy

import pytest
import yaml

from regiongate.config import tenants
from regiongate.config.certificates import covers
from regiongate.config.reader import load_yaml
from regiongate.config.regions import DEFAULT_CONFIG_PATH, ConfigError, parse_catalogue


@pytest.mark.parametrize(
    ("names", "domain", "covered"),
    [
        (("api.example.com",), "api.example.com", True),
        (("*.example.com",), "app.example.com", True),
        (("*.example.com",), "a.b.example.com", False),  # a wildcard covers one label
        (("*.example.com",), "example.com", False),
        (("cn-platform.example.com",), "cn.example.com", False),
    ],
)
def test_covers_follows_acm_name_matching(names, domain, covered):
    assert covers(names, domain) is covered


def shipped() -> dict:
    return copy.deepcopy(yaml.safe_load(DEFAULT_CONFIG_PATH.read_text()))


def test_the_cn_console_has_a_certificate_of_its_own():
    cn = parse_catalogue(shipped()).region("cn")
    assert cn.console and cn.console_domain == "cn.regiongate.example"
    assert cn.certificate_names == ("cn-platform.regiongate.example",)
    assert cn.console_certificate_arn != cn.certificate_arn
    assert cn.console_certificate_arn.startswith("arn:aws-cn:acm:cn-north-1:444444444444:certificate/")


def test_a_console_on_a_name_the_api_certificate_does_not_cover_is_refused():
    data = shipped()
    del data["regions"]["cn"]["console_certificate_arn"]
    with pytest.raises(ConfigError, match=r"regions\.cn\.console_certificate_arn: is required") as info:
        parse_catalogue(data)
    assert "cn.regiongate.example, which certificate_arn does not cover" in info.value.problem
    # Stating that the API certificate names the console domain too is the other way out.
    data["regions"]["cn"]["certificate_names"] = ["cn-platform.regiongate.example", "cn.regiongate.example"]
    cn = parse_catalogue(data).region("cn")
    assert cn.console_certificate_arn == cn.certificate_arn


def test_certificate_names_must_cover_the_api_domain():
    data = shipped()
    data["regions"]["eu"]["certificate_names"] = ["*.app.regiongate.example"]
    with pytest.raises(ConfigError, match=r"regions\.eu\.certificate_names: none of \*\.app\.regiongate\.example"):
        parse_catalogue(data)


def test_a_tenant_console_needs_its_domain_on_the_certificate(catalogue, tmp_path):
    path, text = tenants.new_tenant_file(catalogue, tmp_path, "acme", aws_region="eu-west-1", console=True)
    data = load_yaml(text)
    assert data["certificate_names"] == [data["api_domain"], data["console_domain"]]  # what tenant add asks for
    data["certificate_names"] = [data["api_domain"]]
    with pytest.raises(ConfigError, match=r"acme\.yaml: console_certificate_arn: is required"):
        tenants.parse_tenant(data, path, catalogue)
