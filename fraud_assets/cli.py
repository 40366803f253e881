"""`fraud-pipeline`: run the platform end to end on one machine, or open its UI.

`fraud-pipeline run` generates landing files when there are none, then processes every landed
file that the ledger does not hold as cleaned yet (raw, cleaned and feature days), one run per
file over its days, exactly as the sensor would request them, recomputes the feature days of
earlier runs that a late file's days feed into, trains the files' model partitions, scores the
days after the champion's cut-off and measures those whose labels are known, on the persistent
Dagster instance in FRAUD_DATA_DIR/dagster_home, so the UI (`fraud-pipeline ui`, or `dagster
dev` with the same DAGSTER_HOME) shows what ran.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from fraud_assets.partitions import POOL_SETTINGS, FilePeriod, set_pool_limits
from fraud_assets.settings import PROJECT_ROOT, Settings

if TYPE_CHECKING:
    from fraud_assets.ingestion.sensors import LandingCursor
    from fraud_assets.resources.landing import LandedFile, LandingZone

_MANAGED = (
    "# The instance shared by `fraud-pipeline run` and `dagster dev` (written by fraud-pipeline)."
)
_DAGSTER_YAML = f"{_MANAGED}\n{POOL_SETTINGS}"


# What earlier versions wrote: replaced like our own file, never kept as the user's.
_EARLIER_DAGSTER_YAML = """\
# The instance shared by `fraud-pipeline run` and `dagster dev`.
telemetry:
  enabled: false
"""


def dagster_home(settings: Settings) -> Path:
    """The instance's folder, with the dagster.yaml above; a dagster.yaml the user wrote is
    kept (with a warning when it has no pool settings)."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.data_dir / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    current = config.read_text() if config.exists() else None
    if current is None or current.startswith(_MANAGED) or current == _EARLIER_DAGSTER_YAML:
        if current != _DAGSTER_YAML:
            config.write_text(_DAGSTER_YAML)
    elif "pools:" not in current:
        print(
            f"warning: {config} sets no concurrency pools; runs that share days may run "
            "together. See README, Quick start.",
            file=sys.stderr,
        )
    os.environ["DAGSTER_HOME"] = str(home)
    set_pool_limits(home)
    return home


def settled_files(
    landing: LandingZone, pause_seconds: float = 1.0
) -> tuple[list[LandedFile], LandingCursor]:
    """The landing zone's entries, and a cursor in which local files count as settled when
    they held still across two listings `pause_seconds` apart (the sensor's rule, in one go)."""
    from fraud_assets.ingestion.sensors import LandingCursor

    first = landing.list_entries()
    if landing.arrives_whole:
        return first, LandingCursor()
    time.sleep(pause_seconds)
    return landing.list_entries(), LandingCursor(pending={f.key: f.version for f in first})


def _generate(settings: Settings, args: argparse.Namespace) -> None:
    from fraud_assets.datagen import cli as datagen

    target = (
        f"s3://{settings.s3.bucket}/{settings.s3.landing_prefix}"
        if settings.uses_s3
        else str(settings.landing_dir)
    )
    datagen.main(
        [
            "--out",
            target,
            "--customers",
            str(args.customers),
            "--terminals",
            str(args.terminals),
            "--files",
            str(args.files),
            "--days-per-file",
            str(settings.file_period_days),
            "--start-date",
            settings.partitions_start.isoformat(),
            "--time-origin",
            settings.feed_time_origin.isoformat(),
            "--seed",
            str(args.seed),
            "--defect-scale",
            str(args.defect_scale),
        ]
    )


def _execute(
    job, instance, tags: dict[str, str], args: argparse.Namespace, ops=None, **selection
) -> bool:
    """One in-process run on the shared instance; prints its outcome and checks (a failed
    warning check is shown, and does not fail the run)."""
    from dagster import AssetCheckSeverity

    run_config = {"loggers": {"console": {"config": {"log_level": args.log_level}}}}
    if ops:
        run_config["ops"] = ops
    result = job.execute_in_process(
        instance=instance,
        tags=tags,
        run_config=run_config,
        raise_on_error=False,
        **selection,
    )
    checks = result.get_asset_check_evaluations()
    failing = [
        c.check_name for c in checks if not c.passed and c.severity != AssetCheckSeverity.WARN
    ]
    warning = [c for c in checks if not c.passed and c.severity == AssetCheckSeverity.WARN]
    ok = result.success and not failing
    print(
        f"  run {result.run_id}: {'ok' if ok else 'FAILED'}; checks passed "
        f"{len(checks) - len(failing) - len(warning)}/{len(checks)} {failing or ''}",
        flush=True,
    )
    for check in warning:
        print(f"    warning, {check.check_name}: {check.description[:300]}", flush=True)
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            reason = (error.cause or error).message.strip()
            print(f"    {event.step_key} failed: {reason}", flush=True)
    return ok


