-- The regional console's accounts, sessions and sign-in failures (regiongate_console). Same database and
-- migration runner as the gateway: one schema per region. Passwords are stored only as scrypt hashes,
-- sessions only as SHA-256 hashes of their cookie token.
CREATE TABLE console_users (
    user_id        text PRIMARY KEY,
    email          text NOT NULL UNIQUE CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    region         text NOT NULL,
    role           text NOT NULL CHECK (role IN ('platform_admin', 'org_admin', 'org_viewer')),
    -- No foreign key to orgs: the gateway's tests and tools TRUNCATE orgs on its own (the console inserts the
    -- org row when it creates an org account, as KeyService does for keys).
    org_id         text,
    password_hash  text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     text,
    last_login_at  timestamptz,
    disabled_at    timestamptz,
    -- A platform admin sees every org of the region; every other role belongs to exactly one org.
    CHECK ((role = 'platform_admin') = (org_id IS NULL))
);
CREATE INDEX console_users_org ON console_users (org_id);

CREATE TABLE console_sessions (
    token_hash    bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id       text NOT NULL REFERENCES console_users (user_id) ON DELETE CASCADE,
    csrf_token    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions (user_id);

-- Failed sign-ins by e-mail address (known or not, so a lockout reveals nothing about which accounts exist).
CREATE TABLE console_login_failures (
    email      text NOT NULL,
    failed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX console_login_failures_email ON console_login_failures (email, failed_at);

-- What the console filters audit metadata by, beyond the gateway's (org_id, created_at) index.
CREATE INDEX audit_events_key_time ON audit_events (key_id, created_at);
CREATE INDEX guardrail_violations_org_time ON guardrail_violations (org_id, created_at);
