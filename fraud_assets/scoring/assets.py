"""The champion at work: `scored_transactions`, `daily_alerts` and `model_performance`.

Scores depend on `champion_alias` (model group), whose data version is the champion's model
version: a day scored by an earlier champion shows as stale in the UI, and a backfill of those
days re-scores them. Every scored row keeps the version that served it, so
performance is measured on the scores that were actually served.
"""

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    MetadataValue,
    Output,
    ResourceParam,
    TimeWindowPartitionMapping,
)
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from fraud_assets.checks import CheckOutcome, check_results, gate
from fraud_assets.common.decorators import DayAssets, blocking_checks
from fraud_assets.common.profiles import ColumnProfile, profile_from_json, reasons
from fraud_assets.common.scores import ALERT, MODEL_VERSION, SCORE, sample_of
from fraud_assets.errors import IncompleteInputError
from fraud_assets.features.assets import FEATURES
from fraud_assets.features.transforms import NUMERIC_COLUMNS
from fraud_assets.metadata import markdown_table
from fraud_assets.model import registry
from fraud_assets.model.assets import ALIAS
from fraud_assets.model.training import LABEL, unseen_customer_rows
from fraud_assets.partitions import SCORING_POOL
from fraud_assets.resources.mlflow import MlflowResource
from fraud_assets.resources.rules import ModelRules, ScoringRules
from fraud_assets.resources.storage import PartitionedParquetIOManager, StagedVersion
from fraud_assets.scoring import plots
from fraud_assets.scoring.checks import day_drift, drift_outcome, performance_outcome, queue_outcome
from fraud_assets.scoring.report import (
    day_offset,
    performance_rows,
    score_histogram,
    series_markdown,
)
from fraud_assets.scoring.scores import score_metrics, score_rows, top_cards
from fraud_assets.settings import ModelSettings, Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient

GROUP = "scoring"
SCORED = "scored_transactions"
ALERTS = "daily_alerts"
PERFORMANCE = "model_performance"
DRIFT_CHECK = "input_drift"
PERFORMANCE_CHECK = "realized_performance_within_interval"
MONITORING_CHECKS = (DRIFT_CHECK, PERFORMANCE_CHECK)
# Rows per day sampled for drift: sampling moves a 10-bin PSI by ~0.001 and KS by ~0.03 at
# most (95%), far below the thresholds, at a small cost to the driver.
DRIFT_ROWS_PER_DAY = 10_000


def _profile(version: registry.Serving) -> dict[str, ColumnProfile]:
    return profile_from_json(registry.reference_profile(version))


def _every_row_scored(staged: StagedVersion, expected: int) -> CheckOutcome:
    observed = staged.observed
    rows = sum(staged.rows.values())
    complete = (
        rows == expected
        and not observed["null_scores"]
        and 0 <= observed["score_min"] <= observed["score_max"] <= 1
    )
    return CheckOutcome(
        complete,
        f"{rows:,} scores for {expected:,} feature rows; "
        f"{observed['null_scores']} missing; range [{observed['score_min']:.4f}, "
        f"{observed['score_max']:.4f}]",
    )


def _drift(
    features: DataFrame,
    stored: DataFrame,
    profile: dict[str, ColumnProfile],
    days: int,
    rows: int,
    seed: int,
    rules: ScoringRules,
) -> CheckOutcome:
    """Drift of a sample of each day's inputs and scores against the version's profile."""
    inputs = [name for name in profile if name in features.columns]
    limit = DRIFT_ROWS_PER_DAY * days
    inputs_sample = sample_of(
        features.select("day", *[F.col(n).cast("double") for n in inputs]), rows, limit, seed
    )
    scores_sample = sample_of(stored.select("day", SCORE), rows, limit, seed)
    return drift_outcome(
        day_drift(profile, [inputs_sample.toPandas(), scores_sample.toPandas()]),
        rules.drift_psi_threshold,
        rules.drift_ks_threshold,
    )


