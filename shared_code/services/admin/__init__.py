"""Admin: the audit trail, dead letters and their replay, role changes (`operations.py`), and
the health of every dependency (`health.py`)."""
