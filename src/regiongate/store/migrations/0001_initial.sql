-- regiongate audit store, version 1. Metadata only: no column can hold prompt or completion content.
CREATE TABLE orgs (
    org_id              text PRIMARY KEY,
    monthly_budget_usd  numeric(14, 6) CHECK (monthly_budget_usd >= 0),
    created_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    key_id              text PRIMARY KEY,
    key_hash            bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    display_prefix      text NOT NULL,
    region              text NOT NULL,
    org_id              text NOT NULL REFERENCES orgs (org_id),
    team_id             text,
    user_id             text,
    monthly_budget_usd  numeric(14, 6) CHECK (monthly_budget_usd >= 0),
    model_allowlist     text[],
    expires_at          timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    revoked_at          timestamptz
);
CREATE INDEX api_keys_org ON api_keys (org_id);

-- One row per request. Partitioned by month; partitions older than the retention are dropped.
-- The primary key includes created_at (a partitioned table's keys must): a redelivered event carries the
-- same request_id and created_at, so it conflicts and is skipped.
CREATE TABLE audit_events (
    request_id     uuid NOT NULL,
    created_at     timestamptz NOT NULL,
    region         text NOT NULL,
    endpoint       text NOT NULL,
    key_id         text,
    org_id         text,
    team_id        text,
    user_id        text,
    model          text,
    provider       text,
    input_tokens   integer NOT NULL DEFAULT 0,
    output_tokens  integer NOT NULL DEFAULT 0,
    cost_usd       numeric(20, 10) NOT NULL DEFAULT 0,
    total_ms       numeric(12, 3),
    upstream_ms    numeric(12, 3),
    status         smallint NOT NULL,
    error_type     text,
    stream         boolean NOT NULL DEFAULT false,
    guardrail      text NOT NULL DEFAULT 'pass' CHECK (guardrail IN ('pass', 'flag', 'block')),
    PRIMARY KEY (created_at, request_id)
) PARTITION BY RANGE (created_at);
CREATE INDEX audit_events_org_time ON audit_events (org_id, created_at);

-- Guardrail violations: the detector and a message naming where, never the matched content.
CREATE TABLE guardrail_violations (
    request_id  uuid NOT NULL,
    created_at  timestamptz NOT NULL,
    key_id      text,
    org_id      text,
    detector    text NOT NULL,
    action      text NOT NULL,
    message     text NOT NULL,
    PRIMARY KEY (created_at, request_id, detector)
);

-- Daily spend per key, team (org/team) and org: what budgets and the console read.
CREATE TABLE daily_spend (
    day            date NOT NULL,
    scope          text NOT NULL CHECK (scope IN ('key', 'team', 'org')),
    scope_id       text NOT NULL,
    requests       bigint NOT NULL DEFAULT 0,
    input_tokens   bigint NOT NULL DEFAULT 0,
    output_tokens  bigint NOT NULL DEFAULT 0,
    cost_usd       numeric(20, 10) NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, scope_id, day)
);
