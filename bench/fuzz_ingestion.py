"""Fuzzing ingestion with generated malformed landing files (NUL bytes, CRLF and CR line ends,
byte-order marks, invalid UTF-8, huge lines, no header, renamed headers, random garbage,
truncation, empty lines).

    uv run python bench/fuzz_ingestion.py --files 10000 --spark-every 100

Every file goes through the line rules (fraud_assets/serving/lines.py: the cleaning rules and
reasons of `cleaned_transactions`, tested equal to the batch quarantine line by line) and the
header rule of the batch ingestion; every `--spark-every`-th file also goes through the Spark
batch path (parse_landed_file + classify). A file passes when it is refused as a whole with a
message naming it (a damaged header), or when its lines all became rows and every row is clean
or quarantined with a reason. Prints a progress line every 1,000 files, then the totals; exits
1 on the first file that crashes or loses a row, and keeps that file.
"""

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fraud_assets.ingestion.landing import RawFileFormatError, header_lines
from fraud_assets.serving.lines import Rejected, line_parser
from fraud_assets_tests.test_ingestion.malformed import (
    DAMAGES,
    FILE_NAME,
    ORIGIN,
    account,
    expected_lines,
    malformed_file,
)


def line_rules_account(data: bytes, parse) -> tuple[str | None, Counter]:
    """Refusal message, or the count of clean lines and of each quarantine reason."""
    try:
        skipped = header_lines(FILE_NAME, data[:65_536])
    except RawFileFormatError as error:
        return str(error), Counter()
    outcomes: Counter = Counter()
    lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for line in lines[skipped:]:
        parsed = parse(line)
        outcomes[parsed.reason if isinstance(parsed, Rejected) else "clean"] += 1
    return None, outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--spark-every", type=int, default=100, help="0: no Spark path")
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--max-lines", type=int, default=40)
    parser.add_argument("--huge-bytes", type=int, default=2_000_000)
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    parse = line_parser(ORIGIN)
    folder = Path(tempfile.mkdtemp(prefix="fraud-fuzz-"))
    spark = None
    if args.spark_every:
        from fraud_assets.resources.spark import SparkResource, default_spark_config
        from fraud_assets.settings import Settings

        config = {**default_spark_config(Settings.from_env()), "spark.master": "local[2]"}
        spark = SparkResource(spark_config=config).spark_session
    totals: Counter = Counter()
    reasons: Counter = Counter()
    spark_files = 0
    started = time.monotonic()
    for number in range(1, args.files + 1):
        damages = rng.sample(DAMAGES, rng.randrange(1, 5))
        data = malformed_file(rng, damages, rng.randrange(args.max_lines), args.huge_bytes)
        path = folder / f"{number:06d}.txt"
        path.write_bytes(data)
        refused, outcomes = line_rules_account(data, parse)
        lines = expected_lines(data)
        if refused is not None:
            ok = FILE_NAME in refused and {"renamed_header", "truncated"} & set(damages)
            totals["refused"] += 1
        else:
            header = lines - sum(outcomes.values())
            ok = header in (0, 1) and "" not in outcomes
            totals["lines"] += sum(outcomes.values())
            reasons.update(outcomes)
        if ok and spark is not None and number % args.spark_every == 0:
            result = account(spark, path)
            spark_files += 1
            ok = (result.refused is not None) == (refused is not None) and (
                result.refused is not None
                or (
                    result.raw_rows == result.lines
                    and result.conserved
                    and result.quarantined_without_reason == 0
                )
            )
        if not ok:
            print(f"FAILED on {path} (damages {damages}): refused={refused} {outcomes}")
            return 1
        path.unlink()
        totals["files"] += 1
        if number % 1_000 == 0:
            rate = number / (time.monotonic() - started)
            print(f"{number:,} files, {totals['lines']:,} lines, {rate:,.0f} files/s", flush=True)
    elapsed = time.monotonic() - started
    print(
        f"{totals['files']:,} malformed files in {elapsed:.0f} s: none crashed, none lost a line;"
        f" {totals['refused']:,} refused as a whole (damaged header), {totals['lines']:,} lines "
        f"({reasons['clean']:,} clean, {totals['lines'] - reasons['clean']:,} quarantined with a "
        f"reason); {spark_files:,} also through the Spark batch path with the same outcome"
    )
    for reason, count in reasons.most_common():
        print(f"  {reason}: {count:,}")
    folder.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
