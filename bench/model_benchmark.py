"""Model benchmarks: the paired bootstrap's speed, training time and what the models reach.

    uv run python bench/model_benchmark.py bootstrap --rows 1000000 --resamples 1000
    uv run python bench/model_benchmark.py data --data-dir data/bench/model-210d --files 7
    uv run python bench/model_benchmark.py training --data-dir data/bench/model-210d \
        --cutoff 2020-03-04
    uv run python bench/model_benchmark.py quality
    uv run python bench/model_benchmark.py ablation
    uv run python bench/model_benchmark.py logging --rounds 3

`bootstrap` times B paired resamples of two models on synthetic scores, per resampling unit.
`data` runs `fraud-pipeline run --skip-models` on its own data folder (generated files with
the realistic defect rates, ingestion, features). `training` materialises one model partition
(candidate, validation, decision) on stored features through the real assets and prints the
candidate's test-block metrics, its tuning and training time and the peak memory.
`quality` is the handbook protocol over several data seeds: for each, 183 days of the
handbook's population (data, unless its folder has them), then the candidate of the
handbook's test week; it prints the test metrics per seed, their median and the published
baselines, and (`visibility`) how many test frauds no delayed label can reveal, with the AUC
bound they set. `ablation` compares feature groups with the same plain XGBoost models on the
same weeks. `logging` times `mlflow.spark.log_model` of the same fitted pipelines with their
requirements pinned (`model_requirements`, as the candidate asset logs them) and inferred by
MLflow in either of its two ways, in a rotating order, and writes the figures to
bench/results/.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from fraud_assets.model.bootstrap import paired_bootstrap
from fraud_assets.model.metrics import EvaluationSet

ROOT = Path(__file__).resolve().parent.parent


def bootstrap(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(0)
    rows = args.rows
    days = rng.integers(0, 7, rows)
    customers = rng.integers(0, args.customers, rows)
    labels = (rng.random(rows) < 0.008).astype(float)
    champion = labels + rng.normal(size=rows)
    candidate = 1.1 * labels + rng.normal(size=rows)
    started = time.perf_counter()
    evaluation = EvaluationSet.build(labels, customers, days)
    setup = time.perf_counter() - started
    print(f"{rows:,} rows, {evaluation.units:,} customer-days; set-up {setup:.1f} s")
    for unit in ("customer_day", "transaction"):
        started = time.perf_counter()
        result = paired_bootstrap(
            champion, candidate, evaluation, resamples=args.resamples, unit=unit
        )
        seconds = time.perf_counter() - started
        ap = result.comparisons["average_precision"]
        print(
            f"B={args.resamples} by {unit}: {seconds:.1f} s "
            f"(AP difference {ap.difference.observed:+.4f} +- {ap.difference.std:.4f}, "
            f"p = {ap.p_value:.3g})"
        )


def data(args: argparse.Namespace) -> None:
    """Generated files (realistic defect rates) through ingestion and features, no models."""
    environment = {
        **os.environ,
        "FRAUD_DATA_DIR": str(Path(args.data_dir).resolve()),
        "FRAUD_FILE_PERIOD_DAYS": str(args.days_per_file),
    }
    command = ["fraud-pipeline", "run", "--skip-models", "--defect-scale", "1"]
    command += ["--customers", str(args.customers), "--terminals", str(args.terminals)]
    command += ["--files", str(args.files), "--seed", str(args.seed)]
    started = time.perf_counter()
    subprocess.run(command, env=environment, check=True)
    print(f"data and features: {time.perf_counter() - started:.0f} s")


def training(args: argparse.Namespace) -> None:
    """One model partition (candidate, validation, decision) on stored features.

    The windows are settings read when the package is imported, so they are set first.
    """
    data_dir = Path(args.data_dir).resolve()
    os.environ.update(
        {
            "FRAUD_DATA_DIR": str(data_dir),
            "FRAUD_STORAGE_DIR": str(Path(args.storage_dir or data_dir / "warehouse").resolve()),
            "FRAUD_FILE_PERIOD_DAYS": str(args.days_per_file),
            "FRAUD_TRAIN_DAYS": str(args.train_days),
            "FRAUD_VALIDATION_DAYS": str(args.validation_days),
            "FRAUD_TUNING_FOLDS": str(args.folds),
        }
    )
    from dagster import DagsterInstance, materialize
    from ingest_benchmark import PeakMemory

    from fraud_assets.definitions import build_definitions
    from fraud_assets.features.assets import feature_assets
    from fraud_assets.model.assets import CANDIDATE, model_assets
    from fraud_assets.settings import Settings

    settings = Settings.from_env()
    config = {"max_evals": args.max_evals, "timeout_seconds": args.timeout, "seed": args.seed}
    if args.families:
        config["families"] = args.families.split(",")
    if args.features:
        config["features"] = args.features.split(",")
    candidate, validation, champion, _ = model_assets(settings)
    assets = [candidate] if args.candidate_only else [candidate, validation, champion]
    started = time.perf_counter()
    with PeakMemory() as memory:
        result = materialize(
            [feature_assets(settings)[0].to_source_asset(), *assets],
            partition_key=args.cutoff,
            resources=build_definitions(settings).resources,
            instance=DagsterInstance.ephemeral(),
            run_config={"ops": {CANDIDATE: {"config": config}}},
            raise_on_error=False,
        )
    seconds = time.perf_counter() - started
    record = result.output_for_node(CANDIDATE)
    metrics = record["test_metrics"]
    print(
        f"cut-off {args.cutoff}, window {record['days']}: {record['train_rows']:,} training rows, "
        f"{record['trials']} trials, candidate {record['seconds']:.0f} s, all three assets "
        f"{seconds:.0f} s, peak RSS {memory.peak / 1e9:.2f} GB"
    )
    print(f"best: {record['params']}")
    print(
        f"test AUC {metrics['roc_auc']:.3f}  AP {metrics['average_precision']:.3f}  "
        f"CP@100 {metrics['card_precision_at_100']:.3f}  precision/recall/F1 at FPR<5% "
        f"{metrics['precision_at_fpr']:.3f}/{metrics['recall_at_fpr']:.3f}/"
        f"{metrics['f1_at_fpr']:.3f} on {record['test_rows']:,} rows"
    )
    print(f"success: {result.success}")
    if args.json_out:
        summary = {
            **{name: record[name] for name in ("params", "test_metrics", "train_rows", "days")},
            "test_rows": record["test_rows"],
            "trial_seconds": record["trial_seconds"],
            "candidate_seconds": record["seconds"],
            "peak_rss_gb": round(memory.peak / 1e9, 2),
        }
        Path(args.json_out).write_text(json.dumps(summary, indent=2))


def visibility(args: argparse.Namespace) -> None:
    """How many test frauds leave any trace a delayed label can show: a fraud of a terminal
    compromised less than the delay ago (scenario 2) looks like any other transaction until its
    labels are known, so no feature can rank it; the AUC bound counts those as coin flips."""
    os.environ["FRAUD_DATA_DIR"] = str(Path(args.data_dir).resolve())
    os.environ["FRAUD_FILE_PERIOD_DAYS"] = str(args.days_per_file)
    from pyspark.sql import functions as F

    from fraud_assets.definitions import build_definitions
    from fraud_assets.ingestion.assets import CLEANED
    from fraud_assets.model.assets import split_of
    from fraud_assets.model.training import unseen_customer_rows
    from fraud_assets.partitions import FilePeriod
    from fraud_assets.settings import Settings

    settings = Settings.from_env()
    split = split_of(args.cutoff, settings.model)
    storage = build_definitions(settings).resources["parquet_io_manager"]
    # From the training window (known compromised cards) or 28 days before the test block
    # (compromises still running), whichever is earlier, to the last test day.
    first = min(
        date.fromisoformat(split.train[0]), date.fromisoformat(split.test[0]) - timedelta(days=28)
    )
    days = FilePeriod(first, split.last_day).partition_keys
    cleaned = storage.read_partitions([CLEANED], days).select(
        F.col("customer_id").alias("CUSTOMER_ID"),
        F.col("terminal_id").alias("terminal"),
        F.col("tx_fraud").alias("TX_FRAUD"),
        F.col("tx_fraud_scenario").alias("scenario"),
        F.unix_seconds("tx_datetime").alias("seconds"),
        "day",
    )
    test = unseen_customer_rows(cleaned, split.train[0], split.test, split.delay_days)
    frauds = test.where("TX_FRAUD = 1").toPandas()
    compromised = cleaned.where("scenario = 2").select("terminal", "seconds").toPandas()
    delay, spell = split.delay_days * 86_400, 28 * 86_400
    by_terminal = compromised.groupby("terminal").seconds.apply(np.sort).to_dict()

    def known(row) -> bool:
        times = by_terminal.get(row.terminal, np.array([]))
        return bool(((times >= row.seconds - spell) & (times <= row.seconds - delay)).any())

    hidden = sum(1 for row in frauds.itertuples() if row.scenario == 2 and not known(row))
    share = hidden / len(frauds)
    summary = {"test_frauds": len(frauds), "hidden": hidden, "auc_bound": round(1 - share / 2, 4)}
    print(json.dumps(summary))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(summary))


def ablation(args: argparse.Namespace) -> None:
    """Which feature groups help, by the same plain XGBoost models (two parameter sets, two
    model seeds each, averaged) on each data seed's handbook week: no tuning noise, so the
    differences are the features'."""
    import pandas as pd
    from pyspark.sql import functions as F
    from xgboost import XGBClassifier

    from fraud_assets.definitions import build_definitions
    from fraud_assets.features import transforms as T
    from fraud_assets.features.assets import FEATURES
    from fraud_assets.model.assets import split_of
    from fraud_assets.model.metrics import EvaluationSet, evaluate
    from fraud_assets.model.training import unseen_customer_rows
    from fraud_assets.partitions import FilePeriod
    from fraud_assets.settings import Settings

    earlier = T.EARLIER_RATIO_FEATURE
    ratios = [name for name in T.DERIVED_FEATURES if name != earlier]
    previous_default = (*T.REFERENCE_FEATURES, *ratios)
    added = {
        "the amount z-scores": T.ZSCORE_FEATURES,
        "the amount over the earlier average": (earlier,),
        "the terminal's risk 28-37 days ago": (T.EARLY_RISK_FEATURE,),
        "seconds since the terminal's known fraud": (T.KNOWN_FRAUD_AGE_FEATURE,),
        "seconds since the customer's previous transaction": (T.PREVIOUS_GAP_FEATURE,),
    }
    sets = {
        "the reference 15": T.REFERENCE_FEATURES,
        "+ amount over the customer's 1/7/30-day average (the previous default)": previous_default,
        **{f"+ ... and {name}": (*previous_default, *group) for name, group in added.items()},
        "MODEL_FEATURES (all of the above)": T.MODEL_FEATURES,
    }
    models = [
        {"n_estimators": 100, "max_depth": 5, "learning_rate": 0.1},
        {"n_estimators": 200, "max_depth": 3, "learning_rate": 0.05},
    ]
    derived = [f"{d.expression} AS {name}" for name, d in T.DERIVED_FEATURES.items()]
    scores: dict[str, list[tuple[float, float, float]]] = {name: [] for name in sets}
    for seed in [int(s) for s in args.seeds.split(",")]:
        folder = Path(args.data_root).resolve() / f"seed-{seed}"
        os.environ.update({"FRAUD_DATA_DIR": str(folder), "FRAUD_FILE_PERIOD_DAYS": "61"})
        settings = Settings.from_env()
        split = split_of(args.cutoff, settings.model)
        storage = build_definitions(settings).resources["parquet_io_manager"]
        days = FilePeriod(date.fromisoformat(split.train[0]), split.last_day).partition_keys
        frame = storage.read_partitions([FEATURES], days).selectExpr("*", *derived)
        train = frame.where(F.col("day").isin(split.train)).toPandas()
        test = unseen_customer_rows(frame, split.train[0], split.test, split.delay_days)
        test = test.toPandas()
        _, day_index = np.unique(test["day"].to_numpy(), return_inverse=True)
        evaluation = EvaluationSet.build(
            test["TX_FRAUD"].to_numpy(), test["CUSTOMER_ID"].to_numpy(), day_index
        )
        labels = train["TX_FRAUD"].to_numpy()
        weights = np.where(labels == 1, np.sqrt((labels == 0).sum() / labels.sum()), 1.0)
        for name, columns in sets.items():
            values = []
            for params in models:
                for model_seed in (0, 1):
                    model = XGBClassifier(
                        **params, subsample=0.9, colsample_bytree=0.9, random_state=model_seed
                    )
                    model.fit(train[list(columns)], labels, sample_weight=weights)
                    metrics = evaluate(model.predict_proba(test[list(columns)])[:, 1], evaluation)
                    values.append([metrics[m] for m in QUALITY_METRICS])
            scores[name].append(tuple(np.mean(values, axis=0)))
            print(f"seed {seed}, {name}: {scores[name][-1]}", flush=True)
    table = pd.DataFrame(
        {name: np.mean(values, axis=0) for name, values in scores.items()},
        index=["ROC AUC", "average precision", "Card Precision@100"],
    ).T
    print(f"\nmean over seeds {args.seeds}:")
    print(table.round(4).to_markdown())


