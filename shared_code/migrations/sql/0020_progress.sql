-- Progress: per-lesson counters for course analytics.
--
-- The completion funnel (students who started / completed each lesson) would otherwise
-- count every progress row of the course: 5,000,000 rows for 100,000 students and 50
-- lessons. The statement that writes progress (flush, sync, completion) also adds what it
-- changed here: one started per new row, one completed per row that became completed.
-- Rows are never deleted except with their lesson, and completion never reverts, so the
-- counters stay exact.
CREATE TABLE lesson_progress_stats (
    lesson_id  uuid PRIMARY KEY REFERENCES lessons(id) ON DELETE CASCADE,
    course_id  uuid NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    started    bigint NOT NULL DEFAULT 0 CHECK (started >= 0),
    completed  bigint NOT NULL DEFAULT 0 CHECK (completed >= 0)
);
CREATE INDEX lesson_progress_stats_course_idx ON lesson_progress_stats (course_id);

-- Progress written before this migration (apply it before the code that maintains the
-- counters, as every deployment does).
INSERT INTO lesson_progress_stats (lesson_id, course_id, started, completed)
SELECT lesson_id, course_id, count(*), count(*) FILTER (WHERE completed)
  FROM video_progress
 GROUP BY lesson_id, course_id;
