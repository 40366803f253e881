"""`fraud-datagen`: write simulated raw transaction files to a folder or an s3:// prefix."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, fields
from datetime import date
from pathlib import Path

from pyarrow import fs as pafs

from fraud_assets.datagen.defects import DefectRates
from fraud_assets.datagen.files import FileSummary, GeneratorConfig, generate
from fraud_assets.datagen.simulator import Drift
from fraud_assets.resources.s3 import S3Config, split_s3_url
from fraud_assets.settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fraud-datagen",
        description="Simulate card transactions and write them as raw landing files "
        "(one file per period, named after its first day).",
    )
    defaults = GeneratorConfig()
    parser.add_argument("--out", required=True, help="a folder, or s3://bucket/prefix")
    parser.add_argument("--customers", type=int, default=defaults.customers)
    parser.add_argument("--terminals", type=int, default=defaults.terminals)
    parser.add_argument("--files", type=int, default=defaults.files)
    parser.add_argument("--days-per-file", type=int, default=defaults.days_per_file)
    parser.add_argument("--start-date", type=date.fromisoformat, default=defaults.start_date)
    parser.add_argument(
        "--time-origin",
        type=date.fromisoformat,
        default=None,
        help="day tx_time_seconds / tx_time_days count from (default: FRAUD_TIME_ORIGIN, or "
        "FRAUD_PARTITIONS_START, as the pipeline expects)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--first-transaction-id", type=int, default=defaults.first_transaction_id)
    parser.add_argument(
        "--only-file",
        type=int,
        action="append",
        default=None,
        help="write only this file (0-based index; repeatable); the others are still "
        "simulated so ids and fraud state are the same as in a full run",
    )
    parser.add_argument("--empty-file", type=int, action="append", default=[], help="0-based index")
    parser.add_argument(
        "--header-only-file", type=int, action="append", default=[], help="0-based index"
    )
    parser.add_argument(
        "--no-defects", action="store_true", help="write clean files (all defect rates 0)"
    )
    parser.add_argument(
        "--defect-scale",
        type=float,
        default=1.0,
        help="multiply every defect rate, e.g. 1000 for a small file that shows every defect",
    )
    for spec in fields(DefectRates):
        parser.add_argument(
            f"--rate-{spec.name.replace('_', '-')}",
            type=float,
            default=None,
            help=f"per-row probability (per file for truncated-last-line); default {spec.default}",
        )
    parser.add_argument(
        "--drift-from",
        type=date.fromisoformat,
        default=None,
        help="the day the world changes (for monitoring tests and demos)",
    )
    parser.add_argument(
        "--drift-amount-factor",
        type=float,
        default=1.0,
        help="from --drift-from on, every amount times this (labels unchanged)",
    )
    parser.add_argument(
        "--drift-card-testing",
        type=int,
        default=0,
        help="from --drift-from on, stolen cards a day trying bursts of tiny night amounts",
    )
    parser.add_argument("--quiet", action="store_true")
    return parser


def _rates(args: argparse.Namespace) -> DefectRates:
    rates = DefectRates.none() if args.no_defects else DefectRates()
    rates = rates.scaled(args.defect_scale)
    overrides = {
        spec.name: getattr(args, f"rate_{spec.name}")
        for spec in fields(DefectRates)
        if getattr(args, f"rate_{spec.name}") is not None
    }
    return DefectRates(**{**asdict(rates), **overrides})


def _open_output(out: str) -> tuple[pafs.FileSystem, str]:
    if out.startswith("s3://"):
        bucket, prefix = split_s3_url(out)
        connection = S3Config.from_settings(Settings.from_env().s3)
        return connection.filesystem(), f"{bucket}/{prefix}".rstrip("/")
    Path(out).mkdir(parents=True, exist_ok=True)
    return pafs.LocalFileSystem(), str(Path(out).resolve())


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config = GeneratorConfig(
        customers=args.customers,
        terminals=args.terminals,
        files=args.files,
        days_per_file=args.days_per_file,
        start_date=args.start_date,
        time_origin=args.time_origin or Settings.from_env().feed_time_origin,
        seed=args.seed,
        first_transaction_id=args.first_transaction_id,
        defects=_rates(args),
        empty_files=tuple(args.empty_file),
        header_only_files=tuple(args.header_only_file),
        drift=Drift(args.drift_from, args.drift_amount_factor, args.drift_card_testing)
        if args.drift_from
        else None,
    )
    filesystem, root = _open_output(args.out)
    started = time.monotonic()

    def progress(summary: FileSummary, day: int, days: int) -> None:
        if not args.quiet:
            rate = summary.lines / max(time.monotonic() - file_started, 1e-9)
            print(
                f"\r{summary.name}: day {day}/{days}, {summary.lines:,} lines, {rate:,.0f} lines/s",
                end="",
                file=sys.stderr,
                flush=True,
            )

    for index, (summary, chunks) in enumerate(generate(config, progress)):
        file_started = time.monotonic()
        if args.only_file is not None and index not in args.only_file:
            for _ in chunks:
                pass
            continue
        target = f"{root}/{summary.name}"
        partial = f"{root}/.{summary.name}.partial"
        with filesystem.open_output_stream(partial) as stream:
            for chunk in chunks:
                stream.write(chunk)
        filesystem.move(partial, target)
        if not args.quiet:
            print(file=sys.stderr)
        print(json.dumps({"file": target, "lines": summary.lines, "defects": summary.defects}))
    if not args.quiet:
        print(f"done in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
