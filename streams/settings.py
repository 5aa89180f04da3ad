"""Settings of ``watchflow worker``, read from ``WATCHFLOW_*`` variables in the entrypoint."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WorkerSettings(BaseSettings):
    """Everything a stream worker needs; built once in the entrypoint and passed down."""

    model_config = SettingsConfigDict(env_prefix="WATCHFLOW_", extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    # Group id and the prefix of the changelog topics. Topic names of the pipeline are fixed;
    # a fresh app id gives a fresh consumer group and fresh tables (tests, replays).
    app_id: str = "watchflow"
    data_dir: Path = Path(".watchflow")
    # Partitions of player-events, catalog and of every table (they must all agree: a user's
    # events, its state and its changelog share one partition number).
    partitions: int = Field(default=8, ge=1, le=10_000)
    worker_id: str = "0"
    worker_web_host: str = "127.0.0.1"
    worker_web_port: int = Field(default=6066, ge=1, le=65535)
    # Where other workers reach this one (forwarded reads); default http://host:port.
    worker_url: str = ""
    idle_timeout_s: float = Field(default=1800.0, gt=0)
    # How often the idle-session sweep runs (wall clock); what it closes is decided by the
    # event-time watermark, not by this clock.
    idle_sweep_s: float = Field(default=1.0, gt=0)
    # Least time between the starts of two flushes (state to RocksDB and the changelog,
    # milestones and sessions out). What reads show does not wait for a flush; a (user, video)
    # changed by several events in that time is written once: ~25 % fewer writes at full rate.
    flush_interval_s: float = Field(default=0.25, ge=0, le=10)
    # How long the broker may hold a fetch back until it has fetch_min_bytes for it: fewer,
    # fuller fetches under load (each has fixed costs), at most this much later when quiet.
    fetch_max_wait_ms: int = Field(default=10, ge=0, le=5000)
    fetch_min_bytes: int = Field(default=64 * 1024, ge=1, le=64 * 1024**2)
    # Faust commit interval: how much work a crash can make the worker redo.
    commit_interval_s: float = Field(default=2.8, gt=0)
    # How long the broker waits for a silent (crashed) worker before rebalancing.
    session_timeout_s: float = Field(default=10.0, gt=0)
    # Warm copies of each table partition on other workers (faster failover, more reading).
    standby_replicas: int = Field(default=1, ge=0, le=5)
    # Sessions kept per user for GET .../history.
    history_size: int = Field(default=100, ge=1, le=10_000)
    log_level: str = "INFO"

    @property
    def state_dir(self) -> Path:
        """RocksDB and Faust's own files for this worker (one directory per worker)."""
        return self.data_dir.resolve() / f"worker-{self.worker_id}"

    @property
    def canonical_url(self) -> str:
        return self.worker_url or f"http://{self.worker_web_host}:{self.worker_web_port}"
