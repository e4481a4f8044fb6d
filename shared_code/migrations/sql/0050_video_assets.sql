-- Video assets belong to the tutor (and optionally the course) that registered them, so a
-- lesson can reference only an asset its course's owner registered, and playback signs the
-- provider's playback id from this registry rather than whatever id a lesson carries.
CREATE TABLE video_assets (
    id                uuid PRIMARY KEY,
    owner_id          uuid NOT NULL REFERENCES users(id),
    course_id         uuid REFERENCES courses(id) ON DELETE CASCADE,
    title             text NOT NULL,
    duration_seconds  integer CHECK (duration_seconds IS NULL OR duration_seconds > 0),
    provider          text NOT NULL DEFAULT 'cdn',
    -- what the CDN knows the video by (the path segment the signer puts in the URL)
    playback_id       text NOT NULL UNIQUE CHECK (playback_id ~ '^[A-Za-z0-9_-]{1,128}$'),
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX video_assets_owner_idx ON video_assets (owner_id, created_at DESC);

-- The daily cleanup of uploads that were never published reads pending rows by age.
CREATE INDEX materials_pending_idx ON materials (created_at) WHERE status = 'pending';
