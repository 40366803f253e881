"""Fraud-detection metrics over weighted rows, for many weightings at once (DATA.md §4).

Every metric is computed from a matrix of row weights, one row of the matrix per weighting: the
point estimate is the single weighting "every row once", a bootstrap is many weightings (the
number of times each test row was drawn). One code path serves both, so a bootstrap replicate is
exactly the metric of its resample, and nothing loops over resamples in Python.

Ties in scores are one threshold: AUC counts a tied positive/negative pair as one half, and
average precision steps at each distinct score, as scikit-learn does. Card Precision@k is the
handbook's: a card found in the top k with a fraud has been blocked, so it leaves the rankings
of the later days.
"""

import itertools
from dataclasses import dataclass

import numpy as np

TOP_K = 100
MAX_FPR = 0.05
METRICS = (
    "roc_auc",
    "average_precision",
    "card_precision_at_100",
    "precision_at_fpr",
    "recall_at_fpr",
    "f1_at_fpr",
)


@dataclass(frozen=True)
class EvaluationSet:
    """Labels of the test rows and the customer-day each row belongs to.

    Customer-days are the units of Card Precision@k (one customer counted once a day, with its
    highest score and label that day) and of the customer-day bootstrap.
    """

    labels: np.ndarray
    unit_of_row: np.ndarray
    unit_day: np.ndarray
    unit_customer: np.ndarray
    rows_by_unit: np.ndarray
    unit_starts: np.ndarray

    @classmethod
    def build(
        cls, labels: np.ndarray, customer_ids: np.ndarray, days: np.ndarray
    ) -> "EvaluationSet":
        labels = np.asarray(labels, dtype=np.float64)
        if labels.ndim != 1 or not len(labels):
            raise ValueError("an evaluation set needs at least one row")
        if not np.isin(labels, (0.0, 1.0)).all():
            raise ValueError("labels must be 0 or 1")
        pairs = np.stack([np.asarray(days), np.asarray(customer_ids)], axis=1)
        unique_pairs, unit_of_row = np.unique(pairs, axis=0, return_inverse=True)
        unit_of_row = unit_of_row.ravel()
        rows_by_unit = np.argsort(unit_of_row, kind="stable")
        unit_starts = np.flatnonzero(np.r_[True, np.diff(unit_of_row[rows_by_unit]) != 0])
        _, unit_customer = np.unique(unique_pairs[:, 1], return_inverse=True)
        return cls(
            labels,
            unit_of_row,
            unique_pairs[:, 0],
            unit_customer.ravel(),
            rows_by_unit,
            unit_starts,
        )

    @property
    def customers(self) -> int:
        return int(self.unit_customer.max()) + 1

    @property
    def rows(self) -> int:
        return len(self.labels)

    @property
    def units(self) -> int:
        return len(self.unit_day)

    def unit_labels(self) -> np.ndarray:
        return np.maximum.reduceat(self.labels[self.rows_by_unit], self.unit_starts)

    def units_present(self, row_weights: np.ndarray) -> np.ndarray:
        """1 for each customer-day with at least one drawn row, else 0."""
        drawn = np.add.reduceat(
            np.take(row_weights, self.rows_by_unit, axis=1), self.unit_starts, axis=1
        )
        return (drawn > 0).astype(np.float64)


