"""A genuine single-node Apache Kafka broker (KRaft, broker and controller in one JVM) run from
Maven Central jars, for machines without Docker.

Everything lives under ``<data_dir>/kafka/``: ``server.properties``, ``log4j2.properties``,
``data/`` (the log dir), ``tmp/`` (the JVM's temp dir), ``broker.log`` (the JVM's stdout and
stderr) and ``broker.json`` (pid, bootstrap and controller port of the running broker).

Errors::

    LocalKafkaError
    ├── JavaUnavailableError   no java on PATH, or older than 17
    ├── JarFetchError          mvn missing or failed (.output_tail)
    ├── PortInUseError         the broker's port is taken (.host, .port)
    └── BrokerStartError       format or start failed (.errors, .log_tail)
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

KAFKA_VERSION = "4.1.2"  # keep in step with watchflow/kafka/pom.xml
# Measured on 2 cores: C1 only (TieredStopAtLevel=1) starts the broker ~0.4 s sooner with ~35 MB
# less RSS, and the Python clients, not the broker, bound local throughput. SerialGC is the
# leanest collector for a 512 MiB heap; Kafka's script defaults (1 GiB, G1) suit servers.
JVM_OPTIONS = (
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
LOG_TAIL_LINES = 40


class LocalKafkaError(Exception):
    """Base of every error raised while fetching, starting or stopping the local broker."""


class JavaUnavailableError(LocalKafkaError):
    """No usable Java runtime (Kafka 4 brokers need Java 17 or newer)."""


class JarFetchError(LocalKafkaError):
    def __init__(self, message: str, output_tail: str = "") -> None:
        super().__init__(f"{message}\n{output_tail}".rstrip())
        self.output_tail = output_tail


class PortInUseError(LocalKafkaError):
    def __init__(self, host: str, port: int, kafka_answers: bool = False) -> None:
        who = "a Kafka broker (started from another data dir?)" if kafka_answers else "a process"
        super().__init__(
            f"{host}:{port} is already in use by {who}; stop it, or choose another port "
            "for the local Kafka broker"
        )
        self.host, self.port, self.kafka_answers = host, port, kafka_answers


class BrokerStartError(LocalKafkaError):
    def __init__(self, reason: str, output: str, source: str) -> None:
        # A failed start logs its cause and then a long shutdown: the tail alone buries it.
        self.errors, self.log_tail = _error_lines(output), _tail(output)
        errors = f"--- errors in {source} ---\n{self.errors}\n" if self.errors else ""
        super().__init__(f"{reason}\n{errors}--- last lines of {source} ---\n{self.log_tail}")


@dataclass(frozen=True)
class BrokerState:
    """What ``broker.json`` records about a broker this module started."""

    pid: int
    bootstrap: str
    controller_port: int


def new_cluster_id() -> str:
    """A random cluster id in Kafka's Uuid text form: 22 URL-safe base64 characters."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def server_properties(
    host: str, port: int, controller_port: int, log_dir: Path, overrides: Mapping[str, str] = {}
) -> str:
    """The server.properties text of a combined broker+controller with a one-voter quorum;
    overrides come last, so they win (java.util.Properties keeps the last value of a key)."""
    if "," in str(log_dir):
        raise ValueError(f"Kafka's log.dirs cannot hold a path with a comma: {log_dir}")
    text = _packaged("server.properties.template").format(
        host=host, port=port, controller_port=controller_port, log_dir=_escape(str(log_dir))
    )
    return text + "".join(f"{_escape(k)}={_escape(v)}\n" for k, v in overrides.items())


def _escape(text: str) -> str:
    # Kafka loads .properties as ISO-8859-1 with backslash escapes: write ASCII only.
    def char(c: str) -> str:
        if " " <= c <= "~":
            return c
        units = c.encode("utf-16-be").hex()
        return "".join(f"\\u{units[i : i + 4]}" for i in range(0, len(units), 4))

    return "".join(map(char, text.replace("\\", "\\\\")))


def java_major_version(version_output: str) -> int | None:
    """The major version from ``java -version`` output ('1.8.0_292' is 8, '17.0.15' is 17)."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on host that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    """Whether a listener could bind host:port (SO_REUSEADDR, as the JVM binds)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def jar_dir(cache_dir: Path) -> Path:
    """Where the broker's jars live inside cache_dir (one directory per Kafka version)."""
    return cache_dir / f"kafka-{KAFKA_VERSION}" / "libs"


