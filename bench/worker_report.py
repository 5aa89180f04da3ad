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
        "watch_state.advance → codec) and emit the same milestone/session records.",
    ]
    if lat:
        ok = "meets" if lat["p99_ms"] <= cfg["target_p99_ms"] else "misses"
        out.append(
            f"latency @{round(lat['load'] * 100)}% ({lat['rate']:,.0f} ev/s offered, "
            f"{lat['achieved_rate']:,.0f} sent, {lat['seconds']:.0f} s): p50 "
            f"{lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms, max {lat['max_ms']:.0f} ms "
            f"over {lat['probes']} probes, {lat['unseen_after_30s']} not visible within 30 s "
            f"({ok} p99 ≤ {cfg['target_p99_ms']:g} ms). Measured from the Kafka ack "
            "(acks=all, the API's producer settings; produced straight to Kafka, not through "
            "HTTP) to the first record on the worker's videos changelog whose state has the "
            "event (its last playback ≥ the event's ts): the state is in RocksDB before that "
            "record is sent, so this bounds live-read visibility from above."
        )
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
