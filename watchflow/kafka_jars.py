"""The local Kafka broker's jars: its runtime classpath, fetched once from Maven Central with
``mvn`` (the POM is ``watchflow/kafka/pom.xml``) into a cache directory per Kafka version.

A download counts only once it has completed for the current POM; an interrupted or failed
one is redone from scratch, and a file lock keeps two fetches from racing.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from watchflow.kafka_config import packaged
from watchflow.kafka_errors import JarFetchError, log_tail
from watchflow.kafka_host import locked

KAFKA_VERSION = "4.1.2"  # keep in step with watchflow/kafka/pom.xml


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
    with locked(libs.parent / ".lock"):
        if jars_ready(cache_dir):
            return libs
        shutil.rmtree(libs, ignore_errors=True)
        libs.mkdir()
        pom = libs.parent / "pom.xml"  # mvn runs beside a copy: the package may be read-only
        pom.write_text(packaged("pom.xml"))
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
            tail = log_tail(done.stdout + done.stderr)
            raise JarFetchError(f"mvn failed (exit {done.returncode}) fetching Kafka jars", tail)
        (libs / ".complete").write_text(_pom_digest())
    return libs


def _pom_digest() -> str:
    return hashlib.sha256(packaged("pom.xml").encode()).hexdigest()
