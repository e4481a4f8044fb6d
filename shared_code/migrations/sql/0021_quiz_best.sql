-- Quizzes: each student's best score per quiz, kept by the attempt's own transaction.
--
-- Score distributions (analytics) and leaderboard rebuilds both start from "best attempt
-- per student per quiz"; computing it from every attempt costs a group-by over all of a
-- course's attempts. With one row per (quiz, student), ordered by (course, quiz, best),
-- a distribution is an index-only count of equal scores and a rebuild a plain scan.
CREATE TABLE quiz_best (
    quiz_id     uuid NOT NULL REFERENCES quizzes(id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users(id),
    course_id   uuid NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    best        integer NOT NULL,
    attempts    integer NOT NULL DEFAULT 1 CHECK (attempts > 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (quiz_id, user_id)
);
CREATE INDEX quiz_best_course_quiz_best_idx ON quiz_best (course_id, quiz_id, best);
CREATE INDEX quiz_best_course_user_idx ON quiz_best (course_id, user_id) INCLUDE (best);

INSERT INTO quiz_best (quiz_id, user_id, course_id, best, attempts)
SELECT quiz_id, user_id, course_id, max(score), count(*)
  FROM quiz_attempts
 GROUP BY quiz_id, user_id, course_id;
