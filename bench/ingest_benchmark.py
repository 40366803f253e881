"""Ingestion benchmark: one generated landing file through raw -> cleaned on Spark (the real
Dagster assets and IO manager, local[*]) and, in the same run, the same rules in DuckDB.

    uv run python bench/ingest_benchmark.py --rows 5000000
    uv run python bench/ingest_benchmark.py --rows 47000000 --skip-duckdb   # scale run
    uv run python bench/ingest_benchmark.py --rows 5000000 --skip-duckdb --cross-file
    uv run python bench/ingest_benchmark.py --rows 5000000 --event-log /tmp/spark-events
    uv run python bench/ingest_benchmark.py --rows 47000000 --skip-duckdb --features

Writes the headline figures to bench/results/ingest_<rows>[_spark_only][_cross_file].json (the
suffixes name what the run measured). Prints rows/s for both, their
ratio, and the peak resident memory of the process tree
(Python driver + Spark's JVM), sampled every 0.2 s; for Spark, where the time of each step goes:
writing the staged outputs, the blocking checks on them, and publishing (the pointer swaps).
With --cross-file it then ingests the next file (its days follow the first file's) with the
comparison of its ids against the ids already stored (the default, 37 days back) and without
(FRAUD_DUPLICATE_LOOKBACK_DAYS=0), alternately, --repeats times each. With --event-log DIR,
Spark writes its event log there and the script prints one row per Spark SQL execution (action
or write), then one per stage of at least 1 s: wall time, task time, shuffle and spill, call
site (bench/spark_stages.py). With --features the same Dagster run also computes the file's
transaction_features (a first file: no look-back), so the time and memory are those of
raw -> features.
"""

import argparse
import dataclasses
import json
import shutil
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parent))

from duckdb_reference import ingest as duckdb_ingest
from spark_stages import event_log_settings, event_logs, stage_table, table

from fraud_assets.settings import PROJECT_ROOT, Settings

RESULTS = Path(__file__).parent / "results"
ROWS_PER_CUSTOMER_PER_FILE = 60  # ~2 transactions a day over 30 days


class PeakMemory:
    """Largest resident set of this process and its children (and of each process by name)
    while the block runs."""

    def __init__(self) -> None:
        self.peak = 0
        self.by_name: dict[str, int] = {}
        self._stop = threading.Event()

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    rss, name = process.memory_info().rss, process.name()
                except psutil.Error:
                    continue
                self.by_name[name] = max(self.by_name.get(name, 0), rss)
                # The JVM forks short-lived helpers (chmod through jspawnhelper); a fork
                # shows the parent's pages as its own, so only python and java are added up.
                if name.startswith(("python", "java")):
                    total += rss
            self.peak = max(self.peak, total)
            time.sleep(0.2)

    def __enter__(self) -> "PeakMemory":
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        self._thread.join()


def generate(folder: Path, files: int, customers: int, terminals: int, seed: int) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "fraud_assets.datagen.cli",
            "--out",
            str(folder),
            "--files",
            str(files),
            "--customers",
            str(customers),
            "--terminals",
            str(terminals),
            "--seed",
            str(seed),
            "--quiet",
        ],
        check=True,
    )


