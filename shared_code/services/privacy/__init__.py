"""Privacy (issue 19): a user's export and erasure, as one registry of sections
(`registry.py`), one entry per table or store, each with its own export and erase."""
