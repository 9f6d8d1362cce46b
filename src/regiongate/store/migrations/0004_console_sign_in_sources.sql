-- Sign-in throttling per source address as well as per account (#14): each failure records where it came from.
ALTER TABLE console_login_failures ADD COLUMN source text;
CREATE INDEX console_login_failures_source ON console_login_failures (source, failed_at);
