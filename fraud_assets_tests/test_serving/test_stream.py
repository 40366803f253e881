"""The streaming scorer against a real Kafka-compatible broker: every line of a defective file
comes out as a score or a dead letter; `kill -9` in the middle loses nothing and changes no
score; a moved champion alias is picked up without a restart."""

import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from fraud_assets.model.registry import CHAMPION
from fraud_assets.resources.mlflow import REGISTERED_MODEL
from fraud_assets.serving.cli import ensure_topics, replay
from fraud_assets.serving.lines import Rejected, Transaction, line_parser
from fraud_assets.serving.scorer import Scored
from fraud_assets.serving.stream import REASON_HEADER, StreamScorer
from fraud_assets.settings import RealtimeSettings

pytestmark = pytest.mark.slow


def topics(broker: str, **overrides) -> RealtimeSettings:
    """Settings with topics of their own, so that tests sharing the broker do not meet."""
    run = uuid.uuid4().hex[:8]
    settings = RealtimeSettings(
        bootstrap_servers=broker,
        input_topic=f"in-{run}",
        scores_topic=f"scores-{run}",
        alerts_topic=f"alerts-{run}",
        dead_letter_topic=f"dead-{run}",
        group_id=f"group-{run}",
        **overrides,
    )
    ensure_topics(settings)
    return settings


def read_topic(broker: str, topic: str, expected: int = 0, seconds: float = 60) -> list:
    """Every message of a one-partition topic; waits until `expected` are there."""
    consumer = Consumer({"bootstrap.servers": broker, "group.id": uuid.uuid4().hex})
    consumer.assign([TopicPartition(topic, 0, 0)])
    messages, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        batch = consumer.consume(10_000, timeout=0.5)
        messages += [m for m in batch if not m.error()]
        if batch == [] and len(messages) >= expected:
            break
    consumer.close()
    return messages


def expected_outcomes(world, lines: list[bytes]) -> tuple[dict[int, float], dict[int, str]]:
    """What an uninterrupted scorer gives: scores by id, and dead-letter reasons by line."""
    parse = line_parser(world.settings.feed_time_origin)
    parsed = [parse(line) for line in lines]
    dead = {i: p.reason for i, p in enumerate(parsed) if isinstance(p, Rejected)}
    valid = [(i, p) for i, p in enumerate(parsed) if not isinstance(p, Rejected)]
    outcomes = world.scorer().score([p for _, p in valid])
    scores = {}
    for (index, _), outcome in zip(valid, outcomes, strict=True):
        if isinstance(outcome, Scored):
            scores[outcome.transaction.transaction_id] = outcome.score
        else:
            dead[index] = outcome.reason
    return scores, dead


