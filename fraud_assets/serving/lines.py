"""One raw line at a time, by the rules `cleaned_transactions` applies to a whole file.

The rules and their order are those of `ingestion.cleaning` (the first rule a line breaks is its
reason, with the same reason codes); a test runs both on the same defective lines. Two rules
need a file and do not apply to a stream: the file's period and ids held by other files.
Repeated ids are the online state's to judge, since only it knows what was seen before.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from fraud_assets.features.transforms import SECONDS_PER_DAY
from fraud_assets.ingestion.cleaning import Reason
from fraud_assets.ingestion.schema import DATETIME_SHAPE, FIELDS, SENTINEL_CUSTOMER_ID

_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")
_AMOUNT = re.compile(r"-?[0-9]{1,12}(\.[0-9]{1,6})?")
_DATETIME = re.compile(DATETIME_SHAPE)
_LONG_MAX = 2**63 - 1
_EPOCH = datetime(1970, 1, 1)
# Spark's cast trims these around a number before reading it.
_BLANKS = "".join(chr(code) for code in range(33))


@dataclass(frozen=True, slots=True)
class Transaction:
    """A valid transaction. `seconds` is its written wall-clock time as seconds since
    1970-01-01 (no time zone), as the batch features read it; `fraud` is None when the label
    is not known yet."""

    transaction_id: int
    seconds: int
    customer_id: int
    terminal_id: int
    amount: float
    fraud: int | None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A line that is not a valid transaction, with the reason `cleaned_transactions` gives."""

    reason: str
    text: str


def _whole_number(text: str) -> int | None:
    stripped = text.strip(_BLANKS)
    if not _WHOLE_NUMBER.fullmatch(stripped):
        return None
    value = int(stripped)
    return value if -_LONG_MAX - 1 <= value <= _LONG_MAX else None


def wall_clock_seconds(text: str) -> int | None:
    """Seconds since 1970-01-01 of a `YYYY-MM-DD HH:MM:SS` text; `24:00:00` is the next
    midnight; None when the text is not such a time."""
    if not _DATETIME.match(text):
        return None
    try:
        if text[11:] == "24:00:00":
            moment = datetime.fromisoformat(text[:10]) + timedelta(days=1)
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment - _EPOCH) // timedelta(seconds=1)


def parse_line(raw: bytes, origin: date) -> Transaction | Rejected:
    """The transaction a raw line holds, or why it holds none. `origin` is the day the feed's
    time columns count from (Settings.feed_time_origin)."""
    return _parse(raw, (origin - _EPOCH.date()).days * SECONDS_PER_DAY)


def line_parser(origin: date) -> Callable[[bytes], Transaction | Rejected]:
    """`parse_line` with its origin fixed, for many lines."""
    origin_seconds = (origin - _EPOCH.date()).days * SECONDS_PER_DAY
    return lambda raw: _parse(raw, origin_seconds)


def _parse(raw: bytes, origin_seconds: int) -> Transaction | Rejected:
    fast = _parse_plain(raw, origin_seconds)
    return fast if fast is not None else _parse_any(raw, origin_seconds)


_DAY_NUMBERS: dict[str, int | None] = {}


def _day_number(text: str) -> int | None:
    """Days since 1970-01-01 of a YYYY-MM-DD text (None if no such day), remembered: a feed
    repeats the same few days."""
    try:
        return _DAY_NUMBERS[text]
    except KeyError:
        try:
            number = (date.fromisoformat(text) - _EPOCH.date()).days
        except ValueError:
            number = None
        if len(_DAY_NUMBERS) < 100_000:
            _DAY_NUMBERS[text] = number
        return number


