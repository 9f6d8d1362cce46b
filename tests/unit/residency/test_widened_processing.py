"""The Bedrock rules with an opted-in processing area: the widened regions count for the opted-in model only."""

from __future__ import annotations

from dataclasses import replace

from regiongate.config.gateway import bedrock_grants
from regiongate.residency.model import Compliance, resources_of
from regiongate.residency.policy import ResidencyPolicy
from regiongate.residency.rules import bedrock_called_in_allowed_regions as called_in
from regiongate.residency.rules import bedrock_scoped_to_inference_regions as scoped
from tests.fixtures.processing_area import opted_in_eu

CLAUDE = "anthropic.claude-sonnet-4-5-20250929-v1:0"
NOVA = "amazon.nova-pro-v1:0"
EU_REGIONS = ("eu-central-1", "eu-west-1", "eu-west-3", "eu-north-1", "eu-south-1", "eu-south-2")
WIDE = (*EU_REGIONS, "eu-central-2", "eu-west-2")
PLAIN = ResidencyPolicy(home_region="eu-central-1", geography="EU", partition="aws", inference_regions=EU_REGIONS)
WIDENED = replace(PLAIN, widened_models=((CLAUDE, tuple(sorted(WIDE))),))


def _model(region: str, model: str) -> str:
    return f"arn:aws:bedrock:{region}::foundation-model/{model}"


def _profile(region: str, profile: str) -> str:
    return f"arn:aws:bedrock:{region}:111111111111:inference-profile/{profile}"


def _policy_resource(*arns: str):
    template = {
        "Resources": {
            "GatewayPolicy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyDocument": {
                        "Statement": [{"Effect": "Allow", "Action": ["bedrock:InvokeModel"], "Resource": list(arns)}]
                    }
                },
            }
        }
    }
    (resource,) = resources_of(template)
    return resource


def test_a_grant_in_london_fails_without_the_opt_in():
    result = scoped.check(_policy_resource(_model("eu-west-2", CLAUDE)), PLAIN)
    assert result.compliance is Compliance.NON_COMPLIANT
    assert "eu-west-2" in result.details[0].message


def test_a_grant_in_london_passes_for_the_opted_in_model():
    resource = _policy_resource(_profile("eu-central-1", f"eu.{CLAUDE}"), _model("eu-west-2", CLAUDE))
    assert scoped.check(resource, WIDENED).compliance is Compliance.COMPLIANT


def test_the_widened_set_is_not_lent_to_a_model_that_did_not_opt_in():
    result = scoped.check(_policy_resource(_model("eu-west-2", CLAUDE), _model("eu-west-2", NOVA)), WIDENED)
    assert result.compliance is Compliance.NON_COMPLIANT
    assert [d.location for d in result.details] == ["Properties/PolicyDocument/Statement/0/Resource/1"]


def test_a_zurich_grant_outside_the_opted_in_area_still_fails():
    narrow = replace(PLAIN, widened_models=((CLAUDE, (*EU_REGIONS, "eu-west-2")),))
    result = scoped.check(_policy_resource(_model("eu-central-2", CLAUDE)), narrow)
    assert result.compliance is Compliance.NON_COMPLIANT


def test_called_in_allowed_regions_excuses_a_widened_destination_only_behind_a_profile_called_at_home():
    through_profile = _policy_resource(_profile("eu-central-1", f"eu.{CLAUDE}"), _model("eu-west-2", CLAUDE))
    assert called_in.check(through_profile, WIDENED).compliance is Compliance.COMPLIANT
    # The opt-in widens where a profile may process, never where the stack calls Bedrock.
    direct = called_in.check(_policy_resource(_model("eu-west-2", CLAUDE)), WIDENED)
    assert direct.compliance is Compliance.NON_COMPLIANT and "eu-west-2" in direct.details[0].message


def test_the_grants_of_an_opted_in_catalogue_pass_with_its_policy_and_fail_without_the_widening():
    region = opted_in_eu()
    arns = [
        _profile(g.aws_region, g.resource_id) if g.account_scoped else _model(g.aws_region, g.resource_id)
        for g in bedrock_grants(region)
    ]
    resource = _policy_resource(*arns)
    policy = ResidencyPolicy.from_region(region)
    assert dict(policy.widened_models).keys() == {CLAUDE}
    assert scoped.check(resource, policy).compliance is Compliance.COMPLIANT
    assert called_in.check(resource, policy).compliance is Compliance.COMPLIANT
    unwidened = replace(policy, widened_models=())
    failed = scoped.check(resource, unwidened)
    assert failed.compliance is Compliance.NON_COMPLIANT
    assert {d.message.split()[3] for d in failed.details} == {"eu-central-2,", "eu-west-2,"}


def test_profiles_check_allows_the_widened_regions_only_for_a_profile_whose_models_all_opted_in():
    from regiongate.cli.commands.profiles import allowed_regions
    from regiongate.config.bedrock_profiles import ProfileCheck

    region = opted_in_eu()
    claude = f"eu.{CLAUDE}"
    live = tuple(sorted(WIDE))
    widened = ProfileCheck(claude, "eu-central-1", live, live, allowed_regions(region, claude))
    assert widened.outside == () and not any(line.lstrip().startswith("FAIL") for line in widened.lines())
    assert set(allowed_regions(region, f"eu.{NOVA}")) == set(region.inference_regions)
    # A profile reaching London for a model that did not opt in is a failure.
    nova = ProfileCheck(f"eu.{NOVA}", "eu-central-1", live, live, allowed_regions(region, f"eu.{NOVA}"))
    assert nova.outside == ("eu-central-2", "eu-west-2")