def test_a_killed_scorer_restarts_from_its_checkpoint_and_loses_nothing(world, broker, tmp_path):
    lines = world.lines
    realtime = topics(broker, batch_size=200)
    expected_scores, expected_dead = expected_outcomes(world, lines)
    assert len(expected_dead) >= 10 and len(expected_scores) > 10_000
    env = world.env(
        FRAUD_KAFKA_BOOTSTRAP_SERVERS=broker,
        FRAUD_STREAM_INPUT_TOPIC=realtime.input_topic,
        FRAUD_STREAM_SCORES_TOPIC=realtime.scores_topic,
        FRAUD_STREAM_ALERTS_TOPIC=realtime.alerts_topic,
        FRAUD_STREAM_DEAD_LETTER_TOPIC=realtime.dead_letter_topic,
        FRAUD_STREAM_GROUP_ID=realtime.group_id,
        FRAUD_STREAM_BATCH_SIZE="200",
        FRAUD_STREAM_CHECKPOINT_SECONDS="0.5",
        FRAUD_STREAM_METRICS_PORT="0",
    )
    checkpoint = tmp_path / "checkpoint.pickle"
    command = [str(Path(sys.executable).parent / "fraud-stream"), "--checkpoint", str(checkpoint)]
    producer = threading.Thread(
        target=replay, args=(lines, broker, realtime.input_topic, 2_000.0), daemon=True
    )
    log_path = tmp_path / "stream.log"
    with open(log_path, "wb") as log:
        first = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            # Lines start to flow once the scorer is in its group, so that it is killed while
            # they still come.
            while b"assigned partitions" not in log_path.read_bytes():
                assert first.poll() is None, log_path.read_text()[-3000:]
                time.sleep(0.1)
            producer.start()
            while len(read_topic(broker, realtime.scores_topic, seconds=0.3)) < len(lines) // 4:
                assert first.poll() is None, log_path.read_text()[-3000:]
            assert checkpoint.exists()
            assert producer.is_alive(), "the replay ended before the kill"
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        finally:
            first.kill()
        producer.join(60)
        second = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            scores = read_topic(broker, realtime.scores_topic, len(expected_scores), 120)
            dead = read_topic(broker, realtime.dead_letter_topic, len(expected_dead), 30)
        finally:
            second.terminate()
            assert second.wait(30) == 0

    served = {}
    for message in scores:
        payload = json.loads(message.value())
        assert int(message.key()) == payload["transaction_id"]
        # A score produced twice (before and after the kill) is the same score.
        assert served.setdefault(payload["transaction_id"], payload["score"]) == payload["score"]
    # Scores after the restart equal an uninterrupted run's only if the state was rebuilt
    # exactly: from the checkpoint, reading again what came after it.
    assert served == pytest.approx(expected_scores, abs=1e-12, rel=0)
    dead_reasons = {}
    for message in dead:
        headers = dict(message.headers())
        dead_reasons[int(message.key().decode().rsplit("/", 1)[1])] = headers[
            REASON_HEADER
        ].decode()
        assert message.value() == lines[int(message.key().decode().rsplit("/", 1)[1])]
    assert dead_reasons == expected_dead


def test_dead_letters_carry_the_reason_and_the_original_line(world, broker):
    realtime = topics(broker)
    stream = StreamScorer(
        realtime,
        world.scorer(),
        world.settings.data_dir / "unused.pickle",
        line_parser(world.settings.feed_time_origin),
    )
    good = next(line for line in world.lines if b"2019-10-2" in line)
    bad = [b"", b"1,2,3", b"x" + good, good.replace(b",", b";"), good]
    replay([good, *bad], broker, realtime.input_topic, 0)
    messages = read_topic(broker, realtime.input_topic, len(bad) + 1)
    stream.process(messages)
    stream.consumer.close()

    dead = read_topic(broker, realtime.dead_letter_topic, len(bad))
    reasons = [dict(m.headers())[REASON_HEADER].decode() for m in dead]
    assert reasons == [
        "blank_line",
        "wrong_column_count",
        "invalid_transaction_id",
        "wrong_column_count",
        "duplicate_transaction",
    ]
    assert [m.value() for m in dead] == bad
    assert len(read_topic(broker, realtime.scores_topic, 1)) == 1


def test_a_moved_alias_is_served_without_a_restart(world, broker):
    realtime = topics(broker)
    scorer = world.scorer(check_seconds=0.2)
    stream = StreamScorer(
        realtime,
        scorer,
        world.settings.data_dir / "unused.pickle",
        line_parser(world.settings.feed_time_origin),
    )
    parse = line_parser(world.settings.feed_time_origin)
    valid = [line for line in world.lines if isinstance(parse(line), Transaction)]
    client = world.client()
    try:
        replay(valid[:500], broker, realtime.input_topic, 0)
        stream.process(read_topic(broker, realtime.input_topic, 500))
        client.set_registered_model_alias(REGISTERED_MODEL, CHAMPION, world.versions[1])
        time.sleep(0.3)
        replay(valid[500:1000], broker, realtime.input_topic, 0)
        stream.process(read_topic(broker, realtime.input_topic, 1000)[500:])
    finally:
        client.set_registered_model_alias(REGISTERED_MODEL, CHAMPION, world.versions[0])
        stream.consumer.close()
    versions = [
        json.loads(m.value())["model_version"]
        for m in read_topic(broker, realtime.scores_topic, 1000)
    ]
    assert versions == [world.versions[0]] * 500 + [world.versions[1]] * 500


def test_settings_refuse_a_zero_batch():
    with pytest.raises(ValueError, match="FRAUD_STREAM_BATCH_SIZE"):
        replace(RealtimeSettings(), batch_size=0)
