"""Real-time scoring: the streaming scorer end to end, the REST API under load, the online
state's memory, and optional soaks, measured in one run.

    uv run python bench/realtime_benchmark.py --source data/bench/quality/seed-42
    uv run python bench/realtime_benchmark.py --source data/bench/quality/seed-42 \
        --parts soak --soak-minutes 10

`--source` is the quality benchmark's seed-42 folder (`model_benchmark.py data --data-dir
data/bench/quality/seed-42 --files 3 --days-per-file 61 --seed 42`): three 61-day files of
~10,000 transactions a day (5,000 customers, 10,000 terminals). Under `--data-dir` the
benchmark keeps the cleaned days before its third file (the online state's history) and a
champion in a fresh MLflow store: the XGBoost pipeline of the scoring benchmark, fitted on
2019-12-15 .. 12-21. The third file (616,435 lines, defects included) is what is replayed.

Parts (`--parts`, comma-separated, default stream,rest,memory):

- stream: a tansu broker on loopback, `fraud-stream` and `fraud-replay` as their own
  processes, and this process reading the scores topic. Throughput: the whole file produced
  unthrottled, from the first line's arrival to the last score read. Latency: a second run
  at a fixed rate, from a line's arrival in the input topic to its score read here.
- rest: `fraud-serve` under autocannon (`npm ci --prefix bench`; bench/rest_load.js): 500
  single-transaction requests a second over 20 connections for `--rest-seconds`,
  client-side percentiles corrected for coordinated omission.
- memory: an online state warmed with `--customers` generated customers' last 37 days,
  measured with tracemalloc; bytes per 100,000 customers.
- soak: both scorers for `--soak-minutes` at once (the stream at the rate that spreads the
  file over the soak, the API at 200 requests a second), RSS at start and end, and for the
  stream: lines in = scores out + dead letters.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tracemalloc
import uuid
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import psutil
from scoring_benchmark import PARAMS

from fraud_assets.serving.local_broker import free_port, start_tansu

THIRD_FILE = "2019-12-22.txt"
TRAIN = [(date(2019, 12, 15) + timedelta(days=i)).isoformat() for i in range(7)]
BIN = Path(sys.executable).parent
CONNECTIONS = 20


def prepare(source: Path, data_dir: Path) -> None:
    """History before the third file, and a servable champion (skipped when present)."""
    marker = data_dir / "prepared.json"
    if marker.exists():
        return
    shutil.rmtree(data_dir, ignore_errors=True)
    cleaned = data_dir / "warehouse" / "cleaned_transactions"
    shutil.copytree(source / "warehouse" / "cleaned_transactions", cleaned)
    for pointer in (cleaned / "partitions").glob("*.json"):
        if pointer.stem >= "2019-12-22":
            pointer.unlink()
    os.environ["FRAUD_DATA_DIR"] = str(data_dir)

    import mlflow

    from fraud_assets.definitions import build_definitions
    from fraud_assets.features.assets import FEATURES
    from fraud_assets.features.transforms import MODEL_FEATURES, stored_inputs
    from fraud_assets.model import registry
    from fraud_assets.model.portable import log_portable
    from fraud_assets.model.training import fit, with_scores
    from fraud_assets.resources.mlflow import REGISTERED_MODEL
    from fraud_assets.resources.storage import LocalParquetIOManager, LocalStorageRoot
    from fraud_assets.settings import Settings

    resources = build_definitions(Settings.from_env()).resources
    source_storage = LocalParquetIOManager(
        spark=resources["spark"],
        root=LocalStorageRoot(base_path=str(source / "warehouse")),
    )
    train = source_storage.read_partitions([FEATURES], TRAIN)
    model = fit(train, PARAMS, MODEL_FEATURES, seed=42)
    scores = with_scores(train, {"score": model}).select("score").toPandas()["score"]
    threshold = float(np.quantile(scores, 0.99))
    tracking = resources["mlflow_tracking"]
    tracking.activate()
    with mlflow.start_run(experiment_id=tracking.experiment_id(), run_name="realtime") as run:
        log_portable(model, stored_inputs(MODEL_FEATURES))
    client = tracking.client()
    client.create_registered_model(REGISTERED_MODEL)
    version = client.create_model_version(
        REGISTERED_MODEL, f"runs:/{run.info.run_id}/serving", run.info.run_id
    ).version
    registry.record_serving(client, str(version), threshold, "top 1% of training scores", 0.0)
    client.set_registered_model_alias(REGISTERED_MODEL, registry.CHAMPION, str(version))
    marker.write_text(json.dumps({"version": str(version), "threshold": threshold}))
    resources["spark"].spark_session.stop()


def start_broker(folder: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    return start_tansu(port, folder / "tansu.log"), f"127.0.0.1:{port}"


def topic_env(broker: str, data_dir: Path) -> dict[str, str]:
    run = uuid.uuid4().hex[:8]
    return {
        **os.environ,
        "FRAUD_DATA_DIR": str(data_dir),
        "FRAUD_KAFKA_BOOTSTRAP_SERVERS": broker,
        "FRAUD_STREAM_INPUT_TOPIC": f"in-{run}",
        "FRAUD_STREAM_SCORES_TOPIC": f"scores-{run}",
        "FRAUD_STREAM_ALERTS_TOPIC": f"alerts-{run}",
        "FRAUD_STREAM_DEAD_LETTER_TOPIC": f"dead-{run}",
        "FRAUD_STREAM_GROUP_ID": f"group-{run}",
        "FRAUD_STREAM_METRICS_PORT": "0",
        "FRAUD_STREAM_CHECKPOINT_SECONDS": "60",
    }


def start_stream(env: dict[str, str], folder: Path) -> subprocess.Popen:
    """`fraud-stream` with a fresh state, returned once it has joined its group."""
    log_path = folder / f"stream-{env['FRAUD_STREAM_GROUP_ID']}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - lives as long as the scorer
    process = subprocess.Popen(
        [str(BIN / "fraud-stream"), "--fresh", "--checkpoint", str(folder / "unused.pickle")],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 180
    while b"assigned partitions" not in log_path.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"fraud-stream did not start: {log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    return process


def read_scores(broker: str, topic: str, expected: int, seconds: float) -> list:
    """(receive time ms, payload) of every score, until `expected` have come."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": broker, "group.id": uuid.uuid4().hex, "fetch.wait.max.ms": 20}
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    received, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        batch = consumer.consume(10_000, timeout=0.5)
        now = time.time() * 1000
        received += [(now, m.value()) for m in batch if not m.error()]
        if not batch and len(received) >= expected:
            break
    consumer.close()
    return received


