"""Notifications: the in-app feed a user reads and marks read (`feed.py`), how a
notification is written and pushed live (`delivery.py`, the outbox's effects), and the
timer that reminds students and tutors of classes about to start (`reminders.py`).

- **The row is the truth, the push a hint.** Every notification is a PostgreSQL row first;
  the live `notification.created` only tells an open app to show it now.
- **Once per user per event.** Each row carries a key naming its event, unique per user:
  a retried effect or a timer that sees the same class again inserts nothing, and only
  rows that are new are pushed.
- **Off the request's path, never lost.** The areas hand their notifications to the outbox
  with `defer`: the request answers without waiting, and a write that fails is queued
  for retry like every other effect.
- **A course at once.** A notification for a course's students is one `INSERT … SELECT`
  from the enrolments. Up to `PER_USER_PUSH_MAX` new recipients are pushed one by one
  (each push carries its row's id); beyond that one send to the course group, which
  every enrolled student's connections already join, reaches them all, filtered to leave
  out the course's tutor.
"""
