"""The processes a benchmark starts or watches: pinning, CPU accounting, the API server."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A benchmark could not measure what it set out to (a process died, a request failed)."""


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of every thread of ``pid`` so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14 and 15)


def runqueue_seconds(pid: int) -> float:
    """Time the threads of ``pid`` spent runnable but waiting for a CPU (/proc schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


@dataclass
class CpuMeter:
    """CPU cores used by some processes between ``start()`` and ``stop()``, and how long they
    waited for a CPU that others held (on a shared machine: how noisy the run was)."""

    pids: Mapping[str, int]
    _at: dict[str, tuple[float, float]] | None = None
    _wall: float = 0.0

    def _read(self) -> dict[str, tuple[float, float]]:
        return {n: (cpu_seconds(p), runqueue_seconds(p)) for n, p in self.pids.items()}

    def start(self) -> None:
        self._at = self._read()
        self._wall = time.perf_counter()

    def stop(self) -> tuple[dict[str, float], dict[str, float]]:
        """Cores used and cores' worth of waiting for a CPU, per process name."""
        assert self._at is not None, "start() first"
        wall = time.perf_counter() - self._wall
        now = self._read()
        used = {n: round((now[n][0] - self._at[n][0]) / wall, 3) for n in now}
        # max(0): threads that ended in between take their wait time with them.
        waited = {n: round(max(0.0, now[n][1] - self._at[n][1]) / wall, 3) for n in now}
        return used, waited


def placement() -> tuple[int, int] | None:
    """(API core, load generator core), or None when fewer than two cores may be used."""
    cores = sorted(os.sched_getaffinity(0))
    return (cores[0], cores[1]) if len(cores) >= 2 else None


def pin_self(core: int) -> None:
    """Keep this process (and the children it starts from now on) on ``core``."""
    os.sched_setaffinity(0, {core})


def pinned(command: list[str], core: int | None) -> list[str]:
    return ["taskset", "-c", str(core), *command] if core is not None else command


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


@contextlib.contextmanager
def api_server(
    env: Mapping[str, str],
    port: int,
    core: int | None,
    log_path: Path,
    module: Sequence[str] = ("watchflow.cli", "api"),
) -> Iterator[subprocess.Popen[bytes]]:
    """``watchflow api`` (or ``python -m <module...>``) on ``core``, ready (Kafka reachable)
    when yielded; stopped with SIGINT on exit."""
    command = pinned(python_module(*module), core)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", proc, log_path)
        yield proc
    finally:
        stop(proc)


def wait_ready(
    url: str,
    proc: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
    timeout_s: float = 90,
) -> None:
    """Until ``url`` answers 200 (the API's /readyz: Kafka reachable)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"the API exited (code {proc.returncode}):\n{tail(log_path)}")
        with (
            contextlib.suppress(urllib.error.URLError, OSError),
            urllib.request.urlopen(url, timeout=2) as answer,
        ):
            if answer.status == 200:
                return
        time.sleep(0.2)
    raise BenchError(f"the API was not ready within {timeout_s:.0f} s:\n{tail(log_path)}")


def stop(proc: subprocess.Popen[bytes], grace_s: float = 15.0) -> None:
    """SIGINT (a graceful stop for uvicorn), then SIGKILL after ``grace_s``."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def tail(path: Path | None, lines: int = 30) -> str:
    if path is None:
        return ""
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""