def count_messages(broker: str, topic: str) -> int:
    """Messages in a one-partition topic, read to the end: tansu's high watermark can fall
    short of the messages it holds."""
    return len(read_scores(broker, topic, 0, 60))


def expected_scores(lines_file: Path) -> int:
    """Lines of the file that are valid and not repeats: the scores an exact run gives."""
    from fraud_assets.serving.lines import Transaction, line_parser

    parse = line_parser(date(2019, 8, 22))
    seen = set()
    for raw in lines_file.read_bytes().splitlines()[1:]:
        parsed = parse(raw)
        if isinstance(parsed, Transaction):
            seen.add(parsed.transaction_id)
    return len(seen)


def percentiles(values: np.ndarray) -> dict[str, float]:
    return {f"p{q}": round(float(np.percentile(values, q)), 1) for q in (50, 90, 99)} | {
        "max": round(float(values.max()), 1)
    }


def replay(env: dict[str, str], lines_file: Path, rate: float, limit: int = 0):
    command = [str(BIN / "fraud-replay"), str(lines_file), "--rate", str(rate)]
    if limit:
        command += ["--limit", str(limit)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def stream_part(
    broker: str, broker_pid: int, data_dir: Path, lines_file: Path, folder: Path, rate: float
) -> dict:
    expected = expected_scores(lines_file)
    results = {}
    # Throughput with large micro-batches; latency with small ones, as each is tuned.
    runs = (("throughput", 0.0, 0, 5_000), ("latency", rate, int(rate * 20), 500))
    for name, replay_rate, limit, batch_size in runs:
        env = {**topic_env(broker, data_dir), "FRAUD_STREAM_BATCH_SIZE": str(batch_size)}
        scorer = start_stream(env, folder)
        cpu_before = {"scorer": cpu_seconds(scorer.pid), "broker": cpu_seconds(broker_pid)}
        started = time.time() * 1000
        producer = replay(env, lines_file, replay_rate, limit)
        wanted = expected if not limit else int(limit * 0.99)
        received = read_scores(broker, env["FRAUD_STREAM_SCORES_TOPIC"], wanted, 600)
        cpu = {
            name: round(cpu_seconds(pid) - cpu_before[name], 1)
            for name, pid in (("scorer", scorer.pid), ("broker", broker_pid))
        }
        producer.wait(600)
        rss = psutil.Process(scorer.pid).memory_info().rss
        scorer.send_signal(signal.SIGTERM)
        scorer.wait(60)
        arrived = np.array([json.loads(v)["arrived_ms"] for _, v in received], dtype=float)
        read_at = np.array([t for t, _ in received], dtype=float)
        latency = read_at - arrived
        first = max(arrived.min(), started)
        results[name] = {
            "scores": len(received),
            "expected": wanted,
            "transactions_per_second": round(len(received) / ((read_at.max() - first) / 1000)),
            "latency_ms": percentiles(latency),
            "scorer_rss_mb": round(rss / 2**20),
            "cpu_seconds": cpu,
            "replay_rate": replay_rate or "unthrottled",
            "batch_size": batch_size,
        }
        print(name, json.dumps(results[name]), flush=True)
    return results


def rest_bodies(lines_file: Path, count: int, folder: Path) -> Path:
    from fraud_assets.serving.lines import Transaction, line_parser

    parse = line_parser(date(2019, 8, 22))
    bodies = []
    for raw in lines_file.read_bytes().splitlines()[1:]:
        tx = parse(raw)
        if isinstance(tx, Transaction):
            moment = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(tx.seconds))
            bodies.append(
                json.dumps(
                    {
                        "transaction_id": tx.transaction_id,
                        "tx_datetime": moment,
                        "customer_id": tx.customer_id,
                        "terminal_id": tx.terminal_id,
                        "tx_amount": tx.amount,
                        "tx_fraud": tx.fraud,
                    }
                )
            )
        if len(bodies) == count:
            break
    path = folder / "bodies.json"
    path.write_text(json.dumps(bodies))
    return path


