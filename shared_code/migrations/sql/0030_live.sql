-- Live classes: vote versions (a late write of an older vote never overwrites a newer one),
-- and the indexes the live-class reads need.

ALTER TABLE poll_votes ADD COLUMN version bigint NOT NULL DEFAULT 0;

-- Final counts of a poll are one index-only scan.
CREATE INDEX poll_votes_poll_option_idx ON poll_votes (poll_id, option);

-- A tutor's classes, newest first.
CREATE INDEX live_classes_tutor_idx ON live_classes (tutor_id, scheduled_at DESC, id DESC);

-- Chat history pages skip deleted messages.
CREATE INDEX chat_messages_visible_idx ON chat_messages (class_id, seq DESC) WHERE deleted_at IS NULL;