def jars_ready(cache_dir: Path) -> bool:
    """Whether a complete download of the current POM's jars is in cache_dir."""
    marker = jar_dir(cache_dir) / ".complete"
    return marker.is_file() and marker.read_text() == _pom_digest()


def fetch_jars(cache_dir: Path, mvn: str = "mvn") -> Path:
    """Copy the broker's runtime classpath from Maven Central into ``jar_dir(cache_dir)`` once,
    and return that directory. An interrupted download is redone from scratch."""
    libs = jar_dir(cache_dir)
    if jars_ready(cache_dir):
        return libs
    libs.parent.mkdir(parents=True, exist_ok=True)
    with _locked(libs.parent / ".lock"):
        if jars_ready(cache_dir):
            return libs
        shutil.rmtree(libs, ignore_errors=True)
        libs.mkdir()
        pom = libs.parent / "pom.xml"  # mvn runs beside a copy: the package may be read-only
        pom.write_text(_packaged("pom.xml"))
        command = [mvn, "-q", "-B", "-f", str(pom)]
        command += ["org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"]
        command += [f"-DoutputDirectory={libs}", "-DincludeScope=runtime"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
        except FileNotFoundError:
            raise JarFetchError(
                f"Maven ({mvn}) is needed once to fetch the Kafka jars; install it"
            ) from None
        except subprocess.TimeoutExpired:
            raise JarFetchError("mvn did not finish in 30 minutes") from None
        if done.returncode != 0 or not (libs / f"kafka_2.13-{KAFKA_VERSION}.jar").is_file():
            tail = _tail(done.stdout + done.stderr)
            raise JarFetchError(f"mvn failed (exit {done.returncode}) fetching Kafka jars", tail)
        (libs / ".complete").write_text(_pom_digest())
    return libs


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
        with _locked(self.dir / ".lock"):
            state = self.status()
            if state is not None:
                self._wait_ready(state)
                return state.bootstrap
            check_java(self.java)
            port = self.port or free_port(self.host)
            if not port_is_free(self.host, port):
                kafka_answers = _run(_answers_metadata(f"{self.host}:{port}", timeout_ms=1000))
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
        with _locked(self.dir / ".lock"):
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
        (self.dir / "log4j2.properties").write_text(_packaged("log4j2.properties"))
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
            if _run(_answers_metadata(state.bootstrap)):
                return
            time.sleep(0.2)
        raise fail(f"the Kafka broker did not answer within {self.startup_timeout_s:.0f} s")


def check_java(java: str = "java") -> None:
    """Raise JavaUnavailableError unless ``java`` runs and is version 17 or newer."""
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise JavaUnavailableError(
            f"'{java}' not found: the local Kafka broker needs Java 17+ "
            "(e.g. apt-get install openjdk-17-jre-headless)"
        ) from None
    major = java_major_version(done.stderr + done.stdout)
    if major is None or major < 17:
        raise JavaUnavailableError(f"the local Kafka broker needs Java 17+, found: {done.stderr}")


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
    answers = "answers" if _run(_answers_metadata(state.bootstrap)) else "does not answer yet"
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


async def _answers_metadata(bootstrap: str, timeout_ms: int = 5000) -> bool:
    """Whether a Metadata request to bootstrap lists at least one broker."""
    host, _, port = bootstrap.rpartition(":")
    try:  # plain TCP first: aiokafka logs an error for every refused connection
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 2.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    await writer.wait_closed()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms)
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        return bool(cluster["brokers"])
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        await admin.close()


def _run(coro: Coroutine[Any, Any, bool]) -> bool:
    """Run coro to completion, also when called from inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock so two `watchflow kafka up` runs cannot race each other."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _packaged(name: str) -> str:
    return resources.files("watchflow").joinpath("kafka", name).read_text()


def _pom_digest() -> str:
    return hashlib.sha256(_packaged("pom.xml").encode()).hexdigest()


def _tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines()[-lines:])


def _error_lines(log: str, limit: int = 12) -> str:
    """ERROR/FATAL lines of a Kafka log, each with its exception and 'Caused by' lines,
    without repeats (Kafka logs one cause at every layer it passes through)."""
    picked: dict[str, None] = {}
    after_error = False
    for line in log.splitlines():
        if re.match(r"\[[^]]*\] (ERROR|FATAL) ", line):
            picked[line.split("] ", 1)[1]] = None
            after_error = True
        elif line.startswith("Caused by: ") or (after_error and not line.startswith(("\t", "["))):
            picked[line] = None
        elif not line.startswith("\t"):
            after_error = False
    return "\n".join(list(picked)[:limit])
