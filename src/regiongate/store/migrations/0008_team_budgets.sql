-- Team budgets (#14): a monthly limit per team of an org, enforced in the same reservation transaction as the
-- key's and the org's. Teams are named inside an org (a key's team_id); the spend rollups and holds already
-- count per team under the scope id "org/team". Metadata only: ids and an amount.
CREATE TABLE team_budgets (
    org_id              text NOT NULL REFERENCES orgs (org_id),
    team_id             text NOT NULL,
    monthly_budget_usd  numeric(14, 6) NOT NULL CHECK (monthly_budget_usd >= 0),
    PRIMARY KEY (org_id, team_id)
);

-- The console's device cookie (#14, console/runtime/devices.py): the key that signs it, one per region and
-- shared by every console task of the region (the first task to need it creates it). A valid cookie lets a
-- browser that signed in before past the account-wide sign-in hold; it is no password and no session.
CREATE TABLE console_device_keys (
    key_id      smallint PRIMARY KEY CHECK (key_id = 1),
    secret      bytea NOT NULL CHECK (octet_length(secret) = 32),
    created_at  timestamptz NOT NULL
);
