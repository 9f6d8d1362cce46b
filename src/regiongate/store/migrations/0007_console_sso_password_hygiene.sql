-- Console single sign-on and password hygiene (#16). Metadata only: ids, times, flags; secrets only as SHA-256.

-- Per-org console settings: whether the org's users may sign in with a password (off: single sign-on only).
CREATE TABLE console_org_settings (
    org_id            text PRIMARY KEY,
    password_sign_in  boolean NOT NULL DEFAULT true,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    updated_by        text
);

-- A user who signs in by single sign-on has no password (NULL), and an admin's reset clears the old one.
ALTER TABLE console_users ALTER COLUMN password_hash DROP NOT NULL;
ALTER TABLE console_users ADD COLUMN password_changed_at timestamptz;
-- The identity provider's subject of an SSO user: (issuer, sub) names one account.
ALTER TABLE console_users ADD COLUMN oidc_issuer text;
ALTER TABLE console_users ADD COLUMN oidc_subject text;
CREATE UNIQUE INDEX console_users_oidc ON console_users (oidc_issuer, oidc_subject) WHERE oidc_subject IS NOT NULL;

-- One-time password reset codes an org admin issues (only their SHA-256 is stored; single use, short-lived).
CREATE TABLE console_password_resets (
    code_hash   bytea PRIMARY KEY CHECK (length(code_hash) = 32),
    user_id     text NOT NULL REFERENCES console_users (user_id) ON DELETE CASCADE,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX console_password_resets_user ON console_password_resets (user_id);

-- Single sign-on attempts in flight: the state (its SHA-256), the nonce and the PKCE verifier, bound to the
-- browser that started it (the SHA-256 of its cookie). Single use: the callback deletes the row.
CREATE TABLE console_oidc_logins (
    state_hash     bytea PRIMARY KEY CHECK (length(state_hash) = 32),
    browser_hash   bytea NOT NULL CHECK (length(browser_hash) = 32),
    nonce          text NOT NULL,
    code_verifier  text NOT NULL,
    next_path      text NOT NULL,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL
);
