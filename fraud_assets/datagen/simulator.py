"""Transaction simulator after the open fraud-detection handbook (Le Borgne et al., 2022).

Customers and terminals sit on a 100 x 100 grid; a customer spends at the terminals within a
radius of it. Days are generated one at a time with vectorised numpy, so memory stays bounded by
one day of transactions whatever the number of days. Three fraud scenarios are applied as in the
handbook: large amounts, compromised terminals (28 days) and compromised customers (14 days).

A `Drift` changes the world from a given day, for monitoring to notice: every amount inflated
by a factor (labels stay those of the original amounts), and a fraud pattern the models never
saw, card testing: stolen cards try bursts of tiny amounts at night at terminals far from home
(labelled as scenario 3, a compromised customer, since the feed knows no other code).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

SECONDS_PER_DAY = 86_400
TERMINAL_RADIUS = 5.0
LARGE_AMOUNT_THRESHOLD = 220.0
COMPROMISED_TERMINALS_PER_DAY = 2
TERMINAL_COMPROMISE_DAYS = 28
COMPROMISED_CUSTOMERS_PER_DAY = 3
CUSTOMER_COMPROMISE_DAYS = 14
CUSTOMER_FRAUD_SHARE = 1 / 3
CUSTOMER_FRAUD_AMOUNT_FACTOR = 5
# The feed's contract knows scenarios 0-3 only (DATA.md); card testing is a stolen card's doing.
CARD_TESTING_SCENARIO = 3
CARD_TESTING_BURST = 5
CARD_TESTING_MAX_AMOUNT = 5.0
NIGHT_SECONDS = 6 * 3_600


@dataclass(frozen=True)
class Drift:
    """From `from_day` on: amounts times `amount_factor`, and `card_testing_per_day` stolen
    cards a day each making a burst of tiny night-time transactions."""

    from_day: date
    amount_factor: float = 1.0
    card_testing_per_day: int = 0

    def __post_init__(self) -> None:
        if self.amount_factor <= 0 or self.card_testing_per_day < 0:
            raise ValueError("drift needs an amount factor > 0 and card testing >= 0 a day")


@dataclass(frozen=True)
class Population:
    """Customer profiles, terminal locations and each customer's reachable terminals (CSR)."""

    mean_amount: np.ndarray
    std_amount: np.ndarray
    mean_tx_per_day: np.ndarray
    terminal_indptr: np.ndarray
    terminal_indices: np.ndarray
    n_terminals: int

    @property
    def n_customers(self) -> int:
        return len(self.mean_amount)


@dataclass(frozen=True)
class DayTransactions:
    """One simulated day, sorted by time; ids are not assigned yet. `seconds` count from
    midnight of the simulation's first day."""

    day: date
    seconds: np.ndarray
    customer_id: np.ndarray
    terminal_id: np.ndarray
    amount: np.ndarray
    fraud: np.ndarray
    scenario: np.ndarray

    def __len__(self) -> int:
        return len(self.seconds)


def make_population(
    n_customers: int, n_terminals: int, rng: np.random.Generator, chunk: int = 4096
) -> Population:
    customer_xy = rng.uniform(0, 100, size=(n_customers, 2))
    mean_amount = rng.uniform(5, 100, size=n_customers)
    mean_tx_per_day = rng.uniform(0, 4, size=n_customers)
    terminal_xy = rng.uniform(0, 100, size=(n_terminals, 2))

    indptr = np.zeros(n_customers + 1, dtype=np.int64)
    pieces = []
    for start in range(0, n_customers, chunk):
        block = customer_xy[start : start + chunk]
        squared = ((block[:, None, :] - terminal_xy[None, :, :]) ** 2).sum(axis=2)
        rows, cols = np.nonzero(squared < TERMINAL_RADIUS**2)
        indptr[start + 1 : start + len(block) + 1] = np.bincount(rows, minlength=len(block))
        pieces.append(cols.astype(np.int32))
    np.cumsum(indptr, out=indptr)
    indices = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int32)
    return Population(
        mean_amount=mean_amount,
        std_amount=mean_amount / 2,
        mean_tx_per_day=mean_tx_per_day,
        terminal_indptr=indptr,
        terminal_indices=indices,
        n_terminals=n_terminals,
    )