# The handbook's published figures on its simulated data (one test week): ROC AUC, average
# precision, Card Precision@100.
PUBLISHED = {
    "handbook: logistic regression": (0.871, 0.606, 0.291),
    "handbook: best with prequential tuning": (0.870, 0.687, 0.303),
}
TARGETS = (0.89, 0.72, 0.32)
QUALITY_METRICS = ("roc_auc", "average_precision", "card_precision_at_100")


def quality(args: argparse.Namespace) -> None:
    """The handbook protocol on several data seeds, each in its own folder and process (the
    settings are read when the package is imported)."""
    root = Path(args.data_root).resolve()
    results = {}
    for seed in [int(s) for s in args.seeds.split(",")]:
        folder = root / f"seed-{seed}"
        if not (folder / "warehouse").exists():
            data_args = argparse.Namespace(
                data_dir=folder, customers=5000, terminals=10000, files=3, seed=seed,
                days_per_file=61,
            )  # fmt: skip
            data(data_args)
        out = folder / f"quality-{args.cutoff}.json"
        command = [sys.executable, __file__, "training", "--data-dir", str(folder)]
        command += ["--cutoff", args.cutoff, "--max-evals", str(args.max_evals)]
        command += ["--days-per-file", "61", "--candidate-only", "--json-out", str(out)]
        command += ["--seed", str(args.model_seed)]
        if args.families:
            command += ["--families", args.families]
        if args.features:
            command += ["--features", args.features]
        subprocess.run(command, check=True)
        results[seed] = json.loads(out.read_text())
        bound = folder / f"visibility-{args.cutoff}.json"
        command = [sys.executable, __file__, "visibility", "--data-dir", str(folder)]
        command += ["--cutoff", args.cutoff, "--json-out", str(bound)]
        subprocess.run(command, check=True)
        results[seed]["visibility"] = json.loads(bound.read_text())
    rows = [
        (f"seed {seed}", *[r["test_metrics"][m] for m in QUALITY_METRICS])
        for seed, r in results.items()
    ]
    median = tuple(statistics.median(row[i] for row in rows) for i in (1, 2, 3))
    print("\n| test week | ROC AUC | average precision | Card Precision@100 |")
    print("|---|---:|---:|---:|")
    for name, values in PUBLISHED.items():
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    for name, *values in rows:
        print(f"| this pipeline, {name} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    print(
        f"| **this pipeline, median of {len(rows)} seeds** | "
        + " | ".join(f"**{v:.3f}**" for v in median)
        + " |"
    )
    print("| target | " + " | ".join(f"{v:.2f}" for v in TARGETS) + " |")
    met = [m >= t for m, t in zip(median, TARGETS, strict=True)]
    print(f"\ntargets met (AUC, AP, CP@100): {met}")
    for seed, r in results.items():
        per_trial = statistics.mean(r["trial_seconds"])
        print(
            f"seed {seed}: {r['params']}; {len(r['trial_seconds'])} trials, {per_trial:.1f} s "
            f"per trial, candidate {r['candidate_seconds']:.0f} s, {r['train_rows']:,} "
            f"training rows, {r['test_rows']:,} test rows, peak RSS {r['peak_rss_gb']} GB; "
            f"{r['visibility']['hidden']} of {r['visibility']['test_frauds']} test frauds at "
            f"terminals compromised less than the delay ago, AUC bound "
            f"{r['visibility']['auc_bound']:.3f}"
        )


