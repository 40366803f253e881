"""The streaming scorer: raw transaction lines from a Kafka topic in, scores, alerts and dead
letters out, keyed so that a repeat is harmless.

At least once: a micro-batch's offsets are committed only after every output of the batch is
delivered. The online state is checkpointed (atomically, with the offsets it has seen) every
FRAUD_STREAM_CHECKPOINT_SECONDS; a restart, after a crash or `kill -9`, loads the checkpoint
and reads the input again from the checkpoint's offsets, so the state is rebuilt exactly and
the outputs since then are produced again with the same keys and values.
"""

import logging
import os
import pickle
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from fraud_assets.serving import metrics
from fraud_assets.serving.lines import Rejected, Transaction
from fraud_assets.serving.scorer import NotScored, Scored, Scorer
from fraud_assets.serving.state import OnlineFeatures
from fraud_assets.settings import RealtimeSettings

logger = logging.getLogger(__name__)

SOURCE = "stream"
REASON_HEADER = "reason"
ORIGIN_HEADER = "origin"
_LAG_SECONDS = 5.0


@dataclass
class Checkpoint:
    """The online state after every message before `offsets` (partition -> next offset)."""

    state: OnlineFeatures
    offsets: dict[int, int] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        with open(temporary, "wb") as handle:
            pickle.dump(self, handle, protocol=pickle.HIGHEST_PROTOCOL)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)

    @staticmethod
    def load(path: Path) -> "Checkpoint | None":
        # The checkpoint is this scorer's own file in its own folder: the trust it needs is
        # the folder's.
        if not path.exists():
            return None
        with open(path, "rb") as handle:
            return pickle.load(handle)


def score_payload(outcome: Scored, arrived_ms: int) -> bytes:
    tx = outcome.transaction
    return (
        f'{{"transaction_id":{tx.transaction_id},"customer_id":{tx.customer_id},'
        f'"terminal_id":{tx.terminal_id},"tx_seconds":{tx.seconds},"tx_amount":{tx.amount!r},'
        f'"score":{outcome.score!r},"alert":{"true" if outcome.alert else "false"},'
        f'"model_version":"{outcome.model_version}","arrived_ms":{arrived_ms}}}'
    ).encode()


