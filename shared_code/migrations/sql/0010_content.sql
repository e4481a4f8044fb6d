-- Content: the admin listing of every course pages by (created_at, id) without a filter,
-- and a payment event remembers what processing it did (for operators reading the table).
CREATE INDEX courses_created_idx ON courses (created_at DESC, id DESC);

ALTER TABLE payment_events ADD COLUMN outcome text;
