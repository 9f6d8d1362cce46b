"""Which ways out of a region's VPC its stack needs, computed from the region's configuration alone.

Three kinds of path, and nothing else:

- VPC endpoints for the AWS APIs the stack's code calls (``sizing.vpc_endpoints``, on by default), in the home
  region: the functions' and tasks' security groups reach them on 443 and nothing of AWS goes through the NAT;
- the database, inside the VPC;
- HTTPS through the NAT gateway, only when something needs it: a provider outside AWS (Azure OpenAI, an
  OpenAI-compatible host of ``gateway.allowed_hosts``), Bedrock in an inference region other than the home region
  (an interface endpoint serves only its own region), or every AWS API when endpoints are turned off.

The Route 53 Resolver DNS Firewall of the VPC (``regiongate.network.dns_firewall``) allows exactly
:meth:`EgressPlan.allowed_domains` and blocks every other name, so the NAT path reaches only those hosts by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from regiongate.config.gateway import deployment_runtime
from regiongate.config.regions import RegionConfig

# The AWS APIs every function or task calls: audit queue (SQS), secrets, the stack key, logs, and the STS and
# CloudWatch metrics APIs of the SDKs (credential checks, embedded metrics).
CORE_SERVICES = ("sqs", "secretsmanager", "kms", "logs", "sts", "monitoring")
# Only container tasks (the console, a container gateway) pull images: the ECR API and the Docker registry endpoint.
IMAGE_SERVICES = ("ecr.api", "ecr.dkr")
BEDROCK_RUNTIME = "bedrock-runtime"
# The partitions in which Amazon Bedrock exists at all (none in aws-cn; the config parser refuses it there too).
BEDROCK_PARTITIONS = ("aws", "aws-us-gov")
# DNS suffix of AWS service names by partition.
DNS_SUFFIX = {"aws": "amazonaws.com", "aws-cn": "amazonaws.com.cn", "aws-us-gov": "amazonaws.com"}
# The names (before ``.<region>.<suffix>``) the code resolves for each service: the API host, and for ECR the
# registry host of the account and the S3 names the image layers are downloaded from.
SERVICE_NAMES = {
    "sqs": ("sqs",),
    "secretsmanager": ("secretsmanager",),
    "kms": ("kms",),
    "logs": ("logs",),
    "sts": ("sts",),
    "monitoring": ("monitoring",),
    "bedrock-runtime": ("bedrock-runtime",),
    "ecr.api": ("api.ecr",),
    "ecr.dkr": ("*.dkr.ecr", "s3", "*.s3"),
}
# The audit store's endpoint (<instance>.<id>.<region>.rds.<suffix>).
DATABASE_NAMES = ("*.rds",)


@dataclass(frozen=True)
class ExternalHost:
    """A host the gateway reaches over HTTPS through the NAT, and why (a provider, or Bedrock elsewhere)."""

    host: str
    purpose: str


@dataclass(frozen=True)
class EgressPlan:
    aws_region: str
    partition: str
    endpoints: bool
    # Interface endpoint services (CDK's InterfaceVpcEndpointAwsService names), when ``endpoints``.
    interface_services: tuple[str, ...]
    external_hosts: tuple[ExternalHost, ...]
    # The AWS services the stack's code calls in its home region (with or without endpoints).
    aws_services: tuple[str, ...] = ()
    # Hosts only the console reaches through the NAT: its single sign-on issuer (regions.yaml console_oidc).
    console_hosts: tuple[ExternalHost, ...] = ()

    @property
    def dns_suffix(self) -> str:
        return DNS_SUFFIX[self.partition]

    @property
    def needs_nat(self) -> bool:
        """A NAT gateway only when some path leaves the VPC other than through an endpoint."""
        return not self.endpoints or bool(self.external_hosts) or bool(self.console_hosts)

    @property
    def gateway_needs_internet(self) -> bool:
        """The gateway function's security group gets 443 to 0.0.0.0/0 (through the NAT, behind the DNS firewall)."""
        return not self.endpoints or bool(self.external_hosts)

    @property
    def console_needs_internet(self) -> bool:
        """The console tasks get 443 to 0.0.0.0/0 (NAT, DNS firewall) for their identity provider."""
        return bool(self.console_hosts)

    @property
    def aws_services_need_internet(self) -> bool:
        """Without endpoints every function reaches the AWS APIs through the NAT."""
        return not self.endpoints

    def aws_names(self) -> tuple[str, ...]:
        """The home region's names of the services the stack calls, and its database's (no other service, no
        wildcard over the region: another account's API Gateway or function URL is not reachable by name)."""
        prefixes = [name for service in self.aws_services for name in SERVICE_NAMES[service]] + list(DATABASE_NAMES)
        return tuple(dict.fromkeys(f"{prefix}.{self.aws_region}.{self.dns_suffix}" for prefix in prefixes))

    def allowed_domains(self) -> tuple[str, ...]:
        """What the DNS firewall lets the VPC resolve: :meth:`aws_names`, then the external hosts."""
        domains = list(self.aws_names())
        domains += [host.host for host in self.external_hosts if host.host not in domains]
        domains += [host.host for host in self.console_hosts if host.host not in domains]
        return tuple(domains)


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def egress_plan(region: RegionConfig) -> EgressPlan:
    """The ways out of ``region``'s VPC its stack needs (see the module docstring)."""
    endpoints = region.sizing.vpc_endpoints
    external: list[ExternalHost] = []
    bedrock_here = False
    gateway = region.gateway
    for provider in gateway.providers if gateway is not None else ():
        if provider.type == "bedrock" and provider.aws_region:
            if provider.aws_region == region.aws_region:
                # Through the home region's endpoint, or its service names through the NAT without endpoints.
                bedrock_here = True
                continue
            host = f"{BEDROCK_RUNTIME}.{provider.aws_region}.{DNS_SUFFIX[region.partition]}"
            external.append(ExternalHost(host, f"provider {provider.name} (Amazon Bedrock in {provider.aws_region})"))
        elif provider.type == "azure_openai" and provider.endpoint:
            external.append(
                ExternalHost(_host(provider.endpoint), f"provider {provider.name} (Azure OpenAI, {provider.location})")
            )
        elif provider.base_url:
            external.append(ExternalHost(_host(provider.base_url), f"provider {provider.name} (OpenAI-compatible)"))
    services: list[str] = list(CORE_SERVICES)
    if region.console or deployment_runtime(region).container:
        services += IMAGE_SERVICES
    if bedrock_here and region.partition in BEDROCK_PARTITIONS:
        services.append(BEDROCK_RUNTIME)
    unique: dict[str, ExternalHost] = {}
    for host in external:
        unique.setdefault(host.host, host)
    console_hosts: tuple[ExternalHost, ...] = ()
    if region.console and region.console_oidc is not None:
        console_hosts = tuple(
            ExternalHost(host, f"the console's single sign-on ({region.console_oidc.issuer})")
            for host in region.console_oidc.hosts
        )
    return EgressPlan(
        console_hosts=console_hosts,
        aws_region=region.aws_region,
        partition=region.partition,
        endpoints=endpoints,
        interface_services=tuple(services) if endpoints else (),
        external_hosts=tuple(unique.values()),
        aws_services=tuple(services),
    )
