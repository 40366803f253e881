"""Console scripts of real-time scoring: `fraud-stream`, `fraud-serve` and `fraud-replay`.

All read the same settings as the pipeline (FRAUD_ENV, FRAUD_DATA_DIR, MLflow, the
FRAUD_KAFKA_* / FRAUD_STREAM_* variables); see README, "Real-time scoring".
"""

import argparse
import logging
import sys
import time
from pathlib import Path

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from fraud_assets.model.portable import NotPortableError
from fraud_assets.model.registry import NoChampionError
from fraud_assets.resources.environments import resources_for
from fraud_assets.serving.champion import ChampionWatch
from fraud_assets.serving.history import HistoryError, warmed_state
from fraud_assets.serving.lines import in_time_order, line_parser
from fraud_assets.serving.scorer import Scorer
from fraud_assets.serving.state import OnlineFeatures
from fraud_assets.serving.stream import Checkpoint, StreamScorer, install_signal_handlers
from fraud_assets.settings import RealtimeSettings, Settings

logger = logging.getLogger("fraud_assets.serving")


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _scorer(settings: Settings, state: OnlineFeatures | None = None) -> Scorer:
    """The champion by its alias, and `state` or one warmed from the published days."""
    resources = resources_for(settings)
    tracking = resources["mlflow_tracking"]
    tracking.activate()
    champion = ChampionWatch(tracking.client(), settings.realtime.champion_check_seconds)
    if state is None:
        store = resources["parquet_io_manager"].store()
        state = warmed_state(store, settings.realtime.lateness_seconds)
    return Scorer(state, champion)


def ensure_topics(settings: RealtimeSettings, partitions: int = 1) -> None:
    """Creates the scorer's topics that do not exist yet."""
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    existing = set(admin.list_topics(timeout=10).topics)
    wanted = [
        settings.input_topic,
        settings.scores_topic,
        settings.alerts_topic,
        settings.dead_letter_topic,
    ]
    missing = [NewTopic(name, partitions, 1) for name in wanted if name not in existing]
    for name, future in admin.create_topics(missing).items() if missing else ():
        future.result(timeout=10)
        logger.info("created topic %s", name)


def stream_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fraud-stream",
        description="Score raw transaction lines from Kafka with the champion, in real time.",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help="state checkpoint file (default: <FRAUD_DATA_DIR>/stream/<group id>.pickle)",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="ignore an existing checkpoint: warm the state from the published days",
    )
    args = parser.parse_args(argv)
    _configure_logging()
    settings = Settings.from_env()
    realtime = settings.realtime
    path = args.checkpoint or settings.data_dir / "stream" / f"{realtime.group_id}.pickle"
    checkpoint = None if args.fresh else Checkpoint.load(path)
    if checkpoint is not None:
        logger.info("resuming from checkpoint %s at offsets %s", path, checkpoint.offsets)
    else:
        logger.info("no checkpoint at %s: state warmed from the published days", path)
    try:
        scorer = _scorer(settings, checkpoint.state if checkpoint is not None else None)
        scorer.champion.current()
    except (NoChampionError, NotPortableError, HistoryError) as error:
        print(f"fraud-stream: {error}", file=sys.stderr)
        return 2
    ensure_topics(realtime)
    if realtime.stream_metrics_port:
        from prometheus_client import start_http_server

        start_http_server(realtime.stream_metrics_port, addr="127.0.0.1")
    stream = StreamScorer(
        realtime,
        scorer,
        path,
        line_parser(settings.feed_time_origin),
        checkpoint.offsets if checkpoint is not None else None,
    )
    install_signal_handlers(stream)
    logger.info(
        "scoring %s -> %s (alerts %s, dead letters %s) on %s",
        realtime.input_topic,
        realtime.scores_topic,
        realtime.alerts_topic,
        realtime.dead_letter_topic,
        realtime.bootstrap_servers,
    )
    stream.run()
    return 0


def serve_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fraud-serve", description="The REST scoring API (FastAPI on uvicorn)."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    _configure_logging()
    import uvicorn

    from fraud_assets.serving.api import ScoringService, create_app

    settings = Settings.from_env()
    service = ScoringService(lambda: _scorer(settings))
    service.start()
    uvicorn.run(
        create_app(service), host=args.host, port=args.port, log_level="warning", access_log=False
    )
    return 0


def replay_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fraud-replay",
        description="Produce a landing file's lines into the input topic, in the order the "
        "transactions happened, at a given rate.",
    )
    parser.add_argument("file", type=Path, help="a landing file (header line first)")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="lines per second (0: as fast as possible)"
    )
    parser.add_argument("--limit", type=int, default=0, help="stop after this many lines")
    parser.add_argument("--topic", help="input topic (default FRAUD_STREAM_INPUT_TOPIC)")
    args = parser.parse_args(argv)
    _configure_logging()
    realtime = RealtimeSettings.from_env()
    topic = args.topic or realtime.input_topic
    ensure_topics(realtime)
    lines = in_time_order(args.file.read_bytes().splitlines()[1:])
    if args.limit:
        lines = lines[: args.limit]
    produced = replay(lines, realtime.bootstrap_servers, topic, args.rate)
    print(f"produced {produced:,} lines of {args.file.name} into {topic}")
    return 0


def replay(lines: list[bytes], servers: str, topic: str, rate: float) -> int:
    """Produces `lines` to `topic` at `rate` lines a second (0: unthrottled), keyed by the
    customer field so that each customer's transactions stay in order on one partition;
    returns how many the broker acknowledged, and raises when any was not."""
    failures: list[str] = []

    def delivered(error, message) -> None:
        if error is not None:
            failures.append(str(error))

    producer = Producer(
        {
            "bootstrap.servers": servers,
            "linger.ms": 5,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 2_000_000,
            "delivery.report.only.error": True,
            "on_delivery": delivered,
        }
    )
    started = reported = time.monotonic()
    for index, line in enumerate(lines):
        fields = line.split(b",", 3)
        key = fields[2] if len(fields) > 3 else None
        while True:
            try:
                producer.produce(topic, line, key)
                break
            except BufferError:
                producer.poll(0.05)
        if rate and index % 100 == 0:
            ahead = started + index / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        producer.poll(0)
        now = time.monotonic()
        if now - reported >= 5:
            logger.info("replayed %d of %d lines", index + 1, len(lines))
            reported = now
    remaining = producer.flush(120)
    if remaining or failures:
        raise KafkaException(
            f"{remaining} lines undelivered after 120 s and {len(failures)} failed "
            f"({'; '.join(failures[:3])}) of {len(lines)}"
        )
    return len(lines)
