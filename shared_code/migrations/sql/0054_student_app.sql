-- Student app: catalog search over course titles and descriptions, leaving a free course,
-- and the secret calendar feed each user can rotate.

-- Full-text search. The 'english' configuration stems both the text and the query the
-- same way ("equations" finds "equation", "learning" finds "learn") and drops stop words;
-- words it does not know pass through lower-cased, so titles in other languages still
-- match word for word. A title word weighs more (A) than a description word (B), so
-- ts_rank puts a course named for the query above one that only mentions it.
ALTER TABLE courses ADD COLUMN IF NOT EXISTS search_vector tsvector
    GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
        || setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'B')
    ) STORED;
CREATE INDEX IF NOT EXISTS courses_search_idx ON courses USING gin (search_vector);
-- The catalog's other filters: by tutor, and by when a course was first published.
CREATE INDEX IF NOT EXISTS courses_published_at_idx ON courses (published_at) WHERE published;

-- A student who leaves a free course: the row stays (a re-enrolment revives it, and the
-- progress rows were never touched), it only stops counting as membership.
ALTER TABLE enrollments DROP CONSTRAINT IF EXISTS enrollments_status_check;
ALTER TABLE enrollments ADD CONSTRAINT enrollments_status_check CHECK (status IN ('active', 'refunded', 'left'));

-- The calendar feed: a feed URL names the user and this version, signed; rotating bumps
-- the version, so every URL handed out before stops working.
CREATE TABLE IF NOT EXISTS calendar_feeds (
    user_id     uuid PRIMARY KEY REFERENCES users(id),
    version     integer NOT NULL CHECK (version > 0),
    rotated_at  timestamptz NOT NULL DEFAULT now()
);
