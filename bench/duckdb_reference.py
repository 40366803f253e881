"""The ingestion rules of fraud_assets.ingestion in DuckDB SQL: the single-node reference that
the Spark pipeline is measured against. Same inputs, same outputs (raw, cleaned, quarantined
parquet partitioned by day, snappy as Spark writes them), same row counts.

Tuned as far as DuckDB allows on the same two cores: the lines are numbered into a table of
their own, then split in parallel into the raw rows, which stay in DuckDB's columnar memory for
the raw parquet COPY and for classification (the Spark assets read the staged raw parquet back
instead). Duplicates are decided on the repeated ids only (an aggregate of one column, joined
back), and the classified rows are kept once, narrow (the text only where a row is quarantined),
for the two COPYs that write cleaned and quarantined.

    uv run python bench/duckdb_reference.py data/bench/landing-5000000/2019-08-22.txt \
        --compare-with /tmp/earlier_reference.py
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from fraud_assets.ingestion.schema import FIELDS, SENTINEL_CUSTOMER_ID
from fraud_assets.partitions import file_period
from fraud_assets.settings import Settings

_TYPED = (
    "t_id",
    "t_dt",
    "t_customer",
    "t_terminal",
    "t_amount",
    "t_seconds",
    "t_days",
    "t_fraud",
    "t_scenario",
)
_WRITE = "FORMAT parquet, PARTITION_BY (day), COMPRESSION snappy, OVERWRITE_OR_IGNORE"


def _int(name: str) -> str:
    pattern = "'[ ]*[+-]?[0-9]{1,18}[ ]*'"
    return f"CASE WHEN regexp_full_match({name}, {pattern}) THEN TRY_CAST({name} AS BIGINT) END"


def _raw_query(lines: str, source_file: str, first_day: str, period_days: int) -> str:
    """Every numbered line of the table `lines` as a raw row: split once, with its day."""
    fields = ",\n".join(
        f"CASE WHEN well_formed THEN parts[{i + 1}] END AS {name}" for i, name in enumerate(FIELDS)
    )
    return f"""
        WITH split AS (
            SELECT line_number, line, string_split(line, ',') AS parts
            FROM {lines} WHERE NOT (line_number = 1 AND starts_with(line, '#'))
        ), shaped AS (
            SELECT *, CASE WHEN line = '' OR line IS NULL THEN 0 ELSE len(parts) END
                          AS field_count
            FROM split
        ), formed AS (
            -- Read as latin-1 (DuckDB refuses invalid UTF-8); the feed is ASCII, so any other
            -- byte marks a badly encoded line.
            SELECT *, field_count = 9 AND NOT regexp_matches(line, '[^\x01-\x7f]')
                      AS well_formed FROM shaped
        ), rows AS (
            SELECT '{source_file}' AS source_file, line_number, {fields}, field_count,
                   CASE WHEN NOT well_formed THEN line END AS raw_line
            FROM formed
        )
        SELECT *, strftime(LEAST(GREATEST(COALESCE(
                   TRY_CAST(substr(tx_datetime, 1, 10) AS DATE)
                   + CASE WHEN substr(tx_datetime, 12, 8) = '24:00:00' THEN 1 ELSE 0 END,
                   DATE '{first_day}'), DATE '{first_day}'),
                   DATE '{first_day}' + {period_days - 1}), '%Y-%m-%d') AS day
        FROM rows
    """


def _classified_query(raw: str, first_day: str, period_days: int, time_origin: str) -> str:
    """Every raw row with its status and reason, the typed fields, and the text fields only
    for quarantined rows."""
    missing = "\n".join(f"WHEN trim({name}) = '' THEN 'missing_{name}'" for name in FIELDS)
    invalid = "\n".join(
        f"WHEN {typed} IS NULL THEN 'invalid_{name}'"
        for name, typed in zip(FIELDS, _TYPED, strict=True)
    )
    content = f"hash({', '.join(FIELDS)})"
    kept_text = ", ".join(
        f"CASE WHEN status = 'quarantined' THEN {name} END AS {name}"
        for name in (*FIELDS, "raw_line")
    )
    return f"""
        WITH typed AS (
            SELECT *,
                {_int("transaction_id")} AS t_id,
                CASE WHEN length(tx_datetime) = 19 THEN
                    CASE WHEN substr(tx_datetime, 12, 8) = '24:00:00'
                         THEN TRY_CAST(substr(tx_datetime, 1, 10) AS DATE) + INTERVAL 1 DAY
                         ELSE TRY_STRPTIME(tx_datetime, '%Y-%m-%d %H:%M:%S') END END AS t_dt,
                {_int("customer_id")} AS t_customer, {_int("terminal_id")} AS t_terminal,
                CASE WHEN regexp_full_match(tx_amount, '-?[0-9]{{1,12}}(\\.[0-9]{{1,6}})?')
                     THEN TRY_CAST(tx_amount AS DOUBLE) END AS t_amount,
                {_int("tx_time_seconds")} AS t_seconds, {_int("tx_time_days")} AS t_days,
                {_int("tx_fraud")} AS t_fraud, {_int("tx_fraud_scenario")} AS t_scenario
            FROM {raw}
        ), repeated AS (
            -- A feed repeats few ids: compare content on those only, not on every row.
            SELECT t_id AS r_id, min({content}) != max({content}) AS conflict,
                   min(line_number) AS first_line
            FROM typed WHERE field_count = 9 AND t_id IS NOT NULL
            GROUP BY t_id HAVING count(*) > 1
        ), reasoned AS (
            SELECT typed.*, repeated.conflict, repeated.first_line, CASE
                WHEN field_count = 0 THEN 'blank_line'
                WHEN field_count != 9 THEN 'wrong_column_count'
                WHEN raw_line IS NOT NULL THEN 'bad_encoding'
                {missing}
                {invalid}
                WHEN t_id < 0 THEN 'invalid_transaction_id'
                WHEN t_customer = {SENTINEL_CUSTOMER_ID} THEN 'sentinel_customer_id'
                WHEN t_customer < 0 THEN 'invalid_customer_id'
                WHEN t_terminal < 0 THEN 'invalid_terminal_id'
                WHEN t_fraud NOT IN (0, 1) THEN 'invalid_tx_fraud'
                WHEN t_scenario NOT IN (0, 1, 2, 3) THEN 'invalid_tx_fraud_scenario'
                WHEN (t_fraud = 1) != (t_scenario > 0) THEN 'inconsistent_label'
                WHEN t_amount <= 0 THEN 'non_positive_amount'
                WHEN t_seconds != epoch(t_dt) - epoch(TIMESTAMP '{time_origin}')
                     OR t_days != floor(t_seconds / 86400) THEN 'inconsistent_time'
                WHEN t_dt < TIMESTAMP '{first_day}'
                     OR t_dt >= TIMESTAMP '{first_day}' + INTERVAL {period_days} DAY
                     THEN 'outside_file_period'
                WHEN field_count = 9 AND repeated.conflict THEN 'conflicting_transaction_id'
            END AS reason
            FROM typed LEFT JOIN repeated ON typed.t_id = repeated.r_id
        ), decided AS (
            SELECT *, CASE WHEN reason IS NOT NULL THEN 'quarantined'
                           WHEN field_count = 9 AND line_number != first_line THEN 'duplicate'
                           ELSE 'clean' END AS status
            FROM reasoned
        )
        SELECT source_file, line_number, day, {kept_text}, {", ".join(_TYPED)}, status, reason
        FROM decided
    """


def ingest(
    path: Path, source_file: str, first_day: str, period_days: int, out: Path, time_origin: str
) -> dict:
    con = duckdb.connect()
    # Line numbers come from the order of the lines as read.
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET enable_progress_bar = false")
    out.mkdir(parents=True, exist_ok=True)
    # Numbering the lines alone first: a window in the middle of the parsing pipeline would
    # run all of it on one thread (text to raw parquet: 15 s against 6.5 s on 5M lines).
    con.execute(
        f"""CREATE TEMP TABLE lines AS
        SELECT row_number() OVER () AS line_number, line
        FROM read_csv('{path}', columns={{'line': 'VARCHAR'}}, delim=E'\\x01', quote='',
                      escape='', header=false, auto_detect=false, strict_mode=false,
                      encoding='latin-1')"""
    )
    con.execute(
        "CREATE TEMP TABLE raw AS " + _raw_query("lines", source_file, first_day, period_days)
    )
    con.execute("DROP TABLE lines")
    raw_rows = con.execute(f"COPY raw TO '{out / 'raw'}' ({_WRITE})").fetchone()[0]
    con.execute(
        "CREATE TEMP TABLE classified AS "
        + _classified_query("raw", first_day, period_days, time_origin)
    )
    con.execute("DROP TABLE raw")
    for name, query in {
        "cleaned": """SELECT t_id AS transaction_id, t_dt AS tx_datetime,
                   t_customer AS customer_id, t_terminal AS terminal_id, t_amount AS tx_amount,
                   t_seconds AS tx_time_seconds, t_days::INT AS tx_time_days,
                   t_fraud::INT AS tx_fraud, t_scenario::INT AS tx_fraud_scenario,
                   source_file, line_number, day
                   FROM classified WHERE status = 'clean'""",
        "quarantined": f"""SELECT source_file, line_number, day, reason, {", ".join(FIELDS)},
                   raw_line FROM classified WHERE status = 'quarantined'""",
    }.items():
        con.execute(f"COPY ({query}) TO '{out / name}' ({_WRITE})")
    counts = dict(con.execute("SELECT status, count(*) FROM classified GROUP BY 1").fetchall())
    counts["raw"] = raw_rows
    return counts


def main() -> int:
    """Times this reference against another version of it (e.g. one from git history) on the
    same landing file, alternately, and checks that both give the same counts. The file's
    period and the feed's time origin default to the settings' (FRAUD_FILE_PERIOD_DAYS,
    FRAUD_TIME_ORIGIN)."""
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("landing_file", type=Path)
    parser.add_argument("--compare-with", type=Path, required=True, help="another reference")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--period-days", type=int, default=settings.file_period_days)
    parser.add_argument("--time-origin", default=settings.feed_time_origin.isoformat())
    args = parser.parse_args()
    spec = importlib.util.spec_from_file_location("other_reference", args.compare_with)
    other = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(other)
    first_day = file_period(args.landing_file.name, args.period_days).first_day.isoformat()
    seconds: dict[str, list[float]] = {"this": [], "other": []}
    for round_number in range(args.repeats):
        counts = {}
        for name, run in (("other", other.ingest), ("this", ingest)):
            with tempfile.TemporaryDirectory() as out:
                started = time.monotonic()
                counts[name] = run(
                    args.landing_file,
                    args.landing_file.name,
                    first_day,
                    args.period_days,
                    Path(out),
                    args.time_origin,
                )
                seconds[name].append(round(time.monotonic() - started, 1))
            print(f"round {round_number + 1}, {name}: {seconds[name][-1]} s {counts[name]}")
        if counts["this"] != counts["other"]:
            print(f"the two references count differently: {counts}", file=sys.stderr)
            return 1
    print(json.dumps(seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
