"""Child processes of ``watchflow demo``: started in their own process groups, logged to files,
and always stopped — on success, on error and on Ctrl-C — so nothing is left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType


class ProcessFailed(RuntimeError):
    """A child exited or never became ready; the message carries its log tail."""


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    may_finish: bool = False  # a job that ends on its own (exit 0) rather than a service

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Supervisor:
    """Owns a set of children; ``with Supervisor(...) as s`` stops them all on exit."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()

    def start(
        self, name: str, argv: Sequence[str], env: Mapping[str, str], *, may_finish: bool = False
    ) -> Child:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                list(argv),
                env=dict(env),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own group: Ctrl-C reaches us, and we stop it
            )
        child = Child(name, proc, log_path, may_finish)
        self.children.append(child)
        return child

    def check(self) -> None:
        """Raise if a service has exited, or a job has failed."""
        for child in self.children:
            code = child.proc.poll()
            if code is not None and not (child.may_finish and code == 0):
                raise ProcessFailed(
                    f"{child.name} exited with code {code}; last lines of {child.log_path}:\n"
                    + child.log_tail()
                )

    def wait_http(self, child: Child, url: str, timeout_s: float = 60.0) -> None:
        """Wait until ``url`` answers 200, failing early if the child dies."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check()
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        raise ProcessFailed(
            f"{child.name} did not answer {url} within {timeout_s:g} s; last lines:\n"
            + child.log_tail()
        )

    def stop_all(self, grace_s: float = 15.0) -> None:
        """Stop the children newest first, each given ``grace_s`` before SIGKILL.

        SIGINT, as Ctrl-C in a terminal would: every watchflow process treats it as "finish
        what is in flight, then stop" (the simulator also writes its truth file). One at a
        time, so each finishes against the ones it talks to: the audience delivers its last
        events to a running API, the API publishes them to a running broker, the sink and the
        worker drain what was published. Signalling all at once had the API gone while the
        audience still delivered: it then sat in retries until killed, its report unwritten.
        """
        for child in reversed(self.children):
            _signal_group(child.proc, signal.SIGINT)
            try:
                child.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                _signal_group(child.proc, signal.SIGKILL)
                child.proc.wait(5)
        self.children.clear()


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