def scored_transactions(
    context: AssetExecutionContext,
    features: DataFrame,
    mlflow_tracking: MlflowResource,
    model_rules: ModelRules,
    scoring_rules: ScoringRules,
    parquet_io_manager: ResourceParam[PartitionedParquetIOManager],
) -> Iterator[Output[Any] | AssetCheckResult]:
    started = time.monotonic()
    keys = list(context.partition_keys)
    storage = parquet_io_manager
    span = f"scoring {keys[0]}..{keys[-1]}"
    expected = sum(storage.require_published([FEATURES], keys, span).values())
    if not expected:
        raise IncompleteInputError(
            f"the features of {keys[0]}..{keys[-1]} hold no rows: there is nothing to score. "
            "Ingest the file that covers these days first."
        )
    champion = registry.serving(mlflow_tracking.client())
    context.log.info(
        f"scoring {len(keys)} days ({expected:,} rows) with version "
        f"{champion.version}, alert at score >= {champion.threshold:.4f}"
    )
    import mlflow.spark

    model = mlflow.spark.load_model(champion.model_uri)
    scored = score_rows(features, model, champion.threshold, champion.version, datetime.now(UTC))
    staged = storage.stage([SCORED], scored, keys, context.run_id, score_metrics())
    rows, alerts = sum(staged.rows.values()), int(staged.observed["alerts"])
    context.log.info(
        f"{rows:,} scores written in {staged.seconds_to_write:.1f} s; "
        "checking them and measuring drift"
    )
    every_row = _every_row_scored(staged, expected)
    yield from gate(SCORED, {"every_row_scored": every_row}, lambda: storage.discard(staged))
    stored = storage.read_staged(staged)
    drifting = _drift(
        features, stored, _profile(champion), len(keys), rows, model_rules.seed, scoring_rules
    )
    yield from check_results(SCORED, {DRIFT_CHECK: drifting}, AssetCheckSeverity.WARN)
    alerts_by_day = dict(stored.groupBy("day").agg(F.sum(F.col(ALERT).cast("int"))).collect())
    per_day = [
        {"day": day, "rows": staged.rows[day], "alerts": alerts_by_day.get(day) or 0}
        for day in keys
    ]
    yield Output(
        staged,
        metadata={
            "model_version": champion.version,
            "alert_threshold": champion.threshold,
            "alert_rule": champion.alert_rule,
            "alerts": alerts,
            "alert_rate": round(alerts / max(rows, 1), 5),
            "score_histogram": MetadataValue.md(score_histogram(staged.observed)),
            "rows_per_day": MetadataValue.md(markdown_table(per_day)),
            "max_psi": drifting.metadata["max_psi"],
            "seconds": round(time.monotonic() - started, 1),
        },
    )


def alert_queue(
    cards: pd.DataFrame,
    profiles: dict[str, dict[str, ColumnProfile]],
    reason_columns: tuple[str, ...],
) -> pd.DataFrame:
    """The top cards with one reason column per `reason_columns`, from the profile of the model
    version that scored each card (the inputs of its top transaction, furthest from training)."""
    queue = cards.copy()
    for column in reason_columns:
        queue[column] = ""
    for version, rows in queue.groupby(MODEL_VERSION):
        explained = reasons(profiles[version], rows, len(reason_columns))
        for position, column in enumerate(reason_columns):
            queue.loc[rows.index, column] = [
                found[position] if position < len(found) else "" for found in explained
            ]
    return queue


def daily_alerts(
    context: AssetExecutionContext,
    scored: DataFrame,
    features: DataFrame,
    mlflow_tracking: MlflowResource,
    scoring_rules: ScoringRules,
    parquet_io_manager: ResourceParam[PartitionedParquetIOManager],
) -> Iterator[Output[Any] | AssetCheckResult]:
    keys = list(context.partition_keys)
    storage = parquet_io_manager
    k = scoring_rules.alert_top_cards
    reason_columns = scoring_rules.reason_names
    scored_rows = storage.published_rows([SCORED], keys)
    inputs = [F.col(name).cast("double") for name in NUMERIC_COLUMNS if name in features.columns]
    top = top_cards(scored, k).join(
        features.select(F.col("TRANSACTION_ID").alias("top_transaction_id"), *inputs),
        "top_transaction_id",
    )
    cards = top.toPandas()
    profiles = {
        version: _profile(registry.serving(mlflow_tracking.client(), version))
        for version in cards[MODEL_VERSION].unique()
    }
    queue = alert_queue(cards, profiles, reason_columns)
    columns = [
        "rank",
        "CUSTOMER_ID",
        "max_score",
        "top_transaction_id",
        "TX_AMOUNT",
        "transactions",
        "alerted_transactions",
        "transaction_ids",
        *reason_columns,
        MODEL_VERSION,
        "day",
    ]
    queue = queue[columns].sort_values(["day", "rank"], ignore_index=True)
    known = {field.name: field for field in top.schema.fields}
    schema = StructType([known.get(c) or StructField(c, StringType()) for c in columns])
    frame = scored.sparkSession.createDataFrame(queue, schema=schema)
    staged = storage.stage([ALERTS], frame, keys, context.run_id)
    outcome = queue_outcome(queue, {d for d, n in scored_rows.items() if n}, k)
    yield from gate(ALERTS, {"queue_well_formed": outcome}, lambda: storage.discard(staged))
    latest = queue[queue["day"] == queue["day"].max()].head(10) if len(queue) else queue
    shown = latest[["rank", "CUSTOMER_ID", "max_score", "transactions", *reason_columns]]
    yield Output(
        staged,
        metadata={
            "cards": len(queue),
            "cards_per_day": k,
            "cards_above_threshold": int((queue["alerted_transactions"] > 0).sum()),
            "preview": MetadataValue.md(
                f"Top of the queue on {latest['day'].max() if len(latest) else 'no day'}\n\n"
                + markdown_table(
                    [
                        {**row, "max_score": f"{row['max_score']:.4f}"}
                        for row in shown.to_dict("records")
                    ]
                )
            ),
        },
    )


