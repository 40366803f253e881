"""Raw transaction files in the landing format (DATA.md §1), written one day at a time."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from fraud_assets.datagen.defects import DefectRates, break_line, pick
from fraud_assets.datagen.simulator import (
    SECONDS_PER_DAY,
    DayTransactions,
    Drift,
    FraudState,
    make_population,
    simulate_day,
)

HEADER = (
    b"# tranaction_id | tx_datetime | customer_id | terminal_id | tx_amount | tx_time_seconds"
    b" | tx_time_days | tx_fraud | tx_fraud_scenario\n"
)
SENTINEL_CUSTOMER_ID = -999_999
_LINE_DEFECTS = ("wrong_column_count", "non_numeric_field", "bad_encoding")


@dataclass(frozen=True)
class GeneratorConfig:
    customers: int = 2_000
    terminals: int = 1_000
    files: int = 2
    days_per_file: int = 30
    start_date: date = date(2019, 8, 22)
    # The day tx_time_seconds / tx_time_days count from (the pipeline's FRAUD_TIME_ORIGIN);
    # None: the start date, as a feed that counts from its own first day.
    time_origin: date | None = None
    seed: int = 42
    first_transaction_id: int = 0
    defects: DefectRates = field(default_factory=DefectRates)
    empty_files: tuple[int, ...] = ()
    header_only_files: tuple[int, ...] = ()
    drift: Drift | None = None


@dataclass
class FileSummary:
    name: str
    first_day: date
    lines: int = 0
    defects: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str, n: int) -> None:
        if n:
            self.defects[kind] = self.defects.get(kind, 0) + n


def _text(values: pa.Array | np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def format_day(
    day_tx: DayTransactions,
    first_id: int,
    rates: DefectRates,
    rng: np.random.Generator,
    summary: FileSummary,
    start: date,
    origin: date,
) -> bytes:
    """The lines of one day, with row and line defects injected at their rates. `start` is the
    simulation's first day (where `day_tx.seconds` count from), `origin` the feed's."""
    n = len(day_tx)
    seconds = day_tx.seconds.copy()
    midnight = pick(n, rates.midnight_as_24h, rng)
    day_start = (seconds[midnight] // SECONDS_PER_DAY) * SECONDS_PER_DAY
    seconds[midnight] = day_start

    start_time = np.datetime64(start, "s")
    timestamps = pa.array((start_time + seconds.astype("timedelta64[s]")).astype("datetime64[s]"))
    datetime_text = pc.strftime(timestamps, format="%Y-%m-%d %H:%M:%S").to_numpy(
        zero_copy_only=False
    )
    for row in midnight:
        previous = start + timedelta(days=int(seconds[row] - 1) // SECONDS_PER_DAY)
        datetime_text[row] = f"{previous.isoformat()} 24:00:00"
    summary.count("midnight_as_24h", len(midnight))

    customer_text = _text(day_tx.customer_id).to_numpy(zero_copy_only=False)
    sentinel = pick(n, rates.sentinel_customer_id, rng)
    customer_text[sentinel] = str(SENTINEL_CUSTOMER_ID)
    summary.count("sentinel_customer_id", len(sentinel))

    terminal_text = _text(day_tx.terminal_id).to_numpy(zero_copy_only=False)
    empty_terminal = pick(n, rates.empty_terminal_id, rng)
    terminal_text[empty_terminal] = ""
    summary.count("empty_terminal_id", len(empty_terminal))

    amount_text = pc.cast(
        pa.array(day_tx.amount).cast(pa.decimal128(14, 2), safe=False), pa.string()
    ).to_numpy(zero_copy_only=False)
    non_positive = pick(n, rates.non_positive_amount, rng)
    for row in non_positive:
        amount_text[row] = "0.00" if rng.random() < 0.75 else f"-{amount_text[row]}"
    summary.count("non_positive_amount", len(non_positive))

    feed_seconds = seconds + (start - origin).days * SECONDS_PER_DAY
    table = pa.table(
        {
            "id": _text(np.arange(first_id, first_id + n, dtype=np.int64)),
            "datetime": pa.array(datetime_text, pa.string()),
            "customer": pa.array(customer_text, pa.string()),
            "terminal": pa.array(terminal_text, pa.string()),
            "amount": pa.array(amount_text, pa.string()),
            "seconds": _text(feed_seconds),
            "days": _text(feed_seconds // SECONDS_PER_DAY),
            "fraud": _text(day_tx.fraud),
            "scenario": _text(day_tx.scenario),
        }
    )
    buffer = io.BytesIO()
    pacsv.write_csv(
        table,
        buffer,
        pacsv.WriteOptions(include_header=False, quoting_style="none", delimiter=","),
    )
    body = buffer.getvalue()

    line_defects = {kind: pick(n, getattr(rates, kind), rng) for kind in _LINE_DEFECTS}
    duplicates = pick(n, rates.duplicate_row, rng)
    if not any(len(rows) for rows in line_defects.values()) and not len(duplicates):
        return body
    lines = body.split(b"\n")[:-1]
    for kind, rows in line_defects.items():
        for row in rows:
            lines[row] = break_line(lines[row], kind, rng)
        summary.count(kind, len(rows))
    for row in sorted(duplicates.tolist(), reverse=True):
        lines.insert(row + 1 + int(rng.integers(0, 50)), lines[row])
    summary.count("duplicate_row", len(duplicates))
    return b"\n".join(lines) + b"\n"


def generate(
    config: GeneratorConfig, progress: Callable[[FileSummary, int, int], None] | None = None
) -> Iterator[tuple[FileSummary, Iterator[bytes]]]:
    """Yields each file's summary and a stream of its byte chunks, one chunk per day.

    The chunks of a file must be consumed before the next file is asked for: the simulation
    state (compromised terminals and customers, transaction ids) runs on from file to file.
    """
    rng = np.random.default_rng(config.seed)
    origin = config.time_origin or config.start_date
    population = make_population(config.customers, config.terminals, rng)
    state = FraudState()
    next_id = config.first_transaction_id

    def chunks(index: int, summary: FileSummary) -> Iterator[bytes]:
        nonlocal next_id
        # Defects draw from a stream of their own, so the simulated transactions (and the
        # ids of later files) are the same whatever defects or empty files are asked for.
        defect_rng = np.random.default_rng([config.seed, index])
        writes = index not in config.empty_files
        if writes:
            yield HEADER
        for offset in range(config.days_per_file):
            day = summary.first_day + timedelta(days=offset)
            day_tx = simulate_day(
                day, population, state, rng, start=config.start_date, drift=config.drift
            )
            first_id, next_id = next_id, next_id + len(day_tx)
            if not writes or index in config.header_only_files:
                continue
            body = format_day(
                day_tx, first_id, config.defects, defect_rng, summary, config.start_date, origin
            )
            summary.lines += body.count(b"\n")
            last_day = offset == config.days_per_file - 1
            if last_day and defect_rng.random() < config.defects.truncated_last_line:
                cut = body.rstrip(b"\n").rfind(b"\n") + 1
                last_line = body[cut:].rstrip(b"\n")
                body = body[:cut] + last_line[: max(1, len(last_line) // 2)]
                summary.count("truncated_last_line", 1)
            if progress:
                progress(summary, offset + 1, config.days_per_file)
            yield body

    for index in range(config.files):
        first_day = config.start_date + timedelta(days=index * config.days_per_file)
        summary = FileSummary(name=f"{first_day.isoformat()}.txt", first_day=first_day)
        yield summary, chunks(index, summary)
