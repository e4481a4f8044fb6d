-- The outbox's last resort: side effects that failed while the Storage queue was down too.
-- A timer drains them; nothing a request acknowledged depends on Storage being up.
CREATE TABLE pending_effects (
    id          uuid PRIMARY KEY,
    kind        text NOT NULL,
    payload     jsonb NOT NULL,
    reason      text NOT NULL DEFAULT '',
    attempts    integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    next_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pending_effects_next_idx ON pending_effects (next_at);