# Logged to MLflow and shown as metadata, with the prefix `realized_`.
REALIZED = (
    "roc_auc",
    "average_precision",
    "card_precision_at_k",
    "precision_at_threshold",
    "recall_at_threshold",
    "rolling_average_precision",
)


def _series(
    storage: PartitionedParquetIOManager, keys: list[str], rows: pd.DataFrame, days: int
) -> pd.DataFrame:
    """The measured days of the last `days` up to the run's last day: the published ones
    before the run's days, then the run's own."""
    earlier = [day_offset(keys[-1], -offset) for offset in range(days - 1, -1, -1)]
    earlier = [day for day in earlier if day < keys[0]]
    published = [d for d, n in storage.published_rows([PERFORMANCE], earlier).items() if n]
    if not published:
        return rows
    before = storage.read_partitions([PERFORMANCE], published).toPandas()
    return pd.concat([before[rows.columns], rows], ignore_index=True).sort_values("day")


def _log_to_mlflow(client: "MlflowClient", rows: pd.DataFrame, runs: dict[str, str]) -> None:
    """Each day's realized metrics under the run of the version that served it, one step a day,
    so MLflow draws the series."""
    from mlflow.entities import Metric

    for version, part in rows.groupby(MODEL_VERSION):
        metrics = []
        for row in part.to_dict("records"):
            day = date.fromisoformat(row["day"])
            stamp = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
            for name in REALIZED:
                if np.isfinite(row[name]):
                    metrics.append(
                        Metric(f"realized_{name}", float(row[name]), stamp, day.toordinal())
                    )
        client.log_batch(runs[version], metrics=metrics)


def model_performance(
    context: AssetExecutionContext,
    scored: DataFrame,
    labels: DataFrame,
    mlflow_tracking: MlflowResource,
    model_rules: ModelRules,
    scoring_rules: ScoringRules,
    parquet_io_manager: ResourceParam[PartitionedParquetIOManager],
) -> Iterator[Output[DataFrame] | AssetCheckResult]:
    keys = list(context.partition_keys)
    storage = parquet_io_manager
    delay_days, trailing_days = model_rules.delay_days, trailing_window(model_rules)
    known_on = day_offset(keys[-1], delay_days)
    if not storage.published_rows([FEATURES], [known_on]):
        raise IncompleteInputError(
            f"the labels of {keys[-1]} are known from {known_on} ({delay_days} days "
            f"later), whose features are not materialised: measure up to {day_offset(keys[-1], 0)} "
            f"once the file holding {known_on} is ingested"
        )
    present = storage.published_rows([SCORED], keys)
    unscored = [key for key in keys if not present.get(key)]
    if unscored:
        raise IncompleteInputError(
            f"{SCORED} holds no scores for {len(unscored)} of the days to measure "
            f"({unscored[0]}..{unscored[-1]}): materialise {SCORED} for them first"
        )
    span = list(context.asset_partition_keys_for_input("scored"))
    label_days = list(context.asset_partition_keys_for_input("labels"))
    evaluated = (
        unseen_customer_rows(labels, label_days[0], span, delay_days)
        .select("TRANSACTION_ID", "CUSTOMER_ID", "day", LABEL)
        .join(scored.select("TRANSACTION_ID", SCORE, ALERT, MODEL_VERSION), "TRANSACTION_ID")
    )
    table = evaluated.toPandas()
    rows = performance_rows(table, keys, scoring_rules.alert_top_cards, trailing_days)
    for row in rows.to_dict("records"):
        context.log.info(
            f"{row['day']}: {row['frauds']} frauds, {row['alerts']} alerts, AP "
            f"{row['average_precision']:.4f}, AP over {row['rolling_days']} days "
            f"{row['rolling_average_precision']:.4f} (version {row[MODEL_VERSION]})"
        )
    client = mlflow_tracking.client()
    servings = {
        version: registry.serving(client, version)
        for version in rows[MODEL_VERSION].dropna().unique()
    }
    outcome = performance_outcome(
        rows, {v: s.average_precision_lower_bound for v, s in servings.items()}, trailing_days
    )
    yield from check_results(PERFORMANCE, {PERFORMANCE_CHECK: outcome}, AssetCheckSeverity.WARN)
    _log_to_mlflow(client, rows, {v: s.run_id for v, s in servings.items()})
    series = _series(storage, keys, rows, scoring_rules.performance_series_days)
    latest = servings[rows[MODEL_VERSION].dropna().iloc[-1]]
    figure = plots.performance_figure(series, latest.average_precision_lower_bound, trailing_days)
    artifact = f"monitoring/performance_{keys[-1]}.png"
    client.log_figure(latest.run_id, figure, artifact)
    last = rows.iloc[-1]
    yield Output(
        scored.sparkSession.createDataFrame(rows),
        metadata={
            **{
                f"realized_{name}": round(float(last[name]), 4)
                for name in REALIZED
                if np.isfinite(last[name])
            },
            "model_version": str(last[MODEL_VERSION]),
            "series": MetadataValue.md(series_markdown(series, trailing_days)),
            "plot": MetadataValue.url(
                f"{mlflow_tracking.run_url(latest.run_id)}/artifacts/{artifact}"
            ),
        },
    )


