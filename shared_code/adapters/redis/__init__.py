"""Redis: the client (`client.py`), every key name (`keys.py`) and one module per area."""