class FraudState:
    """Compromised terminals and customers with the day their compromise ends (exclusive)."""

    def __init__(self) -> None:
        self.terminal_until: dict[int, int] = {}
        self.customer_until: dict[int, int] = {}

    def advance(self, day_index: int, population: Population, rng: np.random.Generator) -> None:
        for terminal in rng.choice(population.n_terminals, COMPROMISED_TERMINALS_PER_DAY, False):
            self.terminal_until[int(terminal)] = day_index + TERMINAL_COMPROMISE_DAYS
        for customer in rng.choice(population.n_customers, COMPROMISED_CUSTOMERS_PER_DAY, False):
            self.customer_until[int(customer)] = day_index + CUSTOMER_COMPROMISE_DAYS
        self.terminal_until = {t: d for t, d in self.terminal_until.items() if d > day_index}
        self.customer_until = {c: d for c, d in self.customer_until.items() if d > day_index}


def _times_within_day(n: int, rng: np.random.Generator) -> np.ndarray:
    seconds = rng.normal(SECONDS_PER_DAY / 2, 20_000, size=n)
    outside = (seconds < 0) | (seconds >= SECONDS_PER_DAY)
    while outside.any():
        seconds[outside] = rng.normal(SECONDS_PER_DAY / 2, 20_000, size=int(outside.sum()))
        outside = (seconds < 0) | (seconds >= SECONDS_PER_DAY)
    return seconds.astype(np.int64)


def simulate_day(
    day: date,
    population: Population,
    state: FraudState,
    rng: np.random.Generator,
    start: date,
    drift: Drift | None = None,
) -> DayTransactions:
    """The transactions of `day`, the simulation having started on `start`."""
    day_index = (day - start).days
    state.advance(day_index, population, rng)

    degree = np.diff(population.terminal_indptr)
    counts = rng.poisson(population.mean_tx_per_day)
    counts[degree == 0] = 0
    customers = np.repeat(np.arange(population.n_customers, dtype=np.int64), counts)
    n = len(customers)

    seconds = _times_within_day(n, rng) + day_index * SECONDS_PER_DAY
    mean, std = population.mean_amount[customers], population.std_amount[customers]
    amount = rng.normal(mean, std)
    negative = amount < 0
    amount[negative] = rng.uniform(0, 2 * mean[negative])
    pick = (rng.random(n) * degree[customers]).astype(np.int64)
    terminals = population.terminal_indices[population.terminal_indptr[customers] + pick]
    terminals = terminals.astype(np.int64)

    scenario = np.zeros(n, dtype=np.int8)
    scenario[amount > LARGE_AMOUNT_THRESHOLD] = 1
    compromised_terminals = np.fromiter(state.terminal_until, dtype=np.int64)
    scenario[np.isin(terminals, compromised_terminals)] = 2
    compromised_customers = np.fromiter(state.customer_until, dtype=np.int64)
    victims = np.flatnonzero(np.isin(customers, compromised_customers))
    stolen = victims[rng.random(len(victims)) < CUSTOMER_FRAUD_SHARE]
    amount[stolen] *= CUSTOMER_FRAUD_AMOUNT_FACTOR
    scenario[stolen] = 3
    if drift is not None and day >= drift.from_day:
        amount *= drift.amount_factor
        seconds, customers, terminals, amount, scenario = _with_card_testing(
            drift.card_testing_per_day,
            day_index,
            population,
            rng,
            (seconds, customers, terminals, amount, scenario),
        )

    order = np.argsort(seconds, kind="stable")
    return DayTransactions(
        day=day,
        seconds=seconds[order],
        customer_id=customers[order],
        terminal_id=terminals[order],
        # Cents are the unit: a tiny draw is one cent, not a zero amount (that is a defect).
        amount=np.maximum(np.round(amount[order], 2), 0.01),
        fraud=(scenario[order] > 0).astype(np.int8),
        scenario=scenario[order],
    )


def _with_card_testing(
    cards: int,
    day_index: int,
    population: Population,
    rng: np.random.Generator,
    columns: tuple[np.ndarray, ...],
) -> tuple[np.ndarray, ...]:
    """The day's columns plus `cards` bursts of tiny amounts between midnight and 6 am, each
    card at one terminal drawn from all of them."""
    if not cards:
        return columns
    seconds, customers, terminals, amount, scenario = columns
    n = cards * CARD_TESTING_BURST
    victims = np.repeat(
        rng.choice(population.n_customers, cards, replace=False), CARD_TESTING_BURST
    )
    places = np.repeat(rng.integers(0, population.n_terminals, cards), CARD_TESTING_BURST)
    times = rng.integers(0, NIGHT_SECONDS, n) + day_index * SECONDS_PER_DAY
    tiny = rng.uniform(0.5, CARD_TESTING_MAX_AMOUNT, n)
    return (
        np.concatenate([seconds, times]),
        np.concatenate([customers, victims.astype(np.int64)]),
        np.concatenate([terminals, places.astype(np.int64)]),
        np.concatenate([amount, tiny]),
        np.concatenate([scenario, np.full(n, CARD_TESTING_SCENARIO, dtype=np.int8)]),
    )
