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
_EXACT_BELOW = 1e9
_INT64_MAX = 2**63 - 1
_CUSTOMER_SPAN = max(CUSTOMER_WINDOWS_DAYS) * SECONDS_PER_DAY
_TERMINAL_SPAN = KNOWN_FRAUD_CAP_SECONDS
_NEAR = TERMINAL_DELAY_DAYS * SECONDS_PER_DAY
_NIGHT_ENDS = 7 * 3_600
_CUSTOMER_WINDOWS = tuple(
    (w * SECONDS_PER_DAY, w in ZSCORE_WINDOWS_DAYS) for w in CUSTOMER_WINDOWS_DAYS
)
_TERMINAL_EDGES = tuple(
    sorted(
        {TERMINAL_DELAY_DAYS, *EARLY_RISK_DAYS}
        | {TERMINAL_DELAY_DAYS + w for w in TERMINAL_WINDOWS_DAYS}
    )
)
# Each edge searched below the nearer one; windows and the early risk as pairs of edges.
_EDGE_SECONDS = tuple(d * SECONDS_PER_DAY for d in _TERMINAL_EDGES)
_WINDOW_EDGES = tuple(
    (_TERMINAL_EDGES.index(TERMINAL_DELAY_DAYS), _TERMINAL_EDGES.index(TERMINAL_DELAY_DAYS + w))
    for w in TERMINAL_WINDOWS_DAYS
)
_EARLY_EDGES = tuple(_TERMINAL_EDGES.index(d) for d in EARLY_RISK_DAYS)

DUPLICATE = "duplicate_transaction"
CONFLICTING = "conflicting_transaction_id"


def amount_micros(amount: float) -> int:
    """The amount in millionths, as the batch casts a double to DECIMAL(18, 6): from its
    shortest decimal text, rounded half up."""
    if 0 < amount < _EXACT_BELOW:
        # Below 1e9 no two amounts of 6 decimals share a double: one that round-trips is it.
        micros = round(amount * _MICROS)
        if micros / _MICROS == amount:
            return micros
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
        seconds, transaction_id = tx.seconds, tx.transaction_id
        customer = self.customers.get(tx.customer_id)
        if customer is None:
            customer = self.customers[tx.customer_id] = _Customer()
        times = customer.times
        position = len(times)
        # Most transactions come after all of their customer's: no search needed.
        if position and (
            times[-1] > seconds or (times[-1] == seconds and customer.ids[-1] >= transaction_id)
        ):
            position = customer.position(seconds, transaction_id)
            if (
                position > 0
                and times[position - 1] == seconds
                and customer.ids[position - 1] == transaction_id
            ):
                return DUPLICATE if customer.amounts[position - 1] == micros else CONFLICTING
        customer.insert(position, seconds, transaction_id, micros)
        terminal = self.terminals.get(tx.terminal_id)
        if terminal is None:
            terminal = self.terminals[tx.terminal_id] = _Terminal()
        windows, extended = _customer_values(customer, position, tx)
        near, early, age = _terminal_values(terminal, seconds)
        values = (
            int((seconds // SECONDS_PER_DAY + 3) % 7 >= 5),
            int(seconds % SECONDS_PER_DAY < _NIGHT_ENDS),
            *windows,
            *near,
            *extended,
            early,
            age,
        )
        terminal.insert(seconds, tx.fraud or 0)
        if tx.fraud is None:
            self.pending[tx.transaction_id] = (tx.terminal_id, seconds)
        if self.newest is None or seconds > self.newest:
            self._advance(seconds)
        return values

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


def _customer_values(
    customer: _Customer, position: int, tx: Transaction
) -> tuple[list[float], list[float]]:
    """Count and average per window; then the z-scores and the gap to the previous one."""
    seconds, end = tx.seconds, position + 1
    times, amounts = customer.times, customer.amounts
    windows: list[float] = []
    extended: list[float] = []
    for w, zscored in _CUSTOMER_WINDOWS:
        start = bisect_right(times, seconds - w, 0, end)
        count = end - start
        total = sum(amounts[start:end])
        windows += (count, total / _MICROS / count)
        if zscored:
            squares = sum(customer.squares[start:end])
            extended.append(_zscore(tx.amount, count, total, squares))
    if position > 0:
        extended.append(min(seconds - times[position - 1], PREVIOUS_GAP_CAP_SECONDS))
    else:
        extended.append(PREVIOUS_GAP_CAP_SECONDS)
    return windows, extended


def _zscore(amount: float, count: int, total: int, squares: int) -> float:
    """As the batch computes it: count * squares - total ** 2 exactly (total ** 2 kept to 6
    decimals), in millionths, then in doubles."""
    exact = count * squares - (total * total + _MICROS // 2) // _MICROS
    spread = max(exact / _MICROS, 0.0)
    std = math.sqrt(spread) / count
    mean = total / _MICROS / count
    return (amount - mean) / std if std >= MIN_AMOUNT_STD else 0.0


def _terminal_values(terminal: _Terminal, seconds: int) -> tuple[list[float], float, int]:
    """Count and fraud share per delayed window; the early risk; the known fraud's age."""
    times, running = terminal.times, terminal.running
    edges = []
    below = len(times)
    for offset in _EDGE_SECONDS:
        below = bisect_right(times, seconds - offset, 0, below)
        edges.append(below)
    near: list[float] = []
    for near_edge, far_edge in _WINDOW_EDGES:
        near += _risk(running, edges[near_edge], edges[far_edge])
    early = _risk(running, edges[_EARLY_EDGES[0]], edges[_EARLY_EDGES[1]])[1]
    newest, oldest = edges[0], edges[-1]
    latest = terminal.frauds.rfind(1, oldest, newest) if running[newest] > running[oldest] else -1
    if latest < 0:
        return near, early, KNOWN_FRAUD_CAP_SECONDS
    return near, early, min(seconds - times[latest], KNOWN_FRAUD_CAP_SECONDS)


def _risk(running: array, near_edge: int, far_edge: int) -> list[float]:
    """Transactions between two edges, and their fraud share (0 when there are none)."""
    count = near_edge - far_edge
    return [count, (running[near_edge] - running[far_edge]) / count if count > 0 else 0.0]


def feature_frame(values: Iterable[tuple[float, ...]]) -> pd.DataFrame:
    """Rows of `add` as a frame with the stored feature columns."""
    return pd.DataFrame(list(values), columns=list(STORED_FEATURES))
