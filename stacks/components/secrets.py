"""Region-scoped secrets: provider API keys live here, encrypted with the stack key, never replicated."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, SecretValue
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct


class ProviderSecrets(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, deployment_id: str, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        # Created empty; operators put the provider credentials in after deploy (README: "Provider credentials").
        # No replica_regions, ever: a replica would copy the credentials out of the region.
        self.provider_credentials = secretsmanager.Secret(
            self,
            "ProviderCredentials",
            secret_name=f"regiongate/{deployment_id}/provider-credentials",
            description=f"regiongate {deployment_id}: API credentials of the region's LLM providers (JSON by provider name)",
            encryption_key=key,
            secret_string_value=SecretValue.unsafe_plain_text("{}"),
            removal_policy=RemovalPolicy.RETAIN,
        )
