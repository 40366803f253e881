"""The ingestion rules of fraud_assets.ingestion in DuckDB SQL: the single-node reference that
the Spark pipeline is measured against. Same inputs, same outputs (raw, cleaned, quarantined
parquet partitioned by day), same row counts."""

from __future__ import annotations

from pathlib import Path

import duckdb

from fraud_assets.ingestion.schema import FIELDS, SENTINEL_CUSTOMER_ID


def _int(name: str) -> str:
    pattern = "'[ ]*[+-]?[0-9]{1,18}[ ]*'"
    return f"CASE WHEN regexp_full_match({name}, {pattern}) THEN TRY_CAST({name} AS BIGINT) END"


def ingest(
    path: Path, source_file: str, first_day: str, period_days: int, out: Path, time_origin: str
) -> dict:
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET enable_progress_bar = false")
    out.mkdir(parents=True, exist_ok=True)
    fields = ",\n".join(
        f"CASE WHEN well_formed THEN parts[{i + 1}] END AS {name}" for i, name in enumerate(FIELDS)
    )
    con.execute(
        f"""
        CREATE TEMP TABLE raw AS
        WITH lines AS (
            SELECT row_number() OVER () AS line_number, line
            FROM read_csv('{path}', columns={{'line': 'VARCHAR'}}, delim=E'\\x01', quote='',
                          escape='', header=false, auto_detect=false, strict_mode=false,
                          encoding='latin-1')
        ), split AS (
            SELECT *, string_split(line, ',') AS parts,
                   CASE WHEN line = '' OR line IS NULL THEN 0
                        ELSE len(string_split(line, ',')) END AS field_count
            FROM lines WHERE NOT (line_number = 1 AND starts_with(line, '#'))
        ), shaped AS (
            -- Read as latin-1 (DuckDB refuses invalid UTF-8); the feed is ASCII, so any other
            -- byte marks a badly encoded line.
            SELECT *, field_count = 9 AND NOT regexp_matches(line, '[^\x01-\x7f]')
                      AS well_formed FROM split
        )
        SELECT '{source_file}' AS source_file, line_number, {fields}, field_count,
               CASE WHEN NOT well_formed THEN line END AS raw_line
        FROM shaped
        """
    )
    con.execute(
        f"""
        CREATE TEMP TABLE raw_days AS
        SELECT *, strftime(LEAST(GREATEST(COALESCE(
                   TRY_CAST(substr(tx_datetime, 1, 10) AS DATE)
                   + CASE WHEN substr(tx_datetime, 12, 8) = '24:00:00' THEN 1 ELSE 0 END,
                   DATE '{first_day}'), DATE '{first_day}'),
                   DATE '{first_day}' + {period_days - 1}), '%Y-%m-%d') AS day
        FROM raw
        """
    )
    typed = f"""
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
        FROM raw_days
    """
    missing = "\n".join(f"WHEN trim({name}) = '' THEN 'missing_{name}'" for name in FIELDS)
    invalid = "\n".join(
        f"WHEN {typed_name} IS NULL THEN 'invalid_{name}'"
        for name, typed_name in zip(
            FIELDS,
            (
                "t_id",
                "t_dt",
                "t_customer",
                "t_terminal",
                "t_amount",
                "t_seconds",
                "t_days",
                "t_fraud",
                "t_scenario",
            ),
            strict=True,
        )
    )
    con.execute(
        f"""
        CREATE TEMP TABLE classified AS
        WITH typed AS ({typed}), reasoned AS (
            SELECT *, CASE
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
            END AS row_reason,
            CASE WHEN field_count = 9 THEN transaction_id
                 ELSE chr(0) || source_file || ':' || line_number END AS k,
            hash({", ".join(FIELDS)}) AS content
            FROM typed
        ), compared AS (
            SELECT *,
                row_number() OVER (PARTITION BY k ORDER BY source_file, line_number) AS copy,
                min(content) OVER (PARTITION BY k) != max(content) OVER (PARTITION BY k)
                    AS conflict
            FROM reasoned
        )
        SELECT *, COALESCE(row_reason,
                           CASE WHEN conflict THEN 'conflicting_transaction_id' END) AS reason,
               CASE WHEN COALESCE(row_reason,
                                  CASE WHEN conflict THEN 'x' END) IS NOT NULL THEN 'quarantined'
                    WHEN copy > 1 THEN 'duplicate' ELSE 'clean' END AS status
        FROM compared
        """
    )
    for name, query in {
        "raw": "SELECT * FROM raw_days",
        "cleaned": """SELECT t_id AS transaction_id, t_dt AS tx_datetime,
                   t_customer AS customer_id, t_terminal AS terminal_id, t_amount AS tx_amount,
                   t_seconds AS tx_time_seconds, t_days::INT AS tx_time_days,
                   t_fraud::INT AS tx_fraud, t_scenario::INT AS tx_fraud_scenario,
                   source_file, line_number, day
                   FROM classified WHERE status = 'clean'""",
        "quarantined": f"""SELECT source_file, line_number, day, reason, {", ".join(FIELDS)},
                   raw_line FROM classified WHERE status = 'quarantined'""",
    }.items():
        con.execute(
            f"COPY ({query}) TO '{out / name}' "
            "(FORMAT parquet, PARTITION_BY (day), COMPRESSION zstd, OVERWRITE_OR_IGNORE)"
        )
    counts = dict(con.execute("SELECT status, count(*) FROM classified GROUP BY 1").fetchall())
    counts["raw"] = con.execute("SELECT count(*) FROM raw_days").fetchone()[0]
    return counts
