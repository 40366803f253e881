# One image for the code location (Dagster gRPC server, run workers, Spark driver) and the
# real-time scorers (fraud-serve, fraud-stream). Build:
#   docker build -t fraud-assets:latest .
# Run the code location:  docker run fraud-assets:latest   (gRPC on 4000)
# Run the REST scorer:    docker run -p 8000:8000 fraud-assets:latest fraud-serve --host 0.0.0.0
FROM python:3.11-slim-bookworm AS base

# Spark 4 needs Java 17; procps gives Spark's launch scripts `ps`.
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps \
    && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir uv

WORKDIR /opt/fraud_assets
ENV UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    SPARK_HOME=/opt/venv/lib/python3.11/site-packages/pyspark \
    PATH=/opt/venv/lib/python3.11/site-packages/pyspark/bin:/opt/venv/bin:$PATH \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    FRAUD_ENV=prod

# Dependencies first (from the lock file), so code changes do not rebuild them.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY fraud_assets ./fraud_assets
COPY workspace.yaml ./
RUN uv sync --locked --no-dev \
    && mkdir -p "$DAGSTER_HOME" \
    && useradd --create-home --uid 10001 fraud \
    && chown -R fraud "$DAGSTER_HOME"

USER fraud
EXPOSE 4000 8000
CMD ["dagster", "api", "grpc", "-m", "fraud_assets.definitions", "-h", "0.0.0.0", "-p", "4000"]
