"""Online feature state: what the feature definitions need per customer and per terminal,
updated one transaction at a time, giving exactly the values `transaction_features` stores.

The definitions are those of `features.transforms` (DATA.md §3 and the extended set); the
parity test replays a generated file through this state and compares every value with the
batch table. The same conventions hold here:

- customer windows (t - w, t] take the transaction itself and the earlier ones at the same
  second with a lower id; amounts are summed exactly, in millionths, as the batch sums decimals;
- terminal windows (t - delay - w, t - delay] take whole seconds at both edges and read labels
  only of transactions at least the delay old, so a label folded in before then is on time;
- a customer keeps the last 30 days and a terminal the last 37 (plus the allowed lateness):
  older entries can change no feature, so they expire and memory stays bounded.
"""

import math
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

from fraud_assets.features.transforms import (
    CUSTOMER_WINDOWS_DAYS,
    EARLY_RISK_DAYS,
    KNOWN_FRAUD_CAP_SECONDS,
    MIN_AMOUNT_STD,
    PREVIOUS_GAP_CAP_SECONDS,
    SECONDS_PER_DAY,
    STORED_FEATURES,
    TERMINAL_DELAY_DAYS,
    TERMINAL_WINDOWS_DAYS,
    ZSCORE_WINDOWS_DAYS,
)
from fraud_assets.serving.lines import Transaction

_MICROS = 1_000_000
_INT64_MAX = 2**63 - 1
_CUSTOMER_SPAN = max(CUSTOMER_WINDOWS_DAYS) * SECONDS_PER_DAY
_TERMINAL_SPAN = KNOWN_FRAUD_CAP_SECONDS
_NEAR = TERMINAL_DELAY_DAYS * SECONDS_PER_DAY
_TERMINAL_EDGES = tuple(
    sorted(
        {TERMINAL_DELAY_DAYS, *EARLY_RISK_DAYS}
        | {TERMINAL_DELAY_DAYS + w for w in TERMINAL_WINDOWS_DAYS}
    )
)
# Expired entries are dropped from an entity once this many have gathered, one move each.
_PRUNE_BATCH = 64

DUPLICATE = "duplicate_transaction"
CONFLICTING = "conflicting_transaction_id"


