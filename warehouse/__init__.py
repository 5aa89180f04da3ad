"""The warehouse: tier-1 and tier-2 tables as Parquet, read by analysts and the summary API.

Where things are (docs/warehouse.md has the whole story):

- ``schema``     every table: columns, partitioning, sort order, grain
- ``store``      the directory, locks, atomic manifest commits, Parquet writing, cleanup
- ``manifest``   the snapshot format and dirty-day marks (pure)
- ``views``      ``analytics.duckdb``, the views analysts open read-only
- ``records``    wire-contract records -> tier-1 rows (pure)
- ``tier1``      ``write_batch`` for the sink; compaction
- ``plan``       dirty marks -> partitions to recompute (pure)
- ``rollups``    ``run`` for the rollup job; the SQL is in ``sql/``, one file per table
- ``streaks``    goal streaks (Polars, pure)
- ``queries``    what the summary API reads
- ``erase``      GDPR erase-user
- ``synthetic``  generated data at scale, to measure the rollup
"""
