-- Budgets that hold under concurrency, and rate limits, shared by every gateway instance of the region.
-- Metadata only: ids, amounts, counts and times.

-- A request's reservation of spend, made before its provider call (estimated from its input and max output
-- tokens) and settled with the actual cost after it. Monthly spend = the daily_spend rollups + the unexpired
-- holds of the month: the writer deletes a hold in the transaction that adds its audit event to the rollups,
-- so a cost is counted exactly once. An unsettled hold (a crashed instance) stops counting at expires_at.
CREATE TABLE spend_holds (
    request_id  uuid PRIMARY KEY,
    key_id      text NOT NULL,
    org_id      text NOT NULL,
    team_scope  text,
    amount_usd  numeric(20, 10) NOT NULL CHECK (amount_usd >= 0),
    settled     boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX spend_holds_key ON spend_holds (key_id, created_at);
CREATE INDEX spend_holds_org ON spend_holds (org_id, created_at);
CREATE INDEX spend_holds_team ON spend_holds (team_scope, created_at) WHERE team_scope IS NOT NULL;

-- Rate limits of a key or an org (NULL: unlimited).
CREATE TABLE rate_limits (
    scope                text NOT NULL CHECK (scope IN ('key', 'org')),
    scope_id             text NOT NULL,
    requests_per_minute  integer CHECK (requests_per_minute > 0),
    tokens_per_minute    bigint CHECK (tokens_per_minute > 0),
    concurrent_requests  integer CHECK (concurrent_requests > 0),
    PRIMARY KEY (scope, scope_id)
);

-- The sliding window: requests and tokens per scope in buckets of a sixtieth of the window.
CREATE TABLE rate_buckets (
    scope     text NOT NULL,
    scope_id  text NOT NULL,
    bucket    bigint NOT NULL,
    requests  integer NOT NULL DEFAULT 0,
    tokens    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, scope_id, bucket)
);

-- Requests holding a slot (concurrency) and their estimated tokens (corrected to the actual ones on release).
CREATE TABLE rate_inflight (
    request_id  uuid NOT NULL,
    scope       text NOT NULL,
    scope_id    text NOT NULL,
    bucket      bigint NOT NULL,
    tokens      bigint NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (request_id, scope, scope_id)
);
CREATE INDEX rate_inflight_scope ON rate_inflight (scope, scope_id, expires_at);
