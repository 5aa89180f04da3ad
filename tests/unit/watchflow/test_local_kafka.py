"""What the local-broker lifecycle decides without running Java: a taken port is reported before
any JVM starts, and a broker that is gone is forgotten without ever signalling a process that is
not the broker."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.watchflow.executables import executable
from watchflow.kafka_errors import PortInUseError
from watchflow.kafka_host import port_is_free
from watchflow.local_kafka import LocalKafka, kafka_down


def test_taken_port_is_reported_before_any_jvm_starts(tmp_path: Path) -> None:
    java = executable(tmp_path / "java", "echo 'openjdk version \"17.0.1\"' >&2\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert not port_is_free("127.0.0.1", port)
        broker = LocalKafka(tmp_path, tmp_path / "libs", port=port, java=java)
        with pytest.raises(PortInUseError) as failure:
            broker.up()
    assert failure.value.port == port
    assert not (broker.dir / "server.properties").exists()


def write_state(data_dir: Path, pid: int) -> Path:
    state = data_dir / "kafka" / "broker.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"pid": pid, "bootstrap": "127.0.0.1:9", "controller_port": 10}))
    return state


def test_state_of_an_exited_broker_is_forgotten(tmp_path: Path) -> None:
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    state = write_state(tmp_path, exited.pid)
    said: list[str] = []
    assert LocalKafka(tmp_path, Path()).status() is None
    assert not state.exists()
    assert kafka_down(tmp_path, said.append) is False
    assert said == []


def test_a_recycled_pid_is_never_signalled(tmp_path: Path) -> None:
    # The pid in broker.json now belongs to another program: this very test process.
    state = write_state(tmp_path, os.getpid())
    assert LocalKafka(tmp_path, Path()).down() is False
    assert not state.exists()


def test_unreadable_state_means_no_broker(tmp_path: Path) -> None:
    state = write_state(tmp_path, 1)
    state.write_text("{not json")
    assert LocalKafka(tmp_path, Path()).status() is None
