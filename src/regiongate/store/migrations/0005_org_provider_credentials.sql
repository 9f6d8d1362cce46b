-- Organisations' own provider credentials (#16, bring your own key). An API key is stored only sealed in an
-- envelope: the data key as the stack's KMS key encrypted it (encryption context org, region, provider) and the
-- key as AES-256-GCM sealed it with that data key. Nothing here can be read back as the key without KMS.
-- No foreign key to orgs (like console_users): the gateway's tests and tools TRUNCATE orgs on its own.
CREATE TABLE org_provider_credentials (
    org_id              text NOT NULL,
    provider            text NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('api_key', 'bedrock_role')),
    endpoint            text CHECK (endpoint LIKE 'https://%'),
    role_arn            text CHECK (role_arn LIKE 'arn:%:iam::%:role/%'),
    encrypted_data_key  bytea,
    nonce               bytea CHECK (length(nonce) = 12),
    ciphertext          bytea CHECK (length(ciphertext) > 16),
    created_at          timestamptz NOT NULL,
    replaced_at         timestamptz,
    set_by              text NOT NULL,
    PRIMARY KEY (org_id, provider),
    -- An API key always has its whole envelope; a role has none (an ARN is not a secret).
    CHECK ((kind = 'api_key') = (encrypted_data_key IS NOT NULL AND nonce IS NOT NULL AND ciphertext IS NOT NULL)),
    CHECK (kind = 'api_key' OR (encrypted_data_key IS NULL AND nonce IS NULL AND ciphertext IS NULL)),
    CHECK ((kind = 'bedrock_role') = (role_arn IS NOT NULL)),
    CHECK (kind = 'api_key' OR endpoint IS NULL)
);

-- Whether the platform's own provider credentials may serve an org where it has none of its own (existing
-- orgs: allowed, as before).
ALTER TABLE orgs ADD COLUMN platform_credentials_fallback boolean NOT NULL DEFAULT true;

-- Which credentials served a request: the platform's or the org's own (never the credential). NULL where no
-- provider was called (a refused or failed request before the call).
ALTER TABLE audit_events ADD COLUMN credential_source text CHECK (credential_source IN ('platform', 'org'));
