"""What the local broker asks of the machine: a Java 17 or newer, named when missing or too old."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.watchflow.executables import executable
from watchflow.kafka_errors import JavaUnavailableError
from watchflow.kafka_host import check_java, java_major_version


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "21-ea" 2023-09-19', 21),
        ('java version "1.8.0_292"', 8),
        ("bash: java: command not found", None),
    ],
)
def test_java_major_version(output: str, major: int | None) -> None:
    assert java_major_version(output) == major


def test_missing_java_is_named(tmp_path: Path) -> None:
    with pytest.raises(JavaUnavailableError, match="needs Java 17"):
        check_java(str(tmp_path / "no-java"))


def test_old_java_is_refused(tmp_path: Path) -> None:
    java = executable(tmp_path / "java", "echo 'openjdk version \"11.0.2\"' >&2\n")
    with pytest.raises(JavaUnavailableError, match=r"11\.0\.2"):
        check_java(java)
