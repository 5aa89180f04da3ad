"""A genuine single-node Apache Kafka broker (KRaft, broker and controller in one JVM) run from
Maven Central jars, for machines without Docker: starting it, waiting until it answers, finding
it again, and stopping it. This is what `watchflow kafka up|down|status` and the demo call.

Everything lives under ``<data_dir>/kafka/``: ``server.properties``, ``log4j2.properties``,
``data/`` (the log dir), ``tmp/`` (the JVM's temp dir), ``broker.log`` (the JVM's stdout and
stderr) and ``broker.json`` (pid, bootstrap and controller port of the running broker).

The parts: ``watchflow.kafka_jars`` (the jars), ``watchflow.kafka_config`` (the broker's
configuration), ``watchflow.kafka_host`` (Java, ports, locks, metadata probes) and
``watchflow.kafka_errors`` (the error tree). The names callers use are exported from here.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from watchflow.kafka_config import JVM_OPTIONS, new_cluster_id, packaged, server_properties
from watchflow.kafka_errors import BrokerStartError, LocalKafkaError, PortInUseError
from watchflow.kafka_host import answers_metadata, check_java, free_port, locked, port_is_free
from watchflow.kafka_jars import KAFKA_VERSION, fetch_jars, jar_dir, jars_ready

__all__ = [
    "KAFKA_VERSION",
    "BrokerState",
    "LocalKafka",
    "LocalKafkaError",
    "fetch_jars",
    "free_port",
    "jar_dir",
    "kafka_down",
    "kafka_status",
    "kafka_up",
]


@dataclass(frozen=True)
class BrokerState:
    """What ``broker.json`` records about a broker this module started."""

    pid: int
    bootstrap: str
    controller_port: int


class LocalKafka:
    """The broker whose files live in ``<data_dir>/kafka``. ``port=0`` and
    ``controller_port=0`` pick free ports when the broker starts. A detached broker outlives
    its starter and ignores its terminal's Ctrl-C; ``detach=False`` (tests) shares both."""

    def __init__(
        self,
        data_dir: Path,
        libs: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 9092,
        controller_port: int = 0,
        java: str = "java",
        overrides: Mapping[str, str] = {},
        startup_timeout_s: float = 90.0,
        detach: bool = True,
    ) -> None:
        self.dir = data_dir.resolve() / "kafka"
        self.libs, self.host, self.port, self.controller_port = libs, host, port, controller_port
        self.java, self.overrides, self.startup_timeout_s = java, overrides, startup_timeout_s
        self.detach = detach
        self.log_path = self.dir / "broker.log"
        self._state_path = self.dir / "broker.json"
        self._props_path = self.dir / "server.properties"

    def status(self) -> BrokerState | None:
        """The running broker started from this directory, or None (forgetting a stale one)."""
        state = _read_state(self._state_path)
        if state is None or _is_broker(state.pid, self._props_path):
            return state
        self._state_path.unlink(missing_ok=True)
        return None

    def up(self) -> str:
        """Start the broker unless it runs already; return its bootstrap address once it
        answers metadata requests."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with locked(self.dir / ".lock"):
            state = self.status()
            if state is not None:
                self._wait_ready(state)
                return state.bootstrap
            check_java(self.java)
            port = self.port or free_port(self.host)
            if not port_is_free(self.host, port):
                kafka_answers = answers_metadata(f"{self.host}:{port}", timeout_ms=1000)
                raise PortInUseError(self.host, port, kafka_answers)
            cport = self.controller_port or free_port(self.host)
            if not port_is_free(self.host, cport) or cport == port:
                raise PortInUseError(self.host, cport)
            self._write_config(port, cport)
            self._format()
            state = BrokerState(self._spawn(), f"{self.host}:{port}", cport)
            self._state_path.write_text(json.dumps(asdict(state)))
            try:
                self._wait_ready(state)
            except BrokerStartError:
                self._stop(state)
                raise
            return state.bootstrap

    def down(self, grace_s: float = 30.0) -> bool:
        """Stop the broker (SIGTERM, then SIGKILL after grace_s); False if none was running."""
        if not self.dir.is_dir():
            return False
        with locked(self.dir / ".lock"):
            state = self.status()
            if state is None:
                return False
            self._stop(state, grace_s)
            return True

    def _stop(self, state: BrokerState, grace_s: float = 30.0) -> None:
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError):
                # A detached JVM leads its own process group: signal the group, as a terminal would.
                if os.getpgid(state.pid) == state.pid:
                    os.killpg(state.pid, sig)
                else:
                    os.kill(state.pid, sig)
            deadline = time.monotonic() + wait_s
            while _alive(state.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if not _alive(state.pid):
                break
        _children.pop(state.pid, None)
        self._state_path.unlink(missing_ok=True)

    def _java_command(self, main: str, *args: str) -> list[str]:
        return [
            self.java,
            *JVM_OPTIONS,
            f"-Djava.io.tmpdir={self.dir / 'tmp'}",  # native codec libs unpack here, not /tmp
            f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}",
            "-cp",
            f"{self.libs}/*",  # expanded by java itself, so it must not reach a shell
            main,
            *args,
        ]

    def _write_config(self, port: int, controller_port: int) -> None:
        (self.dir / "tmp").mkdir(exist_ok=True)
        (self.dir / "log4j2.properties").write_text(packaged("log4j2.properties"))
        text = server_properties(
            self.host, port, controller_port, self.dir / "data", self.overrides
        )
        self._props_path.write_text(text, encoding="ascii")

    def _format(self) -> None:
        if (self.dir / "data" / "meta.properties").is_file():
            return  # formatted before; the cluster id and topics must survive restarts
        command = self._java_command("kafka.tools.StorageTool", "format", "--ignore-formatted")
        command += ["--cluster-id", new_cluster_id(), "--config", str(self._props_path)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            reason = f"formatting {self.dir / 'data'} failed (exit {done.returncode})"
            raise BrokerStartError(reason, done.stdout + done.stderr, "the format output")

    def _spawn(self) -> int:
        with self.log_path.open("wb") as log:
            proc = subprocess.Popen(
                self._java_command("kafka.Kafka", str(self._props_path)),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                start_new_session=self.detach,
            )
        _children[proc.pid] = proc
        return proc.pid

    def _wait_ready(self, state: BrokerState) -> None:
        def fail(reason: str) -> BrokerStartError:
            text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
            return BrokerStartError(reason, text, str(self.log_path))

        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if not _alive(state.pid):
                code = _children[state.pid].returncode if state.pid in _children else None
                raise fail(f"the Kafka broker exited during startup (exit code {code})")
            if answers_metadata(state.bootstrap):
                return
            time.sleep(0.2)
        raise fail(f"the Kafka broker did not answer within {self.startup_timeout_s:.0f} s")


def kafka_up(data_dir: Path, cache_dir: Path, port: int, echo: Callable[[str], None]) -> str:
    """`watchflow kafka up`: fetch the jars if needed, start the broker if needed, report
    progress through echo, and return the bootstrap address."""
    if not jars_ready(cache_dir):
        echo(f"fetching Kafka {KAFKA_VERSION} jars from Maven Central (once)…")
    broker = LocalKafka(data_dir, fetch_jars(cache_dir), port=port)
    running = broker.status()
    if running is not None:
        echo(f"Kafka broker already running (pid {running.pid})")
        return broker.up()
    echo(f"starting Kafka {KAFKA_VERSION} broker (log: {broker.log_path})…")
    started = time.monotonic()
    bootstrap = broker.up()
    echo(f"Kafka broker ready in {time.monotonic() - started:.1f} s")
    return bootstrap


def kafka_down(data_dir: Path, echo: Callable[[str], None]) -> bool:
    """`watchflow kafka down`: stop the broker of data_dir; False if none was running."""
    broker = LocalKafka(data_dir, Path())  # stopping needs no jars
    running = broker.status()
    if running is not None:
        echo(f"stopping the Kafka broker (pid {running.pid})…")
    return broker.down()


def kafka_status(data_dir: Path) -> str | None:
    """`watchflow kafka status`: one line about the broker of data_dir, None if not running."""
    state = LocalKafka(data_dir, Path()).status()
    if state is None:
        return None
    answers = "answers" if answers_metadata(state.bootstrap) else "does not answer yet"
    return f"Kafka {KAFKA_VERSION} broker pid {state.pid} at {state.bootstrap} ({answers})"


# Popen objects of brokers started by this process: polling them reaps the exited JVM (a zombie
# still passes kill(pid, 0)), and holding them keeps Popen.__del__ from warning.
_children: dict[int, subprocess.Popen[bytes]] = {}


def _alive(pid: int) -> bool:
    if pid in _children:
        return _children[pid].poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie whose parent never reaps it (init in some containers) is dead for our purposes.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    return True


def _is_broker(pid: int, props_path: Path) -> bool:
    """Whether pid is alive and is the broker of props_path (not a recycled pid)."""
    if not _alive(pid):
        return False
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc (macOS): trust the pid
    return b"kafka.Kafka" in args and str(props_path).encode() in args


def _read_state(path: Path) -> BrokerState | None:
    try:
        return BrokerState(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
