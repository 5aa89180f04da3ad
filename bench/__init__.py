"""Benchmarks against the peers the issues name; run them with ``python -m bench [NAME]``.

See docs/benchmarks.md for what each one measures and how to read its table.
"""
