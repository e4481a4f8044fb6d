-- Core schema: users, content, enrolment, progress, quizzes, live classes, payments,
-- idempotency. Every later change is a new numbered file; applied files never change.

CREATE TABLE users (
    id          uuid PRIMARY KEY,
    name        text NOT NULL DEFAULT '',
    email       text,
    roles       text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE courses (
    id            uuid PRIMARY KEY,
    owner_id      uuid NOT NULL REFERENCES users(id),
    title         text NOT NULL,
    description   text NOT NULL DEFAULT '',
    price_cents   integer NOT NULL DEFAULT 0 CHECK (price_cents >= 0),
    published     boolean NOT NULL DEFAULT false,
    published_at  timestamptz,
    version       integer NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX courses_published_idx ON courses (created_at DESC, id DESC) WHERE published;
CREATE INDEX courses_owner_idx ON courses (owner_id, created_at DESC, id DESC);

CREATE TABLE lessons (
    id                uuid PRIMARY KEY,
    course_id         uuid NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    title             text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('video', 'document', 'quiz')),
    video_asset_id    text,
    duration_seconds  integer CHECK (duration_seconds IS NULL OR duration_seconds > 0),
    position          integer NOT NULL CHECK (position >= 0),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lessons_course_position_idx ON lessons (course_id, position, id);

CREATE TABLE materials (
    id            uuid PRIMARY KEY,
    course_id     uuid NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    uploader_id   uuid NOT NULL REFERENCES users(id),
    blob_name     text NOT NULL UNIQUE,
    file_name     text NOT NULL,
    content_type  text NOT NULL,
    size_bytes    bigint NOT NULL CHECK (size_bytes > 0),
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'published')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX materials_course_idx ON materials (course_id, published_at DESC, id DESC) WHERE status = 'published';

CREATE TABLE enrollments (
    course_id   uuid NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users(id),
    source      text NOT NULL CHECK (source IN ('self', 'admin', 'payment')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (course_id, user_id)
);
CREATE INDEX enrollments_user_idx ON enrollments (user_id, created_at DESC);

CREATE TABLE quizzes (
    id            uuid PRIMARY KEY,
    course_id     uuid NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    lesson_id     uuid NOT NULL REFERENCES lessons(id) ON DELETE CASCADE,
    title         text NOT NULL,
    -- questions with their answer keys; the keys never leave the server
    questions     jsonb NOT NULL,
    max_score     integer NOT NULL CHECK (max_score >= 0),
    max_attempts  integer NOT NULL DEFAULT 3 CHECK (max_attempts > 0),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quizzes_course_idx ON quizzes (course_id);
CREATE INDEX quizzes_lesson_idx ON quizzes (lesson_id);

CREATE TABLE quiz_attempts (
    id            uuid PRIMARY KEY,
    quiz_id       uuid NOT NULL REFERENCES quizzes(id) ON DELETE CASCADE,
    course_id     uuid NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    user_id       uuid NOT NULL REFERENCES users(id),
    attempt_no    integer NOT NULL CHECK (attempt_no > 0),
    answers       jsonb NOT NULL,
    score         integer NOT NULL,
    max_score     integer NOT NULL,
    per_question  jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (quiz_id, user_id, attempt_no)
);
CREATE INDEX quiz_attempts_user_idx ON quiz_attempts (user_id, created_at DESC);
CREATE INDEX quiz_attempts_course_user_idx ON quiz_attempts (course_id, user_id, quiz_id, score);
CREATE INDEX quiz_attempts_quiz_score_idx ON quiz_attempts (quiz_id, score);

CREATE TABLE video_progress (
    user_id           uuid NOT NULL REFERENCES users(id),
    lesson_id         uuid NOT NULL REFERENCES lessons(id) ON DELETE CASCADE,
    course_id         uuid NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    position_seconds  double precision NOT NULL DEFAULT 0,
    watched_seconds   double precision NOT NULL DEFAULT 0,
    duration_seconds  double precision NOT NULL DEFAULT 0,
    completed         boolean NOT NULL DEFAULT false,
    completed_at      timestamptz,
    client_time       timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, lesson_id)
);
CREATE INDEX video_progress_course_lesson_idx ON video_progress (course_id, lesson_id) INCLUDE (completed);
CREATE INDEX video_progress_user_course_idx ON video_progress (user_id, course_id) WHERE completed;

CREATE TABLE live_classes (
    id            uuid PRIMARY KEY,
    course_id     uuid NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    tutor_id      uuid NOT NULL REFERENCES users(id),
    title         text NOT NULL,
    scheduled_at  timestamptz NOT NULL,
    status        text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'live', 'ended')),
    started_at    timestamptz,
    ended_at      timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX live_classes_course_idx ON live_classes (course_id, scheduled_at);
CREATE INDEX live_classes_upcoming_idx ON live_classes (scheduled_at) WHERE status <> 'ended';

CREATE TABLE class_moderation (
    class_id    uuid NOT NULL REFERENCES live_classes(id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users(id),
    muted       boolean NOT NULL DEFAULT false,
    banned      boolean NOT NULL DEFAULT false,
    updated_by  uuid REFERENCES users(id),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (class_id, user_id)
);

CREATE TABLE polls (
    id            uuid PRIMARY KEY,
    class_id      uuid NOT NULL REFERENCES live_classes(id) ON DELETE CASCADE,
    question      text NOT NULL,
    options       jsonb NOT NULL,
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    opened_at     timestamptz NOT NULL DEFAULT now(),
    closed_at     timestamptz,
    final_counts  jsonb
);
CREATE INDEX polls_class_idx ON polls (class_id, opened_at DESC);
CREATE UNIQUE INDEX polls_one_open_per_class ON polls (class_id) WHERE status = 'open';

CREATE TABLE poll_votes (
    poll_id   uuid NOT NULL REFERENCES polls(id) ON DELETE CASCADE,
    user_id   uuid NOT NULL REFERENCES users(id),
    option    integer NOT NULL CHECK (option >= 0),
    voted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (poll_id, user_id)
);

CREATE TABLE chat_messages (
    id          uuid PRIMARY KEY,
    class_id    uuid NOT NULL REFERENCES live_classes(id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users(id),
    user_name   text NOT NULL DEFAULT '',
    text        text NOT NULL,
    seq         bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz,
    deleted_by  uuid REFERENCES users(id)
);
CREATE INDEX chat_messages_class_idx ON chat_messages (class_id, seq DESC);

CREATE TABLE payment_events (
    event_id      text PRIMARY KEY,
    type          text NOT NULL,
    payload       jsonb NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    processed_at  timestamptz
);

CREATE TABLE idempotency_keys (
    user_id       uuid NOT NULL,
    scope         text NOT NULL,
    key           text NOT NULL,
    request_hash  text NOT NULL,
    status_code   integer,
    response      jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, scope, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
