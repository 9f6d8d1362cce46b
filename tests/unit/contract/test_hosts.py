"""The one host allowlist matcher (contract.hosts): the configuration (synth time) and the orgs' own endpoints
(when they are added) match upstream hosts with the same function."""

from pathlib import Path

import regiongate
from regiongate.config import gateway, tenant_gateway
from regiongate.contract import hosts
from regiongate.contract.hosts import host_allowed
from regiongate.store import provider_credentials


def test_wildcards_match_subdomains_only():
    assert host_allowed("a.example.com", ("*.example.com",))
    assert host_allowed("a.b.example.com", ["*.example.com"])
    assert not host_allowed("example.com", ("*.example.com",))
    assert not host_allowed("evilexample.com", ("*.example.com",))
    assert host_allowed("API.example.com", ("api.example.com",))
    assert host_allowed("api.example.com.", ("api.example.com",))  # a trailing dot is the same host
    assert not host_allowed("api.example.com.evil", ("api.example.com",))
    assert not host_allowed("api.example.com", ())


def test_one_home():
    assert gateway.host_allowed is tenant_gateway.host_allowed is provider_credentials.host_allowed is host_allowed
    package = Path(regiongate.__file__).parent
    homes = [p for p in package.rglob("*.py") if "def host_allowed(" in p.read_text(encoding="utf-8")]
    assert homes == [Path(hosts.__file__)]