@dataclass(frozen=True)
class RankedScores:
    """One model's scores on an evaluation set, sorted once for every weighting.

    Frauds are rare, so a weighting is read in full only for running totals (of negatives in
    score order, and of customer-days within each day); everything else is looked up at the
    positions of the positive rows and the fraudulent customer-days.
    """

    sorted_scores: np.ndarray
    group_start_of_position: np.ndarray
    negative_rows: np.ndarray
    negative_units: np.ndarray
    negative_positions: np.ndarray
    positive_rows: np.ndarray
    positive_units: np.ndarray
    positive_positions: np.ndarray
    negatives_before_group: np.ndarray
    negatives_through_group: np.ndarray
    positives_through_group: np.ndarray
    unit_order: np.ndarray
    customer_of_ranked_unit: np.ndarray
    customers: int
    day_bounds: np.ndarray
    fraud_units: np.ndarray

    @classmethod
    def build(cls, scores: np.ndarray, evaluation: EvaluationSet) -> "RankedScores":
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != evaluation.labels.shape:
            raise ValueError(f"{len(scores)} scores for {evaluation.rows} rows")
        if not np.isfinite(scores).all():
            raise ValueError("scores must be finite numbers")
        row_order = np.argsort(-scores, kind="stable")
        ranked = scores[row_order]
        positive = evaluation.labels[row_order] == 1
        # Positions (in score order) where a run of equal scores, one threshold, starts / ends.
        new_group = np.r_[True, ranked[1:] != ranked[:-1]]
        group_start = np.maximum.accumulate(np.where(new_group, np.arange(len(ranked)), 0))
        group_end = (np.r_[np.flatnonzero(new_group)[1:], len(ranked)] - 1)[
            np.cumsum(new_group) - 1
        ]
        positive_positions = np.flatnonzero(positive)
        negative_positions = np.flatnonzero(~positive)
        starts, ends = group_start[positive_positions], group_end[positive_positions]
        unit_scores = np.maximum.reduceat(scores[evaluation.rows_by_unit], evaluation.unit_starts)
        # Within a day, highest score first; ties go to the lower customer-day index.
        unit_order = np.lexsort((-unit_scores, evaluation.unit_day))
        days_sorted = evaluation.unit_day[unit_order]
        day_starts = np.flatnonzero(np.r_[True, days_sorted[1:] != days_sorted[:-1]])
        return cls(
            sorted_scores=ranked,
            group_start_of_position=group_start,
            negative_rows=row_order[negative_positions],
            negative_units=evaluation.unit_of_row[row_order[negative_positions]],
            negative_positions=negative_positions,
            positive_rows=row_order[positive_positions],
            positive_units=evaluation.unit_of_row[row_order[positive_positions]],
            positive_positions=positive_positions,
            negatives_before_group=np.searchsorted(negative_positions, starts),
            negatives_through_group=np.searchsorted(negative_positions, ends, "right"),
            positives_through_group=np.searchsorted(positive_positions, ends, "right"),
            unit_order=unit_order,
            customer_of_ranked_unit=evaluation.unit_customer[unit_order],
            customers=evaluation.customers,
            day_bounds=np.r_[day_starts, len(unit_order)],
            fraud_units=np.flatnonzero(evaluation.unit_labels()[unit_order] == 1),
        )

    def metrics(
        self,
        row_weights: np.ndarray,
        unit_weights: np.ndarray,
        max_fpr: float = MAX_FPR,
    ) -> dict[str, np.ndarray]:
        """Every metric for each weighting (row of the weight matrices): arrays of shape (B,).

        A weighting without positives or negatives has an undefined AUC and AP (NaN).
        """
        return self._metrics(
            np.take(row_weights, self.negative_rows, axis=1),
            np.take(row_weights, self.positive_rows, axis=1),
            unit_weights,
            max_fpr,
        )

    def metrics_of_units(
        self, unit_weights: np.ndarray, max_fpr: float = MAX_FPR
    ) -> dict[str, np.ndarray]:
        """`metrics` when every row weighs what its customer-day weighs."""
        return self._metrics(
            np.take(unit_weights, self.negative_units, axis=1),
            np.take(unit_weights, self.positive_units, axis=1),
            unit_weights,
            max_fpr,
        )

    def _metrics(
        self,
        negative_weights: np.ndarray,
        positive_weights: np.ndarray,
        unit_weights: np.ndarray,
        max_fpr: float,
    ) -> dict[str, np.ndarray]:
        # Running totals with a leading 0: column k holds the weight of the first k rows.
        false_pos = _running_total(negative_weights)
        true_pos = _running_total(positive_weights)
        total_neg, total_pos = false_pos[:, -1], true_pos[:, -1]
        fp_at_group_end = false_pos[:, self.negatives_through_group]
        fp_before_group = false_pos[:, self.negatives_before_group]
        tp_at_group_end = true_pos[:, self.positives_through_group]
        with np.errstate(divide="ignore", invalid="ignore"):
            # A positive beats the negatives ranked below its score and ties with its own.
            beaten = total_neg[:, None] - 0.5 * (fp_at_group_end + fp_before_group)
            auc = (positive_weights * beaten).sum(axis=1) / (total_pos * total_neg)
            precision_curve = np.divide(
                tp_at_group_end,
                tp_at_group_end + fp_at_group_end,
                out=np.zeros_like(tp_at_group_end),
                where=positive_weights > 0,
            )
            average_precision = (positive_weights * precision_curve).sum(axis=1) / total_pos
            last = self._last_admitted_position(false_pos, max_fpr)
            rows = np.arange(len(unit_weights))
            fp_at = false_pos[rows, np.searchsorted(self.negative_positions, last, "right")]
            tp_at = true_pos[rows, np.searchsorted(self.positive_positions, last, "right")]
            precision = np.where(tp_at + fp_at > 0, tp_at / (tp_at + fp_at), 0.0)
            recall = tp_at / total_pos
            f1 = np.where(
                precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0
            )
        return {
            "roc_auc": auc,
            "average_precision": average_precision,
            "card_precision_at_100": self.card_precision(unit_weights).mean(axis=1),
            "precision_at_fpr": precision,
            "recall_at_fpr": recall,
            "f1_at_fpr": f1,
        }

    def _last_admitted_position(self, false_pos: np.ndarray, max_fpr: float) -> np.ndarray:
        """Per weighting, the last position of the most permissive threshold (whole tie groups)
        whose false positive rate stays under max_fpr; -1 when none does."""
        under = (false_pos[:, 1:] < max_fpr * false_pos[:, -1:]).sum(axis=1)
        if not len(self.negative_positions):
            return np.full(len(false_pos), len(self.sorted_scores) - 1)
        # The first negative that reaches the limit; its whole tie group is left out.
        first_over = self.negative_positions[np.minimum(under, len(self.negative_positions) - 1)]
        cut = self.group_start_of_position[first_over]
        return np.where(under < len(self.negative_positions), cut, len(self.sorted_scores)) - 1

    def card_precision(self, unit_weights: np.ndarray, top_k: int = TOP_K) -> np.ndarray:
        """Per day, the fraudulent share of the top_k customers by score, divided by top_k
        as the handbook does even on a day with fewer customers: shape (B, days).

        Days are ranked in order; a customer in a day's top_k with a fraud that day has its
        card blocked, so it is left out of every later day's ranking. A customer-day drawn
        several times fills as many places; one whose copies reach the top_k at all is found.
        """
        weights = np.take(unit_weights, self.unit_order, axis=1)
        blocked = np.zeros((len(weights), self.customers), dtype=bool)
        precision = np.zeros((len(weights), len(self.day_bounds) - 1))
        for day, (start, end) in enumerate(itertools.pairwise(self.day_bounds)):
            customers = self.customer_of_ranked_unit[start:end]
            day_weights = np.where(blocked[:, customers], 0.0, weights[:, start:end])
            running = np.cumsum(day_weights, axis=1)
            frauds = self.fraud_units[(self.fraud_units >= start) & (self.fraud_units < end)]
            fraud_weights = day_weights[:, frauds - start]
            ahead = running[:, frauds - start] - fraud_weights
            in_top = np.clip(top_k - ahead, 0.0, fraud_weights)
            precision[:, day] = in_top.sum(axis=1) / top_k
            found, which = np.nonzero(in_top > 0)
            blocked[found, customers[frauds[which] - start]] = True
        return precision

    def threshold_at_fpr(self, max_fpr: float = MAX_FPR) -> float:
        """The score threshold (predict fraud at score >= it) used for the *_at_fpr metrics
        on the whole set; +inf when even the top score lets too many negatives through."""
        false_pos = _running_total(np.ones((1, len(self.negative_rows))))
        last = int(self._last_admitted_position(false_pos, max_fpr)[0])
        return float(self.sorted_scores[last]) if last >= 0 else float("inf")