def days_to_refresh(
    processed: list[FilePeriod], materialized_before: set[str], lookback_days: int
) -> list[str]:
    """Feature days made before this invocation whose look-back reaches into a file processed
    now: an earlier file arrived late, so they are recomputed (what the look-back automation
    does when the daemon runs)."""
    now = {key for period in processed for key in period.partition_keys}
    reached = {
        (period.last_day + timedelta(days=offset)).isoformat()
        for period in processed
        for offset in range(1, lookback_days + 1)
    }
    return sorted((reached & materialized_before) - now)


def model_partitions(periods: list[FilePeriod], settings: Settings, decided: set[str]) -> list[str]:
    """The cut-offs of the landed files' model partitions not decided yet, oldest first."""
    from fraud_assets.model.sensors import cutoff_for, first_complete_day

    cutoffs = {
        cutoff_for(period.last_day, settings.model, first_complete_day(settings.partitions_start))
        for period in periods
    }
    return sorted({c.isoformat() for c in cutoffs if c is not None} - decided)


def score_and_measure(defs, instance, settings: Settings, args: argparse.Namespace) -> int:
    """Score the feature days after the champion's cut-off that hold no scores, then measure
    the scored days whose labels are known (what the scoring sensors request); failed runs."""
    from dagster import AssetKey

    from fraud_assets.features.assets import FEATURES
    from fraud_assets.model import registry
    from fraud_assets.partitions import range_tags
    from fraud_assets.scoring.assets import PERFORMANCE, SCORED
    from fraud_assets.scoring.definitions import measure_performance, score_days
    from fraud_assets.scoring.sensors import days_to_measure, days_to_score

    def materialized(name: str) -> set[str]:
        return set(instance.get_materialized_partitions(AssetKey(name)))

    champion = registry.champion_version(defs.resources["mlflow_tracking"].client())
    if champion is None:
        print("no champion yet: nothing to score", flush=True)
        return 0
    failed = 0
    days = days_to_score(materialized(FEATURES), materialized(SCORED), registry.cutoff_of(champion))
    if days:
        print(f"scoring {days[0]}..{days[-1]} with version {champion.version}", flush=True)
        job = defs.resolve_job_def(score_days.name)
        failed += not _execute(job, instance, range_tags(days[0], days[-1]), args)
    days = days_to_measure(
        materialized(SCORED),
        materialized(PERFORMANCE),
        materialized(FEATURES),
        settings.model.delay_days,
    )
    if days:
        print(f"measuring {days[0]}..{days[-1]}, whose labels are known", flush=True)
        job = defs.resolve_job_def(measure_performance.name)
        failed += not _execute(job, instance, range_tags(days[0], days[-1]), args)
    print(
        f"{len(materialized(SCORED))} days scored, {len(materialized(PERFORMANCE))} measured; "
        "their alert queues are in daily_alerts",
        flush=True,
    )
    return failed


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    home = dagster_home(settings)

    from dagster import AssetKey, DagsterInstance

    from fraud_assets.definitions import build_definitions
    from fraud_assets.features.assets import FEATURES
    from fraud_assets.features.definitions import process_landed_file
    from fraud_assets.features.transforms import LOOKBACK_DAYS
    from fraud_assets.ingestion.sensors import plan_runs
    from fraud_assets.model.assets import CANDIDATE, CHAMPION
    from fraud_assets.model.definitions import train_model
    from fraud_assets.partitions import file_period, file_run_tags, range_tags

    defs = build_definitions(settings)
    resources = defs.resources
    landing, ledger = resources["landing"], resources["ledger"]
    if args.regenerate or not landing.list_files():
        _generate(settings, args)
    ingested = {} if args.force else ledger.cleaned_versions()
    listed, cursor = settled_files(landing)
    plan = plan_runs(
        listed,
        cursor,
        ingested,
        settings.file_period_days,
        first_day=settings.partitions_start,
        arrives_whole=landing.arrives_whole,
    )
    for landed, problem in plan.rejected:
        print(f"skipped {landed.key}: {problem}", file=sys.stderr)
    for landed in plan.waiting:
        print(f"skipped {landed.key}: still being written; run again when done", file=sys.stderr)
    wanted = plan.wanted
    job = defs.resolve_job_def(process_landed_file.name)
    instance = DagsterInstance.get()
    features_before = set(instance.get_materialized_partitions(AssetKey(FEATURES)))
    failed = 0
    for landed, period in wanted:
        print(f"processing {landed.key}: days {period.first_day}..{period.last_day}", flush=True)
        failed += not _execute(
            job, instance, file_run_tags(landed.key, landed.version, period), args
        )
    stale = days_to_refresh([period for _, period in wanted], features_before, LOOKBACK_DAYS)
    if stale:
        print(f"recomputing features of {len(stale)} later days that read the new days", flush=True)
        tags = range_tags(stale[0], stale[-1])
        failed += not _execute(job, instance, tags, args, asset_selection=[AssetKey(FEATURES)])
    if not args.skip_models:
        periods = [
            file_period(landed.key, settings.file_period_days) for landed in landing.list_files()
        ]
        decided = set(instance.get_materialized_partitions(AssetKey(CHAMPION)))
        trainer = defs.resolve_job_def(train_model.name)
        # The demo's trial budget; every other model setting comes from the settings.
        ops = {CANDIDATE: {"config": {"max_evals": args.max_evals}}}
        for cutoff in model_partitions(periods, settings, decided):
            print(f"model partition {cutoff}: tune, validate, decide", flush=True)
            failed += not _execute(trainer, instance, {}, args, ops=ops, partition_key=cutoff)
        failed += score_and_measure(defs, instance, settings, args)
    print(f"{len(wanted)} file(s) processed, {failed} run(s) failed. Dagster instance: {home}")
    print("Open the UI: uv run fraud-pipeline ui  (then http://127.0.0.1:3000)")
    print("MLflow runs and models: uv run fraud-pipeline mlflow  (then http://127.0.0.1:5000)")
    return 1 if failed else 0