def amount_micros(amount: float) -> int:
    """The amount in millionths, as the batch casts a double to DECIMAL(18, 6): from its
    shortest decimal text, rounded half up."""
    return int(Decimal(repr(amount)).scaleb(6).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _square_micros(micros: int) -> int:
    """amount * amount kept to 6 decimals (half up), in millionths, as the batch stores it."""
    return (micros * micros + _MICROS // 2) // _MICROS


class _Customer:
    """A customer's transactions in (time, id) order: times, ids, amounts and their squares
    in millionths. Squares past int64 move the customer to Python integers."""

    __slots__ = ("amounts", "ids", "squares", "times")

    def __init__(self) -> None:
        self.times = array("q")
        self.ids = array("q")
        self.amounts = array("q")
        self.squares: array | list[int] = array("q")

    def position(self, seconds: int, transaction_id: int) -> int:
        position = bisect_right(self.times, seconds)
        while (
            position > 0
            and self.times[position - 1] == seconds
            and self.ids[position - 1] > transaction_id
        ):
            position -= 1
        return position

    def insert(self, position: int, seconds: int, transaction_id: int, micros: int) -> None:
        square = _square_micros(micros)
        if isinstance(self.squares, array) and square > _INT64_MAX:
            self.squares = list(self.squares)
        if position == len(self.times):
            self.times.append(seconds)
            self.ids.append(transaction_id)
            self.amounts.append(micros)
            self.squares.append(square)
        else:
            self.times.insert(position, seconds)
            self.ids.insert(position, transaction_id)
            self.amounts.insert(position, micros)
            self.squares.insert(position, square)

    def prune(self, oldest_kept: int) -> int:
        expired = bisect_right(self.times, oldest_kept)
        if expired:
            del self.times[:expired], self.ids[:expired]
            del self.amounts[:expired], self.squares[:expired]
        return expired


class _Terminal:
    """A terminal's transactions in time order: times, labels (1 fraud, 0 genuine or not yet
    known) and the running count of frauds before each row (one more entry than rows)."""

    __slots__ = ("frauds", "running", "times")

    def __init__(self) -> None:
        self.times = array("q")
        self.frauds = bytearray()
        self.running = array("q", [0])

    def insert(self, seconds: int, fraud: int) -> None:
        if not self.times or self.times[-1] <= seconds:
            self.times.append(seconds)
            self.frauds.append(fraud)
            self.running.append(self.running[-1] + fraud)
            return
        position = bisect_right(self.times, seconds)
        self.times.insert(position, seconds)
        self.frauds.insert(position, fraud)
        self._recount(position)

    def label(self, seconds: int) -> bool:
        """Marks one genuine-so-far row at `seconds` as fraud; False when there is none."""
        start, end = bisect_left(self.times, seconds), bisect_right(self.times, seconds)
        position = self.frauds.find(0, start, end)
        if position < 0:
            return False
        self.frauds[position] = 1
        self._recount(position)
        return True

    def _recount(self, position: int) -> None:
        total = self.running[position]
        tail = array("q")
        for fraud in self.frauds[position:]:
            total += fraud
            tail.append(total)
        del self.running[position + 1 :]
        self.running.extend(tail)

    def prune(self, oldest_kept: int) -> int:
        expired = bisect_right(self.times, oldest_kept)
        if expired:
            del self.times[:expired], self.frauds[:expired], self.running[:expired]
        return expired


@dataclass(frozen=True)
class StateSize:
    customers: int
    terminals: int
    customer_rows: int
    terminal_rows: int
    pending_labels: int


class OnlineFeatures:
    """Per-customer and per-terminal history with the feature values of each new transaction.

    `lateness_seconds` is how far behind the newest transaction seen another may arrive and
    still get exact values; entries are kept that much longer than the windows need.
    """

    def __init__(self, lateness_seconds: int = 3_600) -> None:
        if lateness_seconds < 0:
            raise ValueError("lateness_seconds must be >= 0")
        self.lateness_seconds = lateness_seconds
        self.customers: dict[int, _Customer] = {}
        self.terminals: dict[int, _Terminal] = {}
        self.newest: int | None = None
        # Transactions whose label is not known yet: id -> (terminal, seconds).
        self.pending: dict[int, tuple[int, int]] = {}
        self._expired_day: int | None = None

    # -- updates ---------------------------------------------------------------------------

    def add(self, tx: Transaction) -> tuple[float, ...] | str:
        """The stored feature values of a new transaction (in STORED_FEATURES order), after
        which it is part of the history; or DUPLICATE / CONFLICTING for an id already held."""
        micros = amount_micros(tx.amount)
        customer = self.customers.get(tx.customer_id)
        if customer is None:
            customer = self.customers[tx.customer_id] = _Customer()
        position = customer.position(tx.seconds, tx.transaction_id)
        if (
            position > 0
            and customer.times[position - 1] == tx.seconds
            and customer.ids[position - 1] == tx.transaction_id
        ):
            return DUPLICATE if customer.amounts[position - 1] == micros else CONFLICTING
        customer.insert(position, tx.seconds, tx.transaction_id, micros)
        terminal = self.terminals.get(tx.terminal_id)
        if terminal is None:
            terminal = self.terminals[tx.terminal_id] = _Terminal()
        values = (
            *_calendar(tx.seconds),
            *_customer_values(customer, position, tx),
            *_terminal_values(terminal, tx.seconds),
        )
        terminal.insert(tx.seconds, tx.fraud or 0)
        if tx.fraud is None:
            self.pending[tx.transaction_id] = (tx.terminal_id, tx.seconds)
        self._advance(tx.seconds)
        return _in_stored_order(values)

    def fold_labels(self, labels: Mapping[int, int]) -> int:
        """Sets the labels of transactions added without one; returns how many were found.
        A label that arrives after the delay reaches only the transactions after it."""
        found = 0
        for transaction_id, fraud in labels.items():
            held = self.pending.pop(transaction_id, None)
            if held is None:
                continue
            found += 1
            terminal = self.terminals.get(held[0])
            if fraud and terminal is not None:
                terminal.label(held[1])
        return found

    def warm(self, rows: pd.DataFrame) -> int:
        """Loads history from cleaned rows (columns transaction_id, seconds, customer_id,
        terminal_id, tx_amount, tx_fraud), replacing the state; returns the rows kept."""
        self.customers, self.terminals, self.pending = {}, {}, {}
        if rows.empty:
            self.newest = None
            return 0
        newest = int(rows["seconds"].max())
        customer_rows = rows[rows["seconds"] > newest - _CUSTOMER_SPAN - self.lateness_seconds]
        for customer_id, group in customer_rows.sort_values(
            ["customer_id", "seconds", "transaction_id"]
        ).groupby("customer_id", sort=False):
            customer = self.customers[int(customer_id)] = _Customer()
            customer.times = array("q", group["seconds"].to_numpy(np.int64).tobytes())
            customer.ids = array("q", group["transaction_id"].to_numpy(np.int64).tobytes())
            micros = [amount_micros(amount) for amount in group["tx_amount"].tolist()]
            customer.amounts = array("q", micros)
            squares = [_square_micros(m) for m in micros]
            customer.squares = array("q", squares) if max(squares) <= _INT64_MAX else squares
        terminal_rows = rows[rows["seconds"] > newest - _TERMINAL_SPAN - self.lateness_seconds]
        for terminal_id, group in terminal_rows.sort_values(["terminal_id", "seconds"]).groupby(
            "terminal_id", sort=False
        ):
            terminal = self.terminals[int(terminal_id)] = _Terminal()
            frauds = group["tx_fraud"].to_numpy(np.int64)
            terminal.times = array("q", group["seconds"].to_numpy(np.int64).tobytes())
            terminal.frauds = bytearray(frauds.astype(np.uint8).tobytes())
            terminal.running = array("q", np.concatenate([[0], np.cumsum(frauds)]).tobytes())
        self.newest = newest
        return len(customer_rows)

    def expire(self) -> int:
        """Drops every entry no window can reach any more, idle customers and terminals
        included; returns the entries dropped."""
        if self.newest is None:
            return 0
        dropped = 0
        for entities, span in ((self.customers, _CUSTOMER_SPAN), (self.terminals, _TERMINAL_SPAN)):
            oldest_kept = self.newest - span - self.lateness_seconds
            for key in list(entities):
                entity = entities[key]
                dropped += entity.prune(oldest_kept)
                if not entity.times:
                    del entities[key]
        oldest_pending = self.newest - _NEAR - self.lateness_seconds
        for transaction_id, (_, seconds) in list(self.pending.items()):
            if seconds <= oldest_pending:
                del self.pending[transaction_id]
        return dropped

    def _advance(self, seconds: int) -> None:
        if self.newest is None or seconds > self.newest:
            self.newest = seconds
            day = seconds // SECONDS_PER_DAY
            # One sweep a day of data keeps idle customers from holding memory for ever.
            if self._expired_day is not None and day > self._expired_day:
                self.expire()
            self._expired_day = day

    def size(self) -> StateSize:
        return StateSize(
            customers=len(self.customers),
            terminals=len(self.terminals),
            customer_rows=sum(len(c.times) for c in self.customers.values()),
            terminal_rows=sum(len(t.times) for t in self.terminals.values()),
            pending_labels=len(self.pending),
        )


def _calendar(seconds: int) -> tuple[int, int]:
    weekday_from_monday = (seconds // SECONDS_PER_DAY + 3) % 7
    hour = seconds % SECONDS_PER_DAY // 3_600
    return int(weekday_from_monday >= 5), int(hour <= 6)


def _customer_values(customer: _Customer, position: int, tx: Transaction) -> list[float]:
    """Counts and averages per window, then z-scores, then the gap to the previous one."""
    seconds, end = tx.seconds, position + 1
    windows, zscores = [], []
    for w in CUSTOMER_WINDOWS_DAYS:
        start = bisect_right(customer.times, seconds - w * SECONDS_PER_DAY, 0, end)
        count = end - start
        total = sum(customer.amounts[start:end])
        windows += [count, total / _MICROS / count]
        if w in ZSCORE_WINDOWS_DAYS:
            squares = sum(customer.squares[start:end])
            zscores.append(_zscore(tx.amount, count, total, squares))
    if position > 0:
        gap = min(seconds - customer.times[position - 1], PREVIOUS_GAP_CAP_SECONDS)
    else:
        gap = PREVIOUS_GAP_CAP_SECONDS
    return [*windows, *zscores, gap]


def _zscore(amount: float, count: int, total: int, squares: int) -> float:
    """As the batch computes it: count * squares - total ** 2 exactly (total ** 2 kept to 6
    decimals), in millionths, then in doubles."""
    exact = count * squares - (total * total + _MICROS // 2) // _MICROS
    spread = max(exact / _MICROS, 0.0)
    std = math.sqrt(spread) / count
    mean = total / _MICROS / count
    return (amount - mean) / std if std >= MIN_AMOUNT_STD else 0.0


def _terminal_values(terminal: _Terminal, seconds: int) -> list[float]:
    """Counts and fraud shares per delayed window, the early risk and the known fraud's age."""
    times, running = terminal.times, terminal.running
    edges = {d: bisect_right(times, seconds - d * SECONDS_PER_DAY) for d in _TERMINAL_EDGES}
    values: list[float] = []
    for w in TERMINAL_WINDOWS_DAYS:
        values += _risk(edges, running, TERMINAL_DELAY_DAYS, TERMINAL_DELAY_DAYS + w)
    values.append(_risk(edges, running, *EARLY_RISK_DAYS)[1])
    near, far = edges[TERMINAL_DELAY_DAYS], edges[max(_TERMINAL_EDGES)]
    latest = terminal.frauds.rfind(1, far, near) if running[near] > running[far] else -1
    age = min(seconds - times[latest], KNOWN_FRAUD_CAP_SECONDS) if latest >= 0 else None
    values.append(KNOWN_FRAUD_CAP_SECONDS if age is None else age)
    return values


def _risk(edges: dict[int, int], running: array, near: int, far: int) -> list[float]:
    count = edges[near] - edges[far]
    frauds = running[edges[near]] - running[edges[far]]
    return [count, frauds / count if count > 0 else 0.0]


# Calendar, customer windows, z-scores and gap, terminal windows, early risk, fraud age.
_CUSTOMER_NAMES = [
    f"CUSTOMER_ID_{kind}_{w}DAY_WINDOW"
    for w in CUSTOMER_WINDOWS_DAYS
    for kind in ("NB_TX", "AVG_AMOUNT")
]
_PRODUCED = (
    "TX_DURING_WEEKEND",
    "TX_DURING_NIGHT",
    *_CUSTOMER_NAMES,
    *(f"CUSTOMER_ID_AMOUNT_ZSCORE_{w}DAY_WINDOW" for w in ZSCORE_WINDOWS_DAYS),
    "CUSTOMER_ID_SECONDS_SINCE_PREVIOUS_TX",
    *(
        f"TERMINAL_ID_{kind}_{w}DAY_WINDOW"
        for w in TERMINAL_WINDOWS_DAYS
        for kind in ("NB_TX", "RISK")
    ),
    f"TERMINAL_ID_RISK_{EARLY_RISK_DAYS[0]}_TO_{EARLY_RISK_DAYS[1]}DAYS_AGO",
    "TERMINAL_ID_SECONDS_SINCE_KNOWN_FRAUD",
)
_ORDER = [_PRODUCED.index(name) for name in STORED_FEATURES]


def _in_stored_order(values: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(values[i] for i in _ORDER)


def feature_frame(values: Iterable[tuple[float, ...]]) -> pd.DataFrame:
    """Rows of `add` as a frame with the stored feature columns."""
    return pd.DataFrame(list(values), columns=list(STORED_FEATURES))
