"""Records the cyclic collector's pauses of every Python process started with this folder
on PYTHONPATH, one file per process in $GC_PAUSES_DIR (nothing is recorded without it):

    GC_PAUSES_DIR=bench/out/gc PYTHONPATH=bench/gc_pauses \\
        .venv/bin/python bench/live_class.py --sizes 1000 --targets lectern --profile bench --fresh-stack
    .venv/bin/python bench/gc_pauses/summary.py bench/out/gc

Each line is `<unix time> gen<N> <ms> collected=<n>`, for every full collection and every
pause over 2 ms. A measuring aid only: nothing in the app or the stack imports it.
"""

import gc
import os
import sys
import time

_DIR = os.environ.get("GC_PAUSES_DIR")
_started: list[float] = [0.0]
_out = None


def _record(phase: str, info: dict) -> None:
    global _out
    if phase == "start":
        _started[0] = time.perf_counter()
        return
    ms = (time.perf_counter() - _started[0]) * 1000
    if ms <= 2 and info["generation"] != 2:
        return
    if _out is None:
        name = " ".join(sys.orig_argv[1:3]).replace("/", "_").replace(" ", "_")[:60] or "python"
        _out = open(os.path.join(_DIR, f"{name}-{os.getpid()}.log"), "a", buffering=1)  # noqa: SIM115 - lives as long as the process
    _out.write(f"{time.time():.3f} gen{info['generation']} {ms:.1f} collected={info['collected']}\n")


if _DIR:
    os.makedirs(_DIR, exist_ok=True)
    gc.callbacks.append(_record)
