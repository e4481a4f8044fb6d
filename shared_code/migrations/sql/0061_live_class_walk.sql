-- The timers that walk every running class (the presence sweep, attendance recovery) page
-- through them by id; this keeps each page an index range however many classes have ended.
CREATE INDEX IF NOT EXISTS live_classes_live_idx ON live_classes (id) WHERE status = 'live';