def _parse_plain(raw: bytes, origin_seconds: int) -> Transaction | None:
    """The common line, all ASCII digits where numbers go and valid throughout, read in one
    pass; None for anything else, which the full rules then judge."""
    if not raw.isascii():
        return None
    fields = raw.decode("ascii").rstrip("\r\n").split(",")
    if len(fields) != len(FIELDS):
        return None
    number, moment, customer, terminal, amount, time_seconds, time_days, fraud, scenario = fields
    if not (
        max(len(number), len(customer), len(terminal), len(time_seconds), len(time_days)) < 19
        and number.isdigit()
        and customer.isdigit()
        and terminal.isdigit()
        and time_seconds.isdigit()
        and time_days.isdigit()
        and fraud in ("0", "1")
        and scenario in ("0", "1", "2", "3")
        and (fraud == "1") == (scenario != "0")
        and _AMOUNT.fullmatch(amount)
        and _DATETIME.match(moment)
    ):
        return None
    day = _day_number(moment[:10])
    hour, minute, second = int(moment[11:13]), int(moment[14:16]), int(moment[17:19])
    if day is None or hour > 23 or minute > 59 or second > 59:
        return None
    seconds = day * SECONDS_PER_DAY + hour * 3_600 + minute * 60 + second
    value = float(amount)
    elapsed, days = int(time_seconds), int(time_days)
    if value <= 0 or elapsed != seconds - origin_seconds or days != elapsed // SECONDS_PER_DAY:
        return None
    return Transaction(int(number), seconds, int(customer), int(terminal), value, int(fraud))


def _parse_any(raw: bytes, origin_seconds: int) -> Transaction | Rejected:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        line = None
    text = line if line is not None else raw.decode("utf-8", errors="replace")
    text = text.rstrip("\r\n")
    if text == "":
        return Rejected(Reason.BLANK_LINE.value, text)
    fields = text.split(",")
    if len(fields) != len(FIELDS):
        return Rejected(Reason.WRONG_COLUMN_COUNT.value, text)
    if line is None:
        return Rejected(Reason.BAD_ENCODING.value, text)
    for name, value in zip(FIELDS, fields, strict=True):
        if value == "":
            return Rejected(f"missing_{name}", text)
    transaction_id = _whole_number(fields[0])
    seconds = wall_clock_seconds(fields[1])
    customer_id = _whole_number(fields[2])
    terminal_id = _whole_number(fields[3])
    amount = float(fields[4]) if _AMOUNT.fullmatch(fields[4]) else None
    time_seconds = _whole_number(fields[5])
    time_days = _whole_number(fields[6])
    fraud = _whole_number(fields[7])
    scenario = _whole_number(fields[8])
    typed = (
        transaction_id,
        seconds,
        customer_id,
        terminal_id,
        amount,
        time_seconds,
        time_days,
        fraud,
        scenario,
    )
    for name, value in zip(FIELDS, typed, strict=True):
        if value is None:
            return Rejected(f"invalid_{name}", text)
    reason = _row_reason(typed, origin_seconds)
    if reason is not None:
        return Rejected(reason.value, text)
    return Transaction(transaction_id, seconds, customer_id, terminal_id, amount, fraud)


def _row_reason(typed: tuple, origin_seconds: int) -> Reason | None:
    transaction_id, seconds, customer_id, terminal_id, amount, time_seconds, time_days = typed[:7]
    fraud, scenario = typed[7:]
    checks = (
        (transaction_id < 0, Reason.INVALID_TRANSACTION_ID),
        (customer_id == SENTINEL_CUSTOMER_ID, Reason.SENTINEL_CUSTOMER_ID),
        (customer_id < 0, Reason.INVALID_CUSTOMER_ID),
        (terminal_id < 0, Reason.INVALID_TERMINAL_ID),
        (fraud not in (0, 1), Reason.INVALID_TX_FRAUD),
        (scenario not in (0, 1, 2, 3), Reason.INVALID_TX_FRAUD_SCENARIO),
        ((fraud == 1) != (scenario > 0), Reason.INCONSISTENT_LABEL),
        (amount <= 0, Reason.NON_POSITIVE_AMOUNT),
        (
            time_seconds != seconds - origin_seconds
            or time_days != time_seconds // SECONDS_PER_DAY,
            Reason.INCONSISTENT_TIME,
        ),
    )
    for broken, reason in checks:
        if broken:
            return reason
    return None


def in_time_order(lines: list[bytes]) -> list[bytes]:
    """The lines of a landing file in the order the transactions happened (time, then id),
    as a live feed delivers them; a line with no readable time keeps its place after the
    line before it."""
    keyed = []
    key = (-1, -1)
    for position, raw in enumerate(lines):
        fields = raw.split(b",", 2)
        if len(fields) == 3:
            seconds = wall_clock_seconds(fields[1].decode("utf-8", errors="replace"))
            transaction_id = _whole_number(fields[0].decode("utf-8", errors="replace"))
            if seconds is not None and transaction_id is not None:
                key = (seconds, transaction_id)
        keyed.append((key, position, raw))
    keyed.sort(key=lambda item: (item[0], item[1]))
    return [raw for _, _, raw in keyed]
