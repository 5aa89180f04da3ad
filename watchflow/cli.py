"""``watchflow``: one console script, a subcommand per deployable and job (SPEC §8).

Wiring only: each subcommand builds its settings from ``WATCHFLOW_*`` variables here, in the
entrypoint, and hands them to the package that does the work.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from watchflow import logs

Handler = Callable[[argparse.Namespace], int]


def _data_dir() -> Path:
    return Path(os.environ.get("WATCHFLOW_DATA_DIR", ".watchflow")).resolve()


def _kafka_cache() -> Path:
    default = Path.home() / ".cache" / "watchflow"
    return Path(os.environ.get("WATCHFLOW_KAFKA_CACHE", str(default))).resolve()


def _echo(line: str) -> None:
    print(line, flush=True)


def cmd_kafka(args: argparse.Namespace) -> int:
    from watchflow import local_kafka

    if args.action == "up":
        try:
            bootstrap = local_kafka.kafka_up(_data_dir(), _kafka_cache(), args.port, _echo)
        except local_kafka.LocalKafkaError as exc:
            print(f"watchflow kafka up: {exc}", file=sys.stderr)
            return 1
        _echo(bootstrap)
        return 0
    if args.action == "down":
        stopped = local_kafka.kafka_down(_data_dir(), _echo)
        _echo("broker stopped" if stopped else "no broker was running")
        return 0
    status = local_kafka.kafka_status(_data_dir())
    _echo(status or "no broker running")
    return 0 if status else 3


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from ingest_api.settings import ApiSettings

    settings = ApiSettings()
    logs.configure(args.log_level)
    uvicorn.run(
        "ingest_api.main:app_from_env",
        factory=True,
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=10,
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from streams.main import run
    from streams.settings import WorkerSettings

    overrides: dict[str, object] = {"log_level": args.log_level}
    if args.web_port is not None:
        overrides["worker_web_port"] = args.web_port
    if args.data_dir is not None:
        overrides["data_dir"] = Path(args.data_dir)
    settings = WorkerSettings(**overrides)  # type: ignore[arg-type]
    return run(settings)


def cmd_demo(args: argparse.Namespace) -> int:
    from watchflow import demo

    logs.configure(args.log_level)
    config = demo.DemoConfig(
        data_dir=_data_dir(),
        kafka_cache=_kafka_cache(),
        port=args.port,
        kafka_port=args.kafka_port,
        duration_s=args.duration,
        backfill_days=args.backfill_days,
        rate=args.rate,
        live_s=args.live,
        worker_port=args.worker_port,
    )
    return demo.run(config, _echo)


def cmd_sink(args: argparse.Namespace) -> int:
    from jobs import sink
    from jobs.settings import SinkSettings

    settings = SinkSettings(log_level=args.log_level)
    logs.configure(settings.log_level)
    return sink.run(settings)


def cmd_rollup(args: argparse.Namespace) -> int:
    from jobs import rollup
    from jobs.settings import RollupSettings

    overrides: dict[str, object] = {"log_level": args.log_level}
    if args.interval is not None:
        overrides["rollup_interval_s"] = args.interval
    settings = RollupSettings(**overrides)  # type: ignore[arg-type]
    logs.configure(settings.log_level)
    return rollup.run(settings, once=args.once, full=args.full)


def cmd_erase_user(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    import orjson

    from jobs import erase
    from jobs.settings import EraseSettings
    from warehouse.store import Store

    settings = EraseSettings(log_level=args.log_level)
    logs.configure(settings.log_level)
    store = Store.open(settings.data_dir, settings.warehouse_config())
    publish = erase.kafka_publisher(
        settings.kafka_bootstrap, timeout_s=settings.erase_kafka_timeout_s
    )
    try:
        report = erase.erase_everywhere(store, args.user_id, now=datetime.now(UTC), publish=publish)
    except erase.ErasureNotPublished as exc:
        print(
            f"erase-user: nothing was erased: {exc}; run it again once Kafka answers",
            file=sys.stderr,
            flush=True,
        )
        return 1
    except erase.WarehouseNotErasedYet as exc:
        print(f"erase-user: {exc}", file=sys.stderr, flush=True)
        return 1
    _echo(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    import asyncio

    from jobs import replay
    from jobs.rollup import describe
    from jobs.settings import WarehouseSettings
    from streams.settings import WorkerSettings
    from warehouse import rollups
    from warehouse.store import Store

    logs.configure(args.log_level)
    state, tables = (args.state or not args.tables), (args.tables or not args.state)
    if state:
        ws = WorkerSettings(log_level=args.log_level)
        try:
            plan = asyncio.run(replay.plan_state(ws.kafka_bootstrap, ws.app_id, ws.data_dir))
        except replay.ReplayRefused as exc:
            _echo(f"replay: {exc}")
            return 1
        for line in plan.lines():
            _echo(f"state: {line}")
        if not args.yes:
            _echo("nothing was changed: run again with --yes to replay")
            return 2
        try:
            asyncio.run(replay.reset_state(ws.kafka_bootstrap, plan))
        except replay.ReplayRefused as exc:
            _echo(f"replay: {exc}")
            return 1
        _echo("state: reset; the next `watchflow worker` rebuilds it from the log")
    if tables:
        wh = WarehouseSettings(log_level=args.log_level)
        store = Store.open(wh.data_dir, wh.warehouse_config())
        report = rollups.run(store, full=True)
        _echo(f"tables: every tier-2 table recomputed from tier 1: {describe(report)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="watchflow", description="watchflow: streaming analytics for video watch telemetry"
    )
    parser.add_argument("--log-level", default=os.environ.get("WATCHFLOW_LOG_LEVEL", "INFO"))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    kafka = sub.add_parser("kafka", help="a local single-node Apache Kafka broker (KRaft)")
    kafka.add_argument("action", choices=("up", "down", "status"))
    kafka.add_argument("--port", type=int, default=9092, help="bootstrap port (default 9092)")
    kafka.set_defaults(handler=cmd_kafka)

    api = sub.add_parser("api", help="the ingest and summary HTTP API")
    api.add_argument("--host", default=None, help="default: WATCHFLOW_API_HOST or 127.0.0.1")
    api.add_argument("--port", type=int, default=None, help="default: WATCHFLOW_API_PORT or 8000")
    api.add_argument("--workers", type=int, default=1, help="API processes (one per core)")
    api.set_defaults(handler=cmd_api)

    worker = sub.add_parser("worker", help="a stream worker: watch state, milestones, live reads")
    worker.add_argument(
        "--web-port", type=int, default=None, help="default: WATCHFLOW_WORKER_WEB_PORT or 6066"
    )
    worker.add_argument("--data-dir", default=None, help="default: WATCHFLOW_DATA_DIR")
    worker.set_defaults(handler=cmd_worker)

    snk = sub.add_parser("sink", help="Kafka topics -> warehouse tier 1 (exactly once)")
    snk.set_defaults(handler=cmd_sink)

    rup = sub.add_parser("rollup", help="warehouse tier 2 for the days new data touched")
    rup.add_argument("--once", action="store_true", help="run once and exit")
    rup.add_argument(
        "--interval", type=float, default=None, help="seconds between runs (default 10)"
    )
    rup.add_argument("--full", action="store_true", help="recompute every partition (first run)")
    rup.set_defaults(handler=cmd_rollup)

    era = sub.add_parser(
        "erase-user",
        help="erase a user (GDPR): an erase record to the workers and the sink, then the warehouse",
    )
    era.add_argument("user_id")
    era.set_defaults(handler=cmd_erase_user)

    from jobs import simulate

    rep = sub.add_parser(
        "replay",
        help="rebuild the workers' state from the Kafka log and tier 2 from tier 1",
        description="Without --state or --tables, both. Stop every worker first. Without "
        "--yes, only prints what it would do.",
    )
    rep.add_argument("--state", action="store_true", help="only the stream workers' state")
    rep.add_argument("--tables", action="store_true", help="only the warehouse's tier 2")
    rep.add_argument("--yes", action="store_true", help="carry it out")
    rep.set_defaults(handler=cmd_replay)

    sim = sub.add_parser("simulate", help="a simulated audience against a running API")
    simulate.add_arguments(sim)
    sim.set_defaults(handler=simulate.run_from_args)

    demo = sub.add_parser("demo", help="everything on this machine, with a simulated audience")
    demo.add_argument("--port", type=int, default=8000, help="API and dashboard port")
    demo.add_argument("--kafka-port", type=int, default=9092, help="local broker port")
    demo.add_argument("--duration", type=float, default=None, help="stop after N seconds")
    demo.add_argument("--backfill-days", type=float, default=3.0, help="days of history (3)")
    demo.add_argument("--rate", type=float, default=300.0, help="audience events/s (300)")
    demo.add_argument(
        "--live", type=float, default=None, help="seconds of live audience (default: all along)"
    )
    demo.add_argument("--worker-port", type=int, default=6066, help="stream worker web port")
    demo.set_defaults(handler=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