class StreamScorer:
    """Consumes, scores and produces micro-batches until `stop()`."""

    def __init__(
        self,
        settings: RealtimeSettings,
        scorer: Scorer,
        checkpoint_path: Path,
        parse: Callable[[bytes], Transaction | Rejected],
        starting_offsets: dict[int, int] | None = None,
    ) -> None:
        self.settings = settings
        self.scorer = scorer
        self.checkpoint_path = checkpoint_path
        self.parse = parse
        self.starting_offsets = starting_offsets or {}
        self.offsets: dict[int, int] = dict(self.starting_offsets)
        self.running = True
        self.delivery_errors: list[str] = []
        servers = settings.bootstrap_servers
        self.consumer = Consumer(
            {
                "bootstrap.servers": servers,
                "group.id": settings.group_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": 6_000,
                "heartbeat.interval.ms": 500,
                "enable.partition.eof": False,
                # Some brokers hold a fetch for its whole maximum wait even when data is
                # there; a short wait keeps the latency to a few batches.
                "fetch.wait.max.ms": 20,
            }
        )
        self.producer = Producer(
            {
                "bootstrap.servers": servers,
                "linger.ms": 5,
                "batch.size": 1_000_000,
                "queue.buffering.max.messages": 2_000_000,
                "acks": "all",
                # A Python call per delivered message would cost as much as scoring it:
                # only failures are reported, and any failure stops the commit.
                "delivery.report.only.error": True,
                "on_delivery": self._delivered,
            }
        )

    def stop(self, *_: object) -> None:
        self.running = False

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for partition in partitions:
            if partition.partition in self.starting_offsets:
                partition.offset = self.starting_offsets[partition.partition]
        consumer.assign(partitions)
        logger.info("assigned partitions %s", [(p.partition, p.offset) for p in partitions])

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self.delivery_errors.append(f"{message.topic()}: {error}")

    def run(self) -> None:
        self.consumer.subscribe([self.settings.input_topic], on_assign=self._on_assign)
        checkpointed_at = lag_at = time.monotonic()
        try:
            while self.running:
                messages = self.consumer.consume(self.settings.batch_size, timeout=0.1)
                if messages:
                    self.process(messages)
                now = time.monotonic()
                if now - checkpointed_at >= self.settings.checkpoint_seconds:
                    self.checkpoint()
                    checkpointed_at = now
                if now - lag_at >= _LAG_SECONDS:
                    self._record_lag()
                    metrics.record_state(self.scorer.state)
                    lag_at = now
            self.checkpoint()
        finally:
            self.consumer.close()

    def process(self, messages: list[Message]) -> None:
        """Scores one micro-batch, delivers every output, then commits its offsets."""
        started = time.perf_counter()
        transactions, arrivals, arrived_ms = [], [], []
        parse, offsets = self.parse, self.offsets
        for message in messages:
            if message.error():
                raise KafkaException(message.error())
            offsets[message.partition()] = message.offset() + 1
            parsed = parse(message.value())
            if isinstance(parsed, Rejected):
                self._dead_letter(message, parsed.reason)
                metrics.REJECTED.labels(SOURCE, parsed.reason).inc()
                continue
            transactions.append(parsed)
            arrivals.append(message)
            arrived_ms.append(message.timestamp()[1])
        outcomes = self.scorer.score(transactions)
        settings = self.settings
        produce = self.producer.produce
        scores_topic, alerts_topic = settings.scores_topic, settings.alerts_topic
        for outcome, message, arrived in zip(outcomes, arrivals, arrived_ms, strict=True):
            if isinstance(outcome, NotScored):
                self._dead_letter(message, outcome.reason)
                continue
            key = str(outcome.transaction.transaction_id).encode()
            payload = score_payload(outcome, arrived)
            produce(scores_topic, payload, key)
            if outcome.alert:
                produce(alerts_topic, payload, key)
        self._deliver()
        self.consumer.commit(
            offsets=[
                TopicPartition(settings.input_topic, partition, offset)
                for partition, offset in offsets.items()
            ],
            asynchronous=False,
        )
        latency = time.time() - np.asarray(arrived_ms, dtype="float64") / 1000
        metrics.STREAM_LATENCY_SECONDS.observe_many(latency, SOURCE)
        metrics.record_outcomes(outcomes, SOURCE)
        champion = self.scorer.champion.loaded
        if champion is not None:
            metrics.CHAMPION_VERSION.set(float(champion.version))
        metrics.STREAM_BATCH_SECONDS.observe(time.perf_counter() - started)

    def _dead_letter(self, message: Message, reason: str) -> None:
        origin = f"{message.topic()}/{message.partition()}/{message.offset()}"
        self.producer.produce(
            self.settings.dead_letter_topic,
            message.value(),
            origin.encode(),
            headers=[(REASON_HEADER, reason.encode()), (ORIGIN_HEADER, origin.encode())],
        )

    def _deliver(self) -> None:
        remaining = self.producer.flush(60)
        if remaining or self.delivery_errors:
            errors = "; ".join(self.delivery_errors[:3])
            raise KafkaException(
                f"{remaining} outputs undelivered after 60 s, {len(self.delivery_errors)} "
                f"failed ({errors}); offsets were not committed, so a restart scores them again"
            )

    def checkpoint(self) -> None:
        Checkpoint(self.scorer.state, dict(self.offsets)).save(self.checkpoint_path)

    def _record_lag(self) -> None:
        for partition in self.consumer.assignment():
            try:
                _, high = self.consumer.get_watermark_offsets(partition, timeout=1.0)
            except KafkaException:
                continue
            position = self.offsets.get(partition.partition)
            if position is not None:
                metrics.CONSUMER_LAG.labels(str(partition.partition)).set(high - position)


def install_signal_handlers(scorer: StreamScorer) -> None:
    signal.signal(signal.SIGTERM, scorer.stop)
    signal.signal(signal.SIGINT, scorer.stop)
