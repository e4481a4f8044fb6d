"""Starts every service Lectern needs locally, per profile (`dev` or `test`).

`python -m devstack {up|start|stop|status|services} [--profile dev|test]` on the command
line; `devstack.stack.Stack` from Python (the test suite's fixtures use it).
"""
