"""The local Functions host: serves `function_app.py` the way the Azure Functions host does.

Azure Functions Core Tools cannot be installed everywhere Lectern is developed, so this
package loads the same app through the same indexing API the Python worker uses, reads
host.json and local.settings.json, and runs its HTTP, queue and timer triggers with the
host's documented semantics. Start it with `python -m devhost`.
"""
