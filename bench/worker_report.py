"""The worker benchmark's table: rates and ratios of the three consumers, latency, state bytes."""

from __future__ import annotations

import statistics
from typing import Any

NAMES = {
    "worker": "watchflow worker (Faust, RocksDB, changelog)",
    "quix": "Quix Streams 3.28 (RocksDB, changelog)",
    "aiokafka": "aiokafka getmany + dict (ceiling)",
}


def _k(x: float) -> str:
    return f"{x / 1000:,.1f}k"


def summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    rates = [r["events_s"] for r in runs]
    return {
        "events_s": statistics.median(rates),
        "min": min(rates),
        "max": max(rates),
        "cpu": statistics.median(r["cpu"] for r in runs),
        "per_core": statistics.median(r["per_core"] for r in runs),
        "startup_s": statistics.median(r["startup_s"] for r in runs),
    }


def table(doc: dict[str, Any]) -> str:
    cfg, runs = doc["config"], doc["runs"]
    s = {name: summary(r) for name, r in runs.items() if r}
    doc["summary"] = s
    quix, ceil = s.get("quix"), s.get("aiokafka")
    head = (
        "consumer",
        "runs",
        "events/s (min–max)",
        "cores",
        "ev/s per core",
        "vs Quix",
        "vs ceiling",
        "per core vs ceiling",
        f"vs {_k(cfg['target_events_s'])}",
    )
    rows = []
    for name, v in s.items():
        rows.append(
            (
                NAMES[name],
                str(len(runs[name])),
                f"{_k(v['events_s'])} ({_k(v['min'])}–{_k(v['max'])})",
                f"{v['cpu']:.2f}",
                _k(v["per_core"]),
                f"{v['events_s'] / quix['events_s']:.2f}×" if quix else "—",
                f"{v['events_s'] / ceil['events_s']:.3f}×" if ceil else "—",
                f"{v['per_core'] / ceil['per_core']:.3f}×" if ceil else "—",
                f"{v['events_s'] / cfg['target_events_s']:.3f}×",
            )
        )
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in (head, *rows)]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines + _notes(doc))


def _notes(doc: dict[str, Any]) -> list[str]:
    cfg, env, ev = doc["config"], doc["environment"], doc["events"]
    last = doc["runs"]["worker"][-1]
    lat, st = last.get("latency"), last.get("state")
    out = [
        "",
        f"events: {ev['count']:,} coherent viewer timelines ({cfg['viewers']:,} viewers, "
        f"{ev['avg_bytes']:.0f} B each as the API publishes them) pre-filled into player-events "
        f"({cfg['partitions']} partitions); each consumer reads all of them under a fresh group, "
        f"pinned to core {doc['placement']['consumer_core']} (broker + this process on core "
        f"{doc['placement']['broker_core']}).",
        f"events/s: from the group's first offset commit to the commit covering every event "
        f"(all three commit every {cfg['commit_interval_s']:g} s; polled every 0.1 s). cores: the "
        "consumer's CPU time ÷ that window (/proc); ev/s per core = events per CPU-second.",
        "All three run the same step: streams.processor.Processor (decode_event → "
        "watch_state.advance → codec) and emit the same milestone/session records; "
        f"the model {doc.get('model', 'as imported')}.",
    ]
    if lat:
        out += _latency(lat, cfg["target_p99_ms"], cfg.get("latency_fresh", True))
    if st and "error" in st:
        out.append(f"state bytes: not measured ({st['error']})")
    elif st:
        out.append(
            f"state per (user, video): {st['videos_keys']:,} keys in `videos`; key+value "
            f"{st['key_value_bytes_per_key']:,.0f} B (what each changelog record carries); "
            f"RocksDB after a full compaction {st['rocksdb_sst_bytes_per_key']:,.0f} B/key "
            f"(SST files, {st['rocksdb_sst_bytes'] / 1e6:.1f} MB); changelog on the broker's "
            f"disk {st['changelog_disk_bytes_per_record']:,.0f} B/record over "
            f"{st['changelog_records']:,} records (not yet compacted: "
            f"{st['changelog_records'] / max(1, st['videos_keys']):.1f} records per key)."
        )
    out.append(
        f"machine: {env['cores']} × {env['cpu']}, shared; load average "
        f"{' '.join(env['loadavg_before'])} before, {' '.join(env['loadavg_after'])} after. "
        f"Commit {env['commit']}."
    )
    return out


