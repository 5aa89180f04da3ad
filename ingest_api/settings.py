"""Settings of the ingest/summary API, read from ``WATCHFLOW_*`` variables in the entrypoint."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """Everything ``watchflow api`` needs; built once in the entrypoint and passed down."""

    model_config = SettingsConfigDict(env_prefix="WATCHFLOW_", extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    # Comma-separated; empty means "use the development credentials" (see credentials.py).
    write_keys: str = ""
    read_tokens: str = ""
    data_dir: Path = Path(".watchflow")
    partitions: int = Field(default=8, ge=1, le=10_000)
    late_limit_days: float = Field(default=7.0, gt=0)
    max_ahead_hours: float = Field(default=24.0, gt=0)
    # Per device and endpoint, events per second and burst; 0 disables the limit.
    rate_limit_per_s: float = Field(default=200.0, ge=0)
    rate_limit_burst: float = Field(default=2000.0, ge=0)
    produce_timeout_s: float = Field(default=5.0, gt=0)
    # Where the stream workers answer live-state reads (comma-separated base URLs); any
    # worker will do, it forwards to the owner of the user's partition.
    worker_urls: str = "http://127.0.0.1:6066"

    @property
    def late_limit(self) -> timedelta:
        return timedelta(days=self.late_limit_days)

    @property
    def max_ahead(self) -> timedelta:
        return timedelta(hours=self.max_ahead_hours)

    def write_key_set(self) -> frozenset[str]:
        return frozenset(k.strip() for k in self.write_keys.split(",") if k.strip())

    # Consumer groups whose lag /metrics reports: the stream workers' app id and the sink's.
    lag_groups: str = "watchflow,watchflow-sink"

    def lag_group_list(self) -> list[str]:
        return [g.strip() for g in self.lag_groups.split(",") if g.strip()]

    def worker_url_list(self) -> list[str]:
        return [u.strip() for u in self.worker_urls.split(",") if u.strip()]
