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

-- Lessons from before the registry carry free-form asset ids. Each distinct id becomes an
-- asset of the tutor whose lesson used it first (its playback id stays the CDN's id), and
-- that tutor's lessons now name the registered asset. Another tutor's lesson that reused
-- the same id keeps the bare id, which names no asset, so it no longer plays: that reuse
-- is exactly what the registry exists to stop.
INSERT INTO video_assets (id, owner_id, title, duration_seconds, playback_id, created_at)
SELECT gen_random_uuid(), first.owner_id, first.title, first.duration_seconds, first.video_asset_id, first.created_at
  FROM (SELECT DISTINCT ON (l.video_asset_id) l.video_asset_id, c.owner_id, l.title, l.duration_seconds, l.created_at
          FROM lessons l JOIN courses c ON c.id = l.course_id
         WHERE l.kind = 'video' AND l.video_asset_id ~ '^[A-Za-z0-9_-]{1,128}$'
         ORDER BY l.video_asset_id, l.created_at, l.id) AS first;

UPDATE lessons l
   SET video_asset_id = v.id::text
  FROM courses c, video_assets v
 WHERE c.id = l.course_id AND l.kind = 'video' AND v.playback_id = l.video_asset_id AND v.owner_id = c.owner_id;
