-- The pod manager's table (IF NOT EXISTS: a database made before versioning adopts this version).
-- Run with the pod manager's schema first on the search_path.

CREATE TABLE IF NOT EXISTS pods (
    pod_name text PRIMARY KEY,
    job_id text NOT NULL,
    attempt int NOT NULL,
    provider text,
    pod_id text,
    state text NOT NULL,
    worker_url text,
    reason text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    terminated_at timestamptz
);
CREATE INDEX IF NOT EXISTS pods_job_idx ON pods (job_id);
