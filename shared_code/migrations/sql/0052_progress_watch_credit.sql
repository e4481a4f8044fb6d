-- Watched time is earned against a credit that only the server's clock refills (see
-- services/progress.py): each heartbeat spends from it, what is left over is carried to the
-- next one (at most the allowance), and only a pause longer than the gap limit starts a
-- fresh session with a fresh allowance. The write-behind flush carries the credit with the
-- snapshot so that the write-through path (Redis down) goes on from the same balance instead
-- of granting the allowance again. NULL (rows from before this column): no credit left.
ALTER TABLE video_progress ADD COLUMN watch_credit_seconds double precision;