def landing_files(folder: Path, rows: int, seed: int, files: int) -> list[Path]:
    paths = [folder / name for name in ("2019-08-22.txt", "2019-09-21.txt")[:files]]
    if not all(path.exists() for path in paths):
        generate(folder, files, max(1, rows // ROWS_PER_CUSTOMER_PER_FILE), 1000, seed)
    return paths


def run_spark(settings: Settings, name: str = "2019-08-22.txt", features: bool = False) -> dict:
    from dagster import materialize

    from fraud_assets.features.assets import feature_assets
    from fraud_assets.ingestion.assets import ingestion_assets
    from fraud_assets.partitions import file_period, file_run_tags
    from fraud_assets.resources.environments import local_resources

    resources = local_resources(settings)
    landed = resources["landing"].get(name)
    tags = file_run_tags(landed.key, landed.version, file_period(landed.key, 30))
    session = resources["spark"].spark_session
    session.range(1).count()  # JVM start-up is not ingestion time
    started = time.monotonic()
    assets = ingestion_assets(settings) + (feature_assets(settings) if features else [])
    result = materialize(assets, resources=resources, tags=tags)
    seconds = time.monotonic() - started
    assert result.success and all(c.passed for c in result.get_asset_check_evaluations())
    materialized = {
        event.asset_key.to_user_string(): event.materialization.metadata
        for event in result.get_asset_materialization_events()
    }
    meta = materialized["cleaned_transactions"]
    raw_meta = materialized["raw_transactions"]
    publish = sum(m["seconds_to_publish"].value for m in materialized.values())
    steps = {
        event.step_key: event.event_specific_data.duration_ms / 1000
        for event in result.all_events
        if event.event_type_value == "STEP_SUCCESS"
    }
    return {
        "seconds": seconds,
        "application_id": session.sparkContext.applicationId,
        "steps": steps,
        "seconds_to_write": sum(m["seconds_to_write"].value for m in materialized.values()),
        "seconds_to_check": raw_meta["seconds_to_check"].value + meta["seconds_to_check"].value,
        "seconds_to_publish": publish,
        "id_in_other_file": meta.get("quarantined_transaction_id_in_other_file", 0)
        and meta["quarantined_transaction_id_in_other_file"].value,
        "raw": meta["rows_in"].value,
        "clean": meta["rows_out"].value,
        "quarantined": meta["rows_quarantined"].value,
        "duplicate": meta["duplicates_dropped"].value,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--workdir", type=Path, default=PROJECT_ROOT / "data" / "bench")
    parser.add_argument("--skip-duckdb", action="store_true")
    parser.add_argument("--cross-file", action="store_true")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--event-log", type=Path, help="write Spark's event log here")
    parser.add_argument(
        "--features", action="store_true", help="the same run also computes the file's features"
    )
    parser.add_argument("--results", type=Path, help="headline JSON (default: bench/results/)")
    args = parser.parse_args()

    folder = args.workdir / f"landing-{args.rows}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = landing_files(folder, args.rows, args.seed, 2 if args.cross_file else 1)
    path = paths[0]
    size_gb = path.stat().st_size / 1e9

    results = {}
    if not args.skip_duckdb:
        out = args.workdir / "duckdb-out"
        shutil.rmtree(out, ignore_errors=True)
        with PeakMemory() as memory:
            started = time.monotonic()
            counts = duckdb_ingest(path, path.name, "2019-08-22", 30, out, time_origin="2019-08-22")
            results["duckdb"] = {"seconds": time.monotonic() - started, **counts}
        results["duckdb"]["peak_rss_gb"] = memory.peak / 1e9

    storage = args.workdir / "spark-out"
    shutil.rmtree(storage, ignore_errors=True)
    settings = dataclasses.replace(
        Settings.from_env(),
        data_dir=args.workdir,
        landing_dir=folder,
        storage_dir=storage,
    )
    if args.event_log:
        conf = settings.spark_conf | event_log_settings(args.event_log)
        settings = dataclasses.replace(settings, spark_conf=conf)
    with PeakMemory() as memory:
        results["spark"] = run_spark(settings, features=args.features)
    results["spark"]["peak_rss_gb"] = memory.peak / 1e9
    if args.cross_file:
        rounds = {37: [], 0: []}
        for round_number in range(args.repeats):
            for lookback in (37, 0):
                compared = dataclasses.replace(settings, duplicate_lookback_days=lookback)
                outcome = run_spark(compared, paths[1].name)
                rounds[lookback].append(outcome)
                print(
                    f"next file, round {round_number + 1}, look-back {lookback} days: "
                    f"clean step {outcome['steps']['clean_transactions']:.1f} s, total "
                    f"{outcome['seconds']:.1f} s",
                    flush=True,
                )
        results["cross_file"] = {
            f"lookback_{days}": {
                "clean_step_seconds": [o["steps"]["clean_transactions"] for o in outcomes],
                "total_seconds": [o["seconds"] for o in outcomes],
            }
            for days, outcomes in rounds.items()
        }
    results["spark"]["peak_rss_gb_by_process"] = {
        name: round(rss / 1e9, 2) for name, rss in memory.by_name.items()
    }

    rows = results["spark"]["raw"]
    print(f"file: {path} ({rows:,} rows, {size_gb:.2f} GB)")
    spark = results["spark"]
    print(
        f" spark: write staged {spark['seconds_to_write']:.1f} s, checks "
        f"{spark['seconds_to_check']:.1f} s, publish {spark['seconds_to_publish']:.3f} s "
        f"({spark['seconds_to_publish'] / spark['seconds']:.2%} of {spark['seconds']:.1f} s)"
    )
    for engine in ("duckdb", "spark"):
        if engine not in results:
            continue
        figures = results[engine]
        rate = rows / figures["seconds"]
        print(
            f"{engine:>6}: {figures['seconds']:7.1f} s  {rate:12,.0f} rows/s  "
            f"peak RSS {figures['peak_rss_gb']:.2f} GB"
        )
    if "duckdb" in results:
        for key in ("raw", "clean", "quarantined", "duplicate"):
            assert results["duckdb"][key] == results["spark"][key], (key, results)
        ratio = results["spark"]["seconds"] / results["duckdb"]["seconds"]
        print(f" ratio: Spark takes {ratio:.2f}x the DuckDB time (same rows out of each)")
    print(json.dumps(results, indent=1))
    if args.event_log:
        for log in event_logs(args.event_log, results["spark"]["application_id"]):
            print(f"Spark executions of {log.name}:\n{table(log)}")
            print(f"Spark stages of at least 1 s:\n{stage_table(log, shortest_s=1.0)}")
    mode = "" if "duckdb" in results else "_spark_only"
    mode += "_cross_file" if args.cross_file else ""
    mode += "_features" if args.features else ""
    _write_headline(args.results or RESULTS / f"ingest_{args.rows}{mode}.json", results, size_gb)
    return 0


def _write_headline(path: Path, results: dict, size_gb: float) -> None:
    spark = results["spark"]
    with_features = "transaction_features" in spark["steps"]
    total = "spark_raw_to_features_s" if with_features else "spark_raw_and_cleaned_s"
    headline = {
        "rows": spark["raw"],
        "file_gb": round(size_gb, 3),
        total: round(spark["seconds"], 1),
        "spark_steps_s": {step: round(s, 1) for step, s in spark["steps"].items()},
        "spark_peak_rss_gb": round(spark["peak_rss_gb"], 2),
        "measured": date.today().isoformat(),
    }
    if "duckdb" in results:
        headline["duckdb_reference_s"] = round(results["duckdb"]["seconds"], 1)
        headline["spark_over_duckdb"] = round(spark["seconds"] / results["duckdb"]["seconds"], 2)
    if "cross_file" in results:
        headline["next_file"] = results["cross_file"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(headline, indent=1) + "\n")
    print(f"headline figures: {path}")


if __name__ == "__main__":
    sys.exit(main())
