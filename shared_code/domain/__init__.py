"""The rules, apart from I/O: what the services decide, as pure functions and values.

A module here imports only the standard library, pydantic and other `domain` modules (no
adapter, service, platform module, store client or clock of its own), so each rule is
tested with plain values and read without following a network call.
`tests/unit/test_architecture.py` holds that line.
"""
