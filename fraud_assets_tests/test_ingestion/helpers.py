from datetime import date
from pathlib import Path

from pyspark.sql import SparkSession

from fraud_assets.ingestion.cleaning import classify
from fraud_assets.ingestion.landing import header_lines, parse_landed_file
from fraud_assets.partitions import file_period

ORIGIN = date(2019, 8, 22)
HEADER = (
    "# tranaction_id | tx_datetime | customer_id | terminal_id | tx_amount | tx_time_seconds"
    " | tx_time_days | tx_fraud | tx_fraud_scenario\n"
)


def good_line(tx_id: int, when: str = "2019-08-22 06:51:03", **overrides: str) -> str:
    """A valid line; `when` must lie on 2019-08-22 for the default time columns to agree."""
    hours, minutes, seconds = (int(x) for x in when[11:].split(":"))
    day = int(when[8:10]) - 22
    fields = {
        "transaction_id": str(tx_id),
        "tx_datetime": when,
        "customer_id": "17",
        "terminal_id": "0",
        "tx_amount": "70.91",
        "tx_time_seconds": str(day * 86_400 + hours * 3600 + minutes * 60 + seconds),
        "tx_time_days": str(day),
        "tx_fraud": "0",
        "tx_fraud_scenario": "0",
    }
    fields.update(overrides)
    return ",".join(fields.values())


def write_file(folder: Path, body: bytes | str, name: str = "2019-08-22.txt") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(body.encode() if isinstance(body, str) else body)
    return path


def parse(spark: SparkSession, path: Path, period_days: int = 30):
    skip = header_lines(path.name, path.read_bytes()[:4096])
    return parse_landed_file(
        spark, path.resolve().as_uri(), path.name, file_period(path.name, period_days), skip
    )


def classify_file(spark: SparkSession, path: Path, period_days: int = 30) -> dict[int, dict]:
    """line number -> the classified row as a dict."""
    raw, _ = parse(spark, path, period_days)
    rows = classify(raw, period_days, ORIGIN).collect()
    return {row["line_number"]: row.asDict() for row in rows}