def rollback(args: argparse.Namespace) -> int:
    from fraud_assets.model.registry import RollbackError
    from fraud_assets.model.registry import rollback as restore_previous
    from fraud_assets.resources.mlflow import REGISTERED_MODEL, MlflowResource

    settings = Settings.from_env()
    tracking = MlflowResource.from_settings(settings.mlflow)
    tracking.activate()
    try:
        restored, replaced = restore_previous(tracking.client())
    except RollbackError as error:
        print(f"rollback refused: {error}", file=sys.stderr)
        return 1
    print(f"{REGISTERED_MODEL}@champion: version {replaced} -> version {restored}")
    from dagster import DagsterInstance

    from fraud_assets.model.assets import alias_observation

    # The days the replaced version scored now show as stale in the UI.
    dagster_home(settings)
    with DagsterInstance.get() as instance:
        instance.report_runless_asset_event(alias_observation(tracking.client()))
    return 0


def mlflow_ui(args: argparse.Namespace) -> int:
    tracking = Settings.from_env().mlflow
    command = [
        "mlflow",
        "server",
        "--backend-store-uri",
        tracking.tracking_uri,
        "--host",
        args.host,
        "--port",
        str(args.port),
    ]
    os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    os.execvp(command[0], command)
    return 0


def ui(args: argparse.Namespace) -> int:
    dagster_home(Settings.from_env())
    workspace = PROJECT_ROOT / "workspace.yaml"
    command = ["dagster", "dev", "-w", str(workspace), "-h", args.host, "-p", str(args.port)]
    os.execvp(command[0], command)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fraud-pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="generate data if needed, then process it")
    run_parser.add_argument("--customers", type=int, default=2_000)
    run_parser.add_argument("--terminals", type=int, default=1_000)
    run_parser.add_argument("--files", type=int, default=4)
    run_parser.add_argument("--seed", type=int, default=42)
    run_parser.add_argument(
        "--defect-scale",
        type=float,
        default=100.0,
        help="multiply the realistic defect rates so a small demo shows every defect",
    )
    run_parser.add_argument(
        "--regenerate", action="store_true", help="write new landing files even if some exist"
    )
    run_parser.add_argument(
        "--force", action="store_true", help="ingest files again even if the ledger has them"
    )
    run_parser.add_argument(
        "--log-level", default="INFO", help="console log level of the runs (DEBUG shows events)"
    )
    run_parser.add_argument(
        "--max-evals",
        type=int,
        default=2,
        help="hyperopt trials per model partition, each fitting the tuning folds (the demo's "
        "2 keep it within minutes; FRAUD_TUNING_MAX_EVALS sets the sensor-driven runs')",
    )
    run_parser.add_argument(
        "--skip-models", action="store_true", help="stop after the features, train nothing"
    )
    run_parser.set_defaults(handler=run)
    rollback_parser = commands.add_parser(
        "rollback", help="give the champion alias back to the previous champion"
    )
    rollback_parser.set_defaults(handler=rollback)
    mlflow_parser = commands.add_parser("mlflow", help="the MLflow UI on the pipeline's store")
    mlflow_parser.add_argument("--host", default="127.0.0.1")
    mlflow_parser.add_argument("--port", type=int, default=5000)
    mlflow_parser.set_defaults(handler=mlflow_ui)
    ui_parser = commands.add_parser("ui", help="dagster dev on the pipeline's instance")
    ui_parser.add_argument("--host", default="127.0.0.1")
    ui_parser.add_argument("--port", type=int, default=3000)
    ui_parser.set_defaults(handler=ui)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
