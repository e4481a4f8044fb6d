"""Progress: video watch progress and heartbeats (`watch.py`), quizzes, leaderboards, the
student dashboard, course analytics and the progress change log."""
