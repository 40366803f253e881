"""Malformed landing files, and an account of what the batch ingestion makes of one.

Shared by the hypothesis test (test_fuzz.py) and the long run over thousands of files
(bench/fuzz_ingestion.py). A file is built from valid lines of the feed and damaged in the
ways real feeds are: NUL bytes, CRLF or CR line ends, a byte-order mark, invalid UTF-8, huge
lines, no header, a renamed header, random garbage, truncation.
"""

import random
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from fraud_assets.ingestion.cleaning import QUARANTINED, classify
from fraud_assets.ingestion.landing import RawFileFormatError, header_lines, parse_landed_file
from fraud_assets.ingestion.schema import FIELDS
from fraud_assets.partitions import file_period

FILE_NAME = "2019-08-22.txt"
PERIOD_DAYS = 30
ORIGIN = date(2019, 8, 22)
HEADER = ("#" + "|".join(FIELDS)).encode()
DAMAGES = (
    "nul_bytes",
    "crlf",
    "cr_only",
    "byte_order_mark",
    "invalid_utf8",
    "huge_line",
    "no_header",
    "renamed_header",
    "garbage_lines",
    "truncated",
    "empty_lines",
)


def valid_line(rng: random.Random, number: int) -> bytes:
    seconds = rng.randrange(PERIOD_DAYS * 86_400)
    day = seconds // 86_400
    stamp = (datetime.combine(ORIGIN, time()) + timedelta(seconds=seconds)).isoformat(" ")
    fraud = int(rng.random() < 0.01)
    fields = [number, stamp, rng.randrange(500), rng.randrange(200)]
    fields += [f"{rng.uniform(1, 300):.2f}", seconds, day, fraud, fraud * rng.randrange(1, 4)]
    return ",".join(str(field) for field in fields).encode()


def malformed_file(rng: random.Random, damages: list[str], lines: int, huge: int) -> bytes:
    """A landing file of about `lines` lines with the given damages; `huge` bytes per huge
    line."""
    body = [valid_line(rng, 1_000 + n) for n in range(lines)]
    for damage in damages:
        at = rng.randrange(len(body)) if body else 0
        if damage == "nul_bytes" and body:
            line = body[at]
            cut = rng.randrange(len(line) + 1)
            body[at] = line[:cut] + b"\x00" * rng.randrange(1, 4) + line[cut:]
        elif damage == "invalid_utf8":
            body.insert(at, rng.choice([b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80"]) + b",1,2")
        elif damage == "huge_line":
            body.insert(at, b"9" * huge)
        elif damage == "garbage_lines":
            for _ in range(rng.randrange(1, 5)):
                size = rng.randrange(1, 200)
                body.insert(rng.randrange(len(body) + 1), rng.randbytes(size).replace(b"\n", b""))
        elif damage == "empty_lines":
            body.insert(at, b"")
    header = [] if "no_header" in damages else [HEADER]
    if "renamed_header" in damages:
        header = [HEADER.replace(b"customer_id", b"client_id")]
    separator = b"\r\n" if "crlf" in damages else b"\r" if "cr_only" in damages else b"\n"
    data = separator.join(header + body) + separator
    if "byte_order_mark" in damages:
        data = b"\xef\xbb\xbf" + data
    if "truncated" in damages and len(data) > 2:
        data = data[: rng.randrange(1, len(data))]
    return data


def expected_lines(data: bytes) -> int:
    """Lines as Hadoop's text reader splits them: at LF, CR or CRLF; a last line without an
    end counts, an empty last piece does not."""
    pieces = re.split(rb"\r\n|\n|\r", data)
    if pieces and pieces[-1] == b"":
        pieces.pop()
    return len(pieces)


@dataclass(frozen=True)
class Account:
    """What ingestion made of a file: refused as a whole (with the reason), or its rows."""

    lines: int
    refused: str | None = None
    raw_rows: int = 0
    statuses: tuple[tuple[str, int], ...] = ()
    quarantined_without_reason: int = 0

    @property
    def conserved(self) -> bool:
        if self.refused is not None:
            return True
        return sum(count for _, count in self.statuses) == self.raw_rows


def account(spark: SparkSession, path: Path) -> Account:
    """Runs the batch ingestion's own functions on one file and counts its rows by status."""
    data = path.read_bytes()
    lines = expected_lines(data)
    try:
        skipped = header_lines(FILE_NAME, data[:65_536])
    except RawFileFormatError as error:
        return Account(lines=lines, refused=str(error))
    raw, raw_rows = parse_landed_file(
        spark, str(path), FILE_NAME, file_period(FILE_NAME, PERIOD_DAYS), skipped
    )
    classified = classify(raw, PERIOD_DAYS, ORIGIN)
    counts = (
        classified.groupBy("status")
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.sum(((F.col("status") == QUARANTINED) & F.col("reason").isNull()).cast("int")),
        )
        .collect()
    )
    return Account(
        lines=lines - skipped,
        raw_rows=raw_rows,
        statuses=tuple(sorted((row[0], row[1]) for row in counts)),
        quarantined_without_reason=sum(row[2] or 0 for row in counts),
    )
