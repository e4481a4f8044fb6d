"""py-spy recordings of the server processes while a benchmark runs (raw collapsed stacks,
which bench/report.py summarises)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path


class Profiler:
    """py-spy recordings of server processes while a phase runs (raw collapsed stacks).

    Where a figure misses its target, the recording of that very run says where the time
    went; bench/report.py summarises the files. Sampling at 100 Hz without pausing the
    process costs the machine a few percent of one core.
    """

    def __init__(self, directory: Path, label: str, pids: dict[str, list[int]], *, rate: int = 100) -> None:
        self.procs: list[subprocess.Popen] = []
        self.files: dict[str, str] = {}
        directory.mkdir(parents=True, exist_ok=True)
        spy = str(Path(sys.executable).with_name("py-spy"))
        for role, plist in pids.items():
            for i, pid in enumerate(plist):
                out = directory / f"{label}-{role}{i if len(plist) > 1 else ''}.txt"
                self.files[f"{role}{i if len(plist) > 1 else ''}"] = str(out)
                self.procs.append(subprocess.Popen(
                    [spy, "record", "--nonblocking", "--full-filenames", "--format", "raw", "--rate", str(rate), "--duration", "600",
                     "--output", str(out), "--pid", str(pid)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                ))

    def stop(self) -> dict[str, str]:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        return self.files


class PhaseProfiler:
    """py-spy over a whole run (`phase="all"`), or over the one phase named; does nothing
    without a directory."""

    def __init__(self, directory: str | None, label: str, pids: dict[str, list[int]], *, phase: str, rate: int) -> None:
        self.directory, self.label, self.pids, self.phase, self.rate = directory, label, pids, phase, rate
        self.running: Profiler | None = None
        self.files: dict[str, str] = {}

    def start(self, phase: str) -> None:
        if self.directory and self.phase in ("all", phase) and self.running is None:
            name = self.label if self.phase == "all" else f"{self.label}-{phase}"
            self.running = Profiler(Path(self.directory), name, self.pids, rate=self.rate)

    def stop(self, phase: str) -> None:
        if self.running is not None and self.phase == phase:
            self.files.update(self.running.stop())
            self.running = None

    def finish(self) -> dict[str, str]:
        if self.running is not None:
            self.files.update(self.running.stop())
            self.running = None
        return self.files
