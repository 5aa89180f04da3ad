"""The broker's jars: fetched from Maven Central once, a failed fetch reported with Maven's output
and redone from scratch, a missing Maven named, and the POM in step with the module."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.watchflow.executables import executable
from watchflow.kafka_errors import JarFetchError
from watchflow.kafka_jars import KAFKA_VERSION, fetch_jars, jar_dir, jars_ready


def test_pom_and_module_agree_on_the_kafka_version() -> None:
    pom = (Path(__file__).parents[3] / "watchflow" / "kafka" / "pom.xml").read_text()
    assert f"<kafka.version>{KAFKA_VERSION}</kafka.version>" in pom


def fake_maven(tmp_path: Path, *, fail: bool) -> str:
    """An mvn that records its calls, drops a partial download, and fails or completes."""
    finish = (
        "echo '[ERROR] Could not resolve dependencies'; exit 1"
        if fail
        else f'touch "$out/kafka_2.13-{KAFKA_VERSION}.jar"'
    )
    script = f"""echo call >> "{tmp_path}/mvn-calls"
for arg in "$@"; do case "$arg" in -DoutputDirectory=*) out="${{arg#*=}}";; esac; done
touch "$out/partial-{"failed" if fail else "ok"}.jar"
{finish}
"""
    return executable(tmp_path / ("mvn-fail" if fail else "mvn-ok"), script)


def test_jars_are_fetched_once(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    mvn = fake_maven(tmp_path, fail=False)
    assert fetch_jars(cache, mvn) == jar_dir(cache)
    assert fetch_jars(cache, mvn) == jar_dir(cache)
    assert jars_ready(cache)
    assert (tmp_path / "mvn-calls").read_text().count("call") == 1


def test_failed_fetch_reports_maven_output_and_is_redone_from_scratch(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(JarFetchError, match="mvn failed") as failure:
        fetch_jars(cache, fake_maven(tmp_path, fail=True))
    assert "Could not resolve dependencies" in failure.value.output_tail
    assert not jars_ready(cache)
    libs = fetch_jars(cache, fake_maven(tmp_path, fail=False))
    assert not (libs / "partial-failed.jar").exists()
    assert jars_ready(cache)


def test_missing_maven_is_named(tmp_path: Path) -> None:
    with pytest.raises(JarFetchError, match="Maven"):
        fetch_jars(tmp_path, str(tmp_path / "no-mvn"))
