"""regions.yaml ``console_oidc``: the console's single sign-on, checked at synth time."""

from __future__ import annotations

import copy

import pytest
import yaml

from regiongate.config.regions import DEFAULT_CONFIG_PATH, ConfigError, parse_catalogue
from regiongate.contract.console_oidc import ClaimMapping, RoleMapping

CN_SECRET = "arn:aws-cn:secretsmanager:cn-north-1:444444444444:secret:console-oidc-AbCdEf"


def with_sso(**section) -> dict:
    data = copy.deepcopy(yaml.safe_load(DEFAULT_CONFIG_PATH.read_text()))
    base = {
        "issuer": "https://login.example.cn/realms/cn",
        "client_id": "regiongate-console-cn",
        "roles": [{"group": "rg-acme-admins", "org": "acme", "role": "org_admin"}],
    }
    base.update(section)
    data["regions"]["cn"]["console_oidc"] = {k: v for k, v in base.items() if v is not None}
    return data


def test_a_configured_region_gets_its_issuer_client_and_mapping():
    cn = parse_catalogue(with_sso(client_secret_arn=CN_SECRET, extra_hosts=["keys.login.example.cn"])).region("cn")
    sso = cn.console_oidc
    assert sso is not None and sso.issuer == "https://login.example.cn/realms/cn"
    assert sso.client_id == "regiongate-console-cn" and sso.client_secret_arn == CN_SECRET
    assert sso.mapping == ClaimMapping(
        groups_claim="groups", roles=(RoleMapping(group="rg-acme-admins", role="org_admin", org_id="acme"),)
    )
    assert sso.hosts == ("login.example.cn", "keys.login.example.cn")
    assert parse_catalogue(with_sso()).region("cn").console_oidc.client_secret_arn is None  # the stack creates it
    assert parse_catalogue(with_sso()).region("eu").console_oidc is None


@pytest.mark.parametrize(
    "section, message",
    [
        ({"issuer": "http://login.example.cn"}, "an https URL"),
        ({"client_secret_arn": "arn:aws:secretsmanager:eu-central-1:111111111111:secret:x-AbCdEf"}, "stack's own"),
        ({"client_secret_arn": "arn:aws-cn:secretsmanager:cn-north-1:999999999999:secret:x"}, "stack's own"),
        ({"roles": []}, "at least one"),
        ({"roles": [{"group": "g", "role": "owner", "org": "acme"}]}, "not a role"),
        ({"roles": [{"group": "g", "role": "org_viewer"}]}, "is required for org_viewer"),
        ({"roles": [{"group": "g", "role": "platform_admin", "org": "acme"}]}, "belongs to no organisation"),
        (
            {
                "roles": [
                    {"group": "g", "role": "org_viewer", "org": "a"},
                    {"group": "g", "role": "org_admin", "org": "a"},
                ]
            },
            "mapped twice",
        ),
        ({"extra_hosts": ["Not A Host"]}, "DNS name"),
        ({"scopes": ["openid"]}, "scopes"),
    ],
)
def test_mistakes_are_refused_with_the_key_path(section, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_catalogue(with_sso(**section))
    assert "regions.cn.console_oidc" in str(info.value)


def test_sso_needs_the_console():
    data = with_sso()
    data["regions"]["eu"]["console_oidc"] = data["regions"]["cn"].pop("console_oidc")
    with pytest.raises(ConfigError, match="needs the console"):
        parse_catalogue(data)