def start_api(data_dir: Path, folder: Path) -> tuple[subprocess.Popen, int]:
    import urllib.request

    port = free_port()
    log = open(folder / "serve.log", "wb")  # noqa: SIM115 - lives as long as the server
    process = subprocess.Popen(
        [str(BIN / "fraud-serve"), "--port", str(port)],
        env={**os.environ, "FRAUD_DATA_DIR": str(data_dir)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer:
                if answer.status == 200:
                    return process, port
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"fraud-serve was not ready: {(folder / 'serve.log').read_text()[-3000:]}")


def load(port: int, bodies: Path, rate: int, seconds: int) -> dict:
    """autocannon (bench/rest_load.js) at `rate` requests a second for `seconds`, each
    request the next transaction; latencies corrected for coordinated omission."""
    if not (Path(__file__).parent / "node_modules" / "autocannon").exists():
        raise SystemExit("install the load generator first: npm ci --prefix bench")
    url = f"http://127.0.0.1:{port}/v1/score"
    script = Path(__file__).parent / "rest_load.js"
    command = ["node", str(script), str(bodies), url, str(rate), str(seconds), str(CONNECTIONS)]
    report = json.loads(subprocess.run(command, check=True, capture_output=True).stdout)
    latency = report["latency"]
    return {
        "requests": report["requests"]["total"],
        "non_2xx": report["non2xx"],
        "errors": report["errors"],
        "requests_per_second": round(report["requests"]["average"], 1),
        "latency_ms": {key: latency[key] for key in ("p50", "p90", "p99", "max")},
    }


def rest_part(data_dir: Path, lines_file: Path, folder: Path, seconds: int) -> dict:
    bodies = rest_bodies(lines_file, 500 * seconds + 5_000, folder)
    server, port = start_api(data_dir, folder)
    try:
        result = load(port, bodies, 500, seconds)
        result["server_rss_mb"] = round(psutil.Process(server.pid).memory_info().rss / 2**20)
    finally:
        server.terminate()
        server.wait(30)
    print("rest", json.dumps(result), flush=True)
    return result


def memory_part(customers: int) -> dict:
    """The online state of `customers` generated customers over 37 days."""
    import pandas as pd

    from fraud_assets.datagen.defects import DefectRates
    from fraud_assets.datagen.files import GeneratorConfig, generate
    from fraud_assets.serving.lines import Transaction, line_parser
    from fraud_assets.serving.state import OnlineFeatures

    config = GeneratorConfig(
        customers=customers,
        terminals=10_000,
        files=1,
        days_per_file=37,
        seed=11,
        defects=DefectRates.none(),
    )
    parse = line_parser(date(2019, 8, 22))
    rows = []
    for _, chunks in generate(config):
        text = b"".join(chunks)
        for raw in text.splitlines()[1:]:
            tx = parse(raw)
            if isinstance(tx, Transaction):
                rows.append(
                    (
                        tx.transaction_id,
                        tx.seconds,
                        tx.customer_id,
                        tx.terminal_id,
                        tx.amount,
                        tx.fraud,
                    )
                )
    frame = pd.DataFrame(
        rows,
        columns=[
            "transaction_id",
            "seconds",
            "customer_id",
            "terminal_id",
            "tx_amount",
            "tx_fraud",
        ],
    )
    del rows
    gc.collect()
    tracemalloc.start()
    state = OnlineFeatures()
    state.warm(frame)
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    size = state.size()
    result = {
        "customers": size.customers,
        "transactions_in_37_days": len(frame),
        "customer_rows": size.customer_rows,
        "terminal_rows": size.terminal_rows,
        "state_mb": round(traced / 2**20, 1),
        "mb_per_100k_customers": round(traced / 2**20 * 100_000 / size.customers, 1),
        "bytes_per_held_transaction": round(traced / (size.customer_rows + size.terminal_rows), 1),
    }
    print("memory", json.dumps(result), flush=True)
    return result


def soak_part(broker: str, data_dir: Path, lines_file: Path, folder: Path, minutes: float):
    total_lines = len(lines_file.read_bytes().splitlines()) - 1
    env = topic_env(broker, data_dir)
    scorer = start_stream(env, folder)
    stream_start_rss = psutil.Process(scorer.pid).memory_info().rss
    bodies = rest_bodies(lines_file, int(200 * 60 * minutes) + 5_000, folder)
    server, port = start_api(data_dir, folder)
    api_start_rss = psutil.Process(server.pid).memory_info().rss
    producer = replay(env, lines_file, total_lines / (minutes * 60))
    rest = load(port, bodies, 200, int(minutes * 60))
    producer.wait(120)
    time.sleep(10)
    stream_end_rss = psutil.Process(scorer.pid).memory_info().rss
    api_end_rss = psutil.Process(server.pid).memory_info().rss
    scores = count_messages(broker, env["FRAUD_STREAM_SCORES_TOPIC"])
    dead = count_messages(broker, env["FRAUD_STREAM_DEAD_LETTER_TOPIC"])
    lines_in = count_messages(broker, env["FRAUD_STREAM_INPUT_TOPIC"])
    for process in (scorer, server):
        process.terminate()
        process.wait(60)
    result = {
        "minutes": minutes,
        "stream": {
            "lines_in": lines_in,
            "scores_out": scores,
            "dead_letters": dead,
            "balanced": lines_in == scores + dead,
            "rss_mb_start": round(stream_start_rss / 2**20),
            "rss_mb_end": round(stream_end_rss / 2**20),
        },
        "rest": {
            **rest,
            "rss_mb_start": round(api_start_rss / 2**20),
            "rss_mb_end": round(api_end_rss / 2**20),
        },
    }
    print("soak", json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", default="data/bench/quality/seed-42")
    parser.add_argument("--data-dir", default="data/bench/realtime")
    parser.add_argument("--parts", default="stream,rest,memory")
    parser.add_argument("--latency-rate", type=float, default=20_000)
    parser.add_argument("--rest-seconds", type=int, default=60)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--soak-minutes", type=float, default=10)
    args = parser.parse_args()
    source = Path(args.source).resolve()
    data_dir = Path(args.data_dir).resolve()
    parts = set(args.parts.split(","))
    prepare(source, data_dir)
    folder = data_dir / "run"
    folder.mkdir(exist_ok=True)
    lines_file = source / "landing" / THIRD_FILE
    results: dict = {"cores": os.cpu_count()}
    broker = None
    try:
        if parts & {"stream", "soak"}:
            broker, address = start_broker(folder)
        if "stream" in parts:
            results["stream"] = stream_part(
                address, broker.pid, data_dir, lines_file, folder, args.latency_rate
            )
        if "rest" in parts:
            results["rest"] = rest_part(data_dir, lines_file, folder, args.rest_seconds)
        if "memory" in parts:
            results["memory"] = memory_part(args.customers)
        if "soak" in parts:
            results["soak"] = soak_part(address, data_dir, lines_file, folder, args.soak_minutes)
    finally:
        if broker is not None:
            broker.terminate()
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
