"""The residency report's "Network paths" section for our stacks: every way out of each VPC and where it ends."""

from __future__ import annotations

import datetime as _dt

from regiongate.cli.commands.report import DATA_KINDS, stack_contexts
from regiongate.network.egress import egress_plan
from regiongate.residency.network_paths import DNS_ALLOWED, ENDPOINT, NAT
from regiongate.residency.render import render_html, render_markdown
from regiongate.residency.report import build_report
from tests.fixtures.synth import SYNTHESIZED_STACKS

FIXED = _dt.datetime(2030, 6, 1, 12, 0, tzinfo=_dt.UTC)


def test_network_paths_of_our_stacks(synthesized_app):
    catalogue = synthesized_app.catalogue
    report = build_report(
        synthesized_app.outdir,
        list(SYNTHESIZED_STACKS),
        stack_contexts(catalogue),
        data_kinds=DATA_KINDS,
        clock=lambda: FIXED,
    )
    for stack in report.stacks:
        region = synthesized_app.stacks[stack.name].region_config
        by_kind = {kind: [p for p in stack.network if p.kind == kind] for kind in (ENDPOINT, DNS_ALLOWED, NAT)}
        assert by_kind[ENDPOINT] and all(p.ends_in == region.aws_region for p in by_kind[ENDPOINT]), stack.name
        hosts = {p.target: p for p in by_kind[DNS_ALLOWED]}
        aws_names = {name for name, path in hosts.items() if path.detail == "AWS service name"}
        assert aws_names and all(hosts[name].ends_in == region.aws_region for name in aws_names)
        assert set(hosts) - aws_names == set(region.gateway.allowed_hosts)
        for host in region.gateway.allowed_hosts:
            # Where a provider host ends is the configuration's, named with the provider.
            (provider,) = [p for p in region.gateway.providers if host in (p.endpoint or p.base_url or "")]
            assert hosts[host].ends_in.startswith(f"{provider.name} ({provider.type}): ")
        if egress_plan(region).needs_nat:
            (nat,) = by_kind[NAT]
            assert "security groups Gateway" in nat.detail and "blocks every other name" in nat.detail
        else:
            # A Bedrock-only deployment (e.g. a tenant served in its own region): no NAT, no way to the internet.
            assert by_kind[NAT] == [] and all(h.endswith(f".{region.aws_region}.amazonaws.com") for h in hosts)
    markdown = render_markdown(report)
    section = markdown.split("## Network paths", 1)[1].split("## Zero retention", 1)[0]
    assert (
        "### Cn (cn-north-1)" in section
        and "| DNS-allowed host | sqs.cn-north-1.amazonaws.com.cn | cn-north-1 |" in section
    )
    assert "| VPC endpoint | com.amazonaws.eu-central-1.bedrock-runtime | eu-central-1 |" in section
    assert "<h2>Network paths</h2>" in render_html(report)
