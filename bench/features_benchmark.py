"""Features benchmark: the cost of a file's features when earlier files are already done,
against the cost of a file with no history, and one range run against one run per file.

    uv run python bench/features_benchmark.py --rows 5000000 --files 3

Generates `--files` consecutive files of `--rows` rows each, ingests them (not timed), then
times the `transaction_features` step of real Dagster runs (compute, write and checks):

- single: file 1 alone, nothing before it to read;
- incremental: file N+1 after the N before it, reading its 37 days of look-back;
- per-file vs range: the last two files as two runs, and as one run over both.

Each measurement is repeated `--repeats` times, alternating, and the median is reported.
"""

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from ingest_benchmark import ROWS_PER_CUSTOMER_PER_FILE, PeakMemory, generate

from fraud_assets.partitions import range_tags
from fraud_assets.settings import PROJECT_ROOT, Settings


def landing_files(folder: Path, rows: int, files: int, seed: int) -> list[Path]:
    if len(list(folder.glob("*.txt"))) != files:
        customers = max(1, rows // ROWS_PER_CUSTOMER_PER_FILE)
        generate(folder, files, customers, 10_000, seed)
    return sorted(folder.glob("*.txt"))


class Pipeline:
    def __init__(self, settings: Settings) -> None:
        from dagster import DagsterInstance

        from fraud_assets.definitions import build_definitions
        from fraud_assets.features.definitions import process_landed_file

        self.defs = build_definitions(settings)
        self.job = self.defs.resolve_job_def(process_landed_file.name)
        self.instance = DagsterInstance.ephemeral()
        self.landing = self.defs.resources["landing"]

    def run(self, first_day: str, last_day: str, selection: list[str]) -> dict:
        from dagster import AssetKey

        started = time.monotonic()
        result = self.job.execute_in_process(
            instance=self.instance,
            asset_selection=[AssetKey(name) for name in selection],
            tags=range_tags(first_day, last_day),
        )
        seconds = time.monotonic() - started
        assert result.success and all(c.passed for c in result.get_asset_check_evaluations())
        steps = {
            event.step_key: event.event_specific_data.duration_ms / 1000
            for event in result.all_events
            if event.event_type_value == "STEP_SUCCESS"
        }
        return {"seconds": seconds, "steps": steps}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000_000, help="rows per file")
    parser.add_argument("--files", type=int, default=3, help="N + 1 files (at least 3)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument(
        "--ratio-only", action="store_true", help="skip the per-file vs range comparison"
    )
    parser.add_argument("--workdir", type=Path, default=PROJECT_ROOT / "data" / "bench")
    args = parser.parse_args()
    if args.files < 3:
        parser.error("--files must be at least 3 (two files for the range run after a first)")

    from fraud_assets.features.assets import FEATURES
    from fraud_assets.ingestion.assets import CLEANED, QUARANTINED
    from fraud_assets.partitions import file_period

    folder = args.workdir / f"features-landing-{args.rows}x{args.files}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = landing_files(folder, args.rows, args.files, args.seed)
    settings = dataclasses.replace(
        Settings.from_env(),
        data_dir=args.workdir,
        landing_dir=folder,
        storage_dir=args.workdir / f"features-out-{args.rows}x{args.files}",
    )
    pipeline = Pipeline(settings)
    pipeline.defs.resources["spark"].spark_session.range(1).count()
    periods = [file_period(path.name, settings.file_period_days) for path in paths]
    days = [(p.first_day.isoformat(), p.last_day.isoformat()) for p in periods]

    ingestion = ["raw_transactions", CLEANED, QUARANTINED]
    stored = pipeline.defs.resources["parquet_io_manager"]
    for first, last in days:
        if set(stored.published_rows([CLEANED], [first, last])) != {first, last}:
            figures = pipeline.run(first, last, ingestion)
            print(f"ingested {first}..{last} in {figures['seconds']:.1f} s", flush=True)
    cleaned_rows = [
        stored.read_partitions([CLEANED], period.partition_keys).count() for period in periods
    ]

    def features(first: str, last: str) -> float:
        figures = pipeline.run(first, last, [FEATURES])
        return figures["steps"][FEATURES]

    samples: dict[str, list[float]] = {"single": [], "incremental": [], "per_file": [], "range": []}
    with PeakMemory() as memory:
        for prior in range(1, len(days) - 1):
            features(*days[prior])  # the files before N+1 are done first
        for _ in range(args.repeats):
            samples["single"].append(features(*days[0]))
            samples["incremental"].append(features(*days[-1]))
            if not args.ratio_only:
                samples["per_file"].append(features(*days[-2]) + features(*days[-1]))
                samples["range"].append(features(days[-2][0], days[-1][1]))
            print({name: values[-1] for name, values in samples.items() if values}, flush=True)

    median = {name: statistics.median(values) for name, values in samples.items() if values}
    print(f"files: {len(paths)} x ~{args.rows:,} rows; cleaned rows per file {cleaned_rows}")
    print(f"features step, median of {args.repeats} (seconds):")
    lines = {
        "single file (no history)": median["single"],
        f"file N+1 after N={len(days) - 1} (37-day look-back)": median["incremental"],
        "ratio (N+1)-th / single": median["incremental"] / median["single"],
    }
    if not args.ratio_only:
        lines["last two files, one run each"] = median["per_file"]
        lines["last two files, one range run"] = median["range"]
    for label, value in lines.items():
        print(f"  {label:<40} {value:8.2f}")
    print(f"  peak RSS {memory.peak / 1e9:.2f} GB")
    print(json.dumps(samples, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