def evaluate(
    scores: np.ndarray, evaluation: EvaluationSet, max_fpr: float = MAX_FPR
) -> dict[str, float]:
    """Every metric of one model on the whole evaluation set."""
    ranked = RankedScores.build(scores, evaluation)
    values = ranked.metrics(np.ones((1, evaluation.rows)), np.ones((1, evaluation.units)), max_fpr)
    result = {name: float(value[0]) for name, value in values.items()}
    result["threshold_at_fpr"] = ranked.threshold_at_fpr(max_fpr)
    return result


def _running_total(weights: np.ndarray) -> np.ndarray:
    total = np.zeros((weights.shape[0], weights.shape[1] + 1))
    np.cumsum(weights, axis=1, out=total[:, 1:])
    return total


@dataclass(frozen=True)
class Curves:
    """ROC and precision-recall curves: one point per distinct score, highest first."""

    false_positive_rate: np.ndarray
    true_positive_rate: np.ndarray
    precision: np.ndarray

    @property
    def recall(self) -> np.ndarray:
        return self.true_positive_rate


def curves(scores: np.ndarray, labels: np.ndarray) -> Curves:
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    ranked, sorted_labels = np.asarray(scores)[order], np.asarray(labels, dtype=np.float64)[order]
    group_ends = np.r_[np.flatnonzero(ranked[1:] != ranked[:-1]), len(ranked) - 1]
    true_pos = np.cumsum(sorted_labels)[group_ends]
    false_pos = (group_ends + 1) - true_pos
    return Curves(
        false_positive_rate=np.r_[0.0, false_pos / max(false_pos[-1], 1)],
        true_positive_rate=np.r_[0.0, true_pos / max(true_pos[-1], 1)],
        precision=np.r_[1.0, true_pos / (group_ends + 1)],
    )
