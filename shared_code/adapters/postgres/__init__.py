"""PostgreSQL: the async pool (`pool.py`) and one repository module per group of tables."""
