#!/usr/bin/env bash
# The services-mode stack on this machine (SeaweedFS, PostgreSQL, MLflow server, Spark
# standalone, Dagster webserver and daemon), all on 127.0.0.1:
#
#   infra/stack.sh start | stop | status | env
#
# Ports, run folder and worker size come from FRAUD_STACK_* (README, Services mode).
set -euo pipefail
cd "$(dirname "$0")/.."
exec uv run --quiet fraud-stack "$@"
