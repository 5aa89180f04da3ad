"""Settings of the warehouse jobs (``watchflow sink``, ``rollup``, ``erase-user``), read from
``WATCHFLOW_*`` variables in the entrypoint and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from warehouse.store import WarehouseConfig


class WarehouseSettings(BaseSettings):
    """Where the warehouse is and what its DuckDB connections may use."""

    model_config = SettingsConfigDict(env_prefix="WATCHFLOW_", extra="ignore")

    data_dir: Path = Path(".watchflow")
    # DuckDB limits for rollups (e.g. "4GB"); default: DuckDB's own (80 % of RAM, all cores).
    warehouse_memory_limit: str | None = None
    warehouse_threads: int | None = Field(default=None, ge=1, le=1024)
    # memory DuckDB's block allocator keeps for reuse during a rollup; "0" turns it off
    warehouse_block_memory: str = "2GB"
    log_level: str = "INFO"

    def warehouse_config(self) -> WarehouseConfig:
        return WarehouseConfig(
            memory_limit=self.warehouse_memory_limit,
            threads=self.warehouse_threads,
            block_memory=self.warehouse_block_memory,
        )


class SinkSettings(WarehouseSettings):
    """``watchflow sink``: Kafka topics -> tier 1."""

    kafka_bootstrap: str = "127.0.0.1:9092"
    # Partitions of the topics the sink creates if it starts first (as the worker would).
    partitions: int = Field(default=8, ge=1, le=10_000)
    sink_group: str = "watchflow-sink"
    # A batch is written (one warehouse commit, then one offset commit) when it holds this many
    # records or its first record is this old, whichever comes first.
    sink_batch_records: int = Field(default=5000, ge=1, le=1_000_000)
    sink_batch_seconds: float = Field(default=1.0, gt=0, le=3600)
    # How often the sink logs its counters and lag.
    sink_stats_seconds: float = Field(default=10.0, gt=0)


class EraseSettings(WarehouseSettings):
    """``watchflow erase-user``: an erase request onto player-events, then the warehouse."""

    kafka_bootstrap: str = "127.0.0.1:9092"
    # How long erase-user waits for Kafka (connect, metadata, the acks=all write) before it
    # gives up, erasing nothing.
    erase_kafka_timeout_s: float = Field(default=15.0, gt=0, le=600)


class RollupSettings(WarehouseSettings):
    """``watchflow rollup``: tier 1 -> tier 2, for the days new or late data touched."""

    rollup_interval_s: float = Field(default=10.0, gt=0)
    # Files a crashed writer left behind are deleted at most this often.
    vacuum_interval_s: float = Field(default=600.0, gt=0)