def trailing_window(model: ModelSettings | ModelRules) -> int:
    """Days of realized performance measured together: as many as the test block that the
    version's bound comes from."""
    return model.test_days


def scoring_assets(settings: Settings) -> list[AssetsDefinition]:
    """Scores, the alert queue and realized performance, per day."""
    days = DayAssets.of(settings, GROUP, SCORING_POOL)
    model, trailing = settings.model, trailing_window(settings.model)
    # Labels of the trailing window's cards that were known, as in the validation's test set.
    known_fraud_days = model.train_days + model.delay_days
    scored = days.asset(
        SCORED,
        kinds=("spark", "mlflow", "parquet"),
        ins={"features": AssetIn(FEATURES)},
        deps=[ALIAS],
        check_specs=[
            *blocking_checks(
                SCORED,
                {"every_row_scored": "One score in [0, 1] for every feature row of the day."},
            ),
            AssetCheckSpec(
                DRIFT_CHECK,
                asset=SCORED,
                description="Each model input and the score stay within the PSI and KS "
                "thresholds of the champion's training window (warns).",
            ),
        ],
        description="Every transaction of a feature day scored by the champion of the moment: "
        "fraud probability, alert flag (score >= the version's threshold), model version, time.",
    )(scored_transactions)
    alerts = days.asset(
        ALERTS,
        kinds=("spark", "parquet"),
        ins={"scored": AssetIn(SCORED), "features": AssetIn(FEATURES)},
        check_specs=blocking_checks(
            ALERTS,
            {
                "queue_well_formed": "Per scored day at most k cards, each once, ranked by "
                "their score."
            },
        ),
        description=f"The investigators' queue: per day the {settings.scoring.alert_top_cards} "
        "cards with the highest score, their transactions from the most suspicious down, and "
        "the inputs of the top transaction that stand out most from the champion's training "
        "window.",
    )(daily_alerts)
    performance = days.asset(
        PERFORMANCE,
        kinds=("spark", "mlflow", "parquet"),
        ins={
            "scored": AssetIn(
                SCORED,
                partition_mapping=TimeWindowPartitionMapping(
                    start_offset=-(trailing - 1), allow_nonexistent_upstream_partitions=True
                ),
            ),
            "labels": AssetIn(
                FEATURES,
                partition_mapping=TimeWindowPartitionMapping(
                    start_offset=-(trailing - 1 + known_fraud_days),
                    end_offset=model.delay_days,
                    allow_nonexistent_upstream_partitions=True,
                ),
            ),
        },
        check_specs=[
            AssetCheckSpec(
                PERFORMANCE_CHECK,
                asset=PERFORMANCE,
                description=f"The average precision of the served scores over the last "
                f"{trailing} days stays above the lower bound of the serving version's "
                "validation bootstrap interval (warns).",
            )
        ],
        description="Once a day's labels are known (the delay after it), what the served scores "
        "achieved: ROC AUC, average precision, Card Precision@k and precision / recall of the "
        "alerts, for the day and its trailing week, on the cards not known as compromised.",
    )(model_performance)
    return [scored, alerts, performance]