def _latency(lat: dict[str, Any], target_ms: float, fresh: bool) -> list[str]:
    def fig(d: dict[str, Any]) -> str:
        return (
            f"p50 {d['p50_ms']:.1f} ms, p99 {d['p99_ms']:.1f} ms, max {d['max_ms']:.0f} ms over "
            f"{d['probes']} probes ({d['unseen_after_30s']} not seen within 30 s)"
        )

    head = (
        f"latency @{round(lat['load'] * 100)}% ({lat['rate']:,.0f} ev/s offered, "
        f"{lat['achieved_rate']:,.0f} sent, {lat['seconds']:.0f} s, sends late by p99 "
        f"{lat['send_lag_p99_ms']:.0f} ms; "
        + (
            "viewers it has never seen, all arriving in the first second: a flash crowd"
            if fresh
            else "the next events of the viewers it caught up on: steady traffic"
        )
        + "), from the Kafka ack "
        "(acks=all, through the API's own publisher, each millisecond's events in one publish; "
        "not through HTTP); "
        f"while they were sent the worker used {lat.get('worker_cpu', 0):.2f} of a core and "
        f"its threads waited for a core {lat.get('worker_cpu_wait', 0):.2f} of the time "
        "(held by others or by its own other threads: it is pinned to one):"
    )
    out = ["", head]
    vis = lat.get("visible")
    if vis:
        ok = "meets" if vis["p99_ms"] <= target_ms else "misses"
        out.append(
            f"- visible: {fig(vis)}; {ok} p99 ≤ {target_ms:g} ms (to the answer; to the "
            f"read that showed it being sent: p50 {vis['asked_p50_ms']:.1f} ms, p99 "
            f"{vis['asked_p99_ms']:.1f} ms). Polled for through the "
            "SPEC §6 live read (GET /v1/users/{u}/videos/{v} on the API, forwarded to the "
            "worker, answered from its write-back caches) until last_watched_at reaches the "
            f"event's ts; {vis['reads']} reads, p50 {vis['read_p50_ms']:.1f} ms, "
            f"p99 {vis['read_p99_ms']:.1f} ms each."
        )
    out.append(
        f"- durable: {fig(lat['durable'])}. To the first record on the worker's videos "
        "changelog whose state has the event (RocksDB written before it is sent)."
    )
    w = lat.get("worker") or {}
    if "error" in w:
        out.append(f"- worker timings: not read ({w['error']})")
    elif w:
        names = (
            ("fetch_records", "records per fetch", ""),
            ("fetch_age_ms", "oldest record's age at hand-over", " ms"),
            ("fold_ms", "fold per fetch", " ms"),
            ("visible_age_ms", "age when folded (visible)", " ms"),
            ("flush_events", "events per flush", ""),
            ("flush_records_ms", "flush: records acknowledged", " ms"),
            ("flush_store_ms", "flush: RocksDB + changelog handed over", " ms"),
            ("flush_ms", "flush: begin to changelog acknowledged", " ms"),
            ("durable_age_ms", "oldest event's age when durable", " ms"),
            ("gc1_ms", "GC pause, generation 1", " ms"),
            ("gc2_ms", "GC pause, generation 2", " ms"),
        )
        parts = [
            f"{label} p50 {w[n]['p50']:,.1f}{unit} / p99 {w[n]['p99']:,.1f}{unit}"
            + (f" ({w[n]['count']:,.0f})" if n.startswith("gc") else "")
            for n, label, unit in names
            if n in w
        ]
        head = "- worker timings (/stats/hot-path, ages from the records' Kafka timestamps): "
        out.append(head + "; ".join(parts))
    return out
