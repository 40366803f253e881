"""Small synthetic test sets: customers with several transactions a day, scores with a signal."""

import numpy as np

from fraud_assets.model.metrics import EvaluationSet


def synthetic_set(
    rng: np.random.Generator, days: int = 7, customers: int = 80, fraud_rate: float = 0.08
) -> tuple[EvaluationSet, np.ndarray, np.ndarray, np.ndarray]:
    """An evaluation set and its labels, customers and days; every customer-day has 1 to 4
    transactions."""
    per_unit = rng.integers(1, 5, size=days * customers)
    unit_day = np.repeat(np.arange(days), customers)
    unit_customer = np.tile(np.arange(customers), days)
    unit_fraud = rng.random(days * customers) < fraud_rate
    day = np.repeat(unit_day, per_unit)
    customer = np.repeat(unit_customer, per_unit)
    labels = (np.repeat(unit_fraud, per_unit) & (rng.random(len(day)) < 0.7)).astype(float)
    labels[:2] = [1.0, 0.0]
    return EvaluationSet.build(labels, customer, day), labels, customer, day


def noisy_scores(rng: np.random.Generator, labels: np.ndarray, signal: float) -> np.ndarray:
    return signal * labels + rng.normal(size=len(labels))
