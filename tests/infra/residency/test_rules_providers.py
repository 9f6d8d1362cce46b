"""BedrockCalledInAllowedRegions: a stack calls Bedrock only where its policy lets it (a tenant: its home region)."""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam

from regiongate.residency.policy import ResidencyPolicy
from regiongate.residency.rules import bedrock_called_in_allowed_regions
from tests.fixtures.residency import EU, EU_ACCOUNT, failing, passing, synth

# A single-tenant stack in eu-west-1 whose customer opted into an EU profile's destinations.
TENANT = ResidencyPolicy(
    home_region="eu-west-1",
    geography="EU",
    partition="aws",
    inference_regions=("eu-west-1", "eu-central-1", "eu-west-3"),
    account=EU_ACCOUNT,
)
PROFILE = "eu.amazon.nova-pro-v1:0"
MODEL = "amazon.nova-pro-v1:0"


def _grant(stack, *resources: str) -> None:
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"], resources=list(resources)
        )
    )


def _arn(stack: Stack, region: str, kind: str, name: str) -> str:
    return stack.format_arn(
        service="bedrock",
        region=region,
        account="" if kind == "foundation-model" else None,
        resource=kind,
        resource_name=name,
        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
    )


def test_a_tenant_calling_another_regions_profile_or_model_fails():
    """What Tenant-acme did: the EU gateway's profile and model in eu-central-1, from a stack in eu-west-1."""

    def build(stack):
        _grant(
            stack,
            _arn(stack, "eu-central-1", "inference-profile", PROFILE),
            *(_arn(stack, r, "foundation-model", MODEL) for r in ("eu-central-1", "eu-west-3")),
            _arn(stack, "eu-central-1", "foundation-model", "amazon.titan-embed-text-v2:0"),
        )

    details = failing(bedrock_called_in_allowed_regions.check, synth(build, TENANT), TENANT, "AWS::IAM::Policy")
    assert "calls a Bedrock inference profile in eu-central-1; this stack calls only eu-west-1" in details
    assert "calls Bedrock model amazon.titan-embed-text-v2:0 in eu-central-1, not through a profile" in details
    assert f"model {MODEL} in eu-west-3" in details  # no profile is called in eu-west-1 to reach it


def test_a_profile_called_in_the_home_region_may_reach_its_destinations():
    def build(stack):
        _grant(
            stack,
            _arn(stack, "eu-west-1", "inference-profile", PROFILE),
            *(_arn(stack, r, "foundation-model", MODEL) for r in ("eu-central-1", "eu-west-1", "eu-west-3")),
            _arn(stack, "eu-west-1", "foundation-model", "amazon.titan-embed-text-v2:0"),
        )

    passing(bedrock_called_in_allowed_regions.check, synth(build, TENANT), TENANT, "AWS::IAM::Policy")


def test_the_policy_says_which_regions_a_stack_may_call():
    wider = ResidencyPolicy(
        home_region="eu-central-1",
        geography="EU",
        partition="aws",
        inference_regions=EU.inference_regions,
        account=EU_ACCOUNT,
        call_regions=("eu-central-1", "eu-west-1"),
    )

    def build(stack):
        _grant(stack, _arn(stack, "eu-west-1", "foundation-model", "amazon.titan-embed-text-v2:0"))

    template = synth(build, EU)
    assert "in eu-west-1" in failing(bedrock_called_in_allowed_regions.check, template, EU, "AWS::IAM::Policy")
    passing(bedrock_called_in_allowed_regions.check, template, wider, "AWS::IAM::Policy")
