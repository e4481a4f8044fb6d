-- Admin: takedowns of courses and materials, the user search, and the indexes the
-- platform analytics read by.

-- A takedown hides a course or a material from everyone but admins until it is restored;
-- the row, its lessons and everyone's progress stay. NULL taken_down_at: not taken down.
ALTER TABLE courses ADD COLUMN IF NOT EXISTS taken_down_at timestamptz;
ALTER TABLE courses ADD COLUMN IF NOT EXISTS taken_down_reason text;
ALTER TABLE courses ADD COLUMN IF NOT EXISTS taken_down_by uuid REFERENCES users(id);
ALTER TABLE materials ADD COLUMN IF NOT EXISTS taken_down_at timestamptz;
ALTER TABLE materials ADD COLUMN IF NOT EXISTS taken_down_reason text;
ALTER TABLE materials ADD COLUMN IF NOT EXISTS taken_down_by uuid REFERENCES users(id);

-- The student catalog: published and not taken down, newest first.
CREATE INDEX IF NOT EXISTS courses_listed_idx ON courses (created_at DESC, id DESC)
    WHERE published AND taken_down_at IS NULL;

-- The user search: a case-insensitive substring of the name or the email. pg_trgm ships
-- with PostgreSQL (contrib) and is on Azure Flexible Server's extension allow-list
-- (infra/bicep/modules/postgres.bicep allows it); its GIN indexes serve ILIKE '%q%'.
-- Creating an extension needs more than the app's role may do: in Azure the administrator
-- creates it (infra/postgres/app-role.sql) before the migrations run as the app.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE EXTENSION pg_trgm;
    END IF;
END
$$;
CREATE INDEX IF NOT EXISTS users_name_trgm_idx ON users USING gin (lower(name) gin_trgm_ops);
CREATE INDEX IF NOT EXISTS users_email_trgm_idx ON users USING gin (lower(email) gin_trgm_ops);
-- The admin user list pages newest first by (created_at, id); the role filter reads roles.
CREATE INDEX IF NOT EXISTS users_created_idx ON users (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS users_roles_idx ON users USING gin (roles);

-- Platform analytics over a date range: enrolments, quiz attempts and progress by time,
-- purchases paid in the range, classes ended in the range.
CREATE INDEX IF NOT EXISTS enrollments_created_idx ON enrollments (created_at) INCLUDE (course_id);
CREATE INDEX IF NOT EXISTS quiz_attempts_created_idx ON quiz_attempts (created_at) INCLUDE (user_id);
CREATE INDEX IF NOT EXISTS video_progress_updated_idx ON video_progress (updated_at) INCLUDE (user_id);
CREATE INDEX IF NOT EXISTS purchases_paid_idx ON purchases (paid_at) WHERE paid_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS live_classes_ended_idx ON live_classes (ended_at) WHERE status = 'ended';
