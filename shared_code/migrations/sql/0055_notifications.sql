-- The in-app notification feed: one row per user and event. `dedupe_key` names the event
-- (e.g. `class.reminder:<classId>`), unique per user, so a retried effect or a timer that
-- runs twice over the same class never notifies anyone twice.
CREATE TABLE IF NOT EXISTS notifications (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind        text NOT NULL,
    title       text NOT NULL,
    body        text NOT NULL DEFAULT '',
    data        jsonb NOT NULL DEFAULT '{}'::jsonb,
    dedupe_key  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    read_at     timestamptz,
    CONSTRAINT notifications_user_dedupe_key UNIQUE (user_id, dedupe_key)
);

-- A user's feed, newest first, and the unread part of it (the filter and the count).
CREATE INDEX IF NOT EXISTS notifications_user_idx ON notifications (user_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS notifications_unread_idx
    ON notifications (user_id, created_at DESC, id DESC) WHERE read_at IS NULL;
