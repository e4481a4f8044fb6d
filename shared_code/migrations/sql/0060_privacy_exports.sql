-- Full privacy exports: the bounded export answers at once with at most a page of rows per
-- section; a full one is built off the request into one blob, and this row says how far it
-- got. One pending export per person at a time; a finished one is kept until `expires_at`.
CREATE TABLE IF NOT EXISTS privacy_exports (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users(id),
    requested_by uuid NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ready', 'failed', 'expired')),
    blob_name text,
    size_bytes bigint,
    counts jsonb,
    failure text,
    requested_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    expires_at timestamptz
);
CREATE INDEX IF NOT EXISTS privacy_exports_by_user ON privacy_exports (user_id, requested_at DESC);
CREATE UNIQUE INDEX IF NOT EXISTS privacy_exports_one_pending ON privacy_exports (user_id) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS privacy_exports_to_expire ON privacy_exports (expires_at) WHERE status = 'ready';
