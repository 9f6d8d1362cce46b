"""The console's identity provider in the egress plan: resolvable by name, reached only by the console."""

from __future__ import annotations

from dataclasses import replace

from regiongate.config.console_oidc import ConsoleOidc
from regiongate.config.regions import load_catalogue
from regiongate.contract.console_oidc import ClaimMapping, RoleMapping
from regiongate.network.egress import egress_plan

SSO = ConsoleOidc(
    issuer="https://login.example.cn/realms/cn",
    client_id="console",
    mapping=ClaimMapping(groups_claim="groups", roles=(RoleMapping(group="g", role="org_viewer", org_id="acme"),)),
    extra_hosts=("keys.example.cn",),
)


def test_the_issuer_hosts_are_allowed_and_only_the_console_gets_the_internet():
    cn = load_catalogue().region("cn")
    before, after = egress_plan(cn), egress_plan(replace(cn, console_oidc=SSO))
    assert not before.console_needs_internet and before.console_hosts == ()
    assert after.console_needs_internet and after.needs_nat
    assert [h.host for h in after.console_hosts] == ["login.example.cn", "keys.example.cn"]
    assert after.allowed_domains() == (*before.allowed_domains(), "login.example.cn", "keys.example.cn")
    assert after.gateway_needs_internet == before.gateway_needs_internet  # the gateway's paths are unchanged
    assert after.external_hosts == before.external_hosts


def test_a_region_without_a_console_has_no_sso_path():
    eu = load_catalogue().region("eu")
    assert not eu.console
    plan = egress_plan(replace(eu, console_oidc=SSO))  # never parsed so (the parser needs the console)
    assert plan.console_hosts == () and not plan.console_needs_internet
