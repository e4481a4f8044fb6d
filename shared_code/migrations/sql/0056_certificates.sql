-- Completion by lesson kind, and certificates.
--
-- A quiz lesson completes when its quiz is passed: each quiz has a pass mark (percent of
-- its max score; the student's best attempt decides). A document lesson completes when the
-- material it names is downloaded by an enrolled student. Completing every lesson of a
-- course issues one certificate per (student, course), whose PDF is rendered later by an
-- outbox effect and kept in a private Blob container.
ALTER TABLE quizzes ADD COLUMN IF NOT EXISTS pass_mark_percent integer NOT NULL DEFAULT 60
    CHECK (pass_mark_percent BETWEEN 0 AND 100);

ALTER TABLE lessons ADD COLUMN IF NOT EXISTS material_id uuid REFERENCES materials(id) ON DELETE SET NULL;
CREATE INDEX IF NOT EXISTS lessons_material_idx ON lessons (material_id) WHERE material_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS certificates (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users(id),
    course_id     uuid NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    -- what a verifier types in: short, random, never derived from the ids
    code          text NOT NULL UNIQUE,
    -- snapshots at issue time: a later rename changes neither the PDF nor the verification
    holder_name   text NOT NULL,
    course_title  text NOT NULL,
    issued_at     timestamptz NOT NULL DEFAULT now(),
    -- the blob in the certificates container; NULL until the PDF is rendered
    pdf_blob      text,
    UNIQUE (user_id, course_id)
);
CREATE INDEX IF NOT EXISTS certificates_user_idx ON certificates (user_id, issued_at DESC, id DESC);
