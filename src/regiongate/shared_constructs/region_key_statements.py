"""The names the region key's grants are written with (``region_key``) and found by (the residency report).

Without the CDK: the CLI imports this for ``regiongate report``, and importing the constructs would start the
CDK's Node process for every ``regiongate`` command (``serve`` included)."""

from __future__ import annotations

# Orgs' own provider credentials (regiongate.store.provider_credentials): the encryption context every envelope
# carries. Only these grants use it, each conditioned on this region's context.
CREDENTIAL_CONTEXT_KEYS = ("org", "region", "provider")
ORG_ROLE_PATH = "regiongate/"  # regiongate.store.provider_credentials.ROLE_PATH: the only roles the gateway assumes
# The statements' Sids: the residency report finds the grants by them (cli.commands.report.DATA_KINDS).
SEAL_SID = "SealOrgProviderCredentials"
OPEN_SID = "OpenOrgProviderCredentials"
ASSUME_SID = "AssumeOrgBedrockRoles"