def logging_cost(args: argparse.Namespace) -> None:
    """Seconds to log one fitted pipeline to MLflow with its requirements pinned (their
    computation timed too, as the candidate asset pays it) against left to MLflow's inference."""
    import tempfile
    from unittest.mock import patch

    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature

    from fraud_assets.features.transforms import REFERENCE_FEATURES
    from fraud_assets.model.training import LABEL, fit, model_requirements
    from fraud_assets.resources.spark import SparkResource
    from fraud_assets.settings import Settings

    spark = SparkResource.from_settings(Settings.from_env()).spark_session
    rng = np.random.default_rng(0)
    rows = {name: rng.normal(size=args.rows) for name in REFERENCE_FEATURES}
    rows[LABEL] = (rng.random(args.rows) < 0.05).astype(int)
    frame = spark.createDataFrame(pd.DataFrame(rows))
    params = {
        "logistic_regression": {"reg_param": 0.01, "elastic_net": 0.0},
        "xgboost": {
            "n_estimators": 20,
            "max_depth": 4,
            "learning_rate": 0.3,
            "subsample": 1.0,
            "colsample_bytree": 1.0,
        },
    }
    families = args.families.split(",")
    models = {
        family: fit(
            frame, {"family": family, "balance": 1.0, **params[family]}, REFERENCE_FEATURES, 0
        )
        for family in families
    }
    example = frame.select(*REFERENCE_FEATURES).limit(5).toPandas()
    signature = infer_signature(example, np.zeros(len(example)))
    # MLflow infers requirements by `uv export` of the project it runs in (every dependency of
    # the project), or else by loading the model again in a new process and recording what
    # it imports; MLFLOW_UV_AUTO_DETECT chooses between the two.
    ways = {"pinned": None, "uv_export": "true", "captured_imports": "false"}
    seconds: dict[str, dict[str, list[float]]] = {
        family: {way: [] for way in ways} for family in families
    }
    requirements: dict[str, dict[str, list[str]]] = {family: {} for family in families}
    with tempfile.TemporaryDirectory() as store:
        mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
        # Artifacts in the temporary store too: a SQLite store puts them under ./mlruns.
        mlflow.create_experiment("logging-benchmark", artifact_location=f"{store}/artifacts")
        mlflow.set_experiment("logging-benchmark")
        for round_ in range(args.rounds):
            shift = round_ % len(ways)
            order = [*ways][shift:] + [*ways][:shift]
            for family, model in models.items():
                for way in order:
                    detect = {"MLFLOW_UV_AUTO_DETECT": ways[way]} if ways[way] else {}
                    with mlflow.start_run(), patch.dict(os.environ, detect):
                        started = time.perf_counter()
                        logged = mlflow.spark.log_model(
                            model,
                            artifact_path="model",
                            signature=signature,
                            input_example=example,
                            pip_requirements=model_requirements(model) if way == "pinned" else None,
                        )
                        took = time.perf_counter() - started
                    seconds[family][way].append(round(took, 2))
                    listed = mlflow.artifacts.download_artifacts(
                        f"{logged.model_uri}/requirements.txt", dst_path=store
                    )
                    requirements[family][way] = Path(listed).read_text().splitlines()
                    print(
                        f"round {round_ + 1}/{args.rounds} {family} {way}: {took:.1f} s", flush=True
                    )
    summary = {
        "command": " ".join(["uv run python bench/model_benchmark.py", *sys.argv[1:]]),
        "cores": os.cpu_count(),
        "rows": args.rows,
        "seconds": seconds,
        "median_seconds": {
            family: {way: statistics.median(times) for way, times in ways.items()}
            for family, ways in seconds.items()
        },
        "requirements_pinned": {family: lists["pinned"] for family, lists in requirements.items()},
        "requirements_count": {
            family: {way: len(listed) for way, listed in lists.items()}
            for family, lists in requirements.items()
        },
    }
    print(json.dumps(summary["median_seconds"]))
    Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json_out).write_text(json.dumps(summary, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    boot = commands.add_parser("bootstrap")
    boot.add_argument("--rows", type=int, default=1_000_000)
    boot.add_argument("--customers", type=int, default=100_000)
    boot.add_argument("--resamples", type=int, default=1000)
    boot.set_defaults(handler=bootstrap)
    generate = commands.add_parser("data")
    generate.add_argument("--data-dir", required=True)
    generate.add_argument("--customers", type=int, default=5000)
    generate.add_argument("--terminals", type=int, default=10000)
    generate.add_argument("--files", type=int, default=7)
    generate.add_argument("--seed", type=int, default=42)
    generate.add_argument("--days-per-file", type=int, default=30)
    generate.set_defaults(handler=data)
    train = commands.add_parser("training")
    train.add_argument("--data-dir", required=True)
    train.add_argument("--storage-dir", default=None, help="features storage root")
    train.add_argument("--cutoff", required=True, help="model partition (last training day)")
    train.add_argument("--train-days", type=int, default=7)
    train.add_argument("--validation-days", type=int, default=7)
    train.add_argument("--folds", type=int, default=3, help="prequential tuning folds")
    train.add_argument("--days-per-file", type=int, default=30)
    train.add_argument("--max-evals", type=int, default=12)
    train.add_argument("--timeout", type=int, default=3600)
    train.add_argument("--seed", type=int, default=42, help="model seed")
    train.add_argument("--families", default=None, help="comma-separated; default all")
    train.add_argument("--features", default=None, help="comma-separated; default MODEL_FEATURES")
    train.add_argument("--candidate-only", action="store_true", help="skip validation, decision")
    train.add_argument("--json-out", default=None, help="write the candidate's figures here")
    train.set_defaults(handler=training)
    seen = commands.add_parser("visibility")
    seen.add_argument("--data-dir", required=True)
    seen.add_argument("--cutoff", default="2019-12-21")
    seen.add_argument("--days-per-file", type=int, default=61)
    seen.add_argument("--json-out", default=None)
    seen.set_defaults(handler=visibility)
    ablate = commands.add_parser("ablation")
    ablate.add_argument("--data-root", default="data/bench/quality")
    ablate.add_argument("--seeds", default="42,43,44")
    ablate.add_argument("--cutoff", default="2019-12-21")
    ablate.set_defaults(handler=ablation)
    log = commands.add_parser("logging")
    log.add_argument("--rounds", type=int, default=3)
    log.add_argument("--rows", type=int, default=20_000)
    log.add_argument("--families", default="logistic_regression,xgboost")
    log.add_argument("--json-out", default=str(ROOT / "bench" / "results" / "model_logging.json"))
    log.set_defaults(handler=logging_cost)
    judge = commands.add_parser("quality")
    judge.add_argument("--data-root", default="data/bench/quality")
    judge.add_argument("--seeds", default="42,43,44", help="data seeds, one folder each")
    judge.add_argument("--cutoff", default="2019-12-21", help="the handbook's: day 121 of 183")
    judge.add_argument("--max-evals", type=int, default=12)
    judge.add_argument("--model-seed", type=int, default=42)
    judge.add_argument("--families", default=None, help="comma-separated; default all")
    judge.add_argument("--features", default=None, help="comma-separated; default MODEL_FEATURES")
    judge.set_defaults(handler=quality)
    args = parser.parse_args()
    args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
