-- The gateway's tables as they stood when versioning began (hence IF NOT EXISTS: a database made
-- before adopts this version unchanged). Run with the gateway's schema first on the search_path.

CREATE TABLE IF NOT EXISTS users (
    id text PRIMARY KEY,
    email text NOT NULL,
    password_hash text,
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS users_email_ci ON users (lower(email));

CREATE TABLE IF NOT EXISTS api_keys (
    id text PRIMARY KEY,
    user_id text NOT NULL REFERENCES users(id),
    name text NOT NULL,
    prefix text NOT NULL,
    hash text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX IF NOT EXISTS api_keys_user ON api_keys (user_id);
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS expires_at timestamptz;

CREATE TABLE IF NOT EXISTS sessions (
    id text PRIMARY KEY,
    user_id text NOT NULL REFERENCES users(id),
    hash text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);

-- What this gateway asked the orchestrator to create: ownership before the projection
-- catches up, the 60 s duplicate guard and the live-job quota.
CREATE TABLE IF NOT EXISTS job_requests (
    job_id text PRIMARY KEY,
    owner_id text NOT NULL,
    fingerprint text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS job_requests_owner ON job_requests (owner_id, created_at DESC);

-- GCRA rate-limit buckets shared by every replica (services.gateway.ratelimit); times are
-- epoch seconds of the database's clock.
CREATE TABLE IF NOT EXISTS rate_limits (
    key text PRIMARY KEY,
    tat double precision NOT NULL,
    seen double precision NOT NULL,
    allowed boolean NOT NULL
);

-- Deleting a job hides it from its owner; the orchestrator's projection stays untouched.
CREATE TABLE IF NOT EXISTS deleted_jobs (
    job_id text PRIMARY KEY,
    owner_id text NOT NULL,
    deleted_at timestamptz NOT NULL DEFAULT now()
);

-- Job specs being written (POST /api/jobs/draft): partial, private to their owner.
CREATE TABLE IF NOT EXISTS drafts (
    id text PRIMARY KEY,
    owner_id text NOT NULL,
    spec jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    launched_job_id text
);
CREATE INDEX IF NOT EXISTS drafts_owner ON drafts (owner_id, updated_at DESC);

-- Public read-only links to completed jobs; only the token's SHA-256 is kept.
CREATE TABLE IF NOT EXISTS shares (
    hash text PRIMARY KEY,
    job_id text NOT NULL,
    owner_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX IF NOT EXISTS shares_job ON shares (job_id);

-- Single-use, expiring e-mail tokens (verification, password reset); only their SHA-256 is kept.
CREATE TABLE IF NOT EXISTS account_tokens (
    hash text PRIMARY KEY,
    user_id text NOT NULL REFERENCES users(id),
    purpose text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
ALTER TABLE users ADD COLUMN IF NOT EXISTS email_verified_at timestamptz;
