-- Class recordings: an ended class may carry a recording, a video asset from the registry
-- (0050) that its course's tutor registered. Playback signs the asset's playback id, as a
-- lesson's video does; the class answers whether it has one.
ALTER TABLE live_classes ADD COLUMN IF NOT EXISTS recording_asset_id uuid REFERENCES video_assets(id) ON DELETE SET NULL;
ALTER TABLE live_classes ADD COLUMN IF NOT EXISTS recording_attached_at timestamptz;
